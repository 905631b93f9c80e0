import PCR

/// The decoder's side of `HaloPeakFilter`: which peaks are above the ceiling, the halo decisions,
/// and where the slots that point at a dropped peak go.
extension StreamingDecoder {
    /// Records the rows of `part` (image rows from `firstRow` on) that may hold an explainer: a
    /// pixel above the ceiling, or a blank pixel beside one at least `coreLevels.rim` (every row of
    /// a saturated core has its rim beside a blank pixel, whatever the rim's level).
    func noteBrightRows(_ part: ArraySlice<Float>, firstRow: Int) {
        let bright = settings.ceilingInImageUnits ?? .infinity, rim = coreLevels?.rim ?? .infinity
        for row in 0..<(part.count / width) {
            let start = part.startIndex + row * width, line = part[start..<(start + width)]
            let holds = line.contains(where: { $0 >= bright })
                || rim < bright && line.contains(0) && line.indices.contains { i in
                    line[i] >= rim && (i > line.startIndex && line[i - 1] == 0 || i + 1 < line.endIndex && line[i + 1] == 0)
                }
            if holds { brightRows.append(firstRow + row) }
        }
    }

    /// For each pending peak above row `end`, the brighter peak whose halo it lies on
    /// (`HaloPeakFilter`), or nil; all nil without the filter.
    func haloDecisions(through end: Int) -> [(y: Int, x: Int)?] {
        haloExplainers(of: pendingPeaks.prefix { $0.y < end }.map { ($0.y, $0.x) })
    }

    /// For each of `peaks` (on rows whose halo decisions are due: every bright peak within the
    /// reach is known), the brighter peak whose halo it lies on, or nil; all nil without the filter.
    func haloExplainers(of peaks: [(y: Int, x: Int)]) -> [(y: Int, x: Int)?] {
        guard let haloFilter, let templates, let noise = settings.pixelNoise, !peaks.isEmpty else {
            return [(y: Int, x: Int)?](repeating: nil, count: peaks.count)
        }
        let sigmaFactor = templates.noiseFactor * noise.correlationFactor.squareRoot()
        let reach = haloFilter.reach
        return templates.withReader(centres: []) { j in
            peaks.map { p in
                let neighbours = RasterOrderedPeaks.on(rows: (p.y - reach)...(p.y + reach), of: brightPeaks).filter { abs($0.x - p.x) <= reach }
                guard !neighbours.isEmpty else { return nil }
                let sigma = noise.sky.rmsRow(p.y, columns: p.x..<(p.x + 1))[0] * sigmaFactor
                return haloFilter.explainer(of: (p.y, p.x), neighbours: neighbours, j: j, sigma: sigma)
            }
        }
    }

    /// Per dropped peak, the id of the centre its slots go to: its explainer's, or that one's
    /// explainer's when the explainer was dropped too (each is `brightnessRatio` times brighter, so the chain
    /// ends); −1 while the explainer is not decided yet.
    func resolvedAliases() -> [Int32] {
        func position(of p: (y: Int, x: Int), in list: [(y: Int, x: Int)]) -> Int? {
            let run = RasterOrderedPeaks.on(rows: p.y...p.y, of: list)
            return run.firstIndex { $0.x == p.x }
        }
        return explainers.map { first in
            var b = first
            while true {
                if let id = position(of: b, in: centres) { return Int32(id) }
                guard let d = position(of: b, in: droppedPeaks) else { return -1 }
                b = explainers[d]
            }
        }
    }
}

/// What a slot's tip is matched to: the nearest of the centres and the dropped halo peaks
/// (`HaloPeakFilter`), a dropped peak standing for its alias, the centre that explains it.
struct SlotTargets {
    /// The centres (ids as theirs), and the centres followed by the dropped peaks.
    let kept: CentreIndex, all: CentreIndex
    /// Per dropped peak, its centre's id (−1: not known yet).
    let aliases: [Int32]

    init(kept: CentreIndex, all: CentreIndex? = nil, aliases: [Int32] = []) {
        self.kept = kept; self.all = all ?? kept; self.aliases = aliases
    }
}
