import Foundation
import Layers
import Network
import Tensors
import Testing
import TestSupport

@Suite struct LossTests {
    func sample(seed: UInt64) -> (ModelOutputs, Labels, Tensor) {
        let b = SyntheticBatch.make(batch: 2, size: 8, slots: 3, seed: seed)
        var g = SeededGenerator(seed: seed + 1)
        func rnd(_ t: Tensor, _ lo: Double, _ hi: Double) -> Tensor {
            let o = Tensor(shape: t.shape); for i in 0..<o.count { o.data[i] = Float(g.uniform(lo, hi)) }; return o
        }
        let out = ModelOutputs(vectors: rnd(b.labels.vectors, -5, 5), mapLogits: rnd(b.labels.maps, -2, 2),
                               heatmap: rnd(b.labels.heatmap, 0.05, 0.95))
        return (out, b.labels, b.flux)
    }

    /// One pixel by hand: all four terms and the global-batch reduction.
    @Test func singlePixelByHand() throws {
        let flux = Tensor(shape: [1, 1, 1, 1], values: [1])
        let out = ModelOutputs(vectors: Tensor(shape: [1, 1, 1, 4], values: [1, -1, 0, 0]),
                               mapLogits: Tensor(shape: [1, 1, 1, 2], values: [0, 0]),
                               heatmap: Tensor(shape: [1, 1, 1, 1], values: [0.25]))
        let lab = Labels(vectors: Tensor(shape: [1, 1, 1, 4], values: [0, 0, 0, 0]), maps: Tensor(shape: [1, 1, 1, 2], values: [1, 0]),
                         heatmap: Tensor(shape: [1, 1, 1, 1], values: [0.75]))
        let (t, _) = try DeblendLoss().evaluate(outputs: out, labels: lab, flux: flux, globalBatch: 4)
        expectClose(t.vectors, 2.0 / 4 / 4, relative: 1e-12, "L_cv = (1/2n)Σ|Δ| / B_global")
        expectClose(t.heatmap, 0.25 / 4, relative: 1e-7, "L_com")
        expectClose(t.maps, log(2.0) / 4, relative: 1e-7, "L_cm")
        expectClose(t.entropy, log(2.0) / 2 / 4, relative: 1e-7, "L_ent")
        expectClose(t.total, 0.06 * t.vectors + 4 * t.maps + 15 * t.heatmap + t.entropy, relative: 1e-12)
        // A masked (zero-flux) pixel contributes nothing.
        flux[0] = 0
        let (z, _) = try DeblendLoss().evaluate(outputs: out, labels: lab, flux: flux)
        #expect(z.total == 0)
    }

    @Test func gradientsMatchCentralDifferences() throws {
        let (out, lab, flux) = sample(seed: 21)
        let loss = DeblendLoss()
        // Copy the gradients: the loss reuses its buffers on the next call.
        let (_, g0) = try loss.evaluate(outputs: out, labels: lab, flux: flux)
        let g = OutputGradients(vectors: Tensor(shape: g0.vectors.shape, values: g0.vectors.values),
                                mapLogits: Tensor(shape: g0.mapLogits.shape, values: g0.mapLogits.values),
                                heatmap: Tensor(shape: g0.heatmap.shape, values: g0.heatmap.values))
        let total = { (try? loss.evaluate(outputs: out, labels: lab, flux: flux).0.total) ?? .nan }
        let check = GradientCheck(step: 1e-3, probes: 40)
        for (name, t, gt) in [("vectors", out.vectors, g.vectors), ("maps", out.mapLogits, g.mapLogits), ("heatmap", out.heatmap, g.heatmap)] {
            let e = check.worstError(values: t.data, count: t.count, analytic: gt.values, floorScale: 1e-6, lossAt: total)
            #expect(e < 1e-2, "\(name): \(e)")
            var bad = gt.values; corrupt(&bad)
            let eb = check.worstError(values: t.data, count: t.count, analytic: bad, floorScale: 1e-6, lossAt: total)
            #expect(eb > 1e-1, "negative control missed for \(name): \(eb)")
        }
    }

