import CFITSIO

/// The version of the linked cfitsio library, e.g. "4.2.0".
public func cfitsioVersion() -> String {
    var number: Float = 0
    _ = ffvers(&number)
    // ffvers reports e.g. 4.2 or 4.02; the header's macros give the exact triple.
    return "\(CFITSIO_MAJOR).\(CFITSIO_MINOR).\(CFITSIO_MICRO)"
}
