import PCR

extension StreamingDecoder {
    /// A pixel's n slots stand for its n nearest sources (method.md §3.4), so no two should hold the
    /// same source. Two do when a tip misses its source (a far one's vector is predicted less
    /// well, and often lands on a nearer source) or when a stray slot was taken back; the light of
    /// the source left out then goes to those kept, and a faint source took a share of the wings
    /// of a bright galaxy 20-60 px away (BENCHMARKS.md, "Repeated owners"). Each slot that repeats
    /// an earlier slot's owner goes instead to the nearest of the pixel's n nearest peaks that no
    /// slot holds, if it lies within `reach` px (the templates': the median attribution error on
    /// eight tuning fields was 0.122 / 0.118 / 0.117 / 0.118 / 0.123 within 24 / 36 / 48 / 64 px /
    /// any distance, 0.128 without filling); with none, the slot stays. `targets.all` orders the
    /// peaks: centres, then dropped halo peaks, which stand for the centre that explains them, as
    /// in `matchSlots`. False when the answer could still change once more centres are known
    /// (only when not `final`).
    @inline(__always)
    static func fillRepeatedOwners(y: Int, x: Int, owners: UnsafeMutablePointer<Int32>, n: Int, targets: SlotTargets, reach: Int,
                                   known: Int, final: Bool, nearest: inout NthNearestBound) -> Bool {
        var repeated = false
        for k in 1..<max(1, n) where !repeated {
            for q in 0..<k where owners[q] == owners[k] { repeated = true }
        }
        guard repeated else { return true }
        let near = nearest.nearest(n, toY: y, x: x, index: targets.all)
        // Peaks still to come (rows from `known` on) lie at least `known − y` away. Strictly less:
        // a dropped peak's index follows every centre's, those to come included.
        let room = Double(known - y)
        guard final || (near.count == n && room > 0 && near[near.endIndex - 1].distance2 < room * room) else { return false }
        let kept = targets.kept.count
        for k in 1..<n where (0..<k).contains(where: { owners[$0] == owners[k] }) {
            for candidate in near {
                guard candidate.distance2 <= Double(reach * reach) else { continue }
                let owner = candidate.index < kept ? Int32(candidate.index) : targets.aliases[candidate.index - kept]
                guard owner >= 0 else {
                    if final { continue }
                    return false            // a dropped peak whose explainer is not decided yet
                }
                if !(0..<n).contains(where: { owners[$0] == owner }) { owners[k] = owner; break }
            }
        }
        return true
    }
}