    /// The focal heatmap term against a float64 evaluation of its definition, example by example.
    @Test func focalHeatmapMatchesAFloat64Reference() throws {
        let (out, lab, flux) = sample(seed: 33)
        let (t, _) = try DeblendLoss(heatmapLoss: .focal).evaluate(outputs: out, labels: lab, flux: flux, globalBatch: 5)
        let (mse, _) = try DeblendLoss().evaluate(outputs: out, labels: lab, flux: flux, globalBatch: 5)
        let perExample = 8 * 8
        var reference = 0.0, centresSeen = 0
        for b in 0..<2 {
            var sum = 0.0, centres = 0
            for p in (b * perExample)..<((b + 1) * perExample) where flux.data[p] != 0 {
                let q = min(max(Double(out.heatmap.data[p]), 1e-4), 1 - 1e-4), h = Double(lab.heatmap.data[p])
                if h == 1 { centres += 1; sum -= pow(1 - q, 2) * Foundation.log(q) } else { sum -= pow(1 - h, 4) * q * q * Foundation.log(1 - q) }
            }
            centresSeen += centres
            reference += sum / Double(max(1, centres))
        }
        reference /= 5
        try #require(centresSeen > 0, "the batch must hold label centres (h = 1)")
        expectClose(t.heatmap, reference, relative: 1e-5, "focal L_com")
        // The other terms do not change; the focal term has weight 1.
        #expect(t.vectors == mse.vectors && t.maps == mse.maps && t.entropy == mse.entropy)
        expectClose(t.total, 0.06 * t.vectors + 4 * t.maps + t.heatmap + t.entropy, relative: 1e-12)
    }

    @Test func focalGradientsMatchCentralDifferences() throws {
        let (out, lab, flux) = sample(seed: 34)
        let loss = DeblendLoss(heatmapLoss: .focal)
        let (_, g0) = try loss.evaluate(outputs: out, labels: lab, flux: flux)
        let analytic = g0.heatmap.values
        let total = { (try? loss.evaluate(outputs: out, labels: lab, flux: flux).0.total) ?? .nan }
        let check = GradientCheck(step: 1e-3, probes: 40)
        let e = check.worstError(values: out.heatmap.data, count: out.heatmap.count, analytic: analytic, floorScale: 1e-6, lossAt: total)
        #expect(e < 1e-2, "focal heatmap gradient: \(e)")
        // Negative controls: the squared error's gradient, and a corrupted copy, must both fail.
        let (_, squared) = try DeblendLoss().evaluate(outputs: out, labels: lab, flux: flux)
        let wrong = squared.heatmap.values
        let ew = check.worstError(values: out.heatmap.data, count: out.heatmap.count, analytic: wrong, floorScale: 1e-6, lossAt: total)
        #expect(ew > 1e-1, "negative control (MSE gradient) missed: \(ew)")
        var bad = analytic; corrupt(&bad)
        let eb = check.worstError(values: out.heatmap.data, count: out.heatmap.count, analytic: bad, floorScale: 1e-6, lossAt: total)
        #expect(eb > 1e-1, "negative control (corrupted) missed: \(eb)")
    }

    /// The flux-weighted map term against a float64 evaluation of its definition.
    @Test func fluxWeightedMapsMatchAFloat64Reference() throws {
        let (out, lab, flux) = sample(seed: 35)
        spreadFlux(flux, seed: 35)
        let (t, _) = try DeblendLoss(mapLoss: .fluxWeighted).evaluate(outputs: out, labels: lab, flux: flux, globalBatch: 3)
        let (plain, _) = try DeblendLoss().evaluate(outputs: out, labels: lab, flux: flux, globalBatch: 3)
        let perExample = 8 * 8, n = 3
        var reference = 0.0
        for b in 0..<2 {
            let pixels = (b * perExample)..<((b + 1) * perExample)
            let unmasked = pixels.filter { flux.data[$0] != 0 }
            let meanPositive = unmasked.map { max(Double(flux.data[$0]), 0) }.reduce(0, +) / Double(unmasked.count)
            for p in unmasked {
                let z = (0..<n).map { Double(out.mapLogits.data[p * n + $0]) }
                let top = z.max()!, logSum = top + Foundation.log(z.map { Foundation.exp($0 - top) }.reduce(0, +))
                let ce = (0..<n).map { -Double(lab.maps.data[p * n + $0]) * (z[$0] - logSum) }.reduce(0, +)
                reference += max(Double(flux.data[p]), 0) / meanPositive * ce
            }
        }
        reference /= Double(perExample * 3)
        expectClose(t.maps, reference, relative: 1e-5, "flux-weighted L_cm")
        #expect(abs(t.maps - plain.maps) > 1e-3 * plain.maps, "the weights changed nothing")
        #expect(t.vectors == plain.vectors && t.heatmap == plain.heatmap && t.entropy == plain.entropy)
    }

