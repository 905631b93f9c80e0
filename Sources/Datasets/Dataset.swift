import FITSIO
import Foundation

/// One training sample as NHWC float arrays (batch axis omitted).
public struct PCRSample: Sendable, Equatable {
    public var height: Int, width: Int, n: Int
    /// `[H, W, 1]` raw e-/s.
    public var flux: [Float]
    /// `[H, W, 1]` centre heatmap.
    public var heatmap: [Float]
    /// `[H, W, n, 2]` (dy, dx), label centre minus pixel.
    public var vectors: [Float]
    /// `[H, W, 1, n]` contribution fractions.
    public var maps: [Float]

    public init(height: Int, width: Int, n: Int, flux: [Float], heatmap: [Float], vectors: [Float], maps: [Float]) {
        self.height = height; self.width = width; self.n = n
        self.flux = flux; self.heatmap = heatmap; self.vectors = vectors; self.maps = maps
    }
}

/// Reads one split of a dataset directory sample by sample.
///
/// `sample(at:)` reads only that sample's planes from its shard (cfitsio partial reads), so each
/// of N ranks can read just its own samples. Not thread-safe (it caches open shard files): give
/// each thread its own `Dataset`.
public final class Dataset {
    public let directory: String
    public let manifest: DatasetManifest
    public let split: String
    private let shards: [DatasetManifest.Shard]
    private var open: [Int: FITSFile] = [:]

    /// Opens `split` ("train" or "test") of the dataset in `directory`.
    public init(directory: String, split: String = "train") throws {
        self.directory = directory
        manifest = try DatasetManifest.read(directory: directory)
        guard let s = manifest.splits[split] else {
            throw DatasetError("\(directory): no split \"\(split)\" (has \(manifest.splits.keys.sorted().joined(separator: ", ")))")
        }
        self.split = split
        shards = s.shards
    }

    /// Number of samples in the split.
    public var count: Int { manifest.splits[split]?.count ?? 0 }
    public var sampleHeight: Int { manifest.sampleHeight }
    public var sampleWidth: Int { manifest.sampleWidth }
    public var n: Int { manifest.n }

    /// The shard holding sample `index` and the sample's plane within it.
    func locate(_ index: Int) throws -> (Int, Int) {
        guard index >= 0 && index < count else { throw DatasetError("\(directory): sample \(index) is out of range (split \(split) has \(count))") }
        guard let k = shards.lastIndex(where: { $0.first <= index }) else { throw DatasetError("\(directory): no shard holds sample \(index)") }
        return (k, index - shards[k].first)
    }

    private func file(_ k: Int) throws -> FITSFile {
        if let f = open[k] { return f }
        let path = (directory as NSString).appendingPathComponent(shards[k].file)
        let f = try FITSFile.open(path)
        try f.checkNotTruncated()
        open[k] = f
        return f
    }

    /// Reads sample `index`, checking every array's shape against the manifest and rejecting NaN/Inf.
    public func sample(at index: Int) throws -> PCRSample {
        let (k, plane) = try locate(index)
        let f = try file(k)
        let h = sampleHeight, w = sampleWidth, n = self.n
        func read(_ name: String, _ shape: [Int]) throws -> [Float] {
            _ = try f.moveToHDU(named: name)
            let geometry = try f.imageGeometry()
            guard Array(geometry.shape.dropLast()) == shape, geometry.shape.last == shards[k].count else {
                throw DatasetError("\(shards[k].file)[\(name)]: shape \(geometry.shape) does not match the manifest (\(shape + [shards[k].count]))")
            }
            let pixels = try f.readPlanes(first: plane, count: 1, as: Float.self).pixels
            if let bad = pixels.firstIndex(where: { !$0.isFinite }) {
                throw DatasetError("\(shards[k].file)[\(name)]: sample \(index) has a NaN/Inf value at element \(bad)")
            }
            return pixels
        }
        return PCRSample(height: h, width: w, n: n,
                         flux: try read("FLUX", [w, h]), heatmap: try read("HEATMAP", [w, h]),
                         vectors: try read("VECTORS", [2 * n, w, h]), maps: try read("MAPS", [n, w, h]))
    }

    /// Provenance of sample `index` (from its shard's SAMPLES table).
    public func record(at index: Int) throws -> SampleRecord { try records(index..<(index + 1))[0] }

    /// Provenance of samples `indices`, reading each shard's SAMPLES table once.
    public func records(_ indices: Range<Int>) throws -> [SampleRecord] {
        var tables: [Int: FITSTable] = [:]
        return try indices.map { index in
            let (k, plane) = try locate(index)
            if tables[k] == nil {
                let f = try file(k)
                _ = try f.moveToHDU(named: "SAMPLES")
                tables[k] = try f.readTable()
            }
            let t = tables[k]!
            let col = { (name: String) in try t.doubles(name, source: "\(self.shards[k].file)[SAMPLES]")[plane] }
            return SampleRecord(index: Int(try col("index")), fieldID: UInt64(try col("field_id")), y0: Int(try col("y0")),
                                x0: Int(try col("x0")), depth: try col("depth"), labelledCount: Int(try col("n_labelled")))
        }
    }

    /// Recomputes every shard's SHA-256 and compares it with the manifest.
    public func verifyChecksums() throws {
        for s in shards {
            let path = (directory as NSString).appendingPathComponent(s.file)
            let (digest, bytes) = try DatasetWriter.sha256(ofFile: path)
            guard digest == s.sha256, bytes == s.bytes else {
                throw DatasetError("\(path): checksum mismatch (manifest \(s.sha256.prefix(12))..., \(s.bytes) bytes; file \(digest.prefix(12))..., \(bytes) bytes); the shard is corrupt or was replaced")
            }
        }
    }
}
