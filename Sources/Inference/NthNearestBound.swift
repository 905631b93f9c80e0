import PCR

/// The n nearest centres of a recently decided pixel, with the distances to its n-th and
/// (n + 1)-th nearest. A pixel s px away has the same n nearest while the gap between those two
/// distances exceeds 2s, and its own n-th distance within ± s (triangle inequality): that settles
/// most stray-owner tests of `StreamingDecoder.takeBackStrayOwners` (pixels in a row share their
/// neighbourhood) without a search.
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
        index.nearest(n + 1, toY: Double(y), x: Double(x), into: &found)
        (self.y, self.x) = (y, x)
        nth = found.count >= n ? found[n - 1].distance2.squareRoot() : .infinity
        next = found.count > n ? found[n].distance2.squareRoot() : .infinity
        ask(y: y, x: x)
        return found.count >= n && found[n - 1].distance2 < distance2
    }

    private mutating func ask(y: Int, x: Int) {
        (askedY, askedX) = (y, x)
        shift = Double((y - self.y) * (y - self.y) + (x - self.x) * (x - self.x)).squareRoot()
        gapSettles = next - nth > 2 * shift + 1e-9 * (next + shift) + 1e-9
    }
}
