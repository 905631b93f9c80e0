import ArgumentParser
import Distributed
import DistributedMPI
import FITSIO
import Foundation
import Layers
import Tensors

/// `pais env`: prints the toolchain and libraries found, with ✓/✗ per capability, and one line
/// per MPI rank (rank, host, launcher, BLAS threads) in rank order.
struct EnvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env",
        abstract: "Print Swift, MPI, OpenBLAS and cfitsio versions and the rank → host map.",
        discussion: "Run under mpirun or srun to see every rank. Exits non-zero if a library or MPI is "
            + "missing or a rank disagrees with its launcher; an oversubscribed host (ranks × BLAS threads "
            + "> cores) is marked ✗ as advice only.")

    /// Bytes per rank line in the allgather (lines are padded or cut to this length).
    static let rankLineBytes = 256

    func run() throws {
        var lines: [String] = []
        var allGood = true
        func report(_ ok: Bool, _ text: String) {
            lines.append("\(ok ? "✓" : "✗") \(text)")
            allGood = allGood && ok
        }

        report(true, "Swift \(swiftCompilerVersion) (compiler at build time)")
        do {
            let (major, minor) = try MPIEnvironment.standardVersion()
            let banner = try MPIEnvironment.libraryVersion()
            report(true, "MPI library: \(banner.split(separator: "\n").first.map(String.init) ?? banner) (MPI \(major).\(minor))")
        } catch {
            report(false, "MPI library version: \(error)")
        }
        let blasThreads = BLASInfo.threadCount
        report(true, "OpenBLAS: \(BLASInfo.configString), core \(BLASInfo.coreName), \(blasThreads) thread(s)")
        if let note = BLASKernelStartup.note { report(true, note) }
        let convPath = ConvPath.best
        let convs: String
        switch convPath {
        case .gemm: convs = "im2col + OpenBLAS (no AVX2 on this CPU)"
        case .avx2: convs = "direct avx2 kernels"
        case .avx512: convs = "direct avx512 kernels (input channels in pairs for layers with 8 or fewer outputs; AVX2 for their 1x1 and odd-input ones)"
        }
        report(true, "convolutions: " + convs)
        let arithmetic: String
        switch (ConvPrecision.fastest, ConvPrecision.bfloat16Available) {
        case (.bfloat16, _): arithmetic = "bfloat16 on \(BFloat16Engine.selected.label)"
        case (.float32, true): arithmetic = "float32 (this CPU's AVX-512 BF16 is slower; --precision bfloat16 asks for it)"
        case (.float32, false): arithmetic = "float32 (no AVX-512 BF16 on this CPU)"
        }
        report(true, "inference arithmetic (deblend --precision auto): " + arithmetic)
        report(true, "cfitsio \(cfitsioVersion())")

        // MPI last: a failed initialisation falls back to one local rank and is reported.
        let comm: any Communicator
        var mpi: MPICommunicator?
        do {
            let world = try MPICommunicator()
            mpi = world
            comm = world
            let level = world.threadLevelProvided >= 2 ? "SERIALIZED or better" : "level \(world.threadLevelProvided) (< SERIALIZED)"
            report(world.threadLevelProvided >= 2, "MPI initialised: \(world.size) rank(s), thread support \(level), launch \(world.launchMode)")
        } catch {
            report(false, "MPI initialisation failed: \(error); continuing as one local rank")
            comm = LocalCommunicator()
        }

        let cores = ProcessInfo.processInfo.activeProcessorCount
        let host = (try? MPIEnvironment.processorName()) ?? ProcessInfo.processInfo.hostName
        var rankLine = "rank \(comm.rank)/\(comm.size) host \(host) pid \(getpid()) BLAS threads \(blasThreads) cores \(cores)"
        if let mpi, let launcherRank = mpi.launchMode.launcherRank, launcherRank != mpi.rank {
            rankLine += " ✗ launcher says rank \(launcherRank)"
        }
        let rankLines = try gatherLines(rankLine, on: comm)
        // Oversubscription check per host: ranks on the host × BLAS threads should not exceed cores.
        let ranksOnThisHost = rankLines.filter { $0.contains(" host \(host) ") }.count
        let busy = ranksOnThisHost * blasThreads
        let mismatch = rankLines.contains { $0.contains("✗") }
        if comm.isRoot {
            for line in lines { print(line) }
            print("\(busy <= cores ? "✓" : "✗") threads on host \(host): \(ranksOnThisHost) rank(s) × \(blasThreads) BLAS thread(s) = \(busy) for \(cores) core(s)\(busy <= cores ? "" : " (set OPENBLAS_NUM_THREADS)")")
            print("\(mismatch ? "✗" : "✓") ranks (MPI rank vs launcher rank checked):")
            for line in rankLines { print("  \(line)") }
        }
        try mpi?.finalize()
        if !allGood || mismatch { throw ExitCode(1) }
    }

    /// Gathers one text line per rank, in rank order, via a fixed-size byte allgather.
    private func gatherLines(_ line: String, on comm: any Communicator) throws -> [String] {
        var record = Array(line.utf8.prefix(Self.rankLineBytes))
        record += Array(repeating: 0, count: Self.rankLineBytes - record.count)
        return try comm.allgather(record).map { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

/// The compiler version this binary was built with (Swift has no runtime query for it).
let swiftCompilerVersion: String = {
    #if compiler(>=6.4)
    return "≥ 6.4"
    #elseif compiler(>=6.3.1)
    return "6.3.1"
    #elseif compiler(>=6.3)
    return "6.3"
    #elseif compiler(>=6.2)
    return "6.2"
    #elseif compiler(>=6.1)
    return "6.1"
    #else
    return "6.0"
    #endif
}()
