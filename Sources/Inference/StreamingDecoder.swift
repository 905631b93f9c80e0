import PCR
import Tensors

/// Global NMS and decoding (method.md §4.1–4.2) fed one super-block at a time, top to bottom,
/// giving exactly what decoding the whole stitched mosaic at once gives.
///
/// Why it is exact:
/// * NMS at a row needs the heatmap `window / 2` rows below it, so after a block the rows up to
///   `block end − window/2` are searched and the last few wait for the next block (their heatmap
///   rows are carried over). Then every centre above row `known` has been found, in raster order:
///   the known centres are a prefix of the whole-mosaic list, with the same ids.
/// * A pixel's slot points at t = p + v and belongs to the nearest centre (ties: lowest id). If
///   the nearest known centre is at distance d ≤ known − t.y, no centre still to be found (all at
///   rows ≥ known) can be nearer, and an equally near one has a higher id: the match is final.
///   Otherwise the pixel is deferred and retried after the next block; after the last block every
///   match is final. The claim vectors are not bounded, so no fixed halo would be exact; in dense
///   fields few pixels wait (their number is reported). Past `maxWaitingPixels` the waiting pixels
///   are matched at once, giving up exactness for them (counted) to keep memory bounded.
/// * A heatmap peak on a brighter source's halo (`HaloPeakFilter`) is dropped or kept once every
///   peak that could explain it is known: NMS has passed the first image row below it that holds
///   a pixel above the input ceiling, less the reach. The decoder sees those rows early (it reads
///   the image ahead for the templates), so away from bright sources nothing waits.
/// * Per-source images are built from non-overlapping pieces (`StampStore`) and a source's flux is
///   the sum of its assembled image, so neither depends on the order pixels were resolved in.
///   The blend flag's sums are in resolution order (last-bit differences only).
final class StreamingDecoder {
    let settings: DeblendSettings
    let height: Int, width: Int, n: Int
    let sink: any DeblendSink
    /// Heatmap rows below an NMS row that must be present (window / 2; smaller only in tests).
    let nmsHalo: Int

    var centres: [(y: Int, x: Int)] = []
    var peakValues: [Float] = []
    /// Per centre: found in the residual of the symmetric templates (`ResidualPeakFinder`).
    var foundInResidual: [Bool] = []
    /// What slots are matched to: the centres, then the dropped halo peaks, each standing for the
    /// source that explains it.
    var slotTargets = SlotTargets(kept: CentreIndex(centres: []))
    /// Every centre at a row < known has been found.
    var known = 0
    /// NMS has searched the heatmap rows above this; with residual peaks it runs ahead of `known`,
    /// its peaks below `known` waiting in `pendingPeaks` (raster order) for the residual's.
    var nmsKnown = 0
    var pendingPeaks: [(y: Int, x: Int, value: Float)] = []
    /// Heatmap rows `carryStart...` kept for NMS across the next seam, and the image's rows there
    /// (NMS breaks the heatmap's ties by the image).
    var carry: [Float] = [], carryFlux: [Float] = [], carryStart = 0
    var deferred: DeferredPixels
    var owned: [Int] = [], positiveFlux: [Double] = [], sharedFlux: [Double] = []
    /// The measured bands (`MeasuredBand`): channels 1... of `PixelChannels` after the image.
    let bands: [MeasuredBand]
    /// Whether each channel keeps variances.
    let noisyChannels: [Bool]
    /// Per channel and source: Σ_p M_j(p) F_c(p) (the measured bands only), and Σ_p M_j(p)² σ_c²(p)
    /// (empty for a channel without noise: `DeblendSettings.pixelNoise`, `MeasuredBand.noise`).
    var channelFlux: [[Double]], channelVariance: [[Double]]
    /// Per source: the centroid sums.
    var moments: [SourceMoments] = []
    /// Per-source image pieces; nil without per-source images, when only their sums are kept.
    let stamps: StampStore?
    /// Without per-source images (exactly when `stamps` is nil), each source's image within
    /// `IsophotalShape.windowHalfSide` of its centre, for its shape and Kron aperture.
    let shapeWindows: StampStore?
    /// Per channel, each source's share of the measured band in the same window (nil for channel
    /// 0, whose image is the stamp or `shapeWindows`), and its M² σ² (nil for a channel without
    /// noise), for the Kron apertures and their errors.
    let channelWindows: [StampStore?], varianceWindows: [StampStore?]
    var fluxWithoutImages: [Double] = []
    /// Largest number of pixels waiting for a final match at once, and pixels matched early
    /// because too many waited.
    var peakDeferred = 0, earlyMatched = 0
    /// Per-block slot owners and shares, kept between blocks: every entry a block reads is
    /// written first, and fresh arrays of this size cost more in page clearing than the work.
    private var ownersBuffer: [Int32] = [], sharesBuffer: [Float] = []
    /// The smoothed image for `DeblendSettings.attribution` `.symmetric`; nil for the network's shares.
    var templates: SymmetricTemplates?
    /// The second detection pass, with its own smoothed image; nil without `residualPeaks`.
    var residualFinder: ResidualPeakFinder?
    /// Drops heatmap peaks on a brighter source's halo; nil when off, or without the templates'
    /// smoothed image or the sky noise it needs.
    let haloFilter: HaloPeakFilter?
    /// Heatmap peaks on pixels above the input ceiling (sources brighter than the model knows),
    /// from the halo test's reach above `known` on: the halo test's explainers. And every dropped
    /// peak, in raster order, with the peak that explains it (StreamingDecoder+Halo.swift).
    var brightPeaks: [(y: Int, x: Int)] = [], droppedPeaks: [(y: Int, x: Int)] = [], explainers: [(y: Int, x: Int)] = []
    /// Residual peaks (`ResidualPeakFinder`) on a brighter source's halo, dropped the same way.
    var residualHaloPeaks = 0
    /// Image rows read (for the templates) that hold a pixel above the input ceiling, from
    /// `nmsKnown` on, ascending.
    var brightRows: [Int] = []
    /// The levels that make a blank hole a saturated core (`SaturatedCores`), whose peaks explain
    /// halo peaks whatever their rim's level; nil when cores are not looked for.
    let coreLevels: SaturatedCores.Levels?
    /// A heatmap value this high on a pixel above the input ceiling, or in a saturated core, is
    /// taken as 1 before NMS.
    static let saturatedHeatmap: Float = 0.999

