import Foundation
import PCR
import Tensors

/// Per-source deblended images built from pieces, so no whole-mosaic array is needed.
///
/// Every pixel is attributed exactly once (in some super-block or when a deferred pixel is
/// resolved), so a source's image is the sum of non-overlapping pieces: boxes that hold the
/// contributions of one batch of pixels. Pieces go to a spill file (or memory) as they are
/// made; `assemble` adds a source's pieces into its final box, the bounding box of every pixel
/// with a slot matched to it — the same box and the same float values as the whole-image decoder.
final class StampStore {
    struct Box: Equatable { var y0: Int, y1: Int, x0: Int, x1: Int }   // inclusive bounds
    private struct Piece { var source: Int, box: Box, offset: Int }

    private var pieces: [Piece] = []
    /// After `finishAdding`, source j's pieces are `pieces[firstPiece[j]..<firstPiece[j + 1]]`.
    private var firstPiece: [Int] = []
    /// Bounding box of every piece of each source (nil: the source received nothing).
    private(set) var bounds: [Box?] = []
    private var memory: [Float] = []
    private let spill: FileHandle?
    private let spillPath: String?
    private var written = 0
    /// Spilled pieces go out in blocks of at least this many floats, not one system call each.
    private static let blockFloats = 1 << 20
    /// Pieces not yet written to the spill (they follow its `written - pending.count` floats).
    private var pending: [Float] = []

    /// Pieces are kept in memory, or appended to a file in `spillDirectory` (removed by `close`).
    init(spillDirectory: String?) throws {
        if let spillDirectory {
            let path = spillDirectory + "/stamps-\(getpid())-\(UUID().uuidString).spill"
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw InferenceError.badParameter("cannot create the stamp spill file \(path)")
            }
            spillPath = path
            spill = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        } else {
            spillPath = nil; spill = nil
        }
    }

    deinit { close() }

    func close() {
        try? spill?.close()
        if let spillPath { try? FileManager.default.removeItem(atPath: spillPath) }
    }

    /// Makes room for sources up to `count`.
    func grow(to count: Int) { if bounds.count < count { bounds += [Box?](repeating: nil, count: count - bounds.count) } }

    /// Adds one piece of `source`: `pixels` row-major over `box`.
    func add(source: Int, box: Box, pixels: ArraySlice<Float>) throws {
        precondition(pixels.count == (box.y1 - box.y0 + 1) * (box.x1 - box.x0 + 1), "stamp piece size mismatch")
        pieces.append(Piece(source: source, box: box, offset: written))
        if spill != nil {
            pending += pixels
            if pending.count >= Self.blockFloats { try flush() }
        } else {
            memory += pixels
        }
        written += pixels.count
        if let b = bounds[source] {
            bounds[source] = Box(y0: min(b.y0, box.y0), y1: max(b.y1, box.y1), x0: min(b.x0, box.x0), x1: max(b.x1, box.x1))
        } else {
            bounds[source] = box
        }
    }

    private func flush() throws {
        guard let spill, !pending.isEmpty else { return }
        do { try pending.withUnsafeBytes { try spill.write(contentsOf: $0) } } catch {
            throw InferenceError.output(path: spillPath ?? "the stamp spill file", reason: fileErrorReason(error))
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Sorts the pieces by source once all are in; call before `assemble`.
    func finishAdding() throws {
        try flush()
        pieces = pieces.enumerated().sorted { ($0.element.source, $0.offset) < ($1.element.source, $1.offset) }.map(\.element)
        firstPiece = [Int](repeating: 0, count: bounds.count + 1)
        for piece in pieces { firstPiece[piece.source + 1] += 1 }
        for source in bounds.indices { firstPiece[source + 1] += firstPiece[source] }
    }

    /// Source `source`'s image over its final box (empty when it received nothing), after
    /// `finishAdding`. Only reads: sources may be assembled in any order and from several threads.
    func assemble(_ source: Int) throws -> SparseImage {
        guard let b = bounds[source] else { return .empty }
        let h = b.y1 - b.y0 + 1, w = b.x1 - b.x0 + 1
        var image = [Float](repeating: 0, count: h * w)
        for piece in pieces[firstPiece[source]..<firstPiece[source + 1]] {
            let ph = piece.box.y1 - piece.box.y0 + 1, pw = piece.box.x1 - piece.box.x0 + 1
            let values = try read(offset: piece.offset, count: ph * pw), first = values.startIndex
            for a in 0..<ph {
                let row = (piece.box.y0 - b.y0 + a) * w + (piece.box.x0 - b.x0)
                // Pieces never overlap in non-zero pixels: adding is exact.
                for c in 0..<pw { image[row + c] += values[first + a * pw + c] }
            }
        }
        return SparseImage(y0: b.y0, x0: b.x0, height: h, width: w, pixels: image)
    }

    /// One `pread` per piece: `FileHandle`'s seek and read cost an lseek, an fstat and a `Data`
    /// copy each, about 160,000 system calls in the final pass of a 4096² deblend.
    private func read(offset: Int, count: Int) throws -> ArraySlice<Float> {
        guard let spill else { return memory[offset..<(offset + count)] }
        let descriptor = spill.fileDescriptor, path = spillPath ?? ""
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            let bytes = UnsafeMutableRawBufferPointer(buffer)
            var done = 0
            while done < bytes.count {
                let got = pread(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset * 4 + done))
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else {
                    let reason = got < 0 ? String(cString: strerror(errno)) : "shorter than written"
                    throw InferenceError.badParameter("stamp spill file \(path): \(reason)")
                }
                done += got
            }
            initialized = count
        }[...]
    }
}
