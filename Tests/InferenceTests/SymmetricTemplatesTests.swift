import Foundation
import Tensors
import Testing
@testable import Inference

/// Float64 references: the smoothed image by a direct 2-D sum, and the reweighting rule.
enum TemplateReference {
    /// Gaussian smoothing normalised over the in-image part of the window, clipped at 0; −1 on
    /// blank (zero) pixels.
    static func smoothed(_ image: [Float], height: Int, width: Int, sigma: Double) -> [Double] {
        let r = Int((4 * sigma).rounded(.up))
        var out = [Double](repeating: 0, count: height * width)
        for y in 0..<height {
            for x in 0..<width {
                if image[y * width + x] == 0 { out[y * width + x] = -1; continue }
                var sum = 0.0, norm = 0.0
                for dy in -r...r where 0..<height ~= y + dy {
                    for dx in -r...r where 0..<width ~= x + dx {
                        let g = exp(-0.5 * Double(dy * dy + dx * dx) / (sigma * sigma))
                        sum += g * Double(image[(y + dy) * width + x + dx]); norm += g
                    }
                }
                out[y * width + x] = max(0, sum / norm)
            }
        }
        return out
    }

    /// The shares of pixel (y, x) after the symmetric-template prior: each share raised to at
    /// least `floor`, times min(J(p), J(q)) with q = `boundPoint` (J(p) without one, or on a blank
    /// q); with `mirrors` false, every owner's template is J(p) (the negative control: no
    /// symmetry at all).
    static func reweighted(y: Int, x: Int, owners: [Int], shares: [Double], centres: [(y: Int, x: Int)], smoothed j: [Double],
                           height: Int, width: Int, reach: Int, floor: Double = 0.01, mirrors: Bool = true) -> [Double] {
        let here = j[y * width + x]
        guard here > 0 else { return shares }
        let weighted = zip(owners, shares).map { owner, share -> Double in
            let weight = max(share, floor)
            guard mirrors, let q = boundPoint(y: y, x: x, centre: centres[owner], height: height, width: width, reach: reach),
                  j[q.y * width + q.x] >= 0 else { return weight * here }
            return weight * min(here, j[q.y * width + q.x])
        }
        let total = weighted.reduce(0, +)
        return total > 0 ? weighted.map { $0 / total } : shares
    }

    /// Where the rule reads owner c's bound for pixel p: c + t (c − p) for the largest t in [0, 1]
    /// that keeps the point inside the image and within 2 × reach rows of p (t = 1: the mirror),
    /// each coordinate rounded toward c; nil when no t qualifies.
    static func boundPoint(y: Int, x: Int, centre c: (y: Int, x: Int), height: Int, width: Int, reach: Int) -> (y: Int, x: Int)? {
        let dy = Double(c.y - y), dx = Double(c.x - x)
        // Each limit on t: rows within 2 × reach of p, then the image's four sides.
        var limits = [1.0]
        if dy != 0 { limits.append((2 * Double(reach) - abs(dy)) / abs(dy)) }
        if dy > 0 { limits.append(Double(height - 1 - c.y) / dy) }
        if dy < 0 { limits.append(Double(c.y) / -dy) }
        if dx > 0 { limits.append(Double(width - 1 - c.x) / dx) }
        if dx < 0 { limits.append(Double(c.x) / -dx) }
        let t = limits.min()!
        guard t >= 0 else { return nil }
        return (c.y + Int((t * dy).rounded(.towardZero)), c.x + Int((t * dx).rounded(.towardZero)))
    }
}

@Suite("Symmetric templates")
struct SymmetricTemplatesTests {
    static let height = 40, width = 33
    /// Noise-like values of both signs, a few sources, and a blank corner.
    static let image: [Float] = {
        var image = syntheticImage(height: height, width: width, sources: [(12, 10, 40), (15, 14, 20), (30, 25, 30)])
        for y in 0..<4 { for x in 0..<5 { image[y * width + x] = 0 } }
        return image
    }()

    @Test(arguments: [1, 3, 7, 40])
    func smoothedImageFedInRowChunksMatchesTheDirectSum(_ chunkRows: Int) {
        var settings = SymmetricTemplates.Settings(); settings.smoothingSigma = 1.5
        var templates = SymmetricTemplates(settings: settings, height: Self.height, width: Self.width)
        let reference = TemplateReference.smoothed(Self.image, height: Self.height, width: Self.width, sigma: 1.5)
        var checked = 0
        while templates.rawEnd < Self.height {
            let rows = templates.rawEnd..<min(Self.height, templates.rawEnd + chunkRows)
            templates.add(rows: Self.image[(rows.lowerBound * Self.width)..<(rows.upperBound * Self.width)])
            templates.withReader(centres: []) { j in
                for y in checked..<templates.smoothedEnd {
                    for x in 0..<Self.width {
                        #expect(abs(Double(j.value(y, x)) - reference[y * Self.width + x]) < 1e-5, "(\(y), \(x))")
                    }
                }
            }
            checked = templates.smoothedEnd
            // Rows well above the last smoothed ones may go; the rest stay readable.
            templates.discard(below: checked - 2)
        }
        #expect(checked == Self.height)
    }

