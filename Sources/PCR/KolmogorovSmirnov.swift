import Foundation

/// Two-sample Kolmogorov-Smirnov test, two-sided, matching `scipy.stats.ks_2samp` (method "auto").
///
/// The statistic is the largest gap between the two empirical CDFs, evaluated at every pooled
/// value with right-continuous CDFs. For sample sizes up to 10,000 the p-value is exact: the
/// probability that a uniformly random monotone lattice path from (0,0) to (n1,n2) strays at
/// least `D` from the diagonal (in units of 1/lcm(n1,n2), D rounded to that grid as SciPy does).
/// It is computed by dynamic programming over the path's steps with exact hypergeometric step
/// probabilities, which avoids binomial overflow. Larger samples use the asymptotic Kolmogorov
/// distribution Q(sqrt(n1 n2 / (n1 + n2)) D) (SciPy uses a finite-n correction there).
public enum KolmogorovSmirnov {
    /// Result of a two-sample test.
    public struct Result: Sendable, Equatable {
        public var statistic: Double
        public var pValue: Double
    }

    /// Runs the two-sided two-sample test. Both samples must be non-empty.
    public static func twoSample(_ a: [Double], _ b: [Double]) -> Result {
        precondition(!a.isEmpty && !b.isEmpty, "KS test needs two non-empty samples")
        let x = a.sorted(), y = b.sorted()
        let n1 = x.count, n2 = y.count
        // Walk the pooled values in order, advancing past ties in both samples at once.
        var i = 0, j = 0, d = 0.0
        while i < n1 || j < n2 {
            let v = min(i < n1 ? x[i] : .infinity, j < n2 ? y[j] : .infinity)
            while i < n1 && x[i] <= v { i += 1 }
            while j < n2 && y[j] <= v { j += 1 }
            d = max(d, abs(Double(i) / Double(n1) - Double(j) / Double(n2)))
        }
        let g = gcd(n1, n2)
        if max(n1, n2) <= 10_000 {
            let lcm = (n1 / g) * n2
            let h = Int((d * Double(lcm)).rounded(.toNearestOrEven))
            let dGrid = Double(h) / Double(lcm)
            if h == 0 { return Result(statistic: dGrid, pValue: 1) }
            return Result(statistic: dGrid, pValue: min(max(exactOutsideProbability(n1, n2, lcm: lcm, h: h), 0), 1))
        }
        let en = Double(n1) * Double(n2) / Double(n1 + n2)
        return Result(statistic: d, pValue: kolmogorovSurvival(en.squareRoot() * d))
    }

    /// P(max_t |F1(t) - F2(t)| >= h / lcm) under the null: the fraction of lattice paths that
    /// touch |i lcm/n1 - j lcm/n2| >= h.
    static func exactOutsideProbability(_ n1: Int, _ n2: Int, lcm: Int, h: Int) -> Double {
        let s1 = lcm / n1, s2 = lcm / n2
        // inside[j] = probability of having reached (i, j) without touching the boundary.
        var inside = [Double](repeating: 0, count: n2 + 1)
        inside[0] = 1
        for i in 0...n1 {
            if i > 0 {
                // Step i-1 -> i along the first sample.
                for jj in 0...n2 {
                    let remaining = Double(n1 - (i - 1) + n2 - jj)
                    inside[jj] *= Double(n1 - (i - 1)) / remaining
                }
            }
            for jj in 0...n2 {
                if jj > 0 {
                    let remaining = Double(n1 - i + n2 - (jj - 1))
                    inside[jj] += inside[jj - 1] * Double(n2 - (jj - 1)) / remaining
                }
                if abs(i * s1 - jj * s2) >= h { inside[jj] = 0 }
            }
        }
        return 1 - inside[n2]
    }

    /// Kolmogorov's limiting survival function Q(z) = 2 sum_{k>=1} (-1)^{k-1} exp(-2 k^2 z^2).
    public static func kolmogorovSurvival(_ z: Double) -> Double {
        if z < 0.2 { return 1 }
        var s = 0.0
        for k in 1...100 {
            let term = exp(-2 * Double(k * k) * z * z)
            s += (k % 2 == 1 ? 1 : -1) * term
            if term < 1e-17 { break }
        }
        return min(max(2 * s, 0), 1)
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}
