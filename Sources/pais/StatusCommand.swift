import ArgumentParser
import Foundation
import Training

/// `pais status`: where a training run stands, from its directory alone (no MPI, nothing written),
/// so it can be run on a login node while the job trains, or after it died.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a training run's progress, speed, test-loss history and resumable checkpoints.")

    @Argument(help: "The run directory (pais train --run-dir).")
    var runDirectory: String

    @Option(help: "How many of the latest evaluations to list.")
    var evaluations = 8

    @Flag(help: "Print the status as JSON (snake_case keys) instead of the report.")
    var json = false

    func validate() throws {
        guard evaluations >= 0 else { throw ValidationError("--evaluations must be 0 or more, got \(evaluations)") }
    }

    func run() throws {
        let status: RunStatus
        do { status = try RunStatus.read(runDirectory: runDirectory) } catch { throw CommandError("\(error)") }
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
        } else {
            print(status.text(evaluationsShown: evaluations), terminator: "")
        }
    }
}
