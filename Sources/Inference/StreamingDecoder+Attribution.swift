import PCR
import Tensors

/// What attributing one chunk of pixels produced, merged in chunk order afterwards.
struct AttributedChunk {
    /// One piece per touched source, and its owned pixels and blend sums, in first-touch order;
    /// the pieces' pixels are concatenated, piece s starting at `pieceStart[s]`.
    var sources: [Int] = [], boxes: [StampStore.Box] = [], pieceStart: [Int] = [], pixels: [Float] = []
    var owned: [Int] = [], positive: [Double] = [], shared: [Double] = []
    /// Per channel (`PixelChannels`) and piece: Σ share × the channel's pixel (measured bands only:
    /// channel 0's flux is the pieces' sum), and Σ share² × its variance (empty for a channel
    /// without variances).
    var channelFlux: [[Double]] = [], channelVariance: [[Double]] = []
    /// Per piece, the centroid sums.
    var moments: [SourceMoments] = []
    /// The pieces' share × value in each measured band (channel c ≥ 1 at (c − 1) × `pixels.count`;
    /// channel 0's are `pixels`), and M² σ² in each channel with variances (at `varianceSlot[c]` ×
    /// `pixels.count`), laid out as `pixels`.
    var channelPixels: [Float] = [], variancePixels: [Float] = [], varianceSlot: [Int] = []
    /// Segmentation id of each pixel of the chunk (0 for a skipped pixel).
    var ids: [Int32] = []
}

