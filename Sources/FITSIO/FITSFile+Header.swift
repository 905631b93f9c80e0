import CFITSIO

/// A header keyword's value.
public enum HeaderValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)

    public var description: String {
        switch self {
        case .string(let text): return "'\(text)'"
        case .int(let value): return String(value)
        case .double(let value): return String(value)
        case .bool(let value): return value ? "T" : "F"
        }
    }

    /// The value as a Double, for numeric keywords.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }
}

extension FITSFile {
    /// Writes (or updates) keyword `name` in the current HDU's header.
    public func writeKey(_ name: String, _ value: HeaderValue, comment: String? = nil) throws {
        let file = try requireOpen()
        switch value {
        case .string(let text):
            try fitsCall("ffukys", path: path) { ffukys(file, name, text, comment, &$0) }
        case .int(let number):
            try fitsCall("ffukyj", path: path) { ffukyj(file, name, Int64(number), comment, &$0) }
        case .double(let number):
            // A negative count asks cfitsio for %G with 17 significant digits: enough for an exact round trip.
            try fitsCall("ffukyd", path: path) { ffukyd(file, name, number, -17, comment, &$0) }
        case .bool(let flag):
            try fitsCall("ffukyl", path: path) { ffukyl(file, name, flag ? 1 : 0, comment, &$0) }
        }
    }

    /// Appends a COMMENT card.
    public func writeComment(_ text: String) throws {
        let file = try requireOpen()
        try fitsCall("ffpcom", path: path) { ffpcom(file, text, &$0) }
    }

    /// Appends a HISTORY card.
    public func writeHistory(_ text: String) throws {
        let file = try requireOpen()
        try fitsCall("ffphis", path: path) { ffphis(file, text, &$0) }
    }

    /// Reads keyword `name` from the current HDU, or nil if the header does not have it.
    public func readKey(_ name: String) throws -> HeaderValue? {
        guard let (raw, _) = try readRawKey(name) else { return nil }
        return try parseValue(raw, keyword: name)
    }

    /// Keyword `name`'s value in each HDU whose header has it, by HDU index (outputs that write
    /// their keywords into every HDU's header, as `pais deblend`'s do). Leaves the last HDU current.
    public func readKeyInEveryHDU(_ name: String) throws -> [(hdu: Int, value: HeaderValue)] {
        try (0..<hduCount()).compactMap { index in
            try moveToHDU(index)
            return try readKey(name).map { (index, $0) }
        }
    }

    /// Reads the comment of keyword `name`, or nil if the header does not have it.
    public func readKeyComment(_ name: String) throws -> String? {
        try readRawKey(name)?.comment
    }

    /// Reads a keyword that must be present and a string.
    public func readString(_ name: String) throws -> String {
        guard case .string(let text)? = try readKey(name) else { throw missing(name, "a string") }
        return text
    }

    /// Reads a keyword that must be present and an integer.
    public func readInt(_ name: String) throws -> Int {
        guard case .int(let value)? = try readKey(name) else { throw missing(name, "an integer") }
        return value
    }

    /// Reads a keyword that must be present and numeric.
    public func readDouble(_ name: String) throws -> Double {
        guard let value = try readKey(name)?.doubleValue else { throw missing(name, "a number") }
        return value
    }

    /// Reads a keyword that must be present and logical.
    public func readBool(_ name: String) throws -> Bool {
        guard case .bool(let flag)? = try readKey(name) else { throw missing(name, "a logical (T/F)") }
        return flag
    }

    /// Every 80-character card of the current header, in order (without the END card).
    public func headerCards() throws -> [String] {
        let file = try requireOpen()
        var count: Int32 = 0
        var more: Int32 = 0
        try fitsCall("ffghsp", path: path) { ffghsp(file, &count, &more, &$0) }
        var cards: [String] = []
        var card = [CChar](repeating: 0, count: Int(cfitsio_flen_card()) + 1)
        for index in 1...max(Int(count), 1) where count > 0 {
            try fitsCall("ffgrec", path: path) { ffgrec(file, Int32(index), &card, &$0) }
            cards.append(decodeCString(card))
        }
        return cards
    }

    /// Appends cards verbatim (used to carry WCS and provenance keywords onto derived outputs).
    public func writeCards(_ cards: [String]) throws {
        let file = try requireOpen()
        for card in cards {
            try fitsCall("ffprec", path: path) { ffprec(file, card, &$0) }
        }
    }

    private func readRawKey(_ name: String) throws -> (value: String, comment: String)? {
        let file = try requireOpen()
        var value = [CChar](repeating: 0, count: Int(cfitsio_flen_value()) + 1)
        var comment = [CChar](repeating: 0, count: Int(cfitsio_flen_card()) + 1)
        var status: Int32 = 0
        ffgkey(file, name, &value, &comment, &status)
        if status == KEY_NO_EXIST {
            ffcmsg()
            return nil
        }
        if status != 0 {
            throw FITSError(path: path, call: "ffgkey", status: status, message: cfitsioMessage(status: status))
        }
        return (decodeCString(value), decodeCString(comment))
    }

    private func parseValue(_ raw: String, keyword: String) throws -> HeaderValue {
        let file = try requireOpen()
        var type: CChar = 0
        try fitsCall("ffdtyp", path: path) { ffdtyp(raw, &type, &$0) }
        switch UInt8(bitPattern: type) {
        case UInt8(ascii: "C"):
            var text = [CChar](repeating: 0, count: Int(cfitsio_flen_value()) + 1)
            try fitsCall("ffgkys", path: path) { ffgkys(file, keyword, &text, nil, &$0) }
            return .string(decodeCString(text))
        case UInt8(ascii: "L"):
            var flag: Int32 = 0
            try fitsCall("ffgkyl", path: path) { ffgkyl(file, keyword, &flag, nil, &$0) }
            return .bool(flag != 0)
        case UInt8(ascii: "I"):
            var value: Int64 = 0
            try fitsCall("ffgkyjj", path: path) { ffgkyjj(file, keyword, &value, nil, &$0) }
            return .int(Int(value))
        case UInt8(ascii: "F"):
            var value: Double = 0
            try fitsCall("ffgkyd", path: path) { ffgkyd(file, keyword, &value, nil, &$0) }
            return .double(value)
        default:
            throw FITSError(path: path, call: "readKey", message: "keyword \(keyword) has a value PAIS cannot read: \(raw)")
        }
    }

    private func missing(_ name: String, _ kind: String) -> FITSError {
        let hdu = (try? currentHDUIndex()).map { "HDU \($0)" } ?? "the current HDU"
        return FITSError(path: path, call: "readKey", message: "keyword \(name) in \(hdu) is missing or not \(kind)")
    }
}
