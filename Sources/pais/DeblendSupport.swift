import Datasets
import Distributed
import FITSIO
import Foundation
import Inference
import Layers
import Network
import SkySim
import Tensors

/// An input image for deblending: a 2-D image HDU of a FITS file, read by rows, with its WCS and units.
struct DeblendInput {
    var height: Int { rows.height }
    var width: Int { rows.width }
    /// The image, read a band of rows at a time (never whole), binned by `binning`.
    var rows: any ImageRows { binning.factor == 1 ? file : BinnedRows(file, binning: binning) }
    /// The image HDU as the file holds it.
    let file: FITSImageRows
    /// How the file's pixels are summed into the model's grid (`--bin`; factor 1: as they are).
    private(set) var binning = PixelBinning.none
    /// WCS header cards of the grid deblended (the HDU's verbatim when not binned), written onto every output.
    var wcsCards: [String]
    /// The WCS of the grid deblended, and of the file's own pixels.
    var wcs: CelestialWCS?, fileWCS: CelestialWCS?
    /// Why a WCS the header has could not be used (the catalog's ra and dec are then NaN).
    var wcsProblem: String?
    /// The AB zero point the header gives (MAGZP, or PHOTFLAM/PHOTPLAM), nil if none.
    var zeroPoint: ABZeroPoint?
    /// The pixel values' unit (BUNIT), nil if the header does not say.
    var unit: String?

    /// Opens `path` at image HDU `hdu` (an index or EXTNAME; nil: the first 2-D image); missing,
    /// non-FITS, truncated or image-less files give one clear line.
    init(path: String, hdu: String? = nil) throws {
        let (file, chosen) = try Self.image(path, hdu: hdu)
        try self.init(file, hdu: chosen, path: path)
    }

    /// Image HDU `hdu` of `file`, opened by `image(_:hdu:)` and current; `path` names it in errors.
    init(_ file: FITSFile, hdu chosen: Int, path: String) throws {
        wcsCards = try file.wcsCards()
        do { wcs = try file.readCelestialWCS() } catch let e as FITSError { wcsProblem = e.message }
        fileWCS = wcs
        do { zeroPoint = try file.abZeroPoint() } catch let e as FITSError { throw CommandError("\(path): \(e.message)") }
        if case .string(let text)? = try file.readKey("BUNIT"), !text.isEmpty { unit = text }
        self.file = try FITSImageRows(file: file, hdu: chosen)
    }

    /// This image binned by `binning`: its rows, size and WCS become the binned grid's. `path` names it in errors.
    func binned(by binning: PixelBinning, path: String) throws -> DeblendInput {
        var binned = self
        binned.binning = binning
        if let wcs = fileWCS {
            do { binned.wcs = try wcs.binned(by: binning, source: path) } catch let e as FITSError { throw CommandError("\(path): \(e.message)") }
            binned.wcsCards = binned.wcs!.cards
        }
        return binned
    }

    /// `path`'s image HDU `hdu` (a 0-based index or an EXTNAME such as SCI or WHT of an HST
    /// `_drz.fits`; nil: the first 2-D image), made current.
    static func image(_ path: String, hdu: String?) throws -> (FITSFile, Int) {
        guard FileManager.default.fileExists(atPath: path) else { throw CommandError("\(path): no such file") }
        let file = try FITSFile.open(path)
        try file.checkNotTruncated()
        let chosen: Int
        if let hdu {
            let count = try file.hduCount()
            if let index = Int(hdu) {
                guard (0..<count).contains(index) else { throw CommandError("\(path): has no HDU \(index) (it has \(count))") }
                _ = try file.moveToHDU(index)
            } else {
                _ = try file.moveToHDU(named: hdu)
            }
            chosen = try file.currentHDUIndex()
            guard try file.currentHDUKind() == .image, try file.imageGeometry().imageSize != nil else {
                throw CommandError("\(path): HDU \(hdu) is not a 2-D image")
            }
        } else {
            var first: Int?
            for index in 0..<(try file.hduCount()) where try file.moveToHDU(index) == .image {
                if try file.imageGeometry().imageSize != nil { first = index; break }
            }
            guard let first else { throw CommandError("\(path): has no 2-D image HDU") }
            chosen = first
        }
        _ = try file.moveToHDU(chosen)
        return (file, chosen)
    }