    @Test func fluxWeightedMapGradientsMatchCentralDifferences() throws {
        let batch = sample(seed: 36)
        spreadFlux(batch.2, seed: 36)
        try expectWeightedGradient(DeblendLoss(mapLoss: .fluxWeighted), batch, output: \.mapLogits, gradient: \.mapLogits,
                                   check: GradientCheck(step: 1e-2, probes: 40), "flux-weighted maps")
    }

    /// A weighted term's gradient of one output against central differences of `loss`'s total;
    /// the unweighted loss's gradient is the negative control, which must fail.
    func expectWeightedGradient(_ loss: DeblendLoss, _ batch: (ModelOutputs, Labels, Tensor), output: KeyPath<ModelOutputs, Tensor>,
                                gradient: KeyPath<OutputGradients, Tensor>, check: GradientCheck, _ name: String) throws {
        let (out, lab, flux) = batch
        let values = out[keyPath: output]
        let analytic = try loss.evaluate(outputs: out, labels: lab, flux: flux).1[keyPath: gradient].values
        let total = { (try? loss.evaluate(outputs: out, labels: lab, flux: flux).0.total) ?? .nan }
        let e = check.worstError(values: values.data, count: values.count, analytic: analytic, floorScale: 1e-6, lossAt: total)
        #expect(e < 1e-2, "\(name) gradient: \(e)")
        let unweighted = try DeblendLoss().evaluate(outputs: out, labels: lab, flux: flux).1[keyPath: gradient].values
        let ew = check.worstError(values: values.data, count: values.count, analytic: unweighted, floorScale: 1e-6, lossAt: total)
        #expect(ew > 1e-1, "negative control (unweighted gradient) missed for \(name): \(ew)")
    }