    @Test func reweightingFollowsTheFloat64Rule() {
        var settings = SymmetricTemplates.Settings(); settings.reach = 24
        var templates = SymmetricTemplates(settings: settings, height: Self.height, width: Self.width)
        templates.add(rows: Self.image[...])
        // The rule alone: on the smoothed values the test above checks against the direct sum
        // (near-zero sky values carry float32's rounding into the ratios).
        let j = templates.withReader(centres: []) { reader in
            (0..<(Self.height * Self.width)).map { Double(reader.value($0 / Self.width, $0 % Self.width)) }
        }
        let centres: [(y: Int, x: Int)] = [(12, 10), (15, 14), (30, 25), (2, 31), (39, 0)]
        var generator = SeededGenerator(seed: 5)
        var changed = 0, compared = 0, controlFailed = 0, shortened = 0
        for y in 0..<Self.height {
            for x in 0..<Self.width where Self.image[y * Self.width + x] != 0 {
                let owners = (0..<3).map { _ in Int(generator.next() % UInt64(centres.count)) }
                let raw = (0..<3).map { _ in Float(generator.next() % 1000 + 1) }
                let shares = raw.map { $0 / raw.reduce(0, +) }
                var mine = shares
                let ownerIDs = owners.map(Int32.init)
                templates.withReader(centres: centres) { prior in
                    ownerIDs.withUnsafeBufferPointer { o in mine.withUnsafeMutableBufferPointer { s in
                        prior.reweight(y: y, x: x, owners: o.baseAddress!, shares: s.baseAddress!, n: 3)
                    } }
                }
                let expected = TemplateReference.reweighted(y: y, x: x, owners: owners, shares: shares.map(Double.init), centres: centres,
                                                            smoothed: j, height: Self.height, width: Self.width, reach: 24)
                #expect(zip(mine, expected).allSatisfy { abs(Double($0) - $1) < 1e-5 }, "(\(y), \(x)): \(mine) against \(expected), owners \(owners)")
                #expect(abs(mine.reduce(0, +) - 1) < 1e-5)
                if mine != shares { changed += 1 }
                for owner in owners {
                    let c = centres[owner], mirror = (y: 2 * c.y - y, x: 2 * c.x - x)
                    guard let q = TemplateReference.boundPoint(y: y, x: x, centre: c, height: Self.height, width: Self.width, reach: 24) else { continue }
                    #expect(q.y >= 0 && q.y < Self.height && q.x >= 0 && q.x < Self.width && abs(q.y - y) <= 48, "(\(y), \(x)) → \(q)")
                    if q != mirror { shortened += 1 }
                }
                let withoutMirrors = TemplateReference.reweighted(y: y, x: x, owners: owners, shares: shares.map(Double.init), centres: centres,
                                                                  smoothed: j, height: Self.height, width: Self.width, reach: 24, mirrors: false)
                if !zip(mine, withoutMirrors).allSatisfy({ abs(Double($0) - $1) < 1e-5 }) { controlFailed += 1 }
                compared += 1
            }
        }
        // Pixels must be reweighted often, and often with a mirror read nearer the centre (outside
        // the image or the rows held), or the comparison proves little.
        #expect(changed > compared / 4 && shortened > compared / 10, "\(changed) of \(compared) changed, \(shortened) mirrors shortened")
        // The control: the same comparison against a rule without mirrors must fail on most of them.
        #expect(controlFailed > changed / 2, "\(controlFailed) of \(changed)")
    }
}

/// A star far brighter than its neighbours, at whose core the network gives it nothing (its
/// softmax saturates on an input it was never shown), or shares the core with a galaxy more
/// than `reach` rows away: the templates must hand the core back to the star.
@Suite("Symmetric templates at a bright core")
struct BrightCoreTests {
    static let height = 200, width = 64, star = (y: 30, x: 32)
    /// The star (flux 5000) and two faint galaxies: one 20 px to its right, one 60 rows below.
    static let image = syntheticImage(height: height, width: width, sources: [(30, 32, 5000), (30, 52, 20), (90, 36, 20)])

    /// The shares of the star's peak pixel with the given owners and network shares.
    static func coreShares(owners: [Int32], network: [Float], shareFloor: Double, image: [Float] = image) -> [Float] {
        var settings = SymmetricTemplates.Settings(); settings.reach = 48; settings.shareFloor = shareFloor
        var templates = SymmetricTemplates(settings: settings, height: height, width: width)
        templates.add(rows: image[...])
        var shares = network
        templates.withReader(centres: [star, (30, 52), (90, 36)]) { prior in
            owners.withUnsafeBufferPointer { o in shares.withUnsafeMutableBufferPointer { s in
                prior.reweight(y: star.y, x: star.x, owners: o.baseAddress!, shares: s.baseAddress!, n: owners.count)
            } }
        }
        return shares
    }

