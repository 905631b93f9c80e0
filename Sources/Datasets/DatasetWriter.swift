import Checksums
import FITSIO
import Foundation
import PCR
import SkySim

/// Builds a sharded PCR dataset directory (docs/dataset-format.md).
///
/// Samples are produced and encoded in parallel (`DispatchQueue.concurrentPerform`), one shard
/// at a time to bound memory. Everything is written into `<directory>.partial-<pid>` and renamed
/// into place at the end, so an interrupted or failed build leaves nothing under the final name.
public struct DatasetWriter: Sendable {
    public var directory: String
    public var encoder: PCREncoder
    /// Samples per shard file.
    public var shardSize: Int = 200
    public var overwrite = false

    public init(directory: String, n: Int = 3) {
        self.directory = directory
        encoder = PCREncoder(n: n)
    }

    /// Builds every split. `manifest` supplies the descriptive fields; shapes, n and shards are
    /// filled in here. `progress(split, done, total)` is called from worker threads.
    @discardableResult
    public func build(source: SampleTruthSource, splits: [(name: String, count: Int)], manifest base: DatasetManifest,
                      progress: (@Sendable (String, Int, Int) -> Void)? = nil) throws -> DatasetManifest {
        guard shardSize > 0 else { throw DatasetError("shard size must be positive, got \(shardSize)") }
        var manifest = base
        manifest.sampleHeight = source.sampleHeight
        manifest.sampleWidth = source.sampleWidth
        manifest.n = encoder.n
        manifest.heatmapSigma = encoder.sigma
        manifest.heatmapWindowRadius = encoder.windowRadius
        manifest.slotRule = encoder.slotRule == .nearest ? nil : encoder.slotRule
        manifest.splits = [:]
        for s in splits { manifest.splits[s.name] = DatasetManifest.Split(count: s.count, shards: []) }
        try checkDestination(manifest)
        return try writeAtomically { temporary in
            for s in splits {
                var shards: [DatasetManifest.Shard] = []
                var records: [SampleRecord] = []
                var first = 0, number = 0
                while first < s.count {
                    let count = min(shardSize, s.count - first)
                    let name = String(format: "%@-%05d.fits", s.name, number)
                    let path = (temporary as NSString).appendingPathComponent(name)
                    records += try writeShard(path: path, split: s.name, first: first, count: count, total: s.count, source: source, progress: progress)
                    let (digest, bytes) = try DatasetWriter.sha256(ofFile: path)
                    shards.append(DatasetManifest.Shard(file: name, first: first, count: count, sha256: digest, bytes: bytes))
                    first += count; number += 1
                }
                var depths: [String: Int] = [:]
                for r in records { depths[r.depth.isNaN ? "unknown" : String(format: "%.2f", r.depth), default: 0] += 1 }
                let ids = records.map(\.fieldID)
                manifest.splits[s.name] = DatasetManifest.Split(count: s.count, shards: shards, depthCounts: depths,
                                                                fieldIDRange: ids.isEmpty ? nil : [ids.min() ?? 0, ids.max() ?? 0])
            }
            return manifest
        }
    }

    /// Runs `fill` on a fresh `<directory>.partial-<pid>`, where it writes the shards and returns
    /// the manifest; writes the manifest there and renames the directory into place, replacing
    /// what was under the final name only then. On any error the partial directory goes.
    func writeAtomically(_ fill: (String) throws -> DatasetManifest) throws -> DatasetManifest {
        let fm = FileManager.default
        let temporary = directory + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        try? fm.removeItem(atPath: temporary)
        try fm.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        do {
            let manifest = try fill(temporary)
            try manifest.encoded().write(to: URL(fileURLWithPath: (temporary as NSString).appendingPathComponent("manifest.json")))
            if fm.fileExists(atPath: directory) { try fm.removeItem(atPath: directory) }
            try fm.moveItem(atPath: temporary, toPath: directory)
            return manifest
        } catch {
            try? fm.removeItem(atPath: temporary)
            throw error
        }
    }

