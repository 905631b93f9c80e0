import Foundation

/// Per-source result of the encoding verification protocol (method.md §5).
public struct VerificationRecord: Sendable {
    public var sourceID: Int64
    /// Sum of the true model S_j over the crop, and of the decoded D_j.
    public var modelFlux: Double, decodedFlux: Double
    /// AB magnitude of `modelFlux` (zeropoint 25.94 unless told otherwise).
    public var magnitude: Double
    /// Radius (0.5 px steps, >= 1) holding 90 % of the model's light around the label centre.
    public var r90: Double
    /// max |G_D - G_S| over the curve-of-growth radii, and the two-sample KS p-value.
    public var dKS: Double, pValue: Double
    public var fluxError: Double { decodedFlux - modelFlux }
}

/// The encoding verification of method.md §5: encode the true labels, decode the noiseless blend
/// with the true label centres, and compare each decoded source with its model.
public enum EncodingVerification {
    /// Runs the protocol on one crop for one n; see `verify(height:width:sources:ns:zeropoint:)`.
    public static func verify(height: Int, width: Int, sources: [LabelSource], n: Int,
                              zeropoint: Double = 25.94) throws -> [VerificationRecord] {
        try verify(height: height, width: width, sources: sources, ns: [n], zeropoint: zeropoint)[0]
    }

    /// Runs the protocol on one crop for several n (the model-side quantities, R90 and G_S, are
    /// computed once). `sources` are the candidate labelled sources (the caller has already applied
    /// the detectability filter); those whose label centre is outside the crop are dropped as in
    /// encoding. Only sources with positive model flux whose R90 circle lies inside the crop are
    /// reported. Returns one record list per n, in the order of `ns`.
    public static func verify(height: Int, width: Int, sources: [LabelSource], ns: [Int],
                              zeropoint: Double = 25.94) throws -> [[VerificationRecord]] {
        let labelled = PCREncoder.labelSet(sources, height: height, width: width)
        var blend = [Float](repeating: 0, count: height * width)
        for s in labelled { s.model.add(into: &blend, height: height, width: width) }
        let centres = labelled.map(\.labelCentre)
        // Model side, once per source.
        struct Reference { let j: Int; let total: Double; let r90: Double; let radii: [Double]; let gS: [Double] }
        var references: [Reference] = []
        for (j, s) in labelled.enumerated() {
            let c = centres[j]
            let model = s.model.dense(height: height, width: width).map(Double.init)
            let total = model.reduce(0, +)
            guard total > 0, let r90 = radius90(s.model.shifted(dy: 0, dx: 0, clippedTo: height, width), centre: c),
                  Double(c.y) - r90 >= 0, Double(c.y) + r90 <= Double(height - 1),
                  Double(c.x) - r90 >= 0, Double(c.x) + r90 <= Double(width - 1) else { continue }
            let radii = (1...Int(r90.rounded(.up))).map(Double.init)
            guard let gS = curveOfGrowth(model, height: height, width: width, centre: c, radii: radii, normalisingRadius: r90) else { continue }
            references.append(Reference(j: j, total: total, r90: r90, radii: radii, gS: gS))
        }
        return try ns.map { n in
            let labels = try PCREncoder(n: n).encode(height: height, width: width, sources: labelled)
            let decoded = try PCRDecoder(n: n).decode(flux: blend, height: height, width: width, vectors: labels.vectors,
                                                      weights: .fractions(labels.maps), centres: centres)
            return references.map { ref in
                let c = centres[ref.j]
                let recovered = decoded[ref.j].image.dense(height: height, width: width).map(Double.init)
                let gD = curveOfGrowth(recovered, height: height, width: width, centre: c, radii: ref.radii, normalisingRadius: ref.r90)
                let dKS: Double, p: Double
                if let gD {
                    dKS = zip(ref.gS, gD).map { abs($0 - $1) }.max() ?? 0
                    p = KolmogorovSmirnov.twoSample(ref.gS, gD).pValue
                } else {
                    dKS = 1; p = 0       // nothing recovered inside R90: the profile is lost
                }
                return VerificationRecord(sourceID: labelled[ref.j].id, modelFlux: ref.total, decodedFlux: recovered.reduce(0, +),
                                          magnitude: zeropoint - 2.5 * log10(ref.total), r90: ref.r90, dKS: dKS, pValue: p)
            }
        }
    }