    /// Forced centres in raster order without duplicates, and how many have been taken.
    let forced: [PixelCentre]?
    var forcedTaken = 0

    init(settings: DeblendSettings, height: Int, width: Int, slots: Int, sink: any DeblendSink, spillDirectory: String?,
         bands: [MeasuredBand] = [], coreLevels: SaturatedCores.Levels? = nil) throws {
        self.coreLevels = coreLevels
        self.settings = settings; self.height = height; self.width = width; n = slots; self.sink = sink
        self.bands = bands
        channelFlux = Array(repeating: [], count: 1 + bands.count); channelVariance = channelFlux
        noisyChannels = [settings.pixelNoise != nil] + bands.map { $0.noise != nil }
        deferred = DeferredPixels(channels: 1 + bands.count)
        forced = settings.forcedCentres.map { Array(Set($0)).sorted() }
        nmsHalo = settings.nmsHaloForTesting ?? settings.peakWindow / 2
        stamps = settings.perSourceImages ? try StampStore(spillDirectory: spillDirectory) : nil
        shapeWindows = settings.perSourceImages ? nil : try StampStore(spillDirectory: spillDirectory)
        channelWindows = try (0...bands.count).map { $0 == 0 ? nil : try StampStore(spillDirectory: spillDirectory) }
        varianceWindows = try noisyChannels.map { $0 ? try StampStore(spillDirectory: spillDirectory) : nil }
        // The same rule as the memory plan's (`StreamingPlan.SmoothedImages`).
        let smoothed = StreamingPlan.SmoothedImages(settings)
        if smoothed.contains(.attribution) {
            templates = SymmetricTemplates(settings: settings.templates, height: height, width: width)
        }
        if smoothed.contains(.residualPeaks), let threshold = settings.residualPeaks {
            guard settings.pixelNoise != nil else {
                throw InferenceError.badParameter("residual peaks need the sky noise (DeblendSettings.pixelNoise) for their threshold")
            }
            residualFinder = ResidualPeakFinder(threshold: threshold, reach: settings.templates.reach, height: height, width: width)
        }
        haloFilter = settings.testsHaloPeaks ? HaloPeakFilter(settings: settings.haloPeaks) : nil
    }

    /// Smoothed rows held beyond the templates' own 2 × reach either side of the rows decoded: the
    /// halo test reads J within 2 × its reach of a peak.
    var templateLookahead: Int { max(0, 2 * ((haloFilter?.reach ?? 0) - settings.templates.reach)) }

