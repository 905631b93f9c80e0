import Foundation
import SkySim

/// The deterministic training augmentation of method.md §9.
///
/// Four operations, each applied with probability 1/2, in order: vertical flip, horizontal flip,
/// shift by (ty, tx) in [0, 24] (content moves to p + t, vacated pixels 0), and rotation by
/// theta ~ U[1, 360) degrees about the crop centre with nearest-neighbour inverse mapping. Vector
/// values follow the content: flips negate dy or dx, shifts leave them alone, and rotation applies
/// the same matrix that moves the content, dy' = cos*dy - sin*dx, dx' = sin*dy + cos*dx (both from
/// the old values; the original code got this wrong, method.md §12 #1).
///
/// Every draw comes from a counter-based stream keyed by (seed, stream position, purpose), so the
/// result depends only on where the sample sits in the global training stream, not on the rank
/// count or on resumption. `dihedral` restricts to flips and multiples of 90 degrees (no shift):
/// exact, with no resampling.
public struct Augmenter: Sendable {
    public var seed: UInt64
    public var dihedral: Bool
    public var maxShift = 24

    public init(seed: UInt64, dihedral: Bool = false) {
        self.seed = seed; self.dihedral = dihedral
    }

    /// The operations chosen for a stream position (exposed for tests and logs).
    public struct Choice: Sendable, Equatable {
        public var flipVertical: Bool, flipHorizontal: Bool
        public var shift: (y: Int, x: Int)?
        /// Rotation angle in degrees, nil for none.
        public var rotationDegrees: Double?

        public init(flipVertical: Bool = false, flipHorizontal: Bool = false, shift: (y: Int, x: Int)? = nil, rotationDegrees: Double? = nil) {
            self.flipVertical = flipVertical; self.flipHorizontal = flipHorizontal
            self.shift = shift; self.rotationDegrees = rotationDegrees
        }

        public static func == (a: Choice, b: Choice) -> Bool {
            a.flipVertical == b.flipVertical && a.flipHorizontal == b.flipHorizontal &&
                a.shift?.y == b.shift?.y && a.shift?.x == b.shift?.x && a.rotationDegrees == b.rotationDegrees
        }
    }

    /// Draws the operations for global stream position `position`.
    public func choice(position: UInt64) -> Choice {
        func stream(_ purpose: UInt64) -> RandomStream { RandomStream(seed, position, 0xA06, purpose) }
        var v = stream(1), h = stream(2), s = stream(3), r = stream(4)
        var c = Choice(flipVertical: v.bernoulli(0.5), flipHorizontal: h.bernoulli(0.5), shift: nil, rotationDegrees: nil)
        if dihedral {
            let quarter = r.integer(0, 3)
            c.rotationDegrees = quarter == 0 ? nil : Double(90 * quarter)
        } else {
            if s.bernoulli(0.5) { c.shift = (s.integer(0, maxShift), s.integer(0, maxShift)) }
            if r.bernoulli(0.5) { c.rotationDegrees = r.uniform(1, 360) }
        }
        return c
    }

    /// Augments `sample` in place for global stream position `position`.
    public func apply(to sample: inout PCRSample, position: UInt64) {
        Augmenter.apply(choice(position: position), to: &sample)
    }

    /// Applies a given choice.
    public static func apply(_ c: Choice, to s: inout PCRSample) {
        let height = s.height, width = s.width
        if c.flipVertical {
            remapAll(&s) { y, x in (height - 1 - y, x) }
            transformVectors(&s) { dy, dx in (-dy, dx) }
        }
        if c.flipHorizontal {
            remapAll(&s) { y, x in (y, width - 1 - x) }
            transformVectors(&s) { dy, dx in (dy, -dx) }
        }
        if let t = c.shift {
            remapAll(&s) { y, x in (y - t.y, x - t.x) }
        }
        if let degrees = c.rotationDegrees {
            let theta = degrees * Double.pi / 180
            var cs = cos(theta), sn = sin(theta)
            // Exact quarter turns (no 6e-17 residue) keep the dihedral path free of resampling error.
            if degrees.truncatingRemainder(dividingBy: 90) == 0 { cs = cs.rounded(); sn = sn.rounded() }
            let oy = Double(s.height - 1) / 2, ox = Double(s.width - 1) / 2
            remapAll(&s) { y, x in
                let ry = Double(y) - oy, rx = Double(x) - ox
                // Inverse map: input = o + R^T (p' - o).
                return (Int((oy + cs * ry + sn * rx).rounded()), Int((ox - sn * ry + cs * rx).rounded()))
            }
            let c32 = Float(cs), s32 = Float(sn)
            transformVectors(&s) { dy, dx in (c32 * dy - s32 * dx, s32 * dy + c32 * dx) }
        }
    }

    /// Resamples every array: output pixel (y, x) takes input pixel `source(y, x)`, or 0 outside.
    static func remapAll(_ s: inout PCRSample, source: (Int, Int) -> (Int, Int)) {
        let h = s.height, w = s.width
        var map = [Int](repeating: -1, count: h * w)
        for y in 0..<h {
            for x in 0..<w {
                let (sy, sx) = source(y, x)
                if sy >= 0 && sy < h && sx >= 0 && sx < w { map[y * w + x] = sy * w + sx }
            }
        }
        func remap(_ a: [Float], channels c: Int) -> [Float] {
            var out = [Float](repeating: 0, count: a.count)
            for p in 0..<(h * w) where map[p] >= 0 {
                let q = map[p]
                for k in 0..<c { out[p * c + k] = a[q * c + k] }
            }
            return out
        }
        s.flux = remap(s.flux, channels: 1)
        s.heatmap = remap(s.heatmap, channels: 1)
        s.vectors = remap(s.vectors, channels: 2 * s.n)
        s.maps = remap(s.maps, channels: s.n)
    }

    static func transformVectors(_ s: inout PCRSample, _ f: (Float, Float) -> (Float, Float)) {
        for i in stride(from: 0, to: s.vectors.count, by: 2) {
            let (dy, dx) = f(s.vectors[i], s.vectors[i + 1])
            s.vectors[i] = dy; s.vectors[i + 1] = dx
        }
    }
}
