import Foundation
import Synchronization

/// Exit codes of `pais train`, for job scripts.
public enum TrainingExitCode {
    /// The run finished all its epochs (or stopped early on its metric).
    public static let finished: Int32 = 0
    /// A stop signal arrived; a checkpoint was written; requeue the job to continue
    /// (EX_TEMPFAIL from sysexits.h: "try again later").
    public static let checkpointedForRequeue: Int32 = 75
}

/// Stop requests from SIGUSR1 (Slurm's warning before the time limit or a preemption) and
/// SIGTERM/SIGINT. The handlers only set a flag; the coordinator agrees on the stop step with
/// the other ranks (distributed.md R1), since ranks see a signal at different steps.
public enum StopSignals {
    private static let received = Atomic<Int32>(0)

    /// Installs the handlers; safe to call more than once.
    public static func install() {
        for number in [SIGUSR1, SIGTERM, SIGINT] {
            signal(number) { caught in StopSignals.received.store(caught, ordering: .relaxed) }
        }
    }

    /// The signal number that asked to stop, or nil.
    public static var requested: Int32? {
        let value = received.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    /// Forgets a received signal (for tests).
    public static func reset() { received.store(0, ordering: .relaxed) }

    /// Records a stop request as if `number` had arrived (for tests and fault injection).
    public static func simulate(_ number: Int32) { received.store(number, ordering: .relaxed) }
}