    /// Refuses to replace a non-empty directory unless `overwrite`, and says whether it holds the
    /// same or a different dataset.
    func checkDestination(_ manifest: DatasetManifest) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir) else { return }
        guard isDir.boolValue else { throw DatasetError("\(directory) exists and is not a directory") }
        let contents = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
        if contents.isEmpty || overwrite { return }
        if let existing = try? DatasetManifest.read(directory: directory) {
            if existing.configurationFingerprint == manifest.configurationFingerprint {
                throw DatasetError("\(directory) already holds this dataset (same configuration); pass --overwrite to rebuild it")
            }
            throw DatasetError("\(directory) already holds a different dataset (\(existing.splits.map { "\($0.key) \($0.value.count)" }.sorted().joined(separator: ", ")), \(existing.sampleHeight)x\(existing.sampleWidth), n=\(existing.n)); choose another directory or pass --overwrite")
        }
        throw DatasetError("\(directory) exists and is not empty (and is not a PAIS dataset); choose another directory")
    }

    /// Produces, encodes and writes one shard; returns its samples' provenance.
    func writeShard(path: String, split: String, first: Int, count: Int, total: Int, source: SampleTruthSource,
                    progress: (@Sendable (String, Int, Int) -> Void)?) throws -> [SampleRecord] {
        let h = source.sampleHeight, w = source.sampleWidth, n = encoder.n, hw = h * w
        let buffers = ShardBuffers(count: count, planeSize: hw, width: w, n: n)
        let failure = FirstError()
        let counter = ProgressCounter()
        let encoder = self.encoder
        DispatchQueue.concurrentPerform(iterations: count) { k in
            guard !failure.isSet else { return }
            do {
                let truth = try source.truth(split: split, index: first + k, record: nil)
                guard truth.image.count == hw else { throw DatasetError("sample \(first + k) of \(split): image has \(truth.image.count) pixels, expected \(h)x\(w)") }
                if let bad = truth.image.firstIndex(where: { !$0.isFinite }) {
                    throw DatasetError("sample \(first + k) of \(split): pixel (y=\(bad / w), x=\(bad % w)) is NaN/Inf")
                }
                let labels = try encoder.encode(height: h, width: w, sources: truth.sources)
                buffers.store(k, flux: truth.image, labels: labels, record: truth.record)
                let done = counter.increment()
                progress?(split, first + done, total)
            } catch {
                failure.set(error)
            }
        }
        if let error = failure.error { throw error }
        try Self.writeShardFile(path: path, split: split, first: first, buffers: buffers, heatmapSigma: encoder.sigma)
        return buffers.records
    }

    /// Writes one shard file of `buffers.records.count` samples (docs/dataset-format.md).
    static func writeShardFile(path: String, split: String, first: Int, buffers: ShardBuffers, heatmapSigma: Double) throws {
        let count = buffers.records.count, n = buffers.n, w = buffers.width, h = buffers.planeSize / buffers.width
        let file = try FITSFile.create(path)
        try file.writeEmptyPrimary()
        try file.writeKey("SPLIT", .string(split), comment: "train or test")
        try file.writeKey("FIRST", .int(first), comment: "split index of this shard's first sample")
        try file.writeKey("NSAMPLE", .int(count), comment: "samples in this shard")
        try file.writeKey("PCR_N", .int(n), comment: "nearest sources per pixel")
        try file.writeKey("COMSIG", .double(heatmapSigma), comment: "[px] heatmap Gaussian sigma")
        try file.writeKey("GENVER", .string(Instrument.generatorVersion))
        try file.writeImage(FITSImage(shape: [w, h, count], pixels: buffers.flux), extname: "FLUX")
        try file.writeKey("BUNIT", .string("electron/s"))
        try file.writeImage(FITSImage(shape: [w, h, count], pixels: buffers.heatmap), extname: "HEATMAP")
        try file.writeImage(FITSImage(shape: [2 * n, w, h, count], pixels: buffers.vectors), extname: "VECTORS")
        try file.writeComment("NAXIS1 runs over (dy, dx) of slot 1, (dy, dx) of slot 2, ...: source minus pixel")
        try file.writeImage(FITSImage(shape: [n, w, h, count], pixels: buffers.maps), extname: "MAPS")
        let r = buffers.records
        try file.writeTable(FITSTable(columns: [
            TableColumn("index", .int64(r.map { Int64($0.index) })),
            TableColumn("field_id", .int64(r.map { Int64(bitPattern: $0.fieldID) })),
            TableColumn("y0", .int64(r.map { Int64($0.y0) })),
            TableColumn("x0", .int64(r.map { Int64($0.x0) })),
            TableColumn("depth", .double(r.map(\.depth))),
            TableColumn("n_labelled", .int64(r.map { Int64($0.labelledCount) })),
        ]), extname: "SAMPLES")
        try file.commit()
    }

    /// SHA-256 (hex) and size of a file, read in 4 MiB chunks.
    public static func sha256(ofFile path: String) throws -> (String, Int) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw DatasetError("\(path): cannot open for checksumming") }
        defer { try? handle.close() }
        var hasher = SHA256()
        var bytes = 0
        while true {
            // The throwing read: Foundation's older readData(ofLength:) traps on an I/O error.
            let chunk: Data
            do { chunk = try handle.read(upToCount: 4 << 20) ?? Data() } catch {
                throw DatasetError("\(path): cannot read for checksumming: \(error)")
            }
            if chunk.isEmpty { break }
            bytes += chunk.count
            chunk.withUnsafeBytes { hasher.update($0) }
        }
        return (hasher.finalizeHex(), bytes)
    }
}

