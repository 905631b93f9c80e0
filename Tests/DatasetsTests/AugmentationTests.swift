import Foundation
import PCR
import Testing
@testable import Datasets

/// Sources at integer centres with asymmetric box models in a square 40 x 40 crop.
func labelledSample(_ sources: [LabelSource], size: Int = 40) throws -> PCRSample {
    let l = try PCREncoder(n: 3).encode(height: size, width: size, sources: sources)
    var flux = [Float](repeating: 0, count: size * size)
    for s in sources { s.model.add(into: &flux, height: size, width: size) }
    return PCRSample(height: size, width: size, n: 3, flux: flux, heatmap: l.heatmap, vectors: l.vectors, maps: l.maps)
}

let integerSources = [
    LabelSource(id: 1, centreY: 8, centreX: 11, model: SparseImage(y0: 5, x0: 7, height: 6, width: 9, pixels: (0..<54).map { Float($0 % 7 + 1) })),
    LabelSource(id: 2, centreY: 20, centreX: 30, model: SparseImage(y0: 14, x0: 26, height: 12, width: 8, pixels: (0..<96).map { Float($0 % 5) })),
    LabelSource(id: 3, centreY: 31, centreX: 13, model: SparseImage(y0: 25, x0: 4, height: 10, width: 15, pixels: (0..<150).map { Float($0 % 3 + 2) })),
    LabelSource(id: 4, centreY: 22, centreX: 18, model: SparseImage(y0: 15, x0: 12, height: 14, width: 14, pixels: [Float](repeating: 1.5, count: 196))),
]

/// Transforms a source's centre and model with the same pixel map as the augmentation.
func transformed(_ s: LabelSource, size: Int, map: (Int, Int) -> (Int, Int)) -> LabelSource {
    var dense = [Float](repeating: 0, count: size * size)
    let model = s.model.dense(height: size, width: size)
    for y in 0..<size { for x in 0..<size { let (ty, tx) = map(y, x); dense[ty * size + tx] = model[y * size + x] } }
    let (cy, cx) = map(Int(s.centreY), Int(s.centreX))
    return LabelSource(id: s.id, centreY: Double(cy), centreX: Double(cx), model: SparseImage(y0: 0, x0: 0, height: size, width: size, pixels: dense))
}

/// method.md §3.8 symmetry: with integer centres, flips and quarter turns commute with encoding.
@Test func dihedralOperationsCommuteWithEncoding() throws {
    let n = 40
    // Content map of a +90 degree rotation about ((n-1)/2, (n-1)/2): (y, x) -> (n-1-x, y).
    let cases: [(Augmenter.Choice, (Int, Int) -> (Int, Int))] = [
        (.init(flipVertical: true, flipHorizontal: false), { y, x in (n - 1 - y, x) }),
        (.init(flipVertical: false, flipHorizontal: true), { y, x in (y, n - 1 - x) }),
        (.init(flipVertical: false, flipHorizontal: false, rotationDegrees: 90), { y, x in (n - 1 - x, y) }),
    ]
    for (choice, map) in cases {
        var augmented = try labelledSample(integerSources)
        Augmenter.apply(choice, to: &augmented)
        let direct = try labelledSample(integerSources.map { transformed($0, size: n, map: map) })
        #expect(augmented.flux == direct.flux && augmented.heatmap == direct.heatmap)
        #expect(augmented.vectors == direct.vectors, "\(choice)")
        #expect(augmented.maps == direct.maps)
    }
}

/// Arbitrary rotations: every vector still points (to resampling accuracy) at a rotated label
/// centre. The original's formula (opposite sin signs, reusing the new dy) misses by many pixels.
@Test func rotationMovesVectorsWithTheContent() throws {
    var s = try labelledSample(integerSources)
    let theta = 37.0
    Augmenter.apply(.init(flipVertical: false, flipHorizontal: false, rotationDegrees: theta), to: &s)
    let c = cos(theta * .pi / 180), sn = sin(theta * .pi / 180), o = 19.5
    let centres = integerSources.map { (o + c * ($0.centreY - o) - sn * ($0.centreX - o), o + sn * ($0.centreY - o) + c * ($0.centreX - o)) }
    var residual = 0.0, wrongResidual = 0.0, count = 0.0
    var original = try labelledSample(integerSources)
    Augmenter.remapAll(&original) { y, x in
        let ry = Double(y) - o, rx = Double(x) - o
        return (Int((o + c * ry + sn * rx).rounded()), Int((o - sn * ry + c * rx).rounded()))
    }
    for y in 0..<40 { for x in 0..<40 where s.flux[y * 40 + x] != 0 {
        let p = y * 40 + x
        func miss(_ dy: Double, _ dx: Double) -> Double {
            centres.map { (($0.0 - Double(y) - dy) * ($0.0 - Double(y) - dy) + ($0.1 - Double(x) - dx) * ($0.1 - Double(x) - dx)).squareRoot() }.min() ?? 0
        }
        residual += miss(Double(s.vectors[p * 6]), Double(s.vectors[p * 6 + 1]))
        // Defect #1 of method.md §12: dy' = c dy + s dx, then dx' = -s dy' + c dx.
        let dy0 = Double(original.vectors[p * 6]), dx0 = Double(original.vectors[p * 6 + 1])
        let wrongDy = c * dy0 + sn * dx0
        wrongResidual += miss(wrongDy, -sn * wrongDy + c * dx0)
        count += 1
    } }
    #expect(residual / count < 0.6, "mean residual \(residual / count)")
    #expect(wrongResidual / count > 3, "negative control: \(wrongResidual / count)")
}

/// Draws depend only on (seed, stream position): reproducible and varied.
@Test func augmentationIsKeyedByStreamPosition() {
    let a = Augmenter(seed: 3)
    #expect(a.choice(position: 17) == Augmenter(seed: 3).choice(position: 17))
    let choices = (0..<400).map { a.choice(position: UInt64($0)) }
    let flips = Double(choices.filter(\.flipVertical).count) / 400
    #expect(abs(flips - 0.5) < 0.1)
    #expect(choices.compactMap(\.shift).allSatisfy { (0...24).contains($0.y) && (0...24).contains($0.x) })
    #expect(choices.compactMap(\.rotationDegrees).allSatisfy { $0 >= 1 && $0 < 360 })
    #expect(Set(choices.map { "\($0.rotationDegrees ?? -1)" }).count > 100)
    let d = Augmenter(seed: 3, dihedral: true)
    for k in 0..<100 {
        let c = d.choice(position: UInt64(k))
        let angle: Double = c.rotationDegrees ?? 0
        #expect(c.shift == nil && [0.0, 90, 180, 270].contains(angle))
    }
}

/// A shift moves content by +t and leaves vector values unchanged.
@Test func shiftTranslatesContent() throws {
    var s = try labelledSample(integerSources)
    let before = s
    Augmenter.apply(.init(flipVertical: false, flipHorizontal: false, shift: (3, 5)), to: &s)
    let moved: Int = (8 + 3) * 40 + 11 + 5, origin: Int = 8 * 40 + 11
    #expect(s.flux[moved] == before.flux[origin])
    let movedVector: Int = ((10 + 3) * 40 + 12 + 5) * 6 + 1, originVector: Int = (10 * 40 + 12) * 6 + 1
    #expect(s.vectors[movedVector] == before.vectors[originVector])
    #expect(s.flux[0] == 0 && s.flux[2 * 40 + 39] == 0)
}
