import Foundation

extension FITSTable {
    /// The table as CSV: a header row of column names, then one row per entry.
    ///
    /// Numbers are written in their shortest exact form, so a CSV round trip preserves them.
    public func csvText() -> String {
        var lines = [columns.map { csvField($0.name) }.joined(separator: ",")]
        lines.reserveCapacity(rowCount + 1)
        for row in 0..<rowCount {
            lines.append(columns.map { column -> String in
                switch column.values {
                case .double(let v): return "\(v[row])"
                case .float(let v): return "\(v[row])"
                case .int64(let v): return "\(v[row])"
                case .int32(let v): return "\(v[row])"
                case .bool(let v): return v[row] ? "true" : "false"
                case .string(let v): return csvField(v[row])
                }
            }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses CSV with a header row. Column types are inferred: all integers become `.int64`,
    /// all numbers `.double`, all true/false `.bool`, anything else `.string`.
    public init(csv text: String, source: String = "CSV") throws {
        var rows = try parseCSVRows(text, source: source)
        guard !rows.isEmpty else {
            throw FITSError(path: source, call: "csv", message: "is empty (expected a header row of column names)")
        }
        let header = rows.removeFirst()
        for (number, row) in rows.enumerated() where row.count != header.count {
            throw FITSError(path: source, call: "csv",
                            message: "line \(number + 2) has \(row.count) fields but the header has \(header.count)")
        }
        let columns = header.enumerated().map { index, name in
            TableColumn(name, inferColumn(rows.map { $0[index] }))
        }
        try self.init(columns: columns)
    }

    /// Reads a catalog: CSV (by the extension), SExtractor ASCII_HEAD (the file starts with `#`),
    /// else the first table HDU of a FITS file (which is not read twice).
    public static func read(from path: String) throws -> FITSTable {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FITSError(path: path, call: "read", message: "no such file or not readable")
        }
        let isText = path.lowercased().hasSuffix(".csv") || (try? handle.read(upToCount: 1)) == Data("#".utf8)
        try? handle.close()
        if isText {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw FITSError(path: path, call: "read", message: "no such file or not readable")
            }
            return path.lowercased().hasSuffix(".csv") ? try FITSTable(csv: String(decoding: data, as: UTF8.self), source: path)
                                                       : try FITSTable(sextractorAsciiHead: data, source: path)
        }
        let file = try FITSFile.open(path)
        for index in 0..<(try file.hduCount()) where try file.moveToHDU(index) != .image {
            return try file.readTable()
        }
        throw FITSError(path: path, call: "read", message: "has no table HDU")
    }

    /// SExtractor's `ASCII_HEAD` catalog: header lines `#   n NAME  description [unit]`, then
    /// rows of whitespace-separated numbers (vector columns span several numbers; only their
    /// first is named).
    public init(sextractorAsciiHead data: Data, source path: String) throws {
        func fail(_ message: String) -> FITSError { FITSError(path: path, call: "read", message: message) }
        var names: [(index: Int, name: String)] = []
        var rows: [[Double]] = []
        for (lineNumber, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first else { continue }
            if first == "#" {
                guard fields.count >= 3, let index = Int(fields[1]) else { continue }
                names.append((index - 1, String(fields[2])))
                continue
            }
            let values = fields.map { Double($0) }
            guard values.allSatisfy({ $0 != nil }) else { throw fail("line \(lineNumber + 1) has a non-numeric field") }
            rows.append(values.map { $0! })
        }
        guard !names.isEmpty else { throw fail("no `# n NAME` header lines; expected an ASCII_HEAD catalog, CSV or FITS table") }
        for (k, row) in rows.enumerated() where row.count <= names.map(\.index).max()! {
            throw fail("data row \(k + 1) has \(row.count) values, fewer than the header declares")
        }
        try self.init(columns: names.map { column in TableColumn(column.name, .double(rows.map { $0[column.index] })) })
    }

    /// Writes the table as CSV to `path` atomically.
    public func writeCSV(to path: String, overwrite: Bool = false) throws {
        try AtomicOutput.write(Data(csvText().utf8), to: path, overwrite: overwrite)
    }
}

private func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

private func inferColumn(_ fields: [String]) -> ColumnValues {
    if !fields.isEmpty, case let ints = fields.compactMap({ Int64($0) }), ints.count == fields.count { return .int64(ints) }
    if !fields.isEmpty, case let numbers = fields.compactMap({ Double($0) }), numbers.count == fields.count {
        return .double(numbers)
    }
    let lowered = fields.map { $0.lowercased() }
    if !fields.isEmpty, lowered.allSatisfy({ $0 == "true" || $0 == "false" }) { return .bool(lowered.map { $0 == "true" }) }
    return .string(fields)
}

/// Splits CSV text into rows of fields, honouring double-quoted fields with embedded commas,
/// quotes ("") and newlines. Blank lines are skipped.
private func parseCSVRows(_ text: String, source: String) throws -> [[String]] {
    var rows: [[String]] = []
    var row: [String] = []
    var field = ""
    var inQuotes = false
    var iterator = text.makeIterator()
    var pending: Character? = nil
    func endRow() {
        row.append(field)
        field = ""
        if !(row.count == 1 && row[0].isEmpty) { rows.append(row) }
        row = []
    }
    while let character = pending ?? iterator.next() {
        pending = nil
        if inQuotes {
            if character == "\"" {
                let next = iterator.next()
                if next == "\"" { field.append("\"") } else { inQuotes = false; pending = next }
            } else {
                field.append(character)
            }
            continue
        }
        switch character {
        case "\"" where field.isEmpty: inQuotes = true
        case ",": row.append(field); field = ""
        case "\n", "\r\n": endRow()
        case "\r": continue
        default: field.append(character)
        }
    }
    if inQuotes { throw FITSError(path: source, call: "csv", message: "ends inside a quoted field") }
    if !field.isEmpty || !row.isEmpty { endRow() }
    return rows
}