    /// A heatmap weighting against a float64 evaluation of its definition: each unmasked pixel's
    /// squared error counts `weight(vectors, maps)` times, from its label's claim vectors `(dy, dx)`
    /// per slot and claim-map shares. The batch must hold pixels on both sides of the rule, and a
    /// one-slot model, which has no neighbour to weigh, is refused.
    func expectWeightedHeatmap(_ loss: DeblendLoss, seed: UInt64, _ name: String,
                               weight: (_ vectors: [Double], _ maps: [Double]) -> Double) throws {
        let (out, lab, flux) = sample(seed: seed)
        let (t, _) = try loss.evaluate(outputs: out, labels: lab, flux: flux, globalBatch: 3)
        let (plain, _) = try DeblendLoss().evaluate(outputs: out, labels: lab, flux: flux, globalBatch: 3)
        let n = 3
        var reference = 0.0, weighted = 0, unmasked = 0
        for p in 0..<flux.count where flux.data[p] != 0 {
            unmasked += 1
            let w = weight((0..<(2 * n)).map { Double(lab.vectors.data[p * 2 * n + $0]) }, (0..<n).map { Double(lab.maps.data[p * n + $0]) })
            if w != 1 { weighted += 1 }
            let diff = Double(out.heatmap.data[p]) - Double(lab.heatmap.data[p])
            reference += w * diff * diff
        }
        reference /= Double(8 * 8 * 3)
        try #require(weighted > 0 && weighted < unmasked, "the batch must hold pixels on both sides: \(weighted) of \(unmasked) weighted")
        expectClose(t.heatmap, reference, relative: 1e-5, name)
        #expect(t.vectors == plain.vectors && t.maps == plain.maps && t.entropy == plain.entropy)
        let oneSlot = ModelOutputs(vectors: Tensor(shape: [1, 1, 1, 2]), mapLogits: Tensor(shape: [1, 1, 1, 1]),
                                   heatmap: Tensor(shape: [1, 1, 1, 1]))
        let oneLabel = Labels(vectors: Tensor(shape: [1, 1, 1, 2]), maps: Tensor(shape: [1, 1, 1, 1], values: [1]),
                              heatmap: Tensor(shape: [1, 1, 1, 1]))
        #expect(throws: ModelError.self) {
            try loss.evaluate(outputs: oneSlot, labels: oneLabel, flux: Tensor(shape: [1, 1, 1, 1], values: [1]))
        }
    }

    /// Close pairs: a pixel whose two nearest centres are distinct, within `radius` of each other
    /// and of it, counts 1 + w times.
    @Test func closePairWeightingMatchesAFloat64Reference() throws {
        var loss = DeblendLoss()
        loss.closePairWeight = 9; loss.closePairRadius = 3
        try expectWeightedHeatmap(loss, seed: 37, "close-pair weighted L_com") { v, _ in
            let separation = hypot(v[2] - v[0], v[3] - v[1])
            return separation >= 0.5 && separation <= 3 && hypot(v[0], v[1]) <= 3 && hypot(v[2], v[3]) <= 3 ? 10 : 1
        }
    }

    @Test func closePairGradientsMatchCentralDifferences() throws {
        var loss = DeblendLoss()
        loss.closePairWeight = 9; loss.closePairRadius = 3
        try expectWeightedGradient(loss, sample(seed: 38), output: \.heatmap, gradient: \.heatmap,
                                   check: GradientCheck(step: 1e-3, probes: 64), "close-pair heatmap")
    }

    /// Blended centres: a pixel within `radius` of its nearest centre, whose source owns less than
    /// 0.7 of it, counts w more; with close pairs weighted too, the two add.
    @Test func blendedCentreWeightingMatchesAFloat64Reference() throws {
        var loss = DeblendLoss()
        loss.blendedCentreWeight = 6; loss.blendedCentreRadius = 2.5
        func isBlended(_ v: [Double], _ m: [Double]) -> Bool { hypot(v[0], v[1]) <= 2.5 && m[0] < 0.7 }
        try expectWeightedHeatmap(loss, seed: 39, "blended-centre weighted L_com") { v, m in isBlended(v, m) ? 7 : 1 }
        loss.closePairWeight = 9; loss.closePairRadius = 3
        try expectWeightedHeatmap(loss, seed: 39, "close-pair and blended-centre weighted L_com") { v, m in
            let separation = hypot(v[2] - v[0], v[3] - v[1])
            let isPair = separation >= 0.5 && separation <= 3 && hypot(v[0], v[1]) <= 3 && hypot(v[2], v[3]) <= 3
            return 1 + (isPair ? 9 : 0) + (isBlended(v, m) ? 6 : 0)
        }
    }

    @Test func blendedCentreGradientsMatchCentralDifferences() throws {
        var loss = DeblendLoss()
        loss.blendedCentreWeight = 9; loss.blendedCentreRadius = 3
        try expectWeightedGradient(loss, sample(seed: 40), output: \.heatmap, gradient: \.heatmap,
                                   check: GradientCheck(step: 1e-3, probes: 64), "blended-centre heatmap")
    }

    /// Fluxes over three decades, some negative (which weigh 0), zeros (masked) kept.
    func spreadFlux(_ flux: Tensor, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        for i in 0..<flux.count where flux.data[i] != 0 { flux.data[i] = Float(pow(10, g.uniform(-2, 1)) * (i % 7 == 0 ? -1 : 1)) }
    }

    func corrupt(_ g: inout [Float]) { for i in stride(from: 0, to: g.count, by: 3) { g[i] *= 1.5 } }

    @Test func mismatchedShapesAreRejected() {
        let (out, lab, _) = sample(seed: 3)
        #expect(throws: ModelError.self) { try DeblendLoss().evaluate(outputs: out, labels: lab, flux: Tensor(shape: [1, 8, 8, 1])) }
    }
}
