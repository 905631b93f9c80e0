import Foundation

/// Errors from reading or writing safetensors files; each names the problem.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case fileTooShort(path: String, bytes: Int)
    case badHeaderLength(path: String, length: UInt64, fileSize: Int)
    case badHeaderJSON(path: String, reason: String)
    case unsupportedDType(name: String, dtype: String)
    case badOffsets(name: String, reason: String)
    case missingTensor(name: String)
    case wrongShape(name: String, expected: [Int], found: [Int])
    case writeFailed(path: String, reason: String)
    case readFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .fileTooShort(p, n): return "\(p): \(n) bytes is too short for a safetensors file (needs an 8-byte header length)"
        case let .badHeaderLength(p, l, s): return "\(p): header length \(l) does not fit in a \(s)-byte file"
        case let .badHeaderJSON(p, r): return "\(p): malformed JSON header: \(r)"
        case let .unsupportedDType(n, d): return "tensor \(n): dtype \(d) is not supported (only F32)"
        case let .badOffsets(n, r): return "tensor \(n): bad data_offsets: \(r)"
        case let .missingTensor(n): return "tensor \(n) is missing from the file"
        case let .wrongShape(n, e, f): return "tensor \(n): expected shape \(e), file has \(f)"
        case let .writeFailed(p, r): return "\(p): write failed: \(r)"
        case let .readFailed(p, r): return "\(p): cannot read: \(r)"
        }
    }
}

/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each
/// tensor name to `{dtype, shape, data_offsets}` (offsets relative to the end of the header),
/// then the raw little-endian data. Only `F32` is used here.
public enum Safetensors {
    /// One named float32 tensor.
    public struct Entry: Equatable, Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name; self.shape = shape; self.values = values
        }
    }

    /// Encodes entries (in the given order) into the safetensors byte layout.
    public static func encode(_ entries: [Entry], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for e in entries {
            precondition(e.values.count == e.shape.reduce(1, *), "\(e.name): values do not match shape")
            let bytes = e.values.count * 4
            header[e.name] = ["dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }          // pad with spaces (allowed)
        var out = Data()
        var len = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
        out.append(json)
        for e in entries {
            e.values.withUnsafeBufferPointer { buf in
                // x86-64 and arm64 are little-endian, so the float bits are written as is.
                out.append(UnsafeBufferPointer(start: UnsafeRawPointer(buf.baseAddress!)
                    .assumingMemoryBound(to: UInt8.self), count: buf.count * 4))
            }
        }
        return out
    }

    /// The JSON header of a safetensors byte buffer and the index where its data section starts.
    static func parseHeader(_ data: Data, path: String) throws -> (header: [String: Any], body: Int) {
        let len = try headerLength(data, fileSize: data.count, path: path)
        let headerData = data.subdata(in: data.startIndex + 8 ..< data.startIndex + 8 + Int(len))
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw SafetensorsError.badHeaderJSON(path: path, reason: "\(error.localizedDescription)")
        }
        guard let header = parsed as? [String: Any] else {
            throw SafetensorsError.badHeaderJSON(path: path, reason: "top level is not an object")
        }
        return (header, data.startIndex + 8 + Int(len))
    }

    /// The JSON header's length from the file's first 8 bytes (little-endian), checked against
    /// the file's size.
    static func headerLength(_ data: Data, fileSize: Int, path: String) throws -> UInt64 {
        guard data.count >= 8 else { throw SafetensorsError.fileTooShort(path: path, bytes: data.count) }
        var len: UInt64 = 0
        for i in 0..<8 { len |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
        guard len >= 2, len <= UInt64(fileSize - 8) else {
            throw SafetensorsError.badHeaderLength(path: path, length: len, fileSize: fileSize)
        }
        return len
    }

    /// Decodes a safetensors byte buffer; `path` is used only in error messages.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> [String: Entry] {
        let (header, body) = try parseHeader(data, path: path)
        let len = body - data.startIndex - 8
        let bodySize = data.count - 8 - len
        var result: [String: Entry] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offs = info["data_offsets"] as? [Int] else {
                throw SafetensorsError.badHeaderJSON(path: path, reason: "entry \(name) lacks dtype/shape/data_offsets")
            }
            guard dtype == "F32" else { throw SafetensorsError.unsupportedDType(name: name, dtype: dtype) }
            guard offs.count == 2, offs[0] >= 0, offs[0] <= offs[1], offs[1] <= bodySize else {
                throw SafetensorsError.badOffsets(name: name, reason: "\(offs) outside the \(bodySize)-byte data section")
            }
            let n = shape.reduce(1, *)
            guard shape.allSatisfy({ $0 >= 0 }), offs[1] - offs[0] == n * 4 else {
                throw SafetensorsError.badOffsets(name: name, reason: "\(offs[1] - offs[0]) bytes for shape \(shape)")
            }
            var values = [Float](repeating: 0, count: n)
            values.withUnsafeMutableBytes { dst in
                _ = data.copyBytes(to: dst, from: (body + offs[0]) ..< (body + offs[1]))
            }
            result[name] = Entry(name: name, shape: shape, values: values)
        }
        return result
    }

    /// Writes entries to `url` atomically (a temporary file renamed into place), so a failed
    /// write never leaves a half-written file behind.
    public static func write(_ entries: [Entry], to url: URL, metadata: [String: String] = [:]) throws {
        let data = try encode(entries, metadata: metadata)
        do { try data.write(to: url, options: .atomic) } catch {
            throw SafetensorsError.writeFailed(path: url.path, reason: fileErrorReason(error))
        }
    }

    /// The `__metadata__` strings of the file at `url` (empty when it has none). Reads the header
    /// only: commands ask for several keys before the tensors are loaded.
    public static func readMetadata(from url: URL) throws -> [String: String] {
        func reading<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch { throw SafetensorsError.readFailed(path: url.path, reason: fileErrorReason(error)) }
        }
        let handle = try reading { try FileHandle(forReadingFrom: url) }
        defer { try? handle.close() }
        let fileSize = Int(try reading { try handle.seekToEnd() })
        try reading { try handle.seek(toOffset: 0) }
        let prefix = try reading { try handle.read(upToCount: 8) } ?? Data()
        let len = try headerLength(prefix, fileSize: fileSize, path: url.path)
        let (header, _) = try parseHeader(prefix + (try reading { try handle.read(upToCount: Int(len)) } ?? Data()), path: url.path)
        guard let raw = header["__metadata__"] else { return [:] }
        guard let metadata = raw as? [String: String] else {
            throw SafetensorsError.badHeaderJSON(path: url.path, reason: "__metadata__ is not an object of strings")
        }
        return metadata
    }

    /// Reads all tensors from `url`.
    public static func read(from url: URL) throws -> [String: Entry] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SafetensorsError.readFailed(path: url.path, reason: fileErrorReason(error))
        }
        return try decode(data, path: url.path)
    }
}

