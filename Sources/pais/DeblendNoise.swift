import Datasets
import Foundation
import Inference
import Tensors

// The sky of an image to deblend, and what `pais deblend` makes of it before any tile: whether to
// subtract it, which shipped model to use (white or drizzled noise) and how far to scale the
// network's input (`--noise-match`).

/// The decisions taken from the sky, in order: the map, the noise measured on it, the model that
/// noise picks, the matching to that model's training noise, and (for `auto`) whether the map is
/// subtracted (`NoiseMatch.skyJudgementScale`), as the deblender would decide it; made here so
/// that the outputs' headers can name them.
struct SkyDecisions {
    let map: SkyBackground?, subtract: Bool
    let noise: SkyNoise
    let weights: String
    let matched: (match: NoiseMatch?, kind: String, note: String)

    init(_ rows: any ImageRows, background choice: BackgroundChoice, mesh: Int, model: String?,
         matchMode: NoiseMatchMode, inputScale: Float) throws {
        do { map = try choice.estimateMap(rows) } catch let e as InferenceError { throw CommandError(e.description) }
        noise = SkyNoise(rows, sky: map, mesh: mesh)
        weights = try resolveModelPath(model, correlatedNoise: noise.isCorrelated)
        matched = try noise.match(matchMode, weights: weights, scale: inputScale)
        let judgedAt = NoiseMatch.skyJudgementScale(inputScale: inputScale, match: matched.match)
        subtract = map.map { choice.subtracts($0, inputScale: judgedAt) } ?? false
    }

    /// What the deblender subtracts.
    var background: BackgroundChoice { map.flatMap { subtract ? .map($0) : nil } ?? .none }
}

/// The sky noise of an image: its neighbour correlation (`NoiseCorrelation`) and its per-pixel
/// rms in the image's units (the median over the mesh), NaN when unmeasured.
struct SkyNoise {
    /// The mesh estimate they come from (nil: none could be made).
    let map: SkyBackground?
    var correlation: Float { map?.noiseCorrelation ?? .nan }
    var rms: Float { map?.noiseRMS ?? .nan }

    /// Taken from the sky estimate when it was measured, else measured on a `mesh`-px mesh (NaN
    /// when no cell has enough data). A sky left alone must not fail for the noise's sake: an
    /// image that cannot be deblended at all is refused later, by the deblender's own scan.
    init(_ rows: any ImageRows, sky: SkyBackground?, mesh: Int) {
        map = sky.flatMap { $0.isMeasured ? $0 : nil } ?? (try? SkyBackground.estimate(rows, mesh: mesh, filter: 3))
    }

    var isCorrelated: Bool { NoiseCorrelation.isCorrelated(correlation) }

    /// Tile-by-tile noise matching (`NoiseMatch`) against the range the model was trained on
    /// (`TrainedNoise`, from the model file's metadata), for an image the network sees × `scale`;
    /// nil with `--noise-match off`, without a recorded range or without a measured sky, with the
    /// reason as `note`.
    func match(_ mode: NoiseMatchMode, weights: String, scale: Float) throws -> (match: NoiseMatch?, kind: String, note: String) {
        guard mode == .auto else { return (nil, "", "--noise-match off: not matched") }
        guard let map, rms.isFinite else { return (nil, "", "not measured (no cell with enough data)") }
        guard let recorded = try modelMetadata(weights)[TrainedNoise.metadataKey] else {
            return (nil, "", "the model records no training noise (\(TrainedNoise.metadataKey)): not matched")
        }
        let trained: TrainedNoise
        do { trained = try TrainedNoise(metadata: recorded) } catch let e as DatasetError { throw CommandError("\(weights): \(e.description)") }
        guard let (kind, range) = trained.range(correlated: isCorrelated) else { preconditionFailure("a parsed TrainedNoise has a range") }
        return (NoiseMatch(sky: map, range: range, inputScale: scale), kind, "")
    }

    /// The report's line and the header's value (PAISNMAT) for `matched` over the tiles of `grid`.
    func summary(_ matched: (match: NoiseMatch?, kind: String, note: String), grid: TileGrid, scale: Float) -> (line: String, header: String) {
        let head = "noise level: sky rms " + String(format: "%.3g", Double(rms * scale)) + " in the model's units (median)"
        guard let match = matched.match else { return (head + "; " + matched.note, "none") }
        let factors = (0..<grid.count).map { grid.tile($0) }.map {
            match.factor(rows: $0.y0..<($0.y0 + grid.tile), columns: $0.x0..<($0.x0 + grid.tile))
        }
        let scaled = factors.filter { $0 != 1 }
        let bounds = String(format: "%.3g-%.3g", Double(match.range.lowerBound), Double(match.range.upperBound))
        guard let low = scaled.min(), let high = scaled.max() else {
            return (head + ", inside the \(bounds) the model was trained on (\(matched.kind)) in every tile", "none")
        }
        let span = low == high ? String(format: "x %.3g", Double(low)) : String(format: "x %.3g to %.3g", Double(low), Double(high))
        return (head + "; outside the \(bounds) the model was trained on (\(matched.kind)) in \(scaled.count) of \(factors.count) tiles, "
                + "whose input the network sees \(span) (--noise-match off: as it is)",
                "\(span) in \(scaled.count) of \(factors.count) tiles")
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

/// What the catalog's flux errors rest on (`PixelNoise`): the sky noise's rms map, or a weight
/// map scaled to it, the photon noise of the sources with a gain, and for correlated noise its
/// variance factor (`NoiseCorrelation.varianceFactor`); nil `pixelNoise` when the sky noise was not
/// measured.
struct FluxErrorChoice {
    let pixelNoise: PixelNoise?
    let line: String

    /// `offersGain`: whether the line points at --gain when none is given (not for measured bands).
    init(_ rows: any ImageRows, noise: SkyNoise, gain: Double?, weight: (any ImageRows)? = nil, offersGain: Bool = true) throws {
        guard let map = noise.map, map.isMeasured else {
            pixelNoise = nil
            line = "flux errors: none (the sky noise could not be measured): flux_err and mag_err are NaN"
            return
        }
        var factor: Float = 1
        if noise.isCorrelated {
            do { factor = try NoiseCorrelation.varianceFactor(rows, sky: map) } catch let e as InferenceError { throw CommandError(e.description) }
            guard factor.isFinite else {
                pixelNoise = nil
                line = "flux errors: none (the correlated noise's variance factor could not be measured): flux_err and mag_err are NaN"
                return
            }
            factor = max(factor, 1)
        }
        var weightMap: WeightMapNoise? = nil
        do {
            weightMap = try weight.map { try WeightMapNoise(rows: $0, sky: map) }
            pixelNoise = try PixelNoise(sky: map, gain: gain, correlationFactor: factor, weightMap: weightMap)
        } catch let e as InferenceError {
            throw CommandError(e.description)
        }
        let skyTerm = weightMap.map { String(format: "from the weight map (sky variance %.4g / weight, scaled to the measured noise)", Double($0.scale)) }
            ?? "from the sky noise map"
        line = "flux errors: \(skyTerm)" + (gain.map { String(format: " and the sources' photon noise (gain %g e-/unit)", $0) }
            ?? (offersGain ? " alone (--gain adds the sources' photon noise)" : " alone"))
            + (noise.isCorrelated ? String(format: ", variances x %.2f for the noise's correlation between pixels", Double(factor)) : "")
    }
}
