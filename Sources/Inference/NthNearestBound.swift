import PCR

/// The n nearest centres of a recently decided pixel, with the distances to its n-th and
/// (n + 1)-th nearest. A pixel s px away has the same n nearest while the gap between those two
/// distances exceeds 2s, and its own n-th distance within ± s (triangle inequality): that settles
/// most stray-owner tests of `StreamingDecoder.takeBackStrayOwners` (pixels in a row share their
/// neighbourhood) without a search, and most of the n-nearest sets `fillRepeatedOwners` asks for.
struct NthNearestBound {
    private var y = Int.min, x = 0
    /// The n + 1 nearest centres of (y, x), nearest first (the storage reused from pixel to pixel).
    private var found: [(index: Int, distance2: Double)] = []
    private var nth = 0.0, next = 0.0
    /// The pixel last asked about, its distance from (y, x), and whether the gap settles every
    /// owner there: worked out once per pixel rather than once per owner.
    private var askedY = Int.min, askedX = 0, shift = 0.0, gapSettles = false

    /// Whether `owner`, √`distance2` from the pixel (y, x), has n centres of `index` strictly
    /// nearer to the pixel.
    mutating func isBeyond(owner: Int, distance2: Double, y: Int, x: Int, n: Int, index: CentreIndex) -> Bool {
        if self.y != Int.min {
            if y != askedY || x != askedX { ask(y: y, x: x) }
            if gapSettles { return !found.prefix(n).contains { $0.index == owner } }
            let d = distance2.squareRoot(), slack = 1e-9 * (d + next + shift) + 1e-9     // the square roots' rounding
            if d > nth + shift + slack { return true }
            if d < nth - shift - slack { return false }
        }
        anchor(n, y: y, x: x, index: index)
        return found.count >= n && found[n - 1].distance2 < distance2
    }

    /// The n nearest entries of `index` to (y, x), nearest first, ties to the lower index (a search
    /// orders equal distances as its cells fall, which differ with the centres known so far).
    /// Mostly without a search: the reference pixel's n + 1 nearest, at their distances from
    /// (y, x), are its n nearest when the n-th of them is nearer than any other entry can be (the
    /// reference's (n + 1)-th distance less the shift). Storage of its own, reused.
    mutating func nearest(_ n: Int, toY y: Int, x: Int, index: CentreIndex) -> ArraySlice<(index: Int, distance2: Double)> {
        if self.y != Int.min, fromReference(n, y: y, x: x, index: index) { return scratch.prefix(n) }
        anchor(n, y: y, x: x, index: index)       // a new reference, for this pixel and those around it
        if fromReference(n, y: y, x: x, index: index) { return scratch.prefix(n) }
        // The n-th tied with the (n + 1)-th: every tied entry, so that the lower indices win.
        var k = n + 1
        while true {
            index.nearest(k, toY: Double(y), x: Double(x), into: &scratch)
            guard scratch.count == k, scratch[k - 1].distance2 <= scratch[n - 1].distance2 else { break }
            k += n
        }
        scratch.sort(by: Self.nearerFirst)
        return scratch.prefix(n)
    }

    /// The reference's entries sorted by their distance from (y, x) into `scratch`; whether their
    /// first n are (y, x)'s n nearest. An insertion sort in place, from the positions stored at the
    /// reference: the fill asks this at almost every pixel.
    private mutating func fromReference(_ n: Int, y: Int, x: Int, index: CentreIndex) -> Bool {
        let count = found.count
        if scratch.count != count { scratch = found }
        let py = Double(y), px = Double(x)
        found.withUnsafeBufferPointer { entries in foundPositions.withUnsafeBufferPointer { positions in
            scratch.withUnsafeMutableBufferPointer { sorted in
                for i in 0..<count {
                    let dy = positions[i].y - py, dx = positions[i].x - px
                    let entry = (index: entries[i].index, distance2: dy * dy + dx * dx)
                    var j = i
                    while j > 0, Self.nearerFirst(entry, sorted[j - 1]) { sorted[j] = sorted[j - 1]; j -= 1 }
                    sorted[j] = entry
                }
            }
        } }
        guard count > n else { return true }           // every entry of the index
        let moved = Double((y - self.y) * (y - self.y) + (x - self.x) * (x - self.x)).squareRoot()
        let d = scratch[n - 1].distance2.squareRoot()
        return d < next - moved - (1e-9 * (d + next + moved) + 1e-9)
    }

    /// By distance, then index.
    private static func nearerFirst(_ a: (index: Int, distance2: Double), _ b: (index: Int, distance2: Double)) -> Bool {
        (a.distance2, a.index) < (b.distance2, b.index)
    }
    private var scratch: [(index: Int, distance2: Double)] = []
    /// Where `found`'s entries lie.
    private var foundPositions: [(y: Double, x: Double)] = []

    /// (y, x) becomes the reference: its n + 1 nearest entries, and the bound's distances.
    private mutating func anchor(_ n: Int, y: Int, x: Int, index: CentreIndex) {
        index.nearest(n + 1, toY: Double(y), x: Double(x), into: &found)
        foundPositions.removeAll(keepingCapacity: true)
        for entry in found { foundPositions.append(index.position(entry.index)) }
        (self.y, self.x) = (y, x)
        nth = found.count >= n ? found[n - 1].distance2.squareRoot() : .infinity
        next = found.count > n ? found[n].distance2.squareRoot() : .infinity
        ask(y: y, x: x)
    }

    private mutating func ask(y: Int, x: Int) {
        (askedY, askedX) = (y, x)
        shift = Double((y - self.y) * (y - self.y) + (x - self.x) * (x - self.x)).squareRoot()
        gapSettles = next - nth > 2 * shift + 1e-9 * (next + shift) + 1e-9
    }
}
