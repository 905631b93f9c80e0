import Foundation
@testable import Inference

/// A position-equivariant stand-in for the network: every output at a pixel depends only on the
/// image within `radius` pixels of it (zero outside the array it is given). Running it on a tile
/// and on the whole image must therefore agree on every pixel kept by the tiling, whenever the
/// tiling margin is at least `radius`.
enum FakeNetwork {
    static let radius = 2
    static let slots = 3

    /// Outputs for an `[height, width]` array.
    static func outputs(_ image: [Float], height: Int, width: Int) -> TileOutputs {
        let n = slots, r = radius
        func at(_ y: Int, _ x: Int) -> Float {
            (y >= 0 && y < height && x >= 0 && x < width) ? image[y * width + x] : 0
        }
        var heat = [Float](repeating: 0, count: height * width)
        var vec = [Float](repeating: 0, count: height * width * n * 2)
        var logit = [Float](repeating: 0, count: height * width * n)
        for y in 0..<height {
            for x in 0..<width {
                var sum: Float = 0, gy: Float = 0, gx: Float = 0
                for dy in -r...r { for dx in -r...r {
                    let v = at(y + dy, x + dx)
                    sum += v; gy += Float(dy) * v; gx += Float(dx) * v
                } }
                let p = y * width + x
                // A heatmap that peaks where the local light is most concentrated.
                heat[p] = sum > 0 ? sum / (sum + 1) : 0
                for k in 0..<n {
                    // Slot k points along the light gradient, scaled differently per slot.
                    let scale = Float(k + 1) / max(abs(sum), 1)
                    vec[(p * n + k) * 2] = gy * scale
                    vec[(p * n + k) * 2 + 1] = gx * scale
                    logit[p * n + k] = at(y + k - 1, x) - at(y, x + k - 1)
                }
            }
        }
        return TileOutputs(heatmap: heat, vectors: vec, mapLogits: logit)
    }

    static var network: FunctionTileNetwork {
        FunctionTileNetwork(slots: slots) { tile, size in outputs(tile, height: size, width: size) }
    }
}

/// A test image: a few round Gaussian sources on a small positive floor of noise-like pattern.
func syntheticImage(height: Int, width: Int, sources: [(y: Double, x: Double, flux: Double)]) -> [Float] {
    var image = [Float](repeating: 0, count: height * width)
    for y in 0..<height {
        for x in 0..<width {
            var v = 0.01 * sin(Double(7 * y + 3 * x))          // deterministic "noise", both signs
            for s in sources {
                let d2 = (Double(y) - s.y) * (Double(y) - s.y) + (Double(x) - s.x) * (Double(x) - s.x)
                v += s.flux / (2 * Double.pi * 2.25) * exp(-d2 / (2 * 2.25))
            }
            image[y * width + x] = Float(v)
        }
    }
    return image
}