    /// Image rows the next `consume`, of the block ending before row `end`, needs as its
    /// `templateRows` (empty without symmetric templates).
    func templateRowsWanted(through end: Int) -> Range<Int> {
        let wanted = [templates, residualFinder?.image].compactMap { $0?.rowsWanted(decodingThrough: end + templateLookahead) }
        guard let first = wanted.first else { return 0..<0 }
        // Both were given the same rows, so they start at the same row.
        return first.lowerBound..<wanted.map(\.upperBound).max()!
    }

    /// Decodes block `outputs` (stitched rows) against `flux`, the sanitised image on the same rows,
    /// and `bandFlux`, the measured bands' (sanitised) on them. `templateRows`: the sanitised image
    /// rows `templateRowsWanted(through:)` asked for, in order, in any number of parts.
    func consume(_ outputs: StitchedOutputs, flux: [Float], bandFlux: [[Float]] = [], templateRows: [ArraySlice<Float>] = [],
                 coreDepths: [Float] = [], isLast: Bool) throws {
        precondition(bandFlux.count == bands.count && bandFlux.allSatisfy { $0.count == flux.count })
        precondition(outputs.firstRow == carryStart + carry.count / width, "blocks must arrive top to bottom")
        // A blank pixel (no flux: outside the footprint, or NaN in the input) holds no source,
        // whatever the network says there; networks trained on noisy sky put spurious peaks in
        // zero-filled areas next to the data.
        // A saturated star's masked core (`SaturatedCores`, `coreDepths` > 0) is the exception: its
        // centre lies there, and NMS breaks the heatmap's ties there by depth.
        precondition(coreDepths.isEmpty || coreDepths.count == flux.count)
        var heatmap = outputs.heatmap, tieBreak = flux
        if flux.contains(0) {
            for i in heatmap.indices where flux[i] == 0 {
                if let depth = coreDepths.isEmpty ? nil : coreDepths[i], depth > 0 {
                    tieBreak[i] = SaturatedCores.tieBreak(depth: depth)
                } else {
                    heatmap[i] = 0
                }
            }
        }
        // Over a source brighter than the model knows the heatmap is a plateau just under 1 whose
        // last digits say nothing: there it counts as 1, so that NMS's tie-break (the image, or a
        // masked core's depth) puts the centre on the brightest pixel (BENCHMARKS.md, "Stars
        // brighter than H = 14").
        if let ceiling = settings.ceilingInImageUnits {
            for i in heatmap.indices where heatmap[i] >= Self.saturatedHeatmap
                && (flux[i] >= ceiling || !coreDepths.isEmpty && coreDepths[i] > 0) { heatmap[i] = 1 }
        }
        try sink.imageRows(firstRow: outputs.firstRow, flux[...])
        try sink.heatmapRows(firstRow: outputs.firstRow, heatmap[...])
        for part in templateRows {
            if haloFilter != nil, let first = templates?.rawEnd { noteBrightRows(part, firstRow: first) }
            templates?.add(rows: part); residualFinder?.image.add(rows: part)
        }
        findCentres(in: heatmap, tieBreak: tieBreak, rows: outputs.rows, isLast: isLast)
        let final = isLast || !settings.deferUncertainPixels
        try resolveDeferred(final: final)
        let first = outputs.firstRow
        let variances = try [settings.pixelNoise?.variances(firstRow: first, width: width, flux: flux) ?? []]
            + zip(bands, bandFlux).map { try $0.noise?.variances(firstRow: first, width: width, flux: $1) ?? [] }
        let values = PixelChannels(flux: [flux] + bandFlux, variance: variances)
        try attributeBlock(outputs, values: values, final: final)
        peakDeferred = max(peakDeferred, deferred.count)
        if deferred.count > settings.maxWaitingPixels {       // bounded memory over exactness
            earlyMatched += deferred.count
            try resolveDeferred(final: true)
        }
        // Mirrors of a pixel lie within 2 × reach rows of it; the residual's rows start 3 above `known`.
        let oldest = deferred.positions.first.map { $0 / width } ?? outputs.firstRow + outputs.rows.count
        let keep = min(oldest, outputs.firstRow + outputs.rows.count, known - 3) - 2 * settings.templates.reach - templateLookahead
        templates?.discard(below: keep); residualFinder?.image.discard(below: keep)
    }

