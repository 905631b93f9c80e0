@testable import Inference
import PCR
import Testing

/// `StreamingDecoder.fillRepeatedOwners`: a slot repeating an owner goes to the nearest free
/// one of the pixel's n nearest peaks within the reach; the controls leave the owners alone.
@Suite struct RepeatedOwnersTests {
    // Centres 0, 1, 2 at 8, 12 and 42 px from the pixel (10, 18); centre 3 far below.
    static let centres = [(y: 10, x: 10), (y: 10, x: 30), (y: 10, x: 60), (y: 200, x: 18)]

    static func fill(_ owners: [Int32], reach: Int = 48, known: Int = 1_000, final: Bool = false,
                     targets: SlotTargets = SlotTargets(kept: CentreIndex(centres: centres)),
                     at pixel: (y: Int, x: Int) = (10, 18)) -> (decided: Bool, owners: [Int32]) {
        var owners = owners, bound = NthNearestBound()
        let decided = owners.withUnsafeMutableBufferPointer { o in
            StreamingDecoder.fillRepeatedOwners(y: pixel.y, x: pixel.x, owners: o.baseAddress!, n: o.count, targets: targets,
                                                reach: reach, known: known, final: final, nearest: &bound)
        }
        return (decided, owners)
    }

    @Test func aRepeatedSlotTakesTheNearestFreeSource() {
        #expect(Self.fill([0, 0, 1]) == (true, [0, 2, 1]))
        // Every slot on one source: the others go to the next nearest, in slot order.
        #expect(Self.fill([1, 1, 1]) == (true, [1, 0, 2]))
        // Controls: distinct owners stay, even when a free source is nearer than one of them
        // (the stray test's business); a free source beyond the reach is not given the slot.
        #expect(Self.fill([0, 1, 3], final: true) == (true, [0, 1, 3]))
        #expect(Self.fill([0, 0, 1], reach: 40) == (true, [0, 0, 1]))
    }

    /// Streaming: with rows from `known` on still to be searched, the pixel waits while a centre
    /// to come could be among its n nearest; the final pass decides with what is known.
    @Test func aPixelWaitsUntilItsNearestPeaksAreKnown() {
        #expect(Self.fill([0, 0, 1], known: 40).decided == false)      // 42 px against 30 rows
        #expect(Self.fill([0, 0, 1], known: 60) == (true, [0, 2, 1]))
        #expect(Self.fill([0, 0, 1], known: 40, final: true) == (true, [0, 2, 1]))
    }

    /// A dropped halo peak among the nearest stands for the centre that explains it; one whose
    /// explainer is not decided makes the pixel wait.
    @Test func droppedPeaksStandForTheirExplainer() {
        let kept = CentreIndex(centres: Self.centres)
        let all = CentreIndex(centres: Self.centres + [(y: 10, x: 22)])      // a dropped peak 4 px away
        // Explained by centre 1, which holds a slot: the peak pushes centre 2 out of the three
        // nearest, so nothing is free and the repeat stays.
        #expect(Self.fill([0, 0, 1], targets: SlotTargets(kept: kept, all: all, aliases: [1])) == (true, [0, 0, 1]))
        // Explained by centre 2, which no slot holds: the repeat goes to it, within the reach of
        // the peak (4 px), not of centre 2 (42 px).
        #expect(Self.fill([0, 0, 1], reach: 20, targets: SlotTargets(kept: kept, all: all, aliases: [2])) == (true, [0, 2, 1]))
        #expect(Self.fill([0, 0, 1], targets: SlotTargets(kept: kept, all: all, aliases: [-1])).decided == false)
    }
}
