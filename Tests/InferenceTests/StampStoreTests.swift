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
    for source in [2, 0, 1] {                              // any order
        let fromFile = try spilled.assemble(source), fromMemory = try kept.assemble(source)
        #expect(fromFile == fromMemory && fromFile.pixels.contains { $0 > 1_000_000 })
    }
    spilled.close()
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
}

/// A spill file cut short under the decoder (a full disk, another process) stops the assembly
/// with an error naming the file, not with zeros or garbage in a source's image.
@Test func truncatedSpillFileIsAnError() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pais-stamps-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = try StampStore(spillDirectory: directory)
    store.grow(to: 2)
    for k in 0..<2 {
        let box = StampStore.Box(y0: 0, y1: 9, x0: 0, x1: 9)
        try store.add(source: k, box: box, pixels: [Float](repeating: Float(k + 1), count: 100)[...])
    }
    try store.finishAdding()
    let spill = try #require(try FileManager.default.contentsOfDirectory(atPath: directory).first)
    let handle = try #require(FileHandle(forUpdatingAtPath: directory + "/" + spill))
    try handle.truncate(atOffset: 150 * 4)                  // source 1's piece is cut in half
    try handle.close()
    #expect(try store.assemble(0).pixels == [Float](repeating: 1, count: 100))
    #expect {
        try store.assemble(1)
    } throws: { error in
        "\(error)".contains("stamp spill file") && "\(error)".contains(spill) && "\(error)".contains("shorter than written")
    }
    store.close()
}
