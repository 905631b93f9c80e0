import Foundation

extension DatasetWriter {
    /// Writes a copy of the dataset in `source` whose train split's contribution maps are replaced
    /// by `maps(batch)` (`[H, W, 1, n]` per sample, fractions summing to 1 over the slots), e.g. a
    /// trained network's shares averaged over symmetric views (`pais dataset distill`). Flux,
    /// heatmap, vectors, provenance and the shard layout are kept; the test split is copied as it
    /// is, so test losses still measure against the encoded truth. `note` is recorded in the
    /// manifest (`DatasetManifest.trainMaps`). Like `build`, it writes into a temporary directory
    /// renamed into place at the end.
    @discardableResult
    public func relabelTrainMaps(source: String, note: String, batch: Int = 8,
                                 maps: ([PCRSample]) throws -> [[Float]],
                                 progress: ((Int, Int) -> Void)? = nil) throws -> DatasetManifest {
        guard batch > 0 else { throw DatasetError("batch must be positive, got \(batch)") }
        let original = try DatasetManifest.read(directory: source)
        guard let train = original.splits["train"], train.count > 0 else { throw DatasetError("\(source): no train samples to relabel") }
        var manifest = original
        manifest.command = CommandLine.arguments.joined(separator: " ")
        manifest.trainMaps = note
        try checkDestination(manifest)
        let fm = FileManager.default
        return try writeAtomically { temporary in
            let reader = try Dataset(directory: source, split: "train")
            try reader.verifyChecksums()
            let h = original.sampleHeight, w = original.sampleWidth, n = original.n
            var shards: [DatasetManifest.Shard] = []
            var done = 0
            for shard in train.shards {
                let buffers = ShardBuffers(count: shard.count, planeSize: h * w, width: w, n: n)
                let records = try reader.records(shard.first..<(shard.first + shard.count))
                for start in stride(from: 0, to: shard.count, by: batch) {
                    let indices = (shard.first + start)..<(shard.first + min(shard.count, start + batch))
                    let samples = try indices.map { try reader.sample(at: $0) }
                    let newMaps = try maps(samples)
                    guard newMaps.count == samples.count else { throw DatasetError("relabelling returned \(newMaps.count) maps for \(samples.count) samples") }
                    for (k, (i, var sample)) in zip(indices, samples).enumerated() {
                        try Self.checkMaps(newMaps[k], height: h, width: w, n: n, sample: i)
                        sample.maps = newMaps[k]
                        buffers.store(start + k, sample: sample, record: records[start + k])
                    }
                    done += samples.count
                    progress?(done, train.count)
                }
                let path = (temporary as NSString).appendingPathComponent(shard.file)
                try Self.writeShardFile(path: path, split: "train", first: shard.first, buffers: buffers, heatmapSigma: original.heatmapSigma)
                let (digest, bytes) = try DatasetWriter.sha256(ofFile: path)
                shards.append(DatasetManifest.Shard(file: shard.file, first: shard.first, count: shard.count, sha256: digest, bytes: bytes))
            }
            manifest.splits["train"]?.shards = shards
            for (name, split) in original.splits where name != "train" {
                for shard in split.shards {
                    let copy = (temporary as NSString).appendingPathComponent(shard.file)
                    try fm.copyItem(atPath: (source as NSString).appendingPathComponent(shard.file), toPath: copy)
                    guard try DatasetWriter.sha256(ofFile: copy) == (shard.sha256, shard.bytes) else {
                        throw DatasetError("\(source)/\(shard.file): checksum mismatch with the manifest; the shard is corrupt or was replaced")
                    }
                }
            }
            return manifest
        }
    }

    /// New maps must have the sample's shape and be fractions summing to 1 at every pixel.
    static func checkMaps(_ maps: [Float], height: Int, width: Int, n: Int, sample: Int) throws {
        guard maps.count == height * width * n else {
            throw DatasetError("sample \(sample): new maps have \(maps.count) values, expected \(height)x\(width)x\(n)")
        }
        for p in 0..<(height * width) {
            var sum: Float = 0
            for k in 0..<n {
                let m = maps[p * n + k]
                guard m.isFinite, m >= 0, m <= 1 else { throw DatasetError("sample \(sample): new map value \(m) at pixel \(p), slot \(k) is not a fraction") }
                sum += m
            }
            guard abs(sum - 1) < 1e-3 else { throw DatasetError("sample \(sample): new maps at pixel \(p) sum to \(sum), not 1") }
        }
    }
}