    /// This image read through the weight map at `path`, HDU `hdu` (nil: the first 2-D image):
    /// blank where the weight is not positive; and the map itself, for the flux errors. A map of
    /// another shape fails with a line naming both files (`imagePath` is this image's).
    func weighted(by path: String, hdu: String?, imagePath: String) throws -> (rows: any ImageRows, weight: any ImageRows) {
        let (opened, index) = try Self.image(path, hdu: hdu)
        let weight = try FITSImageRows(file: opened, hdu: index)
        let masked: WeightMaskedRows
        do {
            masked = try WeightMaskedRows(image: file, weight: weight, names: (imagePath, "weight map \(path)"))
        } catch let e as InferenceError { throw CommandError(e.description) }
        guard binning.factor > 1 else { return (masked, weight) }
        // Blanked before binning, so a block holds the mean of the pixels the map says hold data.
        return (BinnedRows(masked, binning: binning), BinnedWeightRows(weight, binning: binning))
    }

    /// How the network sees this image's pixel values: from `zeroPoint` (the command line's), else
    /// the header's, else the model's own (e⁻/s at AB 25.94, `Instrument.zeropoint`).
    func units(zeroPoint given: Double?) throws -> InputUnits {
        if let given, !given.isFinite { throw CommandError("--zero-point must be a finite AB magnitude, got \(given)") }
        let found = given.map { ABZeroPoint(magnitude: $0, source: "--zero-point") } ?? zeroPoint
        let units = InputUnits(zeroPoint: found?.magnitude ?? Instrument.zeropoint, source: found?.source)
        guard units.scale.isFinite, units.scale > 0, Float(units.scale).isNormal else {
            throw CommandError("zero point \(units.zeroPoint) (\(found?.source ?? "")) is too far from the model's \(Instrument.zeropoint) to scale the image")
        }
        return units
    }

    /// A warning when the WCS pixel scale of the grid deblended is more than 10 % off the
    /// model's 0.06″, nil otherwise.
    var pixelScaleWarning: String? {
        guard let scale = pixelScaleArcsec, abs(scale / Instrument.pixelScale - 1) > 0.1 else { return nil }
        let remedy = Self.wholeBinning(scale: scale).map { "--bin \($0) (or auto) sums \($0)x\($0) pixels onto it" }
            ?? "resample it onto a 0.06\"/px grid first for trustworthy results"
        return "has " + String(format: "%.3f", scale) + "\"/px but the model was trained on \(Instrument.pixelScale)\"/px images; " + remedy
    }

    /// The pixel side in arcsec at the image's centre, from its WCS (nil without one).
    var pixelScaleArcsec: Double? {
        guard let wcs else { return nil }
        let x = Double(width) / 2, y = Double(height) / 2
        guard let p = try? wcs.world(x: x, y: y), let px = try? wcs.world(x: x + 1, y: y),
              let py = try? wcs.world(x: x, y: y + 1) else { return nil }
        func arcsec(_ a: (ra: Double, dec: Double), _ b: (ra: Double, dec: Double)) -> Double {
            let dra = (a.ra - b.ra) * cos(p.dec * .pi / 180), ddec = a.dec - b.dec
            return (dra * dra + ddec * ddec).squareRoot() * 3600
        }
        return (arcsec(p, px) * arcsec(p, py)).squareRoot()
    }
}