    /// Smallest r in 0.5 px steps (at least 1 px) such that pixels whose centre is within r of the
    /// centre hold >= 90 % of the model's total; nil if the total is not positive. Only the model's
    /// box is scanned: pixels outside it are 0 and change no enclosed sum.
    public static func radius90(_ model: SparseImage, centre: (y: Int, x: Int)) -> Double? {
        let total = model.total
        guard total > 0 else { return nil }
        var byDistance: [(Int, Double)] = []
        byDistance.reserveCapacity(model.pixels.count)
        for a in 0..<model.height {
            let dy = model.y0 + a - centre.y
            for b in 0..<model.width {
                let dx = model.x0 + b - centre.x
                byDistance.append((dy * dy + dx * dx, Double(model.pixels[a * model.width + b])))
            }
        }
        byDistance.sort { $0.0 < $1.0 }
        var r = 1.0, k = 0, enclosed = 0.0
        while true {
            while k < byDistance.count && Double(byDistance[k].0) <= r * r { enclosed += byDistance[k].1; k += 1 }
            if enclosed >= 0.9 * total || k == byDistance.count { return r }
            r += 0.5
        }
    }

    /// Curve of growth at `radii`, normalised by the light within `normalisingRadius`; nil if that
    /// light is not positive.
    public static func curveOfGrowth(_ image: [Double], height: Int, width: Int, centre: (y: Int, x: Int),
                                     radii: [Double], normalisingRadius: Double) -> [Double]? {
        func enclosed(_ r: Double) -> Double {
            var s = 0.0
            let ri = Int(r.rounded(.down))
            for y in max(0, centre.y - ri)...min(height - 1, centre.y + ri) {
                for x in max(0, centre.x - ri)...min(width - 1, centre.x + ri) {
                    let d2 = Double((y - centre.y) * (y - centre.y) + (x - centre.x) * (x - centre.x))
                    if d2 <= r * r { s += image[y * width + x] }
                }
            }
            return s
        }
        let norm = enclosed(normalisingRadius)
        guard norm > 0 else { return nil }
        return radii.map { enclosed($0) / norm }
    }
}

/// Aggregate figures of the verification (the paper's Table 2 columns) for one n.
public struct VerificationSummary: Sendable, Codable {
    public struct MagnitudeBin: Sendable, Codable {
        public var magnitudeLow: Double
        public var count: Int
        public var mae: Double
        public var relativeMAE: Double
    }
    public var n: Int
    public var sourceCount: Int
    /// mean |ΔF| (e-/s) and mean |ΔF| / F.
    public var mae: Double, relativeMAE: Double
    public var medianR90: Double
    public var medianDKS: Double, medianPValue: Double
    /// Fraction of sources with p >= 0.05 ("profile preserved").
    public var fractionPreserved: Double
    /// Fraction of sources whose flux is recovered to 1e-4 relative (exact up to float rounding).
    public var fractionExact: Double
    public var bins: [MagnitudeBin]

    /// Summarises records; magnitude bins are 0.5 mag wide, aligned on multiples of 0.5.
    public init(n: Int, records: [VerificationRecord]) {
        self.n = n
        sourceCount = records.count
        func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
        func median(_ v: [Double]) -> Double {
            guard !v.isEmpty else { return .nan }
            let s = v.sorted(); let m = s.count / 2
            return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
        }
        mae = mean(records.map { abs($0.fluxError) })
        relativeMAE = mean(records.map { abs($0.fluxError) / $0.modelFlux })
        medianR90 = median(records.map(\.r90))
        medianDKS = median(records.map(\.dKS))
        medianPValue = median(records.map(\.pValue))
        fractionPreserved = records.isEmpty ? .nan : Double(records.filter { $0.pValue >= 0.05 }.count) / Double(records.count)
        fractionExact = records.isEmpty ? .nan : Double(records.filter { abs($0.fluxError) <= 1e-4 * $0.modelFlux }.count) / Double(records.count)
        let grouped = Dictionary(grouping: records) { ($0.magnitude * 2).rounded(.down) / 2 }
        bins = grouped.keys.sorted().map { lo in
            let r = grouped[lo] ?? []
            return MagnitudeBin(magnitudeLow: lo, count: r.count, mae: mean(r.map { abs($0.fluxError) }),
                                relativeMAE: mean(r.map { abs($0.fluxError) / $0.modelFlux }))
        }
    }
}
