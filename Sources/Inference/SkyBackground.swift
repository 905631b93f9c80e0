import Tensors

/// How `pais deblend` treats the sky background before the network sees the image.
///
/// The network was trained on background-subtracted images (sky noise of zero mean). Real
/// mosaics keep residual pedestals and gradients, and an image straight from a pipeline may hold
/// the whole sky: a pedestal of one noise sigma took a 1024² field's F1 from 0.89 to 0.66 and three
/// sigma to 0.12 (BENCHMARKS.md, "Sky background"), each pedestal pixel's heat read as a faint source.
/// But a mesh estimate of a sky that is already subtracted is not zero: in a deep field it is the
/// light of faint galaxies and of the wings of bright ones (0.0003-0.0008 e⁻/s per pixel on simulated
/// fields), and since every pixel's light goes to some source, subtracting it took 31-41 % from
/// the fluxes of sources brighter than H = 25. So `auto` subtracts the estimate only when it shows
/// a sky the image still holds (`SkyBackground.holdsSky`).
public enum BackgroundChoice: Sendable, Equatable {
    /// The image is used as it is.
    case none
    /// A constant level (in the image's units) is subtracted.
    case constant(Float)
    /// A map estimated on a mesh of `mesh`-pixel cells, median-filtered over `filter` × `filter`
    /// cells; subtracted always, or (`onlyIfSky`) only when it shows a sky the image still holds.
    case mesh(Int, filter: Int, onlyIfSky: Bool)
    /// A map estimated beforehand (by the command line, to name the outcome in every output's header).
    case map(SkyBackground)

    /// What `pais deblend` does unless told: SExtractor's mesh (BACK_SIZE 64, BACK_FILTERSIZE 3),
    /// subtracted when it shows a sky.
    public static let automatic = BackgroundChoice.mesh(64, filter: 3, onlyIfSky: true)

    /// Parses "auto", "mesh", "none" or a number (a constant level); `mesh` sets the cell size.
    public init(_ text: String, mesh: Int = 64) throws {
        switch text.lowercased() {
        case "auto": self = .mesh(mesh, filter: 3, onlyIfSky: true)
        case "mesh": self = .mesh(mesh, filter: 3, onlyIfSky: false)
        case "none": self = .none
        default:
            guard let value = Float(text), value.isFinite else {
                throw InferenceError.badParameter("--background must be auto, mesh, none or a finite level in the image's units, got \(text)")
            }
            self = .constant(value)
        }
        if case .mesh(let side, _, _) = self, side < 8 {
            throw InferenceError.badParameter("--background-mesh must be at least 8 px, got \(mesh)")
        }
    }

    /// The background of `image` and whether to subtract it (nil for `.none`); the network sees the
    /// image × `inputScale`. Reads the image once for a mesh.
    public func estimate(_ image: any ImageRows, inputScale: Float = 1) throws -> (background: SkyBackground, subtract: Bool)? {
        try estimateMap(image).map { ($0, subtracts($0, inputScale: inputScale)) }
    }

    /// The background of `image` (nil for `.none`), not yet judged.
    public func estimateMap(_ image: any ImageRows) throws -> SkyBackground? {
        switch self {
        case .none: return nil
        case .constant(let level):
            return SkyBackground(rowEdges: [0, image.height], columnEdges: [0, image.width], level: [level], rms: [.nan])
        case .mesh(let side, let filter, _):
            return try SkyBackground.estimate(image, mesh: side, filter: filter)
        case .map(let background):
            guard background.rowEdges.last == image.height && background.columnEdges.last == image.width else {
                throw InferenceError.badParameter("the sky map is \(background.columnEdges.last!)x\(background.rowEdges.last!) but the image is \(image.width)x\(image.height)")
            }
            return background
        }
    }

    /// Whether `map`, estimated by this choice, is subtracted from an image the network sees ×
    /// `inputScale`: always, except for `auto`, which asks whether it shows a sky.
    public func subtracts(_ map: SkyBackground, inputScale: Float) -> Bool {
        if case .mesh(_, _, true) = self { return map.holdsSky(inputScale: inputScale) }
        return true
    }
}

