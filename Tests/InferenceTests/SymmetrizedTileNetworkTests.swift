import Foundation
import Testing
@testable import Inference

/// `g` applied to a whole set of outputs: every pixel moved by `g`, every vector turned with it.
private func transformed(_ o: TileOutputs, by g: TileSymmetry, side t: Int, slots n: Int) -> TileOutputs {
    var out = o
    for y in 0..<t { for x in 0..<t {
        let p = y * t + x, q = g.map(y, x, side: t), qi = q.y * t + q.x
        out.heatmap[qi] = o.heatmap[p]
        for k in 0..<n {
            let v = g.mapVector(o.vectors[(p * n + k) * 2], o.vectors[(p * n + k) * 2 + 1])
            out.vectors[(qi * n + k) * 2] = v.dy
            out.vectors[(qi * n + k) * 2 + 1] = v.dx
            out.mapLogits[qi * n + k] = o.mapLogits[p * n + k]
        }
    } }
    return out
}

private func worstDifference(_ a: TileOutputs, _ b: TileOutputs) -> Float {
    zip(a.heatmap + a.vectors + a.mapLogits, b.heatmap + b.vectors + b.mapLogits).map { abs($0 - $1) }.max() ?? 0
}

@Suite("Test-time augmentation over tile symmetries")
struct SymmetrizedTileNetworkTests {
    static let side = 12, slots = 2
    static let tile: [Float] = (0..<(side * side)).map { Float(sin(Double($0) * 0.37) + 0.3 * cos(Double($0 * $0) * 0.11)) }

    /// Equivariant: heatmap and vectors of FakeNetwork (local sums and light moments), logits
    /// from the local sum, so every output follows the content under any flip or turn.
    static var equivariant: FunctionTileNetwork { FunctionTileNetwork(slots: FakeNetwork.slots) { tile, t in
        var o = FakeNetwork.outputs(tile, height: t, width: t)
        for p in 0..<(t * t) { for k in 0..<FakeNetwork.slots { o.mapLogits[p * FakeNetwork.slots + k] = Float(k + 1) * o.heatmap[p] } }
        return o
    } }

    /// Not equivariant at all: outputs depend on the absolute position and on chiral stencils
    /// (knight's moves), which no turn maps onto their mirror images.
    static var skewed: FunctionTileNetwork { FunctionTileNetwork(slots: slots) { tile, t in
        func at(_ y: Int, _ x: Int) -> Float { y >= 0 && y < t && x >= 0 && x < t ? tile[y * t + x] : 0 }
        var o = TileOutputs(heatmap: [], vectors: [], mapLogits: [])
        for y in 0..<t { for x in 0..<t {
            o.heatmap.append(at(y, x) + 0.7 * at(y + 1, x + 2) + Float(x) / Float(t))
            for k in 0..<slots {
                o.vectors += [1 + at(y + 1, x + 2), Float(k + 1) * at(y - 2, x + 1) - 0.1 * Float(x)]
                o.mapLogits.append(Float(k) * at(y + 2, x + 1) + at(y, x - 1) + 0.05 * Float(y - x))
            }
        } }
        return o
    } }

    @Test func vectorsFollowTheContent() throws {
        let all = try TileSymmetry.views(8), t = 9
        #expect(Set(all.map { "\($0.transpose)\($0.flipRows)\($0.flipColumns)" }).count == 8)
        for g in all {
            for (p, s) in [((1, 2), (7, 3)), ((0, 0), (8, 8)), ((4, 6), (2, 1))] {
                let gp = g.map(p.0, p.1, side: t), gs = g.map(s.0, s.1, side: t)
                let v = g.mapVector(Float(s.0 - p.0), Float(s.1 - p.1))
                #expect(v.dy == Float(gs.y - gp.y) && v.dx == Float(gs.x - gp.x), "\(g)")
                let back = g.unmapVector(v.dy, v.dx)
                #expect(back.dy == Float(s.0 - p.0) && back.dx == Float(s.1 - p.1))
            }
        }
        // The 4 views are the turns: their linear parts keep orientation (an even number of flips).
        for g in try TileSymmetry.views(4) { #expect(([g.transpose, g.flipRows, g.flipColumns].filter { $0 }.count) % 2 == 0) }
        for bad in [0, 3, 16] { #expect(throws: InferenceError.self) { try TileSymmetry.views(bad) } }
    }

    @Test(arguments: [1, 2, 4, 8])
    func anEquivariantNetworkIsUnchanged(_ views: Int) throws {
        let t = Self.side
        let plain = try Self.equivariant.run(tile: Self.tile, size: t)
        let averaged = try SymmetrizedTileNetwork(base: Self.equivariant, views: try TileSymmetry.views(views)).run(tile: Self.tile, size: t)
        #expect(worstDifference(plain, averaged) < 1e-5)
    }

    @Test func theAverageOverAllEightViewsIsEquivariant() throws {
        let t = Self.side, n = Self.slots
        let all = try TileSymmetry.views(8)
        let full = SymmetrizedTileNetwork(base: Self.skewed, views: all)
        let reference = try full.run(tile: Self.tile, size: t)
        for g in all {
            let moved = try full.run(tile: SymmetrizedTileNetwork.transformed(Self.tile, by: g, side: t), size: t)
            #expect(worstDifference(moved, transformed(reference, by: g, side: t, slots: n)) < 1e-4, "\(g)")
        }
        // Controls: one view is the skewed network itself, which no mirror or turn commutes with;
        // the 4 turns commute with turns but not with mirrors.
        let single = SymmetrizedTileNetwork(base: Self.skewed, views: try TileSymmetry.views(1))
        let half = TileSymmetry(flipRows: true, flipColumns: true), mirror = TileSymmetry(flipColumns: true)
        let s0 = try single.run(tile: Self.tile, size: t)
        let s1 = try single.run(tile: SymmetrizedTileNetwork.transformed(Self.tile, by: half, side: t), size: t)
        #expect(worstDifference(s1, transformed(s0, by: half, side: t, slots: n)) > 0.1)
        let turns = SymmetrizedTileNetwork(base: Self.skewed, views: try TileSymmetry.views(4))
        let r0 = try turns.run(tile: Self.tile, size: t)
        let r1 = try turns.run(tile: SymmetrizedTileNetwork.transformed(Self.tile, by: half, side: t), size: t)
        let r2 = try turns.run(tile: SymmetrizedTileNetwork.transformed(Self.tile, by: mirror, side: t), size: t)
        #expect(worstDifference(r1, transformed(r0, by: half, side: t, slots: n)) < 1e-4)
        #expect(worstDifference(r2, transformed(r0, by: mirror, side: t, slots: n)) > 0.1)
    }

    @Test func batchesEqualSingleTiles() throws {
        let t = Self.side
        let other = Self.tile.map { $0 * 0.5 + 0.1 }
        let network = SymmetrizedTileNetwork(base: Self.skewed, views: try TileSymmetry.views(8))
        let both = try network.run(tiles: [Self.tile, other], size: t)
        #expect(worstDifference(both[0], try network.run(tile: Self.tile, size: t)) == 0)
        #expect(worstDifference(both[1], try network.run(tile: other, size: t)) == 0)
    }
}
