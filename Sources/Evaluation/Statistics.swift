import Foundation

/// Robust summary of relative flux errors δ = (F̂ − F) / F (metrics.md §3).
public struct FluxErrorStatistics: Sendable, Codable, Equatable {
    public var n: Int
    /// median(δ)
    public var bias: Double
    /// 1.4826 · median |δ − median(δ)|
    public var sigmaMAD: Double
    /// mean |δ| (Boucaud et al. 2020)
    public var mape: Double
    /// fraction with |δ| > 0.1
    public var outlierFraction: Double
    /// median |δ| (issue 7's attribution target); optional so that older reports still load
    public var medianAbsolute: Double?
    public var p16: Double, p50: Double, p84: Double

    /// Statistics of `errors`; NaN fields when there are none.
    public init(_ errors: [Double]) {
        let d = errors.filter(\.isFinite).sorted()
        n = d.count
        guard !d.isEmpty else {
            bias = .nan; sigmaMAD = .nan; mape = .nan; outlierFraction = .nan; medianAbsolute = .nan
            p16 = .nan; p50 = .nan; p84 = .nan
            return
        }
        let median = percentile(d, 50)
        bias = median
        sigmaMAD = 1.4826 * percentile(d.map { abs($0 - median) }.sorted(), 50)
        mape = d.reduce(0) { $0 + abs($1) } / Double(d.count)
        outlierFraction = Double(d.filter { abs($0) > 0.1 }.count) / Double(d.count)
        medianAbsolute = percentile(d.map(abs).sorted(), 50)
        p16 = percentile(d, 16); p50 = median; p84 = percentile(d, 84)
    }
}

/// The q-th percentile (0...100) of sorted values, linearly interpolated between ranks.
public func percentile(_ sorted: [Double], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let position = q / 100 * Double(sorted.count - 1)
    let lower = Int(position.rounded(.down)), upper = min(lower + 1, sorted.count - 1)
    let t = position - Double(lower)
    return sorted[lower] * (1 - t) + sorted[upper] * t
}

/// Half-open bins `[low, high)` over a value; the last bin is closed when `closedTop` is set.
public struct Bins: Sendable {
    public var edges: [Double]
    public var closedTop: Bool
    public init(edges: [Double], closedTop: Bool = false) { self.edges = edges; self.closedTop = closedTop }

    /// The blendedness bins of metrics.md §1: [0, 0.01), [0.01, 0.1), [0.1, 0.5), [0.5, 1].
    public static let blendedness = Bins(edges: [0, 0.01, 0.1, 0.5, 1], closedTop: true)

    /// 0.5-mag bins covering `values` (from the floor to the ceiling at half-magnitude steps).
    public static func halfMagnitudes(covering values: [Double]) -> Bins {
        let finite = values.filter(\.isFinite)
        guard let lo = finite.min(), let hi = finite.max() else { return Bins(edges: []) }
        let start = (lo * 2).rounded(.down) / 2, end = (hi * 2).rounded(.down) / 2 + 0.5
        return Bins(edges: Array(stride(from: start, through: end + 1e-9, by: 0.5)))
    }

    public var count: Int { max(0, edges.count - 1) }

    /// Index of the bin holding `v`, or nil outside.
    public func index(of v: Double) -> Int? {
        guard count > 0, v.isFinite else { return nil }
        for b in 0..<count {
            let isLast = b == count - 1
            if v >= edges[b] && (v < edges[b + 1] || (isLast && closedTop && v == edges[b + 1])) { return b }
        }
        return nil
    }
}
