import Tensors

/// What a forward pass needs besides its input: the mode, and the keys of the dropout stream.
public struct ForwardContext: Sendable {
    /// Training mode: BN uses batch statistics and updates its moving ones; dropout is active.
    public var training: Bool
    /// Whether dropout draws masks in training mode. Off only for BN recalibration, which needs the
    /// batch statistics of the network as inference runs it: without dropout's extra variance.
    public var dropout: Bool
    /// Seed of the dropout stream.
    public var dropoutSeed: UInt64
    /// Global index of each sample in the batch (dropout is keyed by it, not by position).
    public var sampleIndices: [Int]

    public init(training: Bool, dropout: Bool = true, dropoutSeed: UInt64 = 0, sampleIndices: [Int]) {
        self.training = training
        self.dropout = dropout
        self.dropoutSeed = dropoutSeed
        self.sampleIndices = sampleIndices
    }

    /// An inference-mode context for `batch` samples.
    public static func inference(batch: Int) -> ForwardContext {
        ForwardContext(training: false, sampleIndices: Array(0..<batch))
    }
}

/// Shape of an NHWC tensor.
public struct NHWC: Equatable, Sendable {
    public var b, h, w, c: Int
    public init(_ t: Tensor) {
        precondition(t.shape.count == 4, "expected an NHWC tensor, got shape \(t.shape)")
        b = t.shape[0]; h = t.shape[1]; w = t.shape[2]; c = t.shape[3]
    }
    public var pixels: Int { b * h * w }
}
