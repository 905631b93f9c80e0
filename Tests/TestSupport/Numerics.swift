import Testing

/// Largest |a − b| divided by max(max|b|, floor): the "relative to max-abs" error used to compare
/// float32 results with a reference.
public func relativeToMaxAbs(_ a: [Float], _ b: [Float], floor: Double = 1e-12) -> Double {
    precondition(a.count == b.count, "relativeToMaxAbs: \(a.count) vs \(b.count) elements")
    var diff = 0.0, scale = 0.0
    for i in a.indices {
        diff = max(diff, abs(Double(a[i]) - Double(b[i])))
        scale = max(scale, abs(Double(b[i])))
    }
    return diff / max(scale, floor)
}

/// Expects `actual` to match `expected` within `tolerance` relative to the expected max-abs;
/// failures are reported at the caller's source location.
public func expectClose(_ actual: [Float], _ expected: [Float], tolerance: Double, _ what: String = "",
                        sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.count == expected.count else {
        Issue.record("\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    let err = relativeToMaxAbs(actual, expected)
    #expect(err <= tolerance, "\(what): relative error \(err) > \(tolerance)", sourceLocation: sourceLocation)
}

/// Expects |actual − expected| ≤ tolerance · max(|expected|, 1e-12).
public func expectClose(_ actual: Double, _ expected: Double, relative tolerance: Double, _ what: String = "",
                        sourceLocation: SourceLocation = #_sourceLocation) {
    let err = abs(actual - expected) / max(abs(expected), 1e-12)
    #expect(err <= tolerance, "\(what): \(actual) vs \(expected), relative error \(err)", sourceLocation: sourceLocation)
}
