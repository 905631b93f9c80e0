import ArgumentParser
import Distributed
import DistributedMPI
import FITSIO
import Foundation
import Inference
import Tensors

/// `pais deblend`: tiled inference on an image of any size, written as catalog, per-source
/// images, segmentation and heatmap (runbooks/deblend-a-mosaic.md).
struct DeblendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deblend",
        abstract: "Deblend an image of any size with a trained model (overlapping tiles, global NMS and decode).",
        discussion: """
            Writes DIR/catalog.fits + catalog.csv, sources.fits (per-source images as boxes), segmentation.fits
            and heatmap.fits, all with the input's WCS. Under mpirun the tiles are split over the ranks and
            rank 0 decodes and writes. Memory on each rank is about 80 bytes per pixel (1.3 GB for 4096²).
            """)

    @Argument(help: "Input FITS image (the first 2-D image HDU is used).") var image: String
    @Option(help: "Model weights from `pais train` (default: models/pais-small-sim.safetensors).") var model: String?
    @Option(help: "Width preset the model was trained with: tiny, small or paper.") var preset = "small"
    @Option(help: "Tile side: the model's training sample size (a multiple of 2^stages).") var tile = 256
    @Option(help: "Margin discarded on inner tile edges (default 32, or tile/8 for tiles under 128).") var margin: Int?
    @Option(help: "NMS threshold on the heatmap (method.md §4.1).") var peakThreshold: Float = 0.1
    @Option(help: "Output directory (created; must not exist unless --overwrite).") var output: String
    @Option(help: "Compute threads per rank (default: all cores alone, 1 per rank under a launcher).") var threads: Int?
    @Flag(help: "Replace an existing output directory.") var overwrite = false

    func run() throws {
        let launch = LaunchMode.detect(environment: ProcessInfo.processInfo.environment)
        let mpi: MPICommunicator? = launch == .singleton ? nil : try MPICommunicator()
        let communicator: any Communicator = mpi ?? LocalCommunicator()
        BLASInfo.setThreadCount(1)
        Parallel.workers = max(1, threads ?? (mpi == nil ? ProcessInfo.processInfo.activeProcessorCount : 1))
        do {
            try deblend(communicator: communicator)
        } catch {
            if communicator.rank == 0 { writeToStandardError("Error: \(error)\n") }
            if communicator.size > 1 { communicator.abort(code: 1) }
            throw ExitCode(1)
        }
        try mpi?.finalize()
    }

    func deblend(communicator: any Communicator) throws {
        let root = communicator.rank == 0
        if root && FileManager.default.fileExists(atPath: output) && !overwrite {
            throw CommandError("\(output) already exists (pass --overwrite to replace it)")
        }
        let input = try DeblendInput(path: image)
        let weights = try resolveModelPath(model)
        let network = try loadTileNetwork(preset: preset, weights: weights, tile: tile)
        var settings = DeblendSettings()
        settings.tile = tile
        settings.margin = margin ?? defaultMargin(tile: tile)
        guard peakThreshold > 0, peakThreshold < 1 else { throw CommandError("--peak-threshold must be in (0, 1), got \(peakThreshold)") }
        settings.peakThreshold = peakThreshold
        let start = Date()
        let result: DeblendResult
        do {
            result = try MosaicDeblender(settings: settings).deblend(
                input.pixels, height: input.height, width: input.width, network: network, communicator: communicator
            ) { done, total in
                if root && (done == total || done % max(1, total / 100) == 0) {
                    writeProgress("\rtiles \(done)/\(total) on rank 0 of \(communicator.size)")
                }
            }
        } catch let e as InferenceError { throw CommandError("\(image): \(e.description)") }
        if root { writeProgress("\n") }
        let seconds = Date().timeIntervalSince(start)
        guard root else { return }
        if result.replacedPixels > 0 {
            writeToStandardError("warning: \(image): \(result.replacedPixels) NaN/Inf pixels were replaced by 0\n")
        }
        let keywords: [(String, HeaderValue, String)] = [
            ("PAISIMG", .string(URL(fileURLWithPath: image).lastPathComponent), "deblended input image"),
            ("PAISMOD", .string(URL(fileURLWithPath: weights).lastPathComponent), "model weights"),
            ("PAISPRE", .string(preset), "model width preset"),
            ("PAISTILE", .int(tile), "[px] tile side"),
            ("PAISMARG", .int(settings.margin), "[px] tile margin"),
            ("PAISNMS", .double(Double(settings.peakThreshold)), "NMS threshold (window 7)"),
        ]
        do {
            try DeblendOutput.write(result, to: output, wcsCards: input.wcsCards, wcs: input.wcs, keywords: keywords, overwrite: overwrite)
        } catch let e as InferenceError { throw CommandError(e.description) }
        let blended = result.sources.filter(\.blended).count
        print("deblended \(input.width)x\(input.height) image \(image) with \(weights) (\(preset), tile \(tile), margin \(settings.margin))")
        print("  \(result.tiles) tiles on \(communicator.size) rank(s): network " + String(format: "%.2f s (%.2f tiles/s), NMS + decode %.2f s, total %.2f s",
              result.networkSeconds, Double(result.tiles) / max(result.networkSeconds, 1e-9), result.decodeSeconds, seconds))
        print("  \(result.sources.count) sources (\(blended) flagged blended), \(result.replacedPixels) NaN/Inf pixels replaced")
        print("  wrote \(output)/{catalog.fits,catalog.csv,sources.fits,segmentation.fits,heatmap.fits}")
    }
}