    /// NMS on the rows whose window is now complete, then (with residual peaks) the second pass on
    /// the rows whose templates are all known; carries the heatmap rows the next block needs.
    /// `tieBreak`: the image's rows, but saturated cores' tie-break values (`SaturatedCores`).
    private func findCentres(in heatmap: [Float], tieBreak: [Float], rows: Range<Int>, isLast: Bool) {
        let end = rows.upperBound
        let band = carry + heatmap, fluxBand = carryFlux + tieBreak
        let newNMSKnown = isLast ? height : max(nmsKnown, end - nmsHalo)
        if let forced {
            // The same raster-order prefix property as NMS: every centre above newNMSKnown is taken.
            while forcedTaken < forced.count, forced[forcedTaken].y < newNMSKnown {
                let c = forced[forcedTaken]
                pendingPeaks.append((c.y, c.x, band[(c.y - carryStart) * width + c.x]))
                forcedTaken += 1
            }
        } else {
            let finder = BandPeakFinder(threshold: settings.peakThreshold, window: settings.peakWindow,
                                        parallel: settings.parallelDecode)
            let bright = haloFilter == nil ? Float.infinity : settings.ceilingInImageUnits ?? .infinity
            for peak in finder.peaks(band: band, bandStart: carryStart, width: width, rows: nmsKnown..<newNMSKnown, tieBreak: fluxBand) {
                pendingPeaks.append((peak.y, peak.x, peak.value))
                if fluxBand[(peak.y - carryStart) * width + peak.x] >= bright { brightPeaks.append((peak.y, peak.x)) }
            }
        }
        nmsKnown = newNMSKnown
        var newKnown = isLast ? height : max(known, nmsKnown - (residualFinder?.lag ?? 0))
        if let haloFilter, let templates, !isLast {
            // A peak is decided once no bright peak still to be found can lie within the reach:
            // the image rows read so far show where bright pixels are (usually nowhere).
            brightRows.removeFirst(brightRows.prefix { $0 < nmsKnown }.count)
            newKnown = max(known, min(newKnown, (brightRows.first ?? templates.rawEnd) - haloFilter.reach))
        }
        var extra: [(y: Int, x: Int)] = []
        if let residualFinder, let noise = settings.pixelNoise, newKnown > known {
            // Correlated (drizzled) noise varies more over the smoothing window than white noise.
            let correlation = noise.correlationFactor.squareRoot()
            // Heatmap peaks only, dropped ones too: residual peaks of earlier blocks must not
            // count, and no peak is dropped yet in a one-block run.
            let kept = zip(centres, foundInResidual).filter { !$0.1 }.map(\.0)
            let heatmapPeaks = RasterOrderedPeaks.merged(kept, droppedPeaks) + pendingPeaks.map { ($0.y, $0.x) }
            extra = residualFinder.peaks(rows: known..<newKnown, centres: heatmapPeaks,
                                         rms: { noise.sky.rmsRow($0).map { $0 * correlation } })
            // A bright star's rings are not quite symmetric, and where the network puts no peak on
            // them their light stands out of the templates' residual: the same test as the
            // heatmap's peaks, but a dropped one is simply no centre (no vector aims at it).
            let explained = haloExplainers(of: extra)
            residualHaloPeaks += explained.filter { $0 != nil }.count
            extra = zip(extra, explained).filter { $0.1 == nil }.map(\.0)
        }
        // Heatmap peaks (less those on a brighter one's halo) and residual peaks above newKnown,
        // merged in raster order.
        let halo = haloDecisions(through: newKnown)
        var taken = 0, e = 0
        while true {
            let nextPeak = taken < pendingPeaks.count && pendingPeaks[taken].y < newKnown ? pendingPeaks[taken] : nil
            let nextExtra = e < extra.count ? extra[e] : nil
            if let p = nextPeak, nextExtra.map({ (p.y, p.x) < ($0.y, $0.x) }) ?? true {
                if let b = halo[taken] { droppedPeaks.append((p.y, p.x)); explainers.append(b) }
                else { centres.append((p.y, p.x)); peakValues.append(p.value); foundInResidual.append(false) }
                taken += 1
            } else if let q = nextExtra {
                centres.append(q); peakValues.append(band[(q.y - carryStart) * width + q.x]); foundInResidual.append(true); e += 1
            } else { break }
        }
        brightPeaks.removeFirst(brightPeaks.prefix { $0.y < newKnown - (haloFilter?.reach ?? 0) }.count)
        pendingPeaks.removeFirst(taken)
        known = newKnown
        let keepFrom = max(carryStart, min(nmsKnown - settings.peakWindow / 2, known))
        carry = Array(band[((keepFrom - carryStart) * width)...])
        carryFlux = Array(fluxBand[((keepFrom - carryStart) * width)...]); carryStart = keepFrom
        let index = CentreIndex(centres: centres)
        slotTargets = droppedPeaks.isEmpty ? SlotTargets(kept: index)
            : SlotTargets(kept: index, all: CentreIndex(centres: centres + droppedPeaks), aliases: resolvedAliases())
        let k = centres.count
        owned += [Int](repeating: 0, count: k - owned.count)
        positiveFlux += [Double](repeating: 0, count: k - positiveFlux.count)
        sharedFlux += [Double](repeating: 0, count: k - sharedFlux.count)
        fluxWithoutImages += [Double](repeating: 0, count: k - fluxWithoutImages.count)
        for c in channelFlux.indices {
            if c > 0 { channelFlux[c] += [Double](repeating: 0, count: k - channelFlux[c].count) }
            if noisyChannels[c] { channelVariance[c] += [Double](repeating: 0, count: k - channelVariance[c].count) }
        }
        moments += [SourceMoments](repeating: SourceMoments(), count: k - moments.count)
        stamps?.grow(to: k); shapeWindows?.grow(to: k)
        for store in channelWindows + varianceWindows { store?.grow(to: k) }
    }

