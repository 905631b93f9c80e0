/// A contiguous float32 tensor in row-major order.
///
/// Layout: activations are NHWC `[B, H, W, C]`, as in the TensorFlow reference. Channels-last
/// makes every 3×3 im2col row a run of `C` contiguous floats (one `memcpy` per tap), makes a
/// 1×1 convolution a plain GEMM on the tensor itself, and lets fixture tensors be compared
/// byte for byte without transposes.
///
/// A `Tensor` is a reference type whose storage comes from `StoragePool`: a layer keeps a
/// reference only to what its backward pass needs, everything else returns to the pool as soon
/// as it is dropped, and the next step reuses it, so the training loop does not call `malloc`.
public final class Tensor: @unchecked Sendable {
    /// The shape, outermost axis first.
    public private(set) var shape: [Int]
    /// Number of elements, the product of `shape`.
    public private(set) var count: Int
    /// The storage; valid for `count` floats until the tensor is reshaped to a larger size.
    public private(set) var data: UnsafeMutablePointer<Float>
    private var capacity: Int

    /// Creates a zero-filled tensor.
    public convenience init(shape: [Int]) {
        self.init(uninitializedShape: shape)
        fill(0)
    }

    /// Creates a tensor whose contents are undefined, for outputs a kernel overwrites entirely.
    /// Its storage comes from (and returns to) `StoragePool`.
    public init(uninitializedShape shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.capacity = max(count, 1)
        self.data = StoragePool.take(capacity)
    }

    /// Creates a tensor holding a copy of `values`.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { StoragePool.give(data, count: capacity) }

    /// The elements as an array (copy).
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Element access by flat index.
    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) {
        let dst = data
        Parallel.forRanges(count, grain: 1 << 18) { lo, hi in (dst + lo).update(repeating: value, count: hi - lo) }
    }

    /// Copies all elements from `other`, which must have the same element count.
    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy: \(other.shape) into \(shape)")
        let dst = data, src = other.data
        Parallel.forRanges(count, grain: 1 << 18) { lo, hi in (dst + lo).update(from: src + lo, count: hi - lo) }
    }

    /// Reinterprets the shape without moving data; the element count must not change.
    public func reshape(_ newShape: [Int]) {
        precondition(newShape.reduce(1, *) == count, "reshape \(shape) -> \(newShape)")
        shape = newShape
    }

    /// The size of the last axis (channels for NHWC tensors).
    public var channels: Int { shape.last ?? 1 }
}

/// Elementwise helpers used by the composite blocks.
public enum TensorOps {
    /// `out = a + b` elementwise.
    public static func add(_ a: Tensor, _ b: Tensor, into out: Tensor) {
        precondition(a.count == b.count && a.count == out.count, "add: \(a.shape) + \(b.shape)")
        // Local pointers: `data` is a class property, which the loop would otherwise reload per element.
        let x = a.data, y = b.data, z = out.data
        Parallel.forRanges(a.count) { lo, hi in for i in lo..<hi { z[i] = x[i] + y[i] } }
    }

    /// `acc += x` elementwise.
    public static func accumulate(_ x: Tensor, into acc: Tensor) {
        precondition(x.count == acc.count, "accumulate: \(x.shape) into \(acc.shape)")
        let src = x.data, dst = acc.data
        Parallel.forRanges(x.count) { lo, hi in for i in lo..<hi { dst[i] += src[i] } }
    }

    /// Largest absolute value.
    public static func maxAbs(_ a: Tensor) -> Float {
        var m: Float = 0
        for i in 0..<a.count { m = max(m, abs(a.data[i])) }
        return m
    }
}