extension StreamingDecoder {
    /// Attributes a batch of pixels whose matches are final: their flux goes into one new piece
    /// per touched source and chunk, and each pixel's owner (largest merged share) into the
    /// segmentation via `setOwner(batchIndex, id)`. Pixels with a negative slot-0 owner (waiting, or
    /// without flux) are skipped.
    /// Chunks run in parallel and merge in order; the float operations on pixels are those of
    /// `PCRDecoder.decode` and the whole-image segmentation.
    func attribute(count: Int, position: (Int) -> Int, values: PixelChannels, owners: [Int32], shares: [Float],
                   setOwner: (Int, Int32) throws -> Void) throws {
        let chunkPixels = settings.attributionChunkPixels
        let chunks = (count + chunkPixels - 1) / chunkPixels
        var results = [AttributedChunk](repeating: AttributedChunk(), count: chunks)
        let workers = settings.parallelDecode ? Parallel.parts : 1
        var scratch = [[Int]](repeating: [Int](repeating: -1, count: centres.count), count: workers)
        withoutActuallyEscaping(position) { position in
        results.withUnsafeMutableBufferPointer { resultBuffer in scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            // Each chunk writes only its own result, and each worker only its own scratch.
            let out = resultBuffer, slots = scratchBuffer
            let work: (Int, Int, Int) -> Void = { worker, first, last in
                for c in first..<last {
                    let range = (c * chunkPixels)..<min(count, (c + 1) * chunkPixels)
                    out[c] = self.attributeChunk(range, position: position, values: values, owners: owners, shares: shares,
                                                 slotOf: &slots[worker])
                }
            }
            if workers > 1 { Parallel.forWorkers(chunks, grain: 1, work) } else { work(0, 0, chunks) }
        } }
        }
        for (c, chunk) in results.enumerated() {
            for (s, j) in chunk.sources.enumerated() {
                owned[j] += chunk.owned[s]; positiveFlux[j] += chunk.positive[s]; sharedFlux[j] += chunk.shared[s]
                for c in chunk.channelFlux.indices {
                    if c > 0 { channelFlux[c][j] += chunk.channelFlux[c][s] }
                    if !chunk.channelVariance[c].isEmpty { channelVariance[c][j] += chunk.channelVariance[c][s] }
                }
                moments[j] += chunk.moments[s]
                let end = s + 1 < chunk.pieceStart.count ? chunk.pieceStart[s + 1] : chunk.pixels.count
                let piece = chunk.pixels[chunk.pieceStart[s]..<end]
                if let stamps {
                    try stamps.add(source: j, box: chunk.boxes[s], pixels: piece)
                } else {
                    fluxWithoutImages[j] += piece.reduce(0) { $0 + Double($1) }
                    if let shapeWindows { try addToShapeWindow(shapeWindows, source: j, box: chunk.boxes[s], pixels: piece) }
                }
                let total = chunk.pixels.count
                for c in channelWindows.indices {
                    if c > 0, let windows = channelWindows[c] {
                        let at = (c - 1) * total
                        try addToShapeWindow(windows, source: j, box: chunk.boxes[s], pixels: chunk.channelPixels[(at + chunk.pieceStart[s])..<(at + end)])
                    }
                    if let windows = varianceWindows[c] {
                        let at = chunk.varianceSlot[c] * total
                        try addToShapeWindow(windows, source: j, box: chunk.boxes[s], pixels: chunk.variancePixels[(at + chunk.pieceStart[s])..<(at + end)])
                    }
                }
            }
            for (i, id) in chunk.ids.enumerated() where id > 0 { try setOwner(c * chunkPixels + i, id) }
        }
    }

    /// Adds the part of a piece of source `j` within `IsophotalShape.windowHalfSide` of its centre.
    private func addToShapeWindow(_ windows: StampStore, source j: Int, box: StampStore.Box, pixels: ArraySlice<Float>) throws {
        let r = IsophotalShape.windowHalfSide, c = centres[j]
        let clipped = StampStore.Box(y0: max(box.y0, c.y - r), y1: min(box.y1, c.y + r), x0: max(box.x0, c.x - r), x1: min(box.x1, c.x + r))
        guard clipped.y0 <= clipped.y1, clipped.x0 <= clipped.x1 else { return }
        let width = box.x1 - box.x0 + 1, start = pixels.startIndex
        var part: [Float] = []
        part.reserveCapacity((clipped.y1 - clipped.y0 + 1) * (clipped.x1 - clipped.x0 + 1))
        for y in clipped.y0...clipped.y1 {
            let row = start + (y - box.y0) * width
            part += pixels[(row + clipped.x0 - box.x0)...(row + clipped.x1 - box.x0)]
        }
        try windows.add(source: j, box: clipped, pixels: part[...])
    }

    /// One chunk: boxes of the touched sources (pass 1), then pieces, owners and sums (pass 2).
    /// `slotOf` maps a source to its entry in this chunk (−1: none) and is reset on return.
    /// The loops go through spans: an array's own subscript would check its uniqueness on every
    /// update, in the decoder's hottest loop.
    private func attributeChunk(_ range: Range<Int>, position: (Int) -> Int, values: PixelChannels, owners: [Int32],
                                shares: [Float], slotOf: inout [Int]) -> AttributedChunk {
        var r = AttributedChunk()
        let n = self.n, width = self.width, o = owners.span, w = shares.span
        var slot = slotOf.mutableSpan
        for i in range where o[i * n] >= 0 {
            let p = position(i), y = p / width, x = p % width
            for k in 0..<n {
                let j = Int(o[i * n + k]), s = slot[j]
                if s < 0 {
                    slot[j] = r.sources.count; r.sources.append(j)
                    r.boxes.append(StampStore.Box(y0: y, y1: y, x0: x, x1: x))
                } else {
                    let b = r.boxes[s]
                    r.boxes[s] = StampStore.Box(y0: min(b.y0, y), y1: max(b.y1, y), x0: min(b.x0, x), x1: max(b.x1, x))
                }
            }
        }
        // Piece s's pixel (y, x) is at base[s] + y * boxWidth[s] + x in the concatenated pixels.
        var base = [Int](), boxWidth = [Int](), total = 0
        for b in r.boxes {
            let w = b.x1 - b.x0 + 1
            r.pieceStart.append(total); base.append(total - b.y0 * w - b.x0); boxWidth.append(w)
            total += (b.y1 - b.y0 + 1) * w
        }
        let pieces = r.sources.count, channels = values.flux.count
        var slots = 0
        r.varianceSlot = values.variance.map { v in v.isEmpty ? -1 : { slots += 1; return slots - 1 }() }
        var pixels = [Float](repeating: 0, count: total), ids = [Int32](repeating: 0, count: range.count)
        var channelPixels = [Float](repeating: 0, count: (channels - 1) * total), variancePixels = [Float](repeating: 0, count: slots * total)
        var owned = [Int](repeating: 0, count: pieces), moments = [SourceMoments](repeating: SourceMoments(), count: pieces)
        var positive = [Double](repeating: 0, count: pieces), shared = positive
        // [channels, pieces]: Σ share × value (channels ≥ 1), Σ share² × variance (channels with variances).
        var channelSums = [Double](repeating: 0, count: channels * pieces), varianceSums = channelSums
        let varianceSlot = r.varianceSlot, sole = settings.ownershipForSole, centres = self.centres
        let image = values.flux[0], imageVariance = values.variance[0]
        let flux = image.span, fluxVariance = imageVariance.span, pieceBase = base.span, pieceWidth = boxWidth.span
        var pixel = pixels.mutableSpan, id = ids.mutableSpan, channelPixel = channelPixels.mutableSpan
        var variancePixel = variancePixels.mutableSpan, ownedCount = owned.mutableSpan, moment = moments.mutableSpan
        var positiveSum = positive.mutableSpan, sharedSum = shared.mutableSpan
        var channelSum = channelSums.mutableSpan, varianceSum = varianceSums.mutableSpan
        for i in range where o[i * n] >= 0 {
            let p = position(i), y = p / width, x = p % width, f = flux[i]
            for k in 0..<n {
                let s = slot[Int(o[i * n + k])]
                pixel[pieceBase[s] + y * pieceWidth[s] + x] += f * w[i * n + k]
            }
            // Merge slots pointing to the same centre; the largest merged share owns the pixel.
            var best = -1
            var bestShare: Float = -1
            for k in 0..<n {
                let owner = Int(o[i * n + k])
                var seen = false
                for q in 0..<k where Int(o[i * n + q]) == owner { seen = true }
                if seen { continue }
                var merged: Float = 0
                for q in k..<n where Int(o[i * n + q]) == owner { merged += w[i * n + q] }
                if merged > bestShare || (merged == bestShare && owner < best) { bestShare = merged; best = owner }
                let positiveFlux = Double(max(f, 0) * merged), s = slot[owner]
                positiveSum[s] += positiveFlux
                if merged < sole { sharedSum[s] += positiveFlux }
                moment[s].add(flux: positiveFlux, value: f, dy: y - centres[owner].y, dx: x - centres[owner].x)
                let at = pieceBase[s] + y * pieceWidth[s] + x
                if !fluxVariance.isEmpty {
                    varianceSum[s] += Double(merged * merged) * Double(fluxVariance[i])
                    variancePixel[varianceSlot[0] * total + at] += merged * merged * fluxVariance[i]
                }
                for c in 1..<max(1, channels) {          // measured bands (dual-image mode)
                    let value = values.flux[c][i]
                    channelSum[c * pieces + s] += Double(value * merged)
                    channelPixel[(c - 1) * total + at] += value * merged
                    if !values.variance[c].isEmpty {
                        varianceSum[c * pieces + s] += Double(merged * merged) * Double(values.variance[c][i])
                        variancePixel[varianceSlot[c] * total + at] += merged * merged * values.variance[c][i]
                    }
                }
            }
            ownedCount[slot[best]] += 1
            id[i - range.lowerBound] = Int32(best + 1)
        }
        for j in r.sources { slot[j] = -1 }
        r.pixels = pixels; r.ids = ids; r.channelPixels = channelPixels; r.variancePixels = variancePixels
        r.owned = owned; r.moments = moments; r.positive = positive; r.shared = shared
        r.channelFlux = (0..<channels).map { $0 == 0 ? [] : Array(channelSums[($0 * pieces)..<(($0 + 1) * pieces)]) }
        r.channelVariance = (0..<channels).map { values.variance[$0].isEmpty ? [] : Array(varianceSums[($0 * pieces)..<(($0 + 1) * pieces)]) }
        return r
    }
}
