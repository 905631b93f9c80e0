import PCR

extension StreamingDecoder {
    /// Attributes a batch of pixels whose matches are final, in batch order: their flux goes into
    /// one new piece per touched source, and each pixel's owner (largest merged share) into the
    /// segmentation via `setOwner(position, id)`. Pixels with owner −1 in slot 0 are skipped.
    /// The float operations are those of `PCRDecoder.decode` and the whole-image segmentation.
    func attribute(count: Int, position: (Int) -> Int, flux: [Float], owners: [Int32], shares: [Float],
                   setOwner: (Int, Int32) throws -> Void) throws {
        // Pass 1: each touched source's box within this batch (`batchSlot[j]`: its piece, −1 none).
        var geometry: [StampStore.Box] = []
        var touched: [Int] = []
        for i in 0..<count where owners[i * n] >= 0 {
            let p = position(i), y = p / width, x = p % width
            for k in 0..<n {
                let j = Int(owners[i * n + k]), s = batchSlot[j]
                if s < 0 {
                    batchSlot[j] = geometry.count; touched.append(j)
                    geometry.append(StampStore.Box(y0: y, y1: y, x0: x, x1: x))
                } else {
                    let b = geometry[s]
                    geometry[s] = StampStore.Box(y0: min(b.y0, y), y1: max(b.y1, y), x0: min(b.x0, x), x1: max(b.x1, x))
                }
            }
        }
        // Pass 2: fill the pieces; segmentation, owned pixels and the blend sums.
        var pieces = geometry.map { b in [Float](repeating: 0, count: (b.y1 - b.y0 + 1) * (b.x1 - b.x0 + 1)) }
        for i in 0..<count where owners[i * n] >= 0 {
            let p = position(i), y = p / width, x = p % width, f = flux[i]
            for k in 0..<n {
                let s = batchSlot[Int(owners[i * n + k])]
                let b = geometry[s]
                pieces[s][(y - b.y0) * (b.x1 - b.x0 + 1) + (x - b.x0)] += f * shares[i * n + k]
            }
            // Merge slots pointing to the same centre; the largest merged share owns the pixel.
            var best = -1
            var bestShare: Float = -1
            for k in 0..<n {
                let owner = Int(owners[i * n + k])
                guard !(0..<k).contains(where: { Int(owners[i * n + $0]) == owner }) else { continue }
                var merged: Float = 0
                for q in k..<n where Int(owners[i * n + q]) == owner { merged += shares[i * n + q] }
                if merged > bestShare || (merged == bestShare && owner < best) { bestShare = merged; best = owner }
                let positive = Double(max(f, 0) * merged)
                positiveFlux[owner] += positive
                if merged < settings.ownershipForSole { sharedFlux[owner] += positive }
            }
            owned[best] += 1
            try setOwner(p, Int32(best + 1))
        }
        for (s, j) in touched.enumerated() {
            batchSlot[j] = -1
            try timed { try stamps.add(source: j, box: geometry[s], pixels: pieces[s]) }
        }
    }

    /// After the last block: assembles every source's image (its flux is the image's sum) and
    /// hands stamps and catalog to the sink; returns the catalog (images left `.empty`).
    @discardableResult
    func finish() throws -> [DeblendedSource] {
        precondition(deferred.count == 0, "pixels still waiting after the last block")
        stamps.finishAdding()
        let boxes = stamps.bounds.map { b in
            b.map { (y0: $0.y0, x0: $0.x0, height: $0.y1 - $0.y0 + 1, width: $0.x1 - $0.x0 + 1) } ?? (y0: 0, x0: 0, height: 0, width: 0)
        }
        try timed { try sink.beginStamps(boxes) }
        var cursor = 0
        var sources: [DeblendedSource] = []
        for j in centres.indices {
            let image = try stamps.assemble(j, cursor: &cursor)
            try timed { try sink.stamp(id: j + 1, image) }
            sources.append(DeblendedSource(
                id: j + 1, y: centres[j].y, x: centres[j].x, peak: peakValues[j], flux: image.total, ownedPixels: owned[j],
                blended: positiveFlux[j] > 0 && sharedFlux[j] > settings.blendFluxFraction * positiveFlux[j], image: .empty))
        }
        stamps.close()                       // the spill may live in the directory the sink renames
        try timed { try sink.finish(sources: sources) }
        return sources
    }
}
