import Foundation
import Testing
@testable import Inference

/// The spill file gives back exactly what memory does, across its write blocks: pieces of three
/// sources, 1.6 M floats in all (more than one block), assembled from both.
@Test func spilledPiecesAssembleAsInMemory() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pais-stamps-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let spilled = try StampStore(spillDirectory: directory), kept = try StampStore(spillDirectory: nil)
    for store in [spilled, kept] { store.grow(to: 3) }
    for k in 0..<40 {
        // Source k % 3's piece k: a 200 x 200 box moved down by 200 px each time, values unique.
        let box = StampStore.Box(y0: 200 * (k / 3), y1: 200 * (k / 3) + 199, x0: 7 * (k % 3), x1: 7 * (k % 3) + 199)
        let pixels = (0..<40_000).map { Float(k * 40_000 + $0) }
        for store in [spilled, kept] { try store.add(source: k % 3, box: box, pixels: pixels[...]) }
    }
    try spilled.finishAdding(); try kept.finishAdding()
    var a = 0, b = 0
    for source in 0..<3 {
        let fromFile = try spilled.assemble(source, cursor: &a), fromMemory = try kept.assemble(source, cursor: &b)
        #expect(fromFile == fromMemory && fromFile.pixels.contains { $0 > 1_000_000 })
    }
    spilled.close()
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
}