/// A sky background map: a level (and noise rms) per mesh cell, interpolated bilinearly between
/// cell centres and held constant beyond the outermost ones.
///
/// The estimate follows SExtractor's (Bertin & Arnouts 1996, A&AS 117, 393): in each cell the
/// pixel values are clipped at ±3σ around their median until nothing changes; if that changed σ
/// by less than 20 % the field is uncrowded there and the level is the clipped mean, otherwise it
/// is the mode estimate 2.5 × median − 1.5 × mean. Cells are then median-filtered, which removes
/// the odd cell raised by a bright galaxy. Blank pixels (0, NaN, Inf) take no part; a cell with
/// data in fewer than half its pixels gets the mean of its estimated neighbours.
public struct SkyBackground: Sendable, Equatable {
    /// Cell boundaries along y and along x (cells + 1 each, from 0 to the image's side).
    public let rowEdges: [Int], columnEdges: [Int]
    /// Level and clipped standard deviation per cell, `[cellRows, cellColumns]` row-major (rms NaN:
    /// a level given by the user, not measured).
    public let level: [Float], rms: [Float]
    /// The median over measured cells of the sky noise's correlation between neighbouring pixels
    /// (`NoiseCorrelation`); NaN when not measured.
    public let noiseCorrelation: Float
    /// Per cell: whether at least 90 % of its pixels hold data. Cells along a mosaic's footprint
    /// see less sky and are filled from neighbours beyond it, so `significance` reads the others.
    public let wellCovered: [Bool]
    public var cellRows: Int { rowEdges.count - 1 }
    public var cellColumns: Int { columnEdges.count - 1 }
    /// Per image column: the cell centre at or left of it, and the weight of the next one.
    private let columnCell: [Int], columnWeight: [Float]

    public init(rowEdges: [Int], columnEdges: [Int], level: [Float], rms: [Float], noiseCorrelation: Float = .nan,
                wellCovered: [Bool]? = nil) {
        precondition(level.count == (rowEdges.count - 1) * (columnEdges.count - 1) && rms.count == level.count)
        precondition(wellCovered.map { $0.count == level.count } ?? true)
        self.rowEdges = rowEdges; self.columnEdges = columnEdges; self.level = level; self.rms = rms
        self.noiseCorrelation = noiseCorrelation
        self.wellCovered = wellCovered ?? level.map { _ in true }
        (columnCell, columnWeight) = (0..<columnEdges.last!).map { Self.bracket(Double($0), edges: columnEdges) }
            .reduce(into: ([Int](), [Float]())) { $0.0.append($1.cell); $0.1.append($1.weight) }
    }

    /// The background of image row `y` (`columnEdges.last` values).
    public func row(_ y: Int) -> [Float] { interpolated(level, row: y) }

    /// The sky noise's per-pixel rms along image row `y` (its pixels `columns`, by default all),
    /// interpolated as the level is.
    public func rmsRow(_ y: Int, columns: Range<Int>? = nil) -> [Float] { interpolated(rms, row: y, columns: columns) }

    /// Per-cell `values` interpolated along image row `y`, at `columns` (nil: all).
    private func interpolated(_ values: [Float], row y: Int, columns wanted: Range<Int>? = nil) -> [Float] {
        let (r, t) = Self.bracket(Double(y), edges: rowEdges), columns = cellColumns
        let r1 = min(r + 1, cellRows - 1)
        let coarse = (0..<columns).map { c in (1 - t) * values[r * columns + c] + t * values[r1 * columns + c] }
        return (wanted ?? columnCell.indices).map { x in
            let c = columnCell[x], w = columnWeight[x]
            return (1 - w) * coarse[c] + w * coarse[min(c + 1, columns - 1)]
        }
    }

    /// The cell whose centre is at or before `position` (the first one before all centres) and
    /// the weight of the next centre (0 outside the outermost centres).
    static func bracket(_ position: Double, edges: [Int]) -> (cell: Int, weight: Float) {
        let centres = (0..<(edges.count - 1)).map { Double(edges[$0] + edges[$0 + 1] - 1) / 2 }
        guard position > centres[0] else { return (0, 0) }
        guard position < centres[centres.count - 1] else { return (centres.count - 1, 0) }
        var c = 0
        while centres[c + 1] <= position { c += 1 }
        return (c, Float((position - centres[c]) / (centres[c + 1] - centres[c])))
    }

    /// Cell boundaries for `side` pixels in cells of about `mesh` (the count rounded, at least 1),
    /// spread evenly so that no cell is a sliver.
    static func edges(side: Int, mesh: Int) -> [Int] {
        let cells = max(1, (side + mesh / 2) / mesh)
        return (0...cells).map { $0 * side / cells }
    }

