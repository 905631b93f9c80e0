// A deadline on every collective (distributed.md R2). MPI has no timeout: a rank that never
// arrives hangs the others forever. The watchdog thread notices, prints what this rank was
// waiting for, and ends the process, which makes mpirun or srun end the whole job.

import Foundation

/// What a rank was doing when its watchdog fired.
public struct WatchdogReport: Sendable, CustomStringConvertible {
    public let rank: Int
    public let operation: String
    public let sequence: Int
    public let waitedSeconds: Double
    public let deadlineSeconds: Double
    public let host: String
    public let processID: Int32

    public var description: String {
        "watchdog: rank \(rank) on \(host) (pid \(processID)) waited \(String(format: "%.1f", waitedSeconds)) s "
            + "(deadline \(String(format: "%.1f", deadlineSeconds)) s) in collective #\(sequence) \(operation); "
            + "another rank is missing or stuck, ending the job"
    }
}

/// A background thread that enforces a deadline on each armed collective.
///
/// `arm` before a collective and `disarm` after it (or use `guarding`). If a collective stays
/// armed past the deadline, `onTimeout` runs on the watchdog thread (at most once per watchdog).
/// The thread keeps the watchdog alive until `stop()` is called. The default handler
/// writes the report to stderr and calls `_exit(CollectiveWatchdog.timeoutExitCode)`: with
/// MPI_THREAD_SERIALIZED another thread may be inside MPI, so MPI_Abort from here is not allowed,
/// and exiting the process is enough to make the launcher end the job (distributed.md fact 2).
public final class CollectiveWatchdog: @unchecked Sendable {
    /// Exit status of a process ended by the watchdog (the same as coreutils `timeout`).
    public static let timeoutExitCode: Int32 = 124

    /// Prints the report to stderr and ends the process with `timeoutExitCode`.
    public static let exitProcess: @Sendable (WatchdogReport) -> Void = { report in
        try? FileHandle.standardError.write(contentsOf: Data("\(report)\n".utf8))
        _exit(timeoutExitCode)
    }

    /// The deadline rule of distributed.md R2: max(60 s, 5 × the median step time).
    public static func recommendedDeadline(medianStepSeconds: Double) -> Duration {
        .milliseconds(Int64((Swift.max(60, 5 * medianStepSeconds) * 1000).rounded(.up)))
    }

    public let rank: Int
    private let onTimeout: @Sendable (WatchdogReport) -> Void

    // Everything below is guarded by `condition`.
    private let condition = NSCondition()
    private var deadlineSeconds: Double
    private var armed: (operation: String, sequence: Int, since: Date)?
    private var generation = 0
    private var stopped = false
    private var fired = false

    /// Starts the watchdog thread.
    public init(rank: Int, deadline: Duration,
                onTimeout: @escaping @Sendable (WatchdogReport) -> Void = CollectiveWatchdog.exitProcess) {
        self.rank = rank
        self.onTimeout = onTimeout
        deadlineSeconds = Self.seconds(deadline)
        let thread = Thread { [self] in watchLoop() }
        thread.name = "pais-watchdog"
        thread.start()
    }

    /// The current per-collective deadline.
    public var deadline: Duration {
        condition.lock()
        defer { condition.unlock() }
        return .milliseconds(Int64(deadlineSeconds * 1000))
    }

    /// Changes the deadline, e.g. to max(60 s, 5 × median step time) once step times are known.
    public func setDeadline(_ deadline: Duration) {
        condition.lock()
        deadlineSeconds = Self.seconds(deadline)
        condition.broadcast()
        condition.unlock()
    }

    /// Whether the watchdog has fired (only observable with a non-exiting handler, in tests).
    public var hasFired: Bool {
        condition.lock()
        defer { condition.unlock() }
        return fired
    }

    /// Starts the clock for one collective.
    public func arm(_ operation: String, sequence: Int) {
        condition.lock()
        armed = (operation, sequence, Date())
        generation += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Stops the clock: the collective completed.
    public func disarm() {
        condition.lock()
        armed = nil
        generation += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Runs `body` with the clock armed.
    public func guarding<R>(_ operation: String, sequence: Int, _ body: () throws -> R) rethrows -> R {
        arm(operation, sequence: sequence)
        defer { disarm() }
        return try body()
    }

    /// Ends the watchdog thread.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func watchLoop() {
        condition.lock()
        while !stopped {
            guard let current = armed, !fired else {
                condition.wait()
                continue
            }
            let expiry = current.since.addingTimeInterval(deadlineSeconds)
            let seenGeneration = generation
            if Date() < expiry {
                _ = condition.wait(until: expiry)
                continue  // re-evaluate: disarmed, re-armed, deadline changed or stopped
            }
            guard seenGeneration == generation else { continue }
            fired = true
            let report = WatchdogReport(
                rank: rank, operation: current.operation, sequence: current.sequence,
                waitedSeconds: Date().timeIntervalSince(current.since), deadlineSeconds: deadlineSeconds,
                host: ProcessInfo.processInfo.hostName, processID: getpid())
            condition.unlock()
            onTimeout(report)
            condition.lock()
        }
        condition.unlock()
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