/// Per-shard output arrays, filled concurrently at disjoint offsets.
final class ShardBuffers: @unchecked Sendable {
    var flux: [Float], heatmap: [Float], vectors: [Float], maps: [Float]
    var records: [SampleRecord]
    let planeSize: Int, width: Int, n: Int
    private let lock = NSLock()

    init(count: Int, planeSize: Int, width: Int, n: Int) {
        self.planeSize = planeSize; self.width = width; self.n = n
        flux = [Float](repeating: 0, count: count * planeSize)
        heatmap = flux
        vectors = [Float](repeating: 0, count: count * planeSize * 2 * n)
        maps = [Float](repeating: 0, count: count * planeSize * n)
        records = [SampleRecord](repeating: SampleRecord(index: 0, fieldID: 0, y0: 0, x0: 0, depth: .nan, labelledCount: 0), count: count)
    }

    /// Copies one sample in. The copy is serialised: it is memory-bound and short next to encoding.
    func store(_ k: Int, flux f: [Float], labels: PCRLabels, record: SampleRecord) {
        store(k, sample: PCRSample(height: labels.height, width: labels.width, n: n, flux: f, heatmap: labels.heatmap,
                                   vectors: labels.vectors, maps: labels.maps), record: record)
    }

    /// Copies one sample in (serialised, as above).
    func store(_ k: Int, sample: PCRSample, record: SampleRecord) {
        lock.lock(); defer { lock.unlock() }
        let p = planeSize
        flux.replaceSubrange(k * p..<(k + 1) * p, with: sample.flux)
        heatmap.replaceSubrange(k * p..<(k + 1) * p, with: sample.heatmap)
        vectors.replaceSubrange(k * p * 2 * n..<(k + 1) * p * 2 * n, with: sample.vectors)
        maps.replaceSubrange(k * p * n..<(k + 1) * p * n, with: sample.maps)
        records[k] = record
    }
}

/// Keeps the first error thrown by any worker.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return stored != nil }
    var error: Error? { lock.lock(); defer { lock.unlock() }; return stored }
    func set(_ e: Error) { lock.lock(); defer { lock.unlock() }; if stored == nil { stored = e } }
}
