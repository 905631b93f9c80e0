import Foundation

/// The result of running the built `pais` binary.
struct PaisRun {
    var status: Int32
    var standardOutput: String
    var standardError: String
}

/// The `pais` executable SwiftPM built beside this test bundle.
let paisExecutable: URL = {
    let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [bundleDirectory, bundleDirectory.deletingLastPathComponent()].map { $0.appendingPathComponent("pais") }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
}()

/// Runs `pais` (or another copy of it, `executable`, in `directory`) with `arguments` (and
/// `environment` added, `removing` taken out of this process's environment) and collects its exit
/// status and output.
func runPais(_ arguments: [String], environment: [String: String] = [:], removing: [String] = [],
             executable: URL = paisExecutable, directory: String? = nil) throws -> PaisRun {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.filter { !removing.contains($0.key) }
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Read before waiting, so a chatty child cannot fill the pipe and block.
    let outData = output.fileHandleForReading.readDataToEndOfFile()
    let errData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return PaisRun(status: process.terminationStatus,
                   standardOutput: String(decoding: outData, as: UTF8.self),
                   standardError: String(decoding: errData, as: UTF8.self))
}

/// FITS files committed for the FITSIO tests, reused here.
let fitsFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("FITSIOTests/Fixtures")

/// The shipped models of this source tree.
let shippedModels = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("models").path

func makeScratchDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("pais-cli-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A tiny dataset of 32-px crops in `directory/ds` (`--noise noise`) and a one-epoch `pais train
/// --tiny` run on it in `directory/run`; returns their paths.
func tinyTrainedRun(in directory: String, noise: String = "white", datasetArguments: [String] = [],
                    trainArguments: [String] = []) throws -> (dataset: String, run: String) {
    let data = directory + "/ds", run = directory + "/run"
    for arguments in [["simulate-dataset", "--output", data, "--sample-size", "32", "--train", "4", "--test", "2", "--psf-size", "31", "--noise", noise] + datasetArguments,
                      ["train", "--tiny", "--dataset", data, "--epochs", "1", "--run-dir", run, "--threads", "1"] + trainArguments] {
        let step = try runPais(arguments)
        guard step.status == 0 else { throw CLITestSetupError("pais \(arguments[0]) failed: \(step.standardError)") }
    }
    return (data, run)
}

struct CLITestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