extension DeblendInput {
    /// The centres of a forced deblend: a catalog (FITS table or CSV) with columns x, y (0-based
    /// pixels) or ra, dec (degrees, through this image's WCS), rounded half up to pixels as label
    /// centres are (method.md §3.2). Every row must be finite and inside the image.
    func forcedCentres(from path: String, imagePath: String) throws -> [PixelCentre] {
        guard FileManager.default.fileExists(atPath: path) else { throw CommandError("\(path): no such file") }
        let table = try FITSTable.read(from: path)
        guard table.rowCount > 0 else { throw CommandError("\(path): the catalog is empty (no centres to deblend at)") }
        // On the file's pixels (x, y columns are), then onto the grid deblended.
        let positions = try table.pixelPositions(source: path, wcs: fileWCS, imagePath: imagePath)
            .map { (x: binning.binned($0.x), y: binning.binned($0.y)) }
        return try positions.enumerated().map { row, p in
            guard p.x.isFinite, p.y.isFinite else { throw CommandError("\(path): row \(row) has a non-finite position (x=\(p.x), y=\(p.y))") }
            let centre = PixelCentre(y: Int((p.y + 0.5).rounded(.down)), x: Int((p.x + 0.5).rounded(.down)))
            guard 0..<height ~= centre.y, 0..<width ~= centre.x else {
                let grid = binning.factor > 1 ? " (positions on the \(binning.factor)x\(binning.factor)-binned grid deblended)" : ""
                throw CommandError("\(path): row \(row) position (x=\(p.x), y=\(p.y)) is outside the \(width)x\(height) image \(imagePath)\(grid)")
            }
            return centre
        }
    }
}

/// The models shipped in models/: the default, trained on white sky noise, and one trained on
/// white and drizzle-like correlated noise, picked when an image's noise is correlated
/// (`NoiseCorrelation`; models/README.md).
enum ShippedModel {
    static let whiteNoise = "pais-small-sim.safetensors"
    static let drizzledNoise = "pais-small-drizzled.safetensors"
    /// Overrides every other place the shipped models are looked for.
    static let directoryVariable = "PAIS_MODEL_DIR"

    /// Where the shipped models may be, in the order searched: `$PAIS_MODEL_DIR`, else `models/`
    /// in the current directory, `share/pais/models` beside the executable's `bin/` (the layout
    /// `make install` writes), and `models/` in the source tree the executable was built in.
    static func searchDirectories(environment: [String: String] = ProcessInfo.processInfo.environment,
                                  executable: String = runningExecutablePath()) -> [String] {
        if let directory = environment[directoryVariable], !directory.isEmpty { return [directory] }
        let binDirectory = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        var directories = ["models", binDirectory.deletingLastPathComponent().appendingPathComponent("share/pais/models").path]
        var directory = binDirectory
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                directories.append(directory.appendingPathComponent("models").path)
                break
            }
            directory = directory.deletingLastPathComponent()
        }
        return directories
    }
}

/// Finds the model weights: an explicit path as given (a bare file name that is not in the current
/// directory, such as the shipped `pais-small-sim-complete.safetensors`, is looked for where the
/// shipped models are), else the shipped model for the image's noise (`correlatedNoise`) in the
/// first of `ShippedModel.searchDirectories` that has it.
func resolveModelPath(_ given: String?, correlatedNoise: Bool = false) throws -> String {
    let directories = ShippedModel.searchDirectories()
    if let given {
        if FileManager.default.fileExists(atPath: given) { return given }
        if !given.contains("/"), let shipped = directories.map({ ($0 as NSString).appendingPathComponent(given) })
            .first(where: { FileManager.default.fileExists(atPath: $0) }) {
            return shipped
        }
        throw CommandError("\(given): no such model file")
    }
    let name = correlatedNoise ? ShippedModel.drizzledNoise : ShippedModel.whiteNoise
    for directory in directories {
        let candidate = (directory as NSString).appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: candidate) { return candidate }
    }
    throw CommandError("no model given and the default \(name) is in none of \(directories.joined(separator: ", "))"
                       + " (set \(ShippedModel.directoryVariable), run `make install`, or pass --model WEIGHTS.safetensors)")
}

/// Fails on every rank, naming the odd ones, unless all ranks deblend alike: the same header
/// keywords (image name, model, options, measured noise), image size, model file and subtracted sky.
func agreeOnSetup(keywords: [(String, HeaderValue, String)], imageSize: String, weights: String, sky: BackgroundChoice,
                  communicator: any Communicator) throws {
    var record = keywords.map { "\($0.0)=\($0.1)" }.joined(separator: "\n") + "\nimage " + imageSize
    let model = try Data(contentsOf: URL(fileURLWithPath: weights))
    record += "\nmodel hash " + String(model.withUnsafeBytes { stableHash64($0) }, radix: 16)
    if case .map(let map) = sky {
        record += "\nsky " + String((map.level + map.rms).withUnsafeBytes { stableHash64($0) }, radix: 16)
    }
    do {
        try ConsistencyChecks.verifyIdentical(Array(record.utf8), what: "the deblend setup (image, model file, options or measured sky)", on: communicator)
    } catch let e as DistributedError {
        // Every rank is here (the hashes were gathered): name the first line that differs.
        let difference = try firstDifference(Array(record.split(separator: "\n").map(String.init)), communicator: communicator)
        throw CommandError("ranks disagree: \(e.description)" + (difference.map { "; first difference: \($0)" } ?? ""))
    }
}