    /// Slot-0 owner markers of `attributeBlock`: the match must wait for more centres; the pixel
    /// has no flux to attribute.
    static let waiting: Int32 = -1, noFlux: Int32 = -2

    /// Matches the n slots of pixel (y, x) (vectors at `v`) to centres into `owners`; false when a
    /// match could still change once more centres are known (only when not `final`). `hints`: a
    /// neighbouring pixel's peaks per slot (a search shortcut only; the result is the same without);
    /// `tips` receives this pixel's, the peak of `targets.all` nearest to each slot's tip (it may be
    /// `hints` itself: slot k's hint is read before its tip is written).
    @inline(__always)
    static func matchSlots(y: Int, x: Int, v: UnsafePointer<Float>, owners: UnsafeMutablePointer<Int32>, n: Int,
                           targets: SlotTargets, known: Int, final: Bool, hints: UnsafePointer<Int32>?,
                           tips: UnsafeMutablePointer<Int32>? = nil) -> Bool {
        for k in 0..<n {
            let ty = Double(y) + Double(v[2 * k]), tx = Double(x) + Double(v[2 * k + 1])
            guard let (j, distance2) = targets.all.nearest(ty: ty, tx: tx, hint: hints.map { Int($0[k]) } ?? -1) else {
                owners[k] = 0                                 // no centre at all yet: nothing to own (not -1)
                return final
            }
            tips?[k] = Int32(j)
            let room = Double(known) - ty
            if j < targets.kept.count {
                guard final || (room >= 0 && distance2 <= room * room) else { return false }
                owners[k] = Int32(j)
                continue
            }
            // A dropped peak: a centre still to come at the same distance would win the tie (centres
            // come before dropped peaks), hence the strict test; and its explainer must be decided.
            let alias = targets.aliases[j - targets.kept.count]
            if final && alias < 0 {
                // Matched before every centre is known (bounded memory): the tip's nearest centre.
                owners[k] = Int32(targets.kept.nearest(ty: ty, tx: tx)?.index ?? 0)
                continue
            }
            guard final || (alias >= 0 && room > 0 && distance2 < room * room) else { return false }
            owners[k] = alias
        }
        return true
    }

