import ArgumentParser
import Datasets
import Network
import Training

/// `pais export`: a training checkpoint's weights as a safetensors model file.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the weights of a checkpoint (e.g. RUN/checkpoints/best) as model.safetensors.")

    @Argument(help: "A checkpoint directory (RUN/checkpoints/step-NNNNNNNN or RUN/checkpoints/best).")
    var checkpoint: String

    @Option(help: "The width preset the checkpoint was trained with: \(ModelConfig.presetList).")
    var preset = "small"

    @Option(help: "The safetensors file to write.")
    var output: String

    @Option(help: "The dataset the checkpoint was trained on: its depths and noise are recorded as the model's training sky noise (pais_sky_rms), which `pais deblend --noise-match auto` matches images to, and for simulated crops the input ceiling (pais_input_ceiling, `pais deblend --input-ceiling auto`); also the labels' heatmap σ (pais_heatmap_sigma).")
    var dataset: String?

    @Option(help: "Slots per pixel (n) the checkpoint was trained with. Default: the --dataset's n, else 3.")
    var slots: Int?

    @Flag(help: "Replace an existing output file.")
    var overwrite = false

    func run() throws {
        var metadata: [String: String] = [:]
        var slotCount = slots ?? ModelConfig.methodSlots
        if let dataset {
            let manifest: DatasetManifest
            do { manifest = try DatasetManifest.read(directory: dataset) } catch { throw CommandError("\(error)") }
            guard manifest.trainedNoise != nil else {
                throw CommandError("\(dataset): its training sky noise is not known (depths outside sky.md, or crops of a field from before PAIS measured their sky: rebuild it with `pais dataset build`), so none can be recorded; leave out --dataset")
            }
            metadata = manifest.modelMetadata
            if let given = slots, given != manifest.n {
                throw CommandError("--slots \(given), but \(dataset) has n = \(manifest.n) slots; drop --slots or give \(manifest.n)")
            }
            slotCount = manifest.n
        }
        do {
            try exportCheckpoint(checkpoint, preset: preset, slots: slotCount, to: output, overwrite: overwrite, metadata: metadata)
        } catch {
            throw CommandError("\(error)")
        }
        print("wrote \(output) from \(checkpoint)" + (metadata.isEmpty ? "" : "; training sky noise \(metadata[TrainedNoise.metadataKey]!)")
              + (metadata[InputCeiling.metadataKey].map { ", input ceiling \($0)" } ?? "")
              + (metadata[DatasetManifest.heatmapSigmaMetadataKey].map { ", heatmap σ \($0) px" } ?? "")
              + (metadata[DatasetManifest.slotRuleMetadataKey].map { ", slots: the \($0)" } ?? ""))
    }
}