    /// Estimates the map of `image`, read one band of cell rows at a time (the cells of a band in
    /// parallel; each cell alone, so the result does not depend on the thread count).
    public static func estimate(_ image: any ImageRows, mesh: Int, filter: Int) throws -> SkyBackground {
        guard mesh >= 8 else { throw InferenceError.badParameter("background mesh must be at least 8 px, got \(mesh)") }
        guard filter >= 1, filter % 2 == 1 else { throw InferenceError.badParameter("background filter must be odd, got \(filter)") }
        let rowEdges = edges(side: image.height, mesh: mesh), columnEdges = edges(side: image.width, mesh: mesh)
        let rows = rowEdges.count - 1, columns = columnEdges.count - 1, width = image.width
        /// What one cell's pixels say: the sky (nil with data in under half of them), the noise's
        /// neighbour correlation, and whether at least 90 % of them hold data.
        struct Measurement { var sky: CellStatistics?, correlation: Float, wellCovered: Bool }
        var measured = [Measurement](repeating: Measurement(sky: nil, correlation: .nan, wellCovered: false), count: rows * columns)
        var nonFinite = 0, dataPixels = 0
        for r in 0..<rows {
            let band = try image.read(rows: rowEdges[r]..<rowEdges[r + 1])
            for v in band { if !v.isFinite { nonFinite += 1 } else if v != 0 { dataPixels += 1 } }
            let bandRows = rowEdges[r + 1] - rowEdges[r]
            measured.withUnsafeMutableBufferPointer { out in
                let cellsOut = out
                Parallel.forRanges(columns, grain: 1) { first, end in
                    for c in first..<end {
                        let xs = columnEdges[c]..<columnEdges[c + 1]
                        var values: [Float] = []
                        values.reserveCapacity(bandRows * xs.count)
                        for y in 0..<bandRows {
                            for x in xs {
                                let v = band[y * width + x]
                                if v.isFinite && v != 0 { values.append(v) }
                            }
                        }
                        let enough = 2 * values.count >= bandRows * xs.count
                        cellsOut[r * columns + c] = Measurement(
                            sky: enough ? CellStatistics(values) : nil,
                            correlation: enough ? NoiseCorrelation.ofCell(band, width: width, rows: bandRows, columns: xs) : .nan,
                            wellCovered: 10 * values.count >= 9 * bandRows * xs.count)
                    }
                }
            }
        }
        guard dataPixels > 0 else { throw InputScan.noData(nonFinite: nonFinite, pixels: image.height * image.width) }
        let cells = measured.map(\.sky)
        guard cells.contains(where: { $0 != nil }) else {
            throw InferenceError.emptyImage("no \(mesh)-px background cell has data in half its pixels (use a larger --background-mesh, or --background none)")
        }
        let filled = fillGaps(cells, rows: rows, columns: columns)
        return SkyBackground(rowEdges: rowEdges, columnEdges: columnEdges,
                             level: medianFilter(filled.map(\.level), rows: rows, columns: columns, size: filter),
                             rms: medianFilter(filled.map(\.rms), rows: rows, columns: columns, size: filter),
                             noiseCorrelation: NoiseCorrelation.combine(measured.map(\.correlation)),
                             wellCovered: measured.map(\.wellCovered))
    }

    /// Gives every cell without an estimate the mean of its estimated neighbours (8-connected),
    /// growing inwards from the estimated cells one ring per pass.
    static func fillGaps(_ cells: [CellStatistics?], rows: Int, columns: Int) -> [CellStatistics] {
        var current = cells
        while current.contains(where: { $0 == nil }) {
            let previous = current
            for r in 0..<rows {
                for c in 0..<columns where previous[r * columns + c] == nil {
                    var sum = CellStatistics(level: 0, rms: 0), count: Float = 0
                    for dr in -1...1 {
                        for dc in -1...1 where (0..<rows ~= r + dr) && (0..<columns ~= c + dc) {
                            if let s = previous[(r + dr) * columns + c + dc] { sum.level += s.level; sum.rms += s.rms; count += 1 }
                        }
                    }
                    if count > 0 { current[r * columns + c] = CellStatistics(level: sum.level / count, rms: sum.rms / count) }
                }
            }
        }
        return current.map { $0! }
    }

    /// Median over the `size` × `size` cells centred on each cell. Near the grid's edges the window
    /// shrinks on both sides alike: a one-sided window would shift a sloping sky by half a cell.
    static func medianFilter(_ values: [Float], rows: Int, columns: Int, size: Int) -> [Float] {
        let half = size / 2
        return (0..<(rows * columns)).map { i in
            let r = i / columns, c = i % columns
            let dr = min(half, r, rows - 1 - r), dc = min(half, c, columns - 1 - c)
            var window: [Float] = []
            for rr in (r - dr)...(r + dr) {
                for cc in (c - dc)...(c + dc) { window.append(values[rr * columns + cc]) }
            }
            return median(window)
        }
    }

