import ArgumentParser

/// `pais bench`: micro- and macro-benchmarks (group command; one file per subcommand).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks.",
        subcommands: [BenchTrainCommand.self, BenchSgemmCommand.self, BenchScalingCommand.self])
}
