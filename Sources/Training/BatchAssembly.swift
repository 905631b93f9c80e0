import Datasets
import Network
import Tensors

/// A batch of samples as the network's input and target tensors.
struct Batch {
    /// `[B, H, W, 1]`
    let flux: Tensor
    let labels: Labels
    /// Global stream positions (training) or sample indices (evaluation): the dropout keys.
    let keys: [Int]
}

/// Stacks samples into NHWC tensors: flux `[B,H,W,1]`, heatmap `[B,H,W,1]`, vectors `[B,H,W,2n]`
/// (channel 2k + c), maps `[B,H,W,n]`. PCRSample stores the same layouts per sample.
func assembleBatch(_ samples: [PCRSample], keys: [Int]) -> Batch {
    precondition(!samples.isEmpty && samples.count == keys.count, "a batch needs samples and one key per sample")
    let size = samples[0].height, n = samples[0].n, count = samples.count
    let pixels = size * size
    let flux = Tensor(shape: [count, size, size, 1])
    let heatmap = Tensor(shape: [count, size, size, 1])
    let vectors = Tensor(shape: [count, size, size, 2 * n])
    let maps = Tensor(shape: [count, size, size, n])
    for (b, sample) in samples.enumerated() {
        precondition(sample.height == size && sample.width == size && sample.n == n, "samples in a batch must share a shape")
        (flux.data + b * pixels).update(from: sample.flux, count: pixels)
        (heatmap.data + b * pixels).update(from: sample.heatmap, count: pixels)
        (vectors.data + b * pixels * 2 * n).update(from: sample.vectors, count: pixels * 2 * n)
        (maps.data + b * pixels * n).update(from: sample.maps, count: pixels * n)
    }
    return Batch(flux: flux, labels: Labels(vectors: vectors, maps: maps, heatmap: heatmap), keys: keys)
}