    /// `matchSlots`; then, with the symmetric templates, `takeBackStrayOwners`,
    /// `fillRepeatedOwners` (when `fill`) and the templates' reweighting of the pixel's `shares` (nil
    /// `templates`: the network's owners and shares stay, as method.md §4.2 decodes). Returns
    /// whether the decision is final.
    @inline(__always)
    static func decide(y: Int, x: Int, v: UnsafePointer<Float>, owners: UnsafeMutablePointer<Int32>, shares: UnsafeMutablePointer<Float>,
                       n: Int, targets: SlotTargets, known: Int, final: Bool, hints: UnsafePointer<Int32>?,
                       tips: UnsafeMutablePointer<Int32>? = nil,
                       templates: SymmetricTemplates.Reader?, fill: Bool, nthNearest: inout NthNearestBound) -> Bool {
        guard matchSlots(y: y, x: x, v: v, owners: owners, n: n, targets: targets, known: known, final: final, hints: hints,
                         tips: tips) else { return false }
        guard let templates else { return true }
        guard takeBackStrayOwners(y: y, x: x, owners: owners, n: n, index: targets.kept, peaks: targets.all, known: known, final: final,
                                  templates: templates, nthNearest: &nthNearest) else { return false }
        guard !fill || fillRepeatedOwners(y: y, x: x, owners: owners, n: n, targets: targets, reach: templates.reach, known: known,
                                          final: final, nearest: &nthNearest) else { return false }
        templates.reweight(y: y, x: x, owners: owners, shares: shares, n: n)
        return true
    }

    /// A slot holds one of the pixel's n nearest sources (method.md §3). An owner with n detected
    /// sources nearer to the pixel is a stray vector: the network outside what it was trained on
    /// (a star brighter than any it saw sends the light of its core to sources hundreds of pixels
    /// away), or a tip that landed on a farther source. Its slot goes to the pixel's nearest
    /// source. `peaks` counts the dropped halo peaks as well as the centres (`index`): they
    /// mark where a brighter source's light lies, as the network sees it. False when the answer
    /// could still change once more centres are known (only when not `final`).
    @inline(__always)
    static func takeBackStrayOwners(y: Int, x: Int, owners: UnsafeMutablePointer<Int32>, n: Int, index: CentreIndex,
                                    peaks: CentreIndex, known: Int,
                                    final: Bool, templates: SymmetricTemplates.Reader, nthNearest: inout NthNearestBound) -> Bool {
        guard let centres = templates.centres else { return true }
        var nearest: Int32 = -1
        for k in 0..<n {
            let c = centres[Int(owners[k])]
            let dy = Double(y - c.y), dx = Double(x - c.x), d2 = dy * dy + dx * dx
            // Centres still to come (rows from `known` on) may be nearer than those known.
            let room = Double(known - y)
            if nthNearest.isBeyond(owner: Int(owners[k]), distance2: d2, y: y, x: x, n: n, index: peaks) {
                if nearest < 0 {
                    let (j, distance2) = index.nearest(ty: Double(y), tx: Double(x))!
                    guard final || (room >= 0 && distance2 <= room * room) else { return false }
                    nearest = Int32(j)
                }
                owners[k] = nearest
            } else if !final {
                guard room >= 0, d2 <= room * room else { return false }
            }
        }
        return true
    }

