import CFITSIO

/// One 80-character header card, split by cfitsio (`ffgknm`, `ffpsvc`): its keyword, the value as
/// written and the comment. `source` names the card's file in errors.
public struct HeaderCard: Sendable {
    public let keyword: String, value: String, comment: String

    public init(_ card: String, source: String = "header") throws {
        var text = Array(card.utf8CString)
        var name = [CChar](repeating: 0, count: Int(cfitsio_flen_card()) + 1)
        var value = [CChar](repeating: 0, count: Int(cfitsio_flen_value()) + 1)
        var comment = [CChar](repeating: 0, count: Int(cfitsio_flen_card()) + 1)
        var length: Int32 = 0
        try fitsCall("ffgknm", path: source) { ffgknm(&text, &name, &length, &$0) }
        try fitsCall("ffpsvc", path: source) { ffpsvc(&text, &value, &comment, &$0) }
        keyword = decodeCString(name); self.value = decodeCString(value); self.comment = decodeCString(comment)
    }

    /// The value as a number, nil for strings, logicals and cards without one (FITS allows a D exponent).
    public var number: Double? { Double(value.replacingOccurrences(of: "D", with: "E")) }
}
