import CFITSIO
import Foundation

/// One column's values.
public enum ColumnValues: Sendable, Equatable {
    case double([Double])
    case float([Float])
    case int64([Int64])
    case int32([Int32])
    case bool([Bool])
    case string([String])

    public var count: Int {
        switch self {
        case .double(let v): return v.count
        case .float(let v): return v.count
        case .int64(let v): return v.count
        case .int32(let v): return v.count
        case .bool(let v): return v.count
        case .string(let v): return v.count
        }
    }

    /// The values as Doubles, for numeric and logical columns (nil for strings).
    public var doubles: [Double]? {
        switch self {
        case .double(let v): return v
        case .float(let v): return v.map(Double.init)
        case .int64(let v): return v.map(Double.init)
        case .int32(let v): return v.map(Double.init)
        case .bool(let v): return v.map { $0 ? 1 : 0 }
        case .string: return nil
        }
    }
}

/// A named table column with an optional unit (TUNITn).
public struct TableColumn: Sendable, Equatable {
    public var name: String
    public var unit: String?
    public var values: ColumnValues

    public init(_ name: String, unit: String? = nil, _ values: ColumnValues) {
        self.name = name
        self.unit = unit
        self.values = values
    }
}

/// A table of equal-length named columns: a catalog, as a FITS binary table or CSV.
public struct FITSTable: Sendable, Equatable {
    public private(set) var columns: [TableColumn]

    public init(columns: [TableColumn]) throws {
        if let first = columns.first, let bad = columns.first(where: { $0.values.count != first.values.count }) {
            throw FITSError(path: "table", call: "FITSTable",
                            message: "column \(bad.name) has \(bad.values.count) rows but \(first.name) has \(first.values.count)")
        }
        var seen = Set<String>()
        for column in columns where !seen.insert(column.name.lowercased()).inserted {
            throw FITSError(path: "table", call: "FITSTable", message: "column name \(column.name) appears twice")
        }
        self.columns = columns
    }

    public var rowCount: Int { columns.first?.values.count ?? 0 }

    /// The column named `name` (case-insensitive, as FITS column names are).
    public subscript(name: String) -> TableColumn? {
        columns.first { $0.name.lowercased() == name.lowercased() }
    }

    /// Source positions as 0-based pixels: columns `x`, `y`; else SExtractor's `X_IMAGE`,
    /// `Y_IMAGE` (1-based FITS pixels); else `ra`, `dec` (degrees) through `wcs`, the WCS of the
    /// image at `imagePath` (named when it has none).
    public func pixelPositions(source: String, wcs: CelestialWCS?, imagePath: String) throws -> [(x: Double, y: Double)] {
        if self["x"] != nil && self["y"] != nil {
            return zip(try doubles("x", source: source), try doubles("y", source: source)).map { (x: $0, y: $1) }
        }
        if self["X_IMAGE"] != nil && self["Y_IMAGE"] != nil {
            return zip(try doubles("X_IMAGE", source: source), try doubles("Y_IMAGE", source: source)).map { (x: $0 - 1, y: $1 - 1) }
        }
        guard self["ra"] != nil, self["dec"] != nil else {
            throw FITSError(path: source, call: "column", message: "needs columns x and y (0-based pixels), X_IMAGE and Y_IMAGE (SExtractor, 1-based) or ra and dec (degrees)")
        }
        guard let wcs else {
            throw FITSError(path: imagePath, call: "wcs", message: "catalog gives ra/dec but the image has no WCS")
        }
        let ra = try doubles("ra", source: source), dec = try doubles("dec", source: source)
        return try wcs.pixels(zip(ra, dec).map { (ra: $0, dec: $1) })
    }

    /// The numeric column `name` as Doubles, or an error naming the missing or non-numeric column.
    public func doubles(_ name: String, source: String = "table") throws -> [Double] {
        guard let column = self[name] else {
            throw FITSError(path: source, call: "column", message: "has no column '\(name)' (columns: \(columns.map(\.name).joined(separator: ", ")))")
        }
        guard let values = column.values.doubles else {
            throw FITSError(path: source, call: "column", message: "column '\(name)' is text, expected numbers")
        }
        return values
    }
}

extension FITSFile {
    /// Appends a binary-table HDU holding `table`.
    public func writeTable(_ table: FITSTable, extname: String) throws {
        let file = try requireOpen()
        let names = table.columns.map(\.name)
        let forms = table.columns.map { column -> String in
            switch column.values {
            case .double: return "D"
            case .float: return "E"
            case .int64: return "K"
            case .int32: return "J"
            case .bool: return "L"
            case .string(let texts): return "\(max(1, texts.map { $0.utf8.count }.max() ?? 1))A"
            }
        }
        let units = table.columns.map { $0.unit ?? "" }
        _ = try withCStringArray(names) { namePointers in
            try withCStringArray(forms) { formPointers in
                try withCStringArray(units) { unitPointers in
                    try fitsCall("ffcrtb", path: path) {
                        ffcrtb(file, BINARY_TBL, Int64(table.rowCount), Int32(names.count),
                               namePointers, formPointers, unitPointers, extname, &$0)
                    }
                }
            }
        }
        guard table.rowCount > 0 else { return }
        for (index, column) in table.columns.enumerated() {
            let number = Int32(index + 1)
            let rows = Int64(table.rowCount)
            switch column.values {
            case .double(var values): try writeColumn(file, TDOUBLE, number, rows, &values)
            case .float(var values): try writeColumn(file, TFLOAT, number, rows, &values)
            case .int64(var values): try writeColumn(file, TLONGLONG, number, rows, &values)
            case .int32(var values): try writeColumn(file, TINT, number, rows, &values)
            case .bool(let flags):
                var values = flags.map { CChar($0 ? 1 : 0) }
                try writeColumn(file, TLOGICAL, number, rows, &values)
            case .string(let texts):
                _ = try withCStringArray(texts) { pointers in
                    try fitsCall("ffpcl", path: path) { ffpcl(file, TSTRING, number, 1, 1, rows, pointers, &$0) }
                }
            }
        }
    }