/// The first line of the ranks' records that is not the same on all of them, as each rank has it
/// (e.g. `PAISPREC=bfloat16 on rank 0, PAISPREC=float32 on rank 1`); a collective. Lines past the
/// 64th are not compared, and each is shown to 96 bytes.
private func firstDifference(_ lines: [String], communicator: any Communicator) throws -> String? {
    let compared = 64, shown = 96
    var hashes = lines.prefix(compared).map { line in Array(line.utf8).withUnsafeBytes { Int64(bitPattern: stableHash64($0)) } }
    hashes += [Int64](repeating: 0, count: compared - hashes.count)
    let all = try communicator.allgather(hashes)
    guard let index = (0..<compared).first(where: { i in all.contains { $0[i] != all[0][i] } }) else { return nil }
    var text = Array((index < lines.count ? lines[index] : "(no such line)").utf8.prefix(shown))
    text += [UInt8](repeating: 0, count: shown - text.count)
    let texts = try communicator.allgather(text).map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    return texts.enumerated().map { "\($0.element) on rank \($0.offset)" }.joined(separator: ", ")
}

/// The preset of the model in `weights`: `option` when given, else the one the file records
/// (`pais_preset`, written by `pais train` and `pais export`), else small. An option that
/// contradicts the file is refused by name, before the tensors' shapes would say it less plainly.
func modelPreset(option: String?, weights: String) throws -> String {
    let recorded = try modelMetadata(weights)["pais_preset"]
    guard let option else { return recorded ?? "small" }
    if let recorded, recorded != option {
        throw CommandError("--preset \(option), but \(weights) holds a \(recorded)-preset model (its pais_preset); drop --preset or give \(recorded)")
    }
    return option
}

/// The string metadata of the model file `weights`; an unreadable file is an error naming it.
func modelMetadata(_ weights: String) throws -> [String: String] {
    do { return try Safetensors.readMetadata(from: URL(fileURLWithPath: weights)) } catch let error as SafetensorsError {
        throw CommandError("\(error)")  // it names the file
    } catch {
        throw CommandError("\(weights): \(error)")
    }
}

/// A number the model file records for decoding (`pais_peak_threshold`, ...): nil when it records
/// none, else the value if `isValid` accepts it, else an error naming the file, the key and what
/// was `expected`.
func recordedNumber(_ key: String, in weights: String, expected: String, isValid: (Float) -> Bool) throws -> Float? {
    guard let recorded = try modelMetadata(weights)[key] else { return nil }
    guard let value = Float(recorded), isValid(value) else {
        throw CommandError("\(weights): model metadata \(key) = \"\(recorded)\" is not \(expected)")
    }
    return value
}

/// The slots per pixel (n) of the model in `weights` (`ModelConfig.slots(recordedIn:)`); a bad
/// record is an error naming the file.
func modelSlots(_ weights: String) throws -> Int {
    do { return try ModelConfig.slots(recordedIn: modelMetadata(weights)) } catch let error as ModelError {
        throw CommandError("\(weights): \(error)")
    }
}