    /// Shares and owners of every pixel of the block, in parallel over rows; owner −1 in slot 0
    /// marks a pixel that must wait, −2 a pixel without flux (blank: owned by nobody, as in
    /// `PCRDecoder.decode`). Then attributes them in raster order. `values`: the block's pixels
    /// (channel 0 the image deblended).
    private func attributeBlock(_ s: StitchedOutputs, values: PixelChannels, final: Bool) throws {
        let flux = values.flux[0]
        let rows = s.height, w = width, n = self.n, first = s.firstRow
        let targets = slotTargets, known = self.known, fill = settings.fillRepeatedOwners
        var owners: [Int32] = [], shares: [Float] = []
        swap(&owners, &ownersBuffer); swap(&shares, &sharesBuffer)     // sole owner: no copy on write
        if owners.count < rows * w * n {
            owners = [Int32](repeating: 0, count: rows * w * n); shares = [Float](repeating: 0, count: rows * w * n)
        }
        defer { ownersBuffer = owners; sharesBuffer = shares }
        withReweighter { templates in
        owners.withUnsafeMutableBufferPointer { ownersBuffer in shares.withUnsafeMutableBufferPointer { sharesBuffer in
            let o = ownersBuffer, sh = sharesBuffer
            s.vectors.withUnsafeBufferPointer { v in s.mapLogits.withUnsafeBufferPointer { z in flux.withUnsafeBufferPointer { f in
                let decideRows: (Int, Int) -> Void = { start, end in
                    var nthNearest = NthNearestBound()
                    // The peaks the previous pixel's tips landed on: the next pixel's tips mostly land
                    // on the same ones, while its owners after the fill often differ from them.
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: n) { previousTips in
                        let tips = previousTips.baseAddress!
                        for row in start..<end {
                            tips.update(repeating: -1, count: n)
                            for x in 0..<w {
                                let i = row * w + x
                                if f[i] == 0 { o[i * n] = Self.noFlux; continue }
                                PCRDecoder.softmax(z.baseAddress! + i * n, into: sh.baseAddress! + i * n, n: n)
                                if !Self.decide(y: first + row, x: x, v: v.baseAddress! + i * 2 * n, owners: o.baseAddress! + i * n,
                                                shares: sh.baseAddress! + i * n, n: n, targets: targets, known: known, final: final,
                                                hints: UnsafePointer(tips), tips: tips, templates: templates, fill: fill,
                                                nthNearest: &nthNearest) {
                                    o[i * n] = Self.waiting
                                }
                            }
                        }
                    }
                }
                if settings.parallelDecode { Parallel.forRanges(rows, grain: 1, decideRows) } else { decideRows(0, rows) }
            } } }
        } }
        }
        var segmentation = [Int32](repeating: 0, count: rows * w)
        for i in 0..<(rows * w) where owners[i * n] == Self.waiting {
            deferred.append(position: first * w + i, values: values, at: i,
                            vectors: s.vectors[(i * 2 * n)..<((i + 1) * 2 * n)], shares: shares[(i * n)..<((i + 1) * n)])
        }
        if !centres.isEmpty || !final {
            try attribute(count: rows * w, position: { first * w + $0 }, values: values, owners: owners, shares: shares) { i, id in
                segmentation[i] = id
            }
        }
        try sink.segmentationRows(firstRow: first, segmentation)
    }

    /// Runs `body` with the symmetric templates' reweighting of one pixel's shares, or nil
    /// without templates (or centres).
    private func withReweighter<R>(_ body: (SymmetricTemplates.Reader?) throws -> R) rethrows -> R {
        guard let templates, !centres.isEmpty else { return try body(nil) }
        return try templates.withReader(centres: centres, body)
    }

    /// Retries the waiting pixels with the centres known now and attributes those that are final.
    private func resolveDeferred(final: Bool) throws {
        guard deferred.count > 0 else { return }
        let count = deferred.count, n = self.n, width = self.width, targets = slotTargets, known = self.known
        let fill = settings.fillRepeatedOwners
        // Matched (and, once certain, reweighted) in parallel: each pixel writes only its own slots.
        var matched = [Int32](repeating: 0, count: count * n), certain = [Bool](repeating: false, count: count)
        let positions = deferred.positions, vectors = deferred.vectors
        withReweighter { templates in
            matched.withUnsafeMutableBufferPointer { m in certain.withUnsafeMutableBufferPointer { c in
                vectors.withUnsafeBufferPointer { v in deferred.shares.withUnsafeMutableBufferPointer { sh in
                    let (m, c, v, sh) = (m, c, v, sh)
                    let work: (Int, Int) -> Void = { lo, hi in
                        var nthNearest = NthNearestBound()
                        for i in lo..<hi {
                            let p = positions[i], owners = m.baseAddress! + i * n
                            // The previous pixel's owners serve as hints (a search shortcut only).
                            c[i] = Self.decide(y: p / width, x: p % width, v: v.baseAddress! + i * 2 * n, owners: owners,
                                               shares: sh.baseAddress! + i * n, n: n, targets: targets, known: known, final: final,
                                               hints: i > lo ? UnsafePointer(owners - n) : nil, templates: templates,
                                               fill: fill, nthNearest: &nthNearest)
                        }
                    }
                    if settings.parallelDecode { Parallel.forRanges(count, grain: 1_024, work) } else { work(0, count) }
                } }
            } }
        }
        var still = DeferredPixels(channels: 1 + bands.count), done = DeferredPixels(channels: 1 + bands.count)
        var owners: [Int32] = []
        for i in 0..<count {
            if certain[i] { done.append(from: deferred, at: i, n: n); owners += matched[(i * n)..<((i + 1) * n)] }
            else { still.append(from: deferred, at: i, n: n) }
        }
        deferred = still
        guard done.count > 0, !centres.isEmpty else { return }
        let donePositions = done.positions
        var patches: [(index: Int, id: Int32)] = []
        try attribute(count: done.count, position: { donePositions[$0] }, values: done.values, owners: owners, shares: done.shares) { i, id in
            patches.append((donePositions[i], id))
        }
        try sink.patchSegmentation(patches)
    }
}
