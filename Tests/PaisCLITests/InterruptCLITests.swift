import FITSIO
import Foundation
import Testing

/// A deblend stopped by Ctrl-C (or Slurm's SIGTERM) removes what it had written and leaves an
/// output it was to replace as it was; SIGUSR1 does not stop it. (Two ranks:
/// scripts/deblend-interrupt-test.sh.)
@Suite("pais deblend interrupted", .serialized)
struct InterruptCLITests {
    /// Starts `pais arguments`, sends `signal` once its progress shows the first tiles done, and
    /// returns its exit status and standard error.
    static func runInterrupted(_ arguments: [String], signal: Int32) throws -> (status: Int32, standardError: String, signalled: Bool) {
        let process = Process()
        process.executableURL = paisExecutable
        process.arguments = arguments
        let error = Pipe()
        process.standardError = error
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var text = "", signalled = false
        while case let chunk = error.fileHandleForReading.availableData, !chunk.isEmpty {
            text += String(decoding: chunk, as: UTF8.self)
            if !signalled && text.contains("tiles ") {
                kill(process.processIdentifier, signal)
                signalled = true
            }
        }
        process.waitUntilExit()
        return (process.terminationStatus, text, signalled)
    }

    @Test func ctrlCRemovesThePartialOutputsAndKeepsTheOldOnes() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let field = directory + "/field.fits"
        let sim = try runPais(["simulate", "--height", "1024", "--width", "1024", "--psf-size", "31", "--seed", "9", "--output", field])
        #expect(sim.status == 0, "\(sim.standardError)")
        // An earlier output that --overwrite is to replace: the interrupted run must leave it whole.
        let out = directory + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        try "earlier".write(toFile: out + "/catalog.csv", atomically: true, encoding: .utf8)

        let arguments = ["deblend", field, "--block-rows", "192", "--no-stamps", "--overwrite", "--output", out]
        let run = try Self.runInterrupted(arguments, signal: SIGINT)
        #expect(run.signalled)
        #expect(run.status == 128 + SIGINT, "\(run.standardError)")
        #expect(run.standardError.contains("interrupted by SIGINT in block") && run.standardError.contains("nothing was written to \(out)"),
                "\(run.standardError)")
        #expect(try String(contentsOfFile: out + "/catalog.csv", encoding: .utf8) == "earlier")
        let left = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(left == ["field.catalog.csv", "field.fits", "out"], "left behind: \(left)")

        // Control: the same run sent SIGUSR1 instead (Slurm's warning before a time limit, which a
        // deblend ignores) goes on to the end and replaces the earlier output.
        let full = try Self.runInterrupted(arguments, signal: SIGUSR1)
        #expect(full.signalled && full.status == 0, "\(full.standardError)")
        #expect(try String(contentsOfFile: out + "/catalog.csv", encoding: .utf8).hasPrefix("id,x,y"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["field.catalog.csv", "field.fits", "out"])
    }
}