    /// Whether the map was estimated from the image (false: a level given by the user).
    public var isMeasured: Bool { !rms.allSatisfy(\.isNaN) }

    /// The median over cells of the sky's per-pixel noise rms, in the image's units (NaN for a
    /// level given by the user).
    public var noiseRMS: Float { isMeasured ? median(rms) : .nan }

    /// The median cell level and the 10-90 % spread of the cell levels, in the image's units, over
    /// the well-covered cells (all cells if fewer than a tenth are).
    public var significance: (level: Float, spread: Float) {
        let inside = zip(level, wellCovered).filter(\.1).map(\.0)
        let sorted = (10 * inside.count >= level.count ? inside : level).sorted(), n = sorted.count
        return (median(sorted), sorted[min(n - 1, (9 * n) / 10)] - sorted[n / 10])
    }

    /// Largest median level and spread, in the model's units (e⁻/s at AB 25.94), that a mesh
    /// estimate of an already subtracted sky shows: 1.5 × the largest on ten simulated fields of
    /// every depth (levels 0.0003-0.0008 and spreads 0.0006-0.0017, faint galaxies' light; the
    /// noise rms is 0.0014-0.0105 there). A pedestal of 0.002 already cost 9 points of F1.
    public static let subtractedSkyLimits: (level: Float, spread: Float) = (0.0012, 0.0026)

    /// Whether the estimate shows a sky the image still holds, for an image the network sees
    /// × `inputScale` (a user's constant always counts).
    public func holdsSky(inputScale: Float) -> Bool {
        if !isMeasured { return true }
        let (median, spread) = significance
        return abs(median * inputScale) > Self.subtractedSkyLimits.level || spread * inputScale > Self.subtractedSkyLimits.spread
    }

    /// What the outputs' headers say about it (PAISBKG): what was subtracted, or why nothing was.
    public func headerValue(subtracted: Bool) -> String {
        if !isMeasured { return "constant \(level[0]) subtracted" }
        let median = String(format: "%.3g", Double(significance.level))
        return subtracted ? "\(rowEdges[1] - rowEdges[0])-px mesh subtracted, median \(median)"
            : "none: mesh median \(median) within a subtracted sky"
    }

    /// One line for the run's report.
    public func summary(subtracted: Bool) -> String {
        if !isMeasured { return "sky background: constant \(level[0]) subtracted" }
        let sortedLevel = level.sorted(), spread = significance.spread
        func f(_ v: Float) -> String { String(format: "%.4g", Double(v)) }
        return "sky background: \(cellRows)x\(cellColumns) cells of ~\(rowEdges[1] - rowEdges[0]) px, level median \(f(significance.level)) "
            + "(10-90 % spread \(f(spread)), \(f(sortedLevel.first!)) to \(f(sortedLevel.last!))), noise rms median \(f(noiseRMS))"
            + (noiseCorrelation.isFinite ? String(format: ", neighbour correlation %.2f", Double(noiseCorrelation)) : "") + "; "
            + (subtracted ? "subtracted" : "not subtracted: within what an already subtracted sky shows (faint galaxies' light); --background mesh forces it")
    }
}

/// An image seen with its sky background subtracted. Blank pixels (0, NaN, Inf) stay blank, and a
/// data pixel that lands on exactly 0 is nudged off it, since 0 means "no data" downstream.
public struct BackgroundSubtractedRows: ImageRows {
    public let image: any ImageRows, background: SkyBackground
    public var height: Int { image.height }
    public var width: Int { image.width }

    public init(image: any ImageRows, background: SkyBackground) {
        precondition(background.rowEdges.last == image.height && background.columnEdges.last == image.width)
        self.image = image; self.background = background
    }

    public func read(rows: Range<Int>) throws -> [Float] {
        var pixels = try image.read(rows: rows)
        for (offset, y) in rows.enumerated() {
            let sky = background.row(y), base = offset * width
            for x in 0..<width where pixels[base + x].isFinite && pixels[base + x] != 0 {
                let v = pixels[base + x] - sky[x]
                pixels[base + x] = v == 0 ? .leastNonzeroMagnitude : v
            }
        }
        return pixels
    }
}