    @Test func aShareOfZeroDoesNotOutvoteTheTemplate() {
        let shares = Self.coreShares(owners: [0, 1, 1], network: [0, 0.6, 0.4], shareFloor: 0.01)
        #expect(shares[0] > 0.95, "\(shares)")
        // The control: without the floor the network's 0 stands, whatever the templates say.
        let unfloored = Self.coreShares(owners: [0, 1, 1], network: [0, 0.6, 0.4], shareFloor: 0)
        #expect(unfloored[0] == 0, "\(unfloored)")
    }

    @Test func anOwnerBeyondTheRowsHeldIsBoundedNearerItsCentre() {
        // The galaxy below lies 60 rows from the core: its mirror, 120 rows down, is beyond the
        // rows held (2 × 48), so its bound is read nearer it on the same ray.
        let galaxy = (y: 90, x: 36), mirror = (y: 2 * 90 - Self.star.y, x: 2 * 36 - Self.star.x)
        guard let q = TemplateReference.boundPoint(y: Self.star.y, x: Self.star.x, centre: galaxy, height: Self.height,
                                                   width: Self.width, reach: 48) else {
            Issue.record("the galaxy must have a bound point"); return
        }
        #expect(mirror.y - Self.star.y > 2 * 48 && q != mirror, "the fixture must need the shortened ray: \(q)")
        let shares = Self.coreShares(owners: [0, 2, 2], network: [0.5, 0.25, 0.25], shareFloor: 0.01)
        #expect(shares[0] > 0.95, "\(shares)")
        let j = TemplateReference.smoothed(Self.image, height: Self.height, width: Self.width, sigma: 3)
        let expected = TemplateReference.reweighted(y: Self.star.y, x: Self.star.x, owners: [0, 2, 2], shares: [0.5, 0.25, 0.25],
                                                    centres: [Self.star, (30, 52), galaxy], smoothed: j, height: Self.height,
                                                    width: Self.width, reach: 48)
        #expect(zip(shares, expected).allSatisfy { abs(Double($0) - $1) < 1e-4 }, "\(shares) against \(expected)")
        // The control: a bright source at that nearer point lifts the galaxy's bound to the
        // core's light, so the split goes back towards the network's half. Code that ignored
        // the point (no bound, or none read) would keep the same shares with or without it.
        let lit = syntheticImage(height: Self.height, width: Self.width,
                                 sources: [(30, 32, 5000), (30, 52, 20), (90, 36, 20), (Double(q.y), Double(q.x), 20_000)])
        let boundLifted = Self.coreShares(owners: [0, 2, 2], network: [0.5, 0.25, 0.25], shareFloor: 0.01, image: lit)
        #expect(boundLifted[0] < 0.6, "\(boundLifted)")
    }
}

/// Two round sources, a bright one and a faint one 6 px away, and a network that finds both
/// but splits their shared pixels evenly-ish (2/3 to the nearer centre): the symmetric prior
/// must bring each source's attributed flux much closer to its true flux.
@Suite("Symmetric attribution")
struct SymmetricAttributionTests {
    static let size = 64
    static let sources: [(y: Double, x: Double, flux: Double)] = [(30, 28, 200), (30, 34, 40)]
    static let centres = [(y: 30, x: 28), (y: 30, x: 34)]

    static var network: FunctionTileNetwork {
        FunctionTileNetwork(slots: 3) { _, size in
            var heat = [Float](repeating: 0, count: size * size), vectors = [Float](repeating: 0, count: size * size * 6)
            let logits = [Float](repeating: 0, count: size * size * 3)
            for y in 0..<size {
                for x in 0..<size {
                    let p = y * size + x
                    let d = centres.map { Double(($0.y - y) * ($0.y - y) + ($0.x - x) * ($0.x - x)) }
                    heat[p] = Float(d.map { exp(-$0 / 8) }.max()!)
                    let near = d[0] <= d[1] ? 0 : 1
                    for (k, c) in [near, 1 - near, near].enumerated() {
                        vectors[(p * 3 + k) * 2] = Float(centres[c].y - y); vectors[(p * 3 + k) * 2 + 1] = Float(centres[c].x - x)
                    }
                }
            }
            return TileOutputs(heatmap: heat, vectors: vectors, mapLogits: logits)
        }
    }

    static func fluxErrors(_ attribution: Attribution) throws -> [Double] {
        var settings = DeblendSettings(); settings.tile = size; settings.margin = 8; settings.attribution = attribution
        let image = syntheticImage(height: size, width: size, sources: sources)
        let result = try MosaicDeblender(settings: settings).deblend(image, height: size, width: size, network: network)
        #expect(result.sources.map { [$0.y, $0.x] } == centres.map { [$0.y, $0.x] })
        return zip(result.sources, sources).map { abs($0.flux - $1.flux) / $1.flux }
    }

    @Test func symmetricTemplatesShrinkTheAttributionErrors() throws {
        let network = try Self.fluxErrors(.network), symmetric = try Self.fluxErrors(.symmetric)
        #expect(network[1] > 0.5, "the even split must overfeed the faint source, or the test proves little")
        for k in 0..<2 { #expect(symmetric[k] < network[k] / 3, "source \(k): \(symmetric[k]) against \(network[k])") }
    }
}
