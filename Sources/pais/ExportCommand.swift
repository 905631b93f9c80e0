import ArgumentParser
import Training

/// `pais export`: a training checkpoint's weights as a safetensors model file.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the weights of a checkpoint (e.g. RUN/checkpoints/best) as model.safetensors.")

    @Argument(help: "A checkpoint directory (RUN/checkpoints/step-NNNNNNNN or RUN/checkpoints/best).")
    var checkpoint: String

    @Option(help: "The width preset the checkpoint was trained with: tiny, small or paper.")
    var preset = "small"

    @Option(help: "The safetensors file to write.")
    var output: String

    @Flag(help: "Replace an existing output file.")
    var overwrite = false

    func run() throws {
        do {
            try exportCheckpoint(checkpoint, preset: preset, to: output, overwrite: overwrite)
        } catch {
            throw CommandError("\(error)")
        }
        print("wrote \(output) from \(checkpoint)")
    }
}
