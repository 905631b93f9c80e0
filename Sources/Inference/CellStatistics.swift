/// The clipped level and standard deviation of one mesh cell's data pixels.
struct CellStatistics: Equatable {
    var level: Float, rms: Float

    init(level: Float, rms: Float) { self.level = level; self.rms = rms }

    /// SExtractor's estimator (see `SkyBackground`) on the cell's finite non-zero `values` (not empty).
    /// The values are sorted once (a radix sort: a 4096² image has 4096 cells, and the standard
    /// library's sort of each showed as 7 % of a deblend's profile); then the kept values are a
    /// range of the sorted ones, and each clipping pass is two binary searches on prefix sums.
    init(_ values: [Float]) {
        let sorted = Self.radixSorted(values), n = sorted.count
        var sum = [Double](repeating: 0, count: n + 1), squares = sum
        for i in 0..<n { sum[i + 1] = sum[i] + Double(sorted[i]); squares[i + 1] = squares[i] + Double(sorted[i]) * Double(sorted[i]) }
        func moments(_ kept: Range<Int>) -> (mean: Double, sigma: Double) {
            let count = Double(kept.count), mean = (sum[kept.upperBound] - sum[kept.lowerBound]) / count
            return (mean, max(0, (squares[kept.upperBound] - squares[kept.lowerBound]) / count - mean * mean).squareRoot())
        }
        func median(_ kept: Range<Int>) -> Double {
            let mid = kept.lowerBound + kept.count / 2
            return kept.count % 2 == 1 ? Double(sorted[mid]) : (Double(sorted[mid - 1]) + Double(sorted[mid])) / 2
        }
        /// The first index whose value is not below `bound` (`strictly`: above it).
        func partition(_ bound: Double, strictly: Bool) -> Int {
            var lo = 0, hi = n
            while lo < hi {
                let mid = (lo + hi) / 2, v = Double(sorted[mid])
                if strictly ? v > bound : v >= bound { hi = mid } else { lo = mid + 1 }
            }
            return lo
        }
        var kept = 0..<n
        let initialSigma = moments(kept).sigma
        for _ in 0..<100 {
            let m = median(kept), sigma = moments(kept).sigma
            // Clipped values stay out (the kept range only shrinks), so the loop ends.
            let next = max(kept.lowerBound, partition(m - 3 * sigma, strictly: false))
                ..< min(kept.upperBound, partition(m + 3 * sigma, strictly: true))
            if next == kept || next.isEmpty { break }
            kept = next
        }
        let (mean, sigma) = moments(kept)
        let uncrowded = initialSigma == 0 || (initialSigma - sigma) / initialSigma < 0.2
        level = Float(uncrowded ? mean : 2.5 * median(kept) - 1.5 * mean)
        rms = Float(sigma)
    }

    /// `values` in increasing order: a least-significant-digit radix sort on keys that order like
    /// the floats (sign bit flipped for positives, all bits for negatives), 11 bits per pass, the
    /// three passes' counts taken in one read. Through pointers: spans checked every index, and
    /// clearing the counts was a fifth of the sort.
    static func radixSorted(_ values: [Float]) -> [Float] {
        let n = values.count
        var keys = values.map { v -> UInt32 in
            let bits = v.bitPattern
            return bits & 0x8000_0000 == 0 ? bits | 0x8000_0000 : ~bits
        }
        var buffer = [UInt32](repeating: 0, count: n)
        var counts = [Int32](repeating: 0, count: 3 * 2048)
        keys.withUnsafeMutableBufferPointer { keys in buffer.withUnsafeMutableBufferPointer { buffer in
        counts.withUnsafeMutableBufferPointer { counts in
            let count = counts.baseAddress!
            var from = keys.baseAddress!, to = buffer.baseAddress!
            for i in 0..<n {
                let key = from[i]
                count[Int(key & 0x7FF)] += 1; count[2048 + Int((key >> 11) & 0x7FF)] += 1; count[4096 + Int(key >> 22)] += 1
            }
            for pass in 0..<3 {
                let shift = UInt32(11 * pass), start = count + 2048 * pass
                var total: Int32 = 0                         // counts become each digit's first slot
                for d in 0..<2048 { let c = start[d]; start[d] = total; total += c }
                for i in 0..<n {
                    let key = from[i], digit = Int((key >> shift) & 0x7FF)
                    to[Int(start[digit])] = key; start[digit] += 1
                }
                swap(&from, &to)
            }
        } } }
        // Three passes: the sorted keys ended in `buffer`.
        return buffer.map { key in Float(bitPattern: key & 0x8000_0000 != 0 ? key & 0x7FFF_FFFF : ~key) }
    }
}
