import Foundation
import Inference
import Tensors

// The sky noise of an image to deblend, and what `pais deblend` makes of it: which shipped model
// (white or drizzled noise) and how far to scale the network's input (`--noise-match`).

/// The sky noise of an image: its neighbour correlation (`NoiseCorrelation`) and its per-pixel
/// rms in the image's units, NaN when unmeasured.
struct SkyNoise {
    var correlation: Float, rms: Float

    /// Taken from the sky estimate when it is a mesh, else measured on a `mesh`-px mesh; NaN when
    /// no cell has enough data. A sky left alone must not fail for the noise's sake: an image that
    /// cannot be deblended at all is refused later, by the deblender's own scan.
    init(_ rows: any ImageRows, sky: SkyBackground?, mesh: Int) {
        let map = sky.flatMap { $0.noiseCorrelation.isFinite ? $0 : nil } ?? (try? SkyBackground.estimate(rows, mesh: mesh, filter: 3))
        correlation = map?.noiseCorrelation ?? .nan
        rms = map?.noiseRMS ?? .nan
    }

    var isCorrelated: Bool { NoiseCorrelation.isCorrelated(correlation) }

    /// The factor by which the network's input is scaled beyond the photometric `scale` so that
    /// the sky's rms sits in the range the model was trained on (`TrainedNoise`, from the model
    /// file's metadata; `--noise-match off` or no recorded range: 1), and a line for the report.
    func match(_ mode: NoiseMatchMode, weights: String, scale: Double) throws -> (factor: Float, line: String) {
        let seen = rms * Float(scale)
        let head = "noise level: sky rms " + String(format: "%.3g", Double(seen)) + " in the model's units"
        guard mode == .auto else { return (1, head + "; --noise-match off: not matched") }
        guard seen.isFinite else { return (1, "noise level: not measured (no cell with enough data)") }
        let metadata: [String: String]
        do { metadata = try Safetensors.readMetadata(from: URL(fileURLWithPath: weights)) } catch {
            throw CommandError("\(weights): \(error)")
        }
        guard let recorded = metadata[TrainedNoise.metadataKey] else {
            return (1, head + "; the model records no training noise (\(TrainedNoise.metadataKey)): not matched")
        }
        let trained: TrainedNoise
        do { trained = try TrainedNoise(metadata: recorded) } catch let e as InferenceError { throw CommandError("\(weights): \(e.description)") }
        guard let (kind, range) = trained.range(correlated: isCorrelated) else { preconditionFailure("a parsed TrainedNoise has a range") }
        let factor = TrainedNoise.factor(rms: seen, range: range)
        let bounds = String(format: "%.3g-%.3g", Double(range.lowerBound), Double(range.upperBound))
        guard factor != 1 else { return (1, head + ", inside the \(bounds) the model was trained on (\(kind))") }
        return (factor, head + ", \(factor < 1 ? "above" : "below") the \(bounds) the model was trained on (\(kind)): the network sees the image x "
                + String(format: "%.3g", Double(factor)) + " more (--noise-match off: as it is)")
    }
}

/// `--noise-match`: scale the network's input into the model's trained noise range, or never.
enum NoiseMatchMode: String {
    case auto, off

    init(option: String) throws {
        guard let mode = NoiseMatchMode(rawValue: option.lowercased()) else {
            throw CommandError("--noise-match must be auto or off, got \(option)")
        }
        self = mode
    }
}

/// One line for the report on the noise and the model it led to; a warning when the noise is
/// correlated and the user's own model is used.
func noiseReport(correlation: Float, modelGiven: Bool) -> (line: String, warning: String?) {
    let value = String(format: "%.2f", Double(correlation))
    guard correlation.isFinite else { return ("sky noise: neighbour correlation not measured (no cell with enough data)", nil) }
    guard NoiseCorrelation.isCorrelated(correlation) else {
        return ("sky noise: neighbour correlation \(value), white (correlated above \(NoiseCorrelation.correlatedLimit))", nil)
    }
    let line = "sky noise: neighbour correlation \(value), correlated (drizzled?) above \(NoiseCorrelation.correlatedLimit)"
    return modelGiven
        ? (line, "the image's sky noise is correlated between neighbouring pixels (\(value)); a model trained on white noise alone takes its blobs for faint sources (without --model, \(ShippedModel.drizzledNoise) is used)")
        : (line + "; using the drizzled-noise model", nil)
}
