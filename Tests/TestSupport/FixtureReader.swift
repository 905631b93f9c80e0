import Foundation
import Tensors

/// Reads the TF reference fixture: `manifest.json` plus little-endian float32 blobs.
public struct FixtureReader {
    public struct Entry: Decodable {
        public let group, name, file: String
        public let offset_bytes: Int
        public let shape: [Int]
    }
    private struct Manifest: Decodable {
        let loss: [String: Double]
        let tensors: [Entry]
    }
    public let directory: URL
    public let loss: [String: Double]
    public let entries: [Entry]
    private var blobs: [String: Data] = [:]

    public init(directory: URL) throws {
        self.directory = directory
        let m = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: directory.appendingPathComponent("manifest.json")))
        loss = m.loss; entries = m.tensors
        for f in Set(m.tensors.map(\.file)) { blobs[f] = try Data(contentsOf: directory.appendingPathComponent(f)) }
    }

    /// Names of the tensors in `group`, in file order.
    public func names(in group: String) -> [String] { entries.filter { $0.group == group }.map(\.name) }

    /// The tensor `group/name` as (shape, values), or nil if absent.
    public func tensor(_ group: String, _ name: String) -> (shape: [Int], values: [Float])? {
        guard let e = entries.first(where: { $0.group == group && $0.name == name }), let blob = blobs[e.file] else { return nil }
        let n = e.shape.reduce(1, *)
        var v = [Float](repeating: 0, count: n)
        v.withUnsafeMutableBytes { _ = blob.copyBytes(to: $0, from: e.offset_bytes ..< e.offset_bytes + 4 * n) }
        return (e.shape, v)
    }

    /// The group as safetensors entries keyed by name (for loading into an arena).
    public func safetensors(group: String) -> [String: Safetensors.Entry] {
        var out: [String: Safetensors.Entry] = [:]
        for name in names(in: group) {
            if let t = tensor(group, name) { out[name] = Safetensors.Entry(name: name, shape: t.shape, values: t.values) }
        }
        return out
    }
}