/// Builds the tile network for `preset` from `weights`, checking the tile size against the model.
/// `replicas` copies run that many tiles at once (one per compute thread of this process); with
/// `views` > 1 each tile's outputs are the mean over that many flipped and turned views of it.
func loadTileNetwork(preset: String, weights: String, tile: Int, replicas: Int, views: Int = 1,
                     precision: ConvPrecision = .float32) throws -> any TileNetwork {
    guard var config = ModelConfig.preset(preset) else {
        throw CommandError("--preset must be one of \(ModelConfig.presetList), got \(preset)")
    }
    config.dropout = 0
    config.slots = try modelSlots(weights)
    do { try config.validate(size: tile) } catch {
        throw CommandError("--tile \(tile) does not fit preset \(preset): \(error)")
    }
    do {
        let symmetries = try TileSymmetry.views(views)
        let network = try ModelTileNetwork(config: config, weightsPath: weights, presetName: preset, replicas: replicas,
                                           precision: precision)
        return views == 1 ? network : SymmetrizedTileNetwork(base: network, views: symmetries)
    } catch let e as InferenceError {
        throw CommandError(e.description)
    }
}

/// Loads `preset`'s network with weights, for whole-sample evaluation (any sample size).
func loadModel(preset: String, weights: String) throws -> ModelTileNetwork {
    guard var config = ModelConfig.preset(preset) else {
        throw CommandError("--preset must be one of \(ModelConfig.presetList), got \(preset)")
    }
    config.dropout = 0
    config.slots = try modelSlots(weights)
    do { return try ModelTileNetwork(config: config, weightsPath: weights, presetName: preset) } catch let e as InferenceError {
        throw CommandError(e.description)
    }
}

/// `--precision`: auto (`ConvPrecision.fastest`: bfloat16 where the CPU runs it faster, else
/// float32), float32 or bfloat16.
func convPrecision(option: String) throws -> ConvPrecision {
    switch option {
    case "auto": return ConvPrecision.fastest
    case "float32": return .float32
    case "bfloat16":
        guard ConvPrecision.bfloat16Available else {
            throw CommandError("--precision bfloat16 needs a CPU with AVX-512 BF16 instructions, which this one lacks (use auto or float32)")
        }
        return .bfloat16
    default: throw CommandError("--precision must be auto, float32 or bfloat16, got '\(option)'")
    }
}

/// The default margin: 32 px (method.md §11) for tiles of 128 px or more, else an eighth of the tile.
func defaultMargin(tile: Int) -> Int { tile >= 128 ? 32 : tile / 8 }

/// An image's AB zero point, where it came from (nil: assumed to be the model's), and the factor
/// that turns its pixel values into the model's units.
struct InputUnits {
    var zeroPoint: Double
    var source: String?
    /// m = ZP − 2.5 log10(f): the same source in the model's units is f · 10^(−0.4 (ZP − ZP_model)).
    var scale: Double { pow(10, -0.4 * (zeroPoint - Instrument.zeropoint)) }

    /// The report line, e.g. `photometry: AB zero point 25.940 (MAGZP), the network sees the image x 1`.
    var summary: String {
        let origin = source.map { "(\($0))" } ?? "(none in the header: the model's own; pass --zero-point if the image is in other units)"
        return "photometry: AB zero point " + String(format: "%.3f", zeroPoint) + " \(origin), the network sees the image x "
            + String(format: "%.4g", scale)
    }
}

/// `--input-ceiling`: the ceiling on what the network sees, in the model's units (nil: none), and
/// where it came from. auto: the model file's `pais_input_ceiling` metadata when it has one (the
/// shipped models do); off: none; a positive number: that value.
func resolveInputCeiling(option: String, weights: String) throws -> (value: Float?, origin: String) {
    switch option {
    case "off": return (nil, "--input-ceiling off")
    case "auto":
        let key = InputCeiling.metadataKey
        guard let value = try recordedNumber(key, in: weights, expected: "a positive number", isValid: { $0 > 0 && $0.isFinite }) else {
            return (nil, "the model records none (\(key))")
        }
        return (value, "the model's \(key)")
    default:
        guard let value = Float(option), value > 0, value.isFinite else {
            throw CommandError("--input-ceiling must be auto, off or a positive number in the model's units (e-/s at AB 25.94), got '\(option)'")
        }
        return (value, "--input-ceiling")
    }
}

