import Foundation

/// One block's decoding on a thread of its own (`MosaicDeblender.deblend` with
/// `StreamingPlan.overlapsDecoding`). The block's buffers are released before `wait` returns, so
/// the caller's next write to them copies nothing.
final class BackgroundDecode: @unchecked Sendable {
    private var work: (() throws -> Void)?
    private var result: Result<Double, any Error> = .success(0)
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping () throws -> Void) {
        self.work = work
        let thread = Thread { [self] in
            let start = Date()
            do {
                try self.work?()
                result = .success(Date().timeIntervalSince(start))
            } catch {
                result = .failure(error)
            }
            self.work = nil
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// The decoding's seconds once it has ended, or its error. Call once.
    func wait() throws -> Double {
        done.wait()
        return try result.get()
    }
}