extension ParameterArena {
    /// Every view as a safetensors entry, in registration order.
    public func safetensorsEntries() -> [Safetensors.Entry] {
        views.map { v in
            Safetensors.Entry(name: v.name, shape: v.shape,
                              values: Array(UnsafeBufferPointer(start: values + v.offset, count: v.count)))
        }
    }

    /// Loads every view from `entries`; all names must be present with the right shapes, except
    /// those `mayBeMissing` accepts, which keep their values when absent. The arena is only
    /// modified once every tensor has been validated.
    public func load(_ entries: [String: Safetensors.Entry], mayBeMissing: (String) -> Bool = { _ in false }) throws {
        try check(entries, mayBeMissing: mayBeMissing)
        for v in views {
            guard let entry = entries[v.name] else { continue }
            entry.values.withUnsafeBufferPointer { (values + v.offset).update(from: $0.baseAddress!, count: v.count) }
        }
    }

    /// Throws unless every view has an entry of its shape (what `load` requires).
    public func check(_ entries: [String: Safetensors.Entry], mayBeMissing: (String) -> Bool = { _ in false }) throws {
        for v in views {
            if entries[v.name] == nil && mayBeMissing(v.name) { continue }
            guard let e = entries[v.name] else { throw SafetensorsError.missingTensor(name: v.name) }
            guard e.shape == v.shape else {
                throw SafetensorsError.wrongShape(name: v.name, expected: v.shape, found: e.shape)
            }
        }
    }
}
