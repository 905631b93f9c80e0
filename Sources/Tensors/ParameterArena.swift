/// One flat buffer of values with named views, so that a single loop, a single allreduce or a
/// single checkpoint write covers every tensor of the model.
///
/// Views are registered explicitly by the layers that own them (name, shape, offset), in model
/// construction order; nothing is discovered by reflection. The trainable parameters live in
/// one arena together with a same-sized gradient buffer; BN moving statistics live in a second
/// arena without gradients.
public final class ParameterArena: @unchecked Sendable {
    /// A named slice of the arena.
    public struct View: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    /// All views in registration order.
    public private(set) var views: [View] = []
    private var index: [String: Int] = [:]
    /// Total number of floats.
    public private(set) var count = 0
    /// The values; allocated by `finalize()`.
    public private(set) var values: UnsafeMutablePointer<Float>
    /// The gradients (same layout as `values`); only if `hasGradients`.
    public private(set) var gradients: UnsafeMutablePointer<Float>
    public let hasGradients: Bool
    public private(set) var isFinalized = false
    /// Index ranges that training leaves as they are (a run's frozen parts; `freeze(where:)`),
    /// ascending and coalesced. The optimiser's one loop runs over `trainedRanges` instead of the
    /// whole buffer.
    public private(set) var frozenRanges: [Range<Int>] = []
    /// The complement of `frozenRanges` in 0..<count.
    public private(set) var trainedRanges: [Range<Int>] = []

    public init(hasGradients: Bool) {
        self.hasGradients = hasGradients
        values = .allocate(capacity: 1)
        gradients = .allocate(capacity: 1)
    }

    deinit {
        values.deallocate()
        gradients.deallocate()
    }

    /// Registers a named tensor and returns its view. Names must be unique.
    public func register(_ name: String, shape: [Int]) -> View {
        precondition(!isFinalized, "register(\(name)) after finalize()")
        precondition(index[name] == nil, "duplicate parameter name \(name)")
        let v = View(name: name, shape: shape, offset: count)
        index[name] = views.count
        views.append(v)
        count += v.count
        return v
    }

    /// Allocates the buffers (zero-filled). Call once, after every layer has registered.
    public func finalize() {
        precondition(!isFinalized, "finalize() called twice")
        values.deallocate()
        gradients.deallocate()
        values = .allocate(capacity: max(count, 1))
        values.initialize(repeating: 0, count: max(count, 1))
        let g = hasGradients ? max(count, 1) : 1
        gradients = .allocate(capacity: g)
        gradients.initialize(repeating: 0, count: g)
        isFinalized = true
        freeze { _ in false }
    }

    /// Marks the views for which `isFrozen` holds as frozen (and every other one as trained).
    public func freeze(where isFrozen: (View) -> Bool) {
        var frozen: [Range<Int>] = [], trained: [Range<Int>] = []
        for view in views where view.count > 0 {
            let range = view.offset..<(view.offset + view.count)
            if isFrozen(view) { Self.append(range, to: &frozen) } else { Self.append(range, to: &trained) }
        }
        (frozenRanges, trainedRanges) = (frozen, trained)
    }

    private static func append(_ range: Range<Int>, to ranges: inout [Range<Int>]) {
        if let last = ranges.last, last.upperBound == range.lowerBound {
            ranges[ranges.count - 1] = last.lowerBound..<range.upperBound
        } else {
            ranges.append(range)
        }
    }

    /// The view named `name`, if any.
    public func view(named name: String) -> View? { index[name].map { views[$0] } }

    /// Pointer to the values of a view.
    @inline(__always) public func pointer(_ v: View) -> UnsafeMutablePointer<Float> { values + v.offset }

    /// Pointer to the gradients of a view.
    @inline(__always) public func gradient(_ v: View) -> UnsafeMutablePointer<Float> {
        precondition(hasGradients, "this arena has no gradients")
        return gradients + v.offset
    }

    /// Sets every gradient to zero.
    public func zeroGradients() {
        if hasGradients { gradients.update(repeating: 0, count: max(count, 1)) }
    }

    /// A copy of one view's values.
    public func array(_ name: String) -> [Float]? {
        guard let v = view(named: name) else { return nil }
        return Array(UnsafeBufferPointer(start: values + v.offset, count: v.count))
    }

    /// A copy of all values.
    public var allValues: [Float] { Array(UnsafeBufferPointer(start: values, count: count)) }

    /// A copy of all gradients.
    public var allGradients: [Float] { Array(UnsafeBufferPointer(start: gradients, count: count)) }
}
