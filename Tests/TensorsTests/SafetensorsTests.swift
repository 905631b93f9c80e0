import Foundation
import Tensors
import Testing

@Suite struct SafetensorsTests {
    func arena() -> ParameterArena {
        let a = ParameterArena(hasGradients: true)
        _ = a.register("layer/kernel", shape: [1, 1, 2, 3])
        _ = a.register("layer/bias", shape: [3])
        a.finalize()
        for i in 0..<a.count { a.values[i] = Float(i) * 0.5 - 1 }
        return a
    }

    @Test func roundTripThroughAFile() throws {
        let a = arena()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pais-st-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Safetensors.write(a.safetensorsEntries(), to: url, metadata: ["format": "pt"])
        let data = try Data(contentsOf: url)
        // 8-byte little-endian header length, header padded to 8 bytes, then 9 floats.
        let len = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        #expect(len % 8 == 0 && data.count == 8 + Int(len) + 9 * 4)
        let b = ParameterArena(hasGradients: false)
        _ = b.register("layer/kernel", shape: [1, 1, 2, 3]); _ = b.register("layer/bias", shape: [3]); b.finalize()
        try b.load(Safetensors.read(from: url))
        #expect(b.allValues == a.allValues)
        #expect(try Safetensors.readMetadata(from: url) == ["format": "pt"])
    }

    @Test func metadataIsReadAloneAndMustBeStrings() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pais-st-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Safetensors.write(arena().safetensorsEntries(), to: url)
        #expect(try Safetensors.readMetadata(from: url).isEmpty)
        // A header whose metadata holds a number, not a string.
        let header = Data(#"{"__metadata__":{"pais_step":5}}"#.utf8)
        var file = Data((0..<8).map { UInt8((header.count >> (8 * $0)) & 0xFF) })
        file.append(header)
        try file.write(to: url)
        #expect { try Safetensors.readMetadata(from: url) } throws: { "\($0)".contains("__metadata__ is not an object of strings") }
        // Only the header is read, but it is checked against the whole file: a length past its
        // end, and a file shorter than the length field, are named.
        let withMetadata = try Safetensors.encode(arena().safetensorsEntries(), metadata: ["pais_preset": "tiny"])
        try withMetadata.write(to: url)
        #expect(try Safetensors.readMetadata(from: url) == ["pais_preset": "tiny"])
        var huge = withMetadata
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0, 0, 0, 0, 0, 0])
        try huge.write(to: url)
        #expect { try Safetensors.readMetadata(from: url) } throws: { e in
            guard case .badHeaderLength(_, _, let size) = e as? SafetensorsError else { return false }
            return size == withMetadata.count
        }
        try Data([1, 2, 3]).write(to: url)
        #expect(throws: SafetensorsError.fileTooShort(path: url.path, bytes: 3)) { try Safetensors.readMetadata(from: url) }
    }

    @Test func malformedFilesAreRejectedWithClearErrors() throws {
        let good = try Safetensors.encode(arena().safetensorsEntries())
        #expect(throws: SafetensorsError.fileTooShort(path: "x", bytes: 3)) { try Safetensors.decode(Data([1, 2, 3]), path: "x") }
        var huge = good
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0, 0, 0, 0, 0, 0])
        #expect { try Safetensors.decode(huge, path: "x") } throws: { e in
            guard case .badHeaderLength = e as? SafetensorsError else { return false }
            return "\(e)".contains("header length")
        }
        var garbled = good
        garbled[9] = UInt8(ascii: "#")
        #expect { try Safetensors.decode(garbled) } throws: { e in
            guard case .badHeaderJSON = e as? SafetensorsError else { return false }; return true
        }
        let truncated = good.prefix(good.count - 4)
        #expect { try Safetensors.decode(truncated) } throws: { e in
            guard case .badOffsets = e as? SafetensorsError else { return false }; return true
        }
        let entries = try Safetensors.decode(good)
        let other = ParameterArena(hasGradients: false)
        _ = other.register("layer/kernel", shape: [1, 1, 3, 2]); _ = other.register("layer/bias", shape: [3]); other.finalize()
        #expect(throws: SafetensorsError.wrongShape(name: "layer/kernel", expected: [1, 1, 3, 2], found: [1, 1, 2, 3])) {
            try other.load(entries)
        }
        #expect(other.allValues.allSatisfy { $0 == 0 }, "a failed load must not modify the arena")
        let missing = ParameterArena(hasGradients: false)
        _ = missing.register("other/bias", shape: [3]); missing.finalize()
        #expect(throws: SafetensorsError.missingTensor(name: "other/bias")) { try missing.load(entries) }
        let f64 = #"{"t":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#
        var d = Data(); var n = UInt64(f64.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }; d.append(Data(f64.utf8)); d.append(Data(count: 8))
        #expect(throws: SafetensorsError.unsupportedDType(name: "t", dtype: "F64")) { try Safetensors.decode(d) }
    }
}