/// The heatmap's NMS threshold (method.md §4.1's 0.1 unless told): `--peak-threshold` when given,
/// else the model file's `pais_peak_threshold` (a model whose heatmap was trained otherwise than by
/// the method's loss may record the threshold chosen for it), else 0.1; and where it came from.
func resolvePeakThreshold(option: Float?, weights: String) throws -> (value: Float, origin: String) {
    let key = "pais_peak_threshold"
    try checkPeakThresholdOption(option)
    if let option { return (option, "--peak-threshold") }
    guard let value = try recordedNumber(key, in: weights, expected: "a number in (0, 1)", isValid: { $0 > 0 && $0 < 1 }) else {
        return (0.1, "the method's; the model records none")
    }
    return (value, "the model's \(key)")
}

/// `--peak-threshold`, when given, lies in (0, 1).
func checkPeakThresholdOption(_ option: Float?) throws {
    if let option, !(option > 0 && option < 1) { throw CommandError("--peak-threshold must be in (0, 1), got \(option)") }
}

/// `--attribution`'s value, or an error naming the choices.
func parseAttribution(_ value: String) throws -> Attribution {
    guard let choice = Attribution(rawValue: value) else {
        throw CommandError("--attribution must be \(Attribution.allCases.map(\.rawValue).joined(separator: " or ")), got '\(value)'")
    }
    return choice
}

/// Whether a slot that repeats a pixel's owner goes to a free source nearby
/// (`DeblendSettings.fillRepeatedOwners`): `--repeated-owners fill|keep` when given, else the
/// model file's `pais_repeated_owners` (the shipped white-noise models record fill, with which
/// they were judged: BENCHMARKS.md, "Repeated owners"), else keep; and where it came from. Only
/// the symmetric attribution fills: asked for with the network's, it is an error.
func resolveRepeatedOwners(option: String?, weights: String, attribution: Attribution) throws -> (fill: Bool, origin: String) {
    let key = "pais_repeated_owners"
    let choices = ["fill": true, "keep": false]
    let fill: Bool, origin: String
    if let option {
        guard let choice = choices[option] else { throw CommandError("--repeated-owners must be fill or keep, got '\(option)'") }
        if choice, attribution != .symmetric { throw CommandError("--repeated-owners fill needs --attribution symmetric") }
        (fill, origin) = (choice, "--repeated-owners")
    } else if let recorded = try modelMetadata(weights)[key] {
        guard let choice = choices[recorded] else {
            throw CommandError("\(weights): model metadata \(key) = \"\(recorded)\" is not fill or keep")
        }
        (fill, origin) = (choice && attribution == .symmetric, "the model's \(key)")
    } else {
        (fill, origin) = (false, "default")
    }
    return (fill, origin)
}

/// `--halo-peaks`: whether heatmap peaks on a brighter source's halo are dropped.
func parseHaloPeaks(_ value: String) throws -> Bool {
    switch value {
    case "drop": return true
    case "keep": return false
    default: throw CommandError("--halo-peaks must be drop or keep, got '\(value)'")
    }
}

/// The second detection pass's threshold in σ: `--residual-peaks` when given (0: no second pass),
/// else the model file's `pais_residual_peaks` (a completeness-first model records the threshold
/// chosen for it, as it records its NMS threshold), else none; and where it came from. A recorded
/// value does not apply to forced centres, which detect nothing. The pass counts σ in the sky
/// noise, so it needs a measured one.
func resolveResidualPeaks(option: Float?, weights: String, forcedCentres: Bool, noise: PixelNoise?,
                          image: String) throws -> (value: Float?, origin: String) {
    let key = "pais_residual_peaks"
    let value: Float?, origin: String
    if let option {
        guard option >= 0, option.isFinite else {
            throw CommandError("--residual-peaks must be a positive number of sigma, or 0 for no second pass, got \(option)")
        }
        if option > 0, forcedCentres { throw CommandError("--residual-peaks adds detections, --centres fixes them: give one of the two") }
        (value, origin) = (option > 0 ? option : nil, "--residual-peaks")
    } else if !forcedCentres,
              let recorded = try recordedNumber(key, in: weights, expected: "a positive number of sigma", isValid: { $0 > 0 && $0.isFinite }) {
        (value, origin) = (recorded, "the model's \(key)")
    } else {
        return (nil, "none")
    }
    if value != nil, noise == nil {
        throw CommandError("the residual-peak pass (\(origin)) needs the sky noise, which could not be measured on \(image); --residual-peaks 0 turns it off")
    }
    return (value, origin)
}
