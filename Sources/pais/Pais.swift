import ArgumentParser
import Foundation

/// The `pais` command: simulate, build datasets, train, evaluate and deblend.
@main
struct Pais: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pais",
        abstract: "Partial-Attribution Instance Segmentation for astronomical images.",
        version: "0.1.0",
        subcommands: [
            EnvCommand.self, Fits.self, Simulate.self, SimulateDataset.self, DatasetCommand.self, TrainCommand.self, StatusCommand.self, ExportCommand.self, RecalibrateCommand.self,
            BenchCommand.self, SelftestCommand.self, DeblendCommand.self, EvaluateCommand.self,
        ])

    static func main() {
        BLASKernelStartup.restartIfMisdetected()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            // Standard output is buffered when redirected: written out first, the error starts a
            // line of its own in a log that holds both streams.
            fflush(nil)                          // every output stream
            exit(withError: error)
        }
    }
}
