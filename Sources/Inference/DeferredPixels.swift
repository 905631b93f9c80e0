/// Pixels whose slot matches are not final yet, with what is needed to finish them later.
struct DeferredPixels {
    var positions: [Int] = [], values: PixelChannels, vectors: [Float] = [], shares: [Float] = []
    var count: Int { positions.count }

    init(channels: Int) { values = PixelChannels(channels: channels) }

    mutating func append(position: Int, values v: PixelChannels, at i: Int, vectors: ArraySlice<Float>, shares: ArraySlice<Float>) {
        positions.append(position); values.append(from: v, at: i); self.vectors += vectors; self.shares += shares
    }

    mutating func append(from other: DeferredPixels, at i: Int, n: Int) {
        append(position: other.positions[i], values: other.values, at: i,
               vectors: other.vectors[(i * 2 * n)..<((i + 1) * 2 * n)], shares: other.shares[(i * n)..<((i + 1) * n)])
    }
}