    private func writeColumn<T>(_ file: UnsafeMutablePointer<fitsfile>, _ type: Int32, _ column: Int32, _ rows: Int64,
                                _ values: inout [T]) throws {
        try values.withUnsafeMutableBytes { buffer in
            _ = try fitsCall("ffpcl", path: path) { ffpcl(file, type, column, 1, 1, rows, buffer.baseAddress, &$0) }
        }
    }

    /// Reads the binary or ASCII table of the current HDU. Only scalar (repeat 1) columns and
    /// fixed-width strings are supported; vector columns are reported by name.
    public func readTable() throws -> FITSTable {
        let file = try requireOpen()
        guard try currentHDUKind() != .image else {
            throw FITSError(path: path, call: "readTable", message: "HDU \(try currentHDUIndex()) is an image, not a table")
        }
        var columnCount: Int32 = 0
        var rowCount: Int64 = 0
        try fitsCall("ffgncl", path: path) { ffgncl(file, &columnCount, &$0) }
        try fitsCall("ffgnrwll", path: path) { ffgnrwll(file, &rowCount, &$0) }
        var columns: [TableColumn] = []
        for number in 1...max(columnCount, 1) where columnCount > 0 {
            let name = (try readKey("TTYPE\(number)")).flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "col\(number)"
            let unit = (try readKey("TUNIT\(number)")).flatMap { if case .string(let s) = $0, !s.isEmpty { s } else { nil } }
            var typecode: Int32 = 0
            var repeatCount: Int64 = 0
            var width: Int64 = 0
            try fitsCall("ffgtclll", path: path) { ffgtclll(file, number, &typecode, &repeatCount, &width, &$0) }
            let rows = Int(rowCount)
            let values: ColumnValues
            switch abs(typecode) {
            case TSTRING:
                values = .string(try readStrings(file, number, rows: rows, width: Int(width)))
            case _ where repeatCount != 1:
                throw FITSError(path: path, call: "readTable",
                                message: "column \(name) holds \(repeatCount) values per row; only scalar columns are supported")
            case TDOUBLE:
                values = .double(try readColumn(file, TDOUBLE, number, rows, as: Double.self))
            case TFLOAT:
                values = .float(try readColumn(file, TFLOAT, number, rows, as: Float.self))
            case TLOGICAL:
                values = .bool(try readColumn(file, TLOGICAL, number, rows, as: CChar.self).map { $0 != 0 })
            case TBYTE, TSBYTE, TSHORT, TUSHORT, TINT, TUINT, TLONG, TULONG, TLONGLONG:
                values = .int64(try readColumn(file, TLONGLONG, number, rows, as: Int64.self))
            default:
                throw FITSError(path: path, call: "readTable", message: "column \(name) has a type PAIS does not read (code \(typecode))")
            }
            columns.append(TableColumn(name, unit: unit, values))
        }
        return try FITSTable(columns: columns)
    }

    private func readColumn<T: Numeric>(_ file: UnsafeMutablePointer<fitsfile>, _ type: Int32, _ column: Int32, _ rows: Int,
                                        as: T.Type) throws -> [T] {
        var values = [T](repeating: .zero, count: rows)
        guard rows > 0 else { return values }
        var anyNull: Int32 = 0
        _ = try values.withUnsafeMutableBytes { buffer in
            try fitsCall("ffgcv", path: path) { ffgcv(file, type, column, 1, 1, Int64(rows), nil, buffer.baseAddress, &anyNull, &$0) }
        }
        return values
    }

    private func readStrings(_ file: UnsafeMutablePointer<fitsfile>, _ column: Int32, rows: Int, width: Int) throws -> [String] {
        guard rows > 0 else { return [] }
        let stride = width + 1
        var storage = [CChar](repeating: 0, count: rows * stride)
        var anyNull: Int32 = 0
        try storage.withUnsafeMutableBufferPointer { buffer in
            var pointers: [UnsafeMutablePointer<CChar>?] = (0..<rows).map { buffer.baseAddress! + $0 * stride }
            var emptyNull: [CChar] = [0]
            try fitsCall("ffgcvs", path: path) { ffgcvs(file, column, 1, 1, Int64(rows), &emptyNull, &pointers, &anyNull, &$0) }
        }
        return (0..<rows).map { decodeCString(Array(storage[($0 * stride)..<(($0 + 1) * stride)])) }
    }
}

/// Calls `body` with a C array of NUL-terminated copies of `strings`, valid only inside `body`.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) throws -> R) rethrows -> R {
    var copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    return try copies.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
}
