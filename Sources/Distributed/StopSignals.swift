import Foundation
import Synchronization

/// Stop requests from SIGUSR1 (Slurm's warning before the time limit or a preemption) and
/// SIGTERM/SIGINT. The handlers only set a flag; the ranks agree on where to stop (the training
/// coordinator on a step, distributed.md R1; a deblend on a block), since ranks see a signal at
/// different times.
public enum StopSignals {
    private static let received = Atomic<Int32>(0)

    /// Installs the handlers for `stopping` (all three by default: a training run checkpoints on
    /// Slurm's SIGUSR1 warning) and ignores `ignoring`; safe to call more than once. With
    /// `secondSignalKills`, a second signal takes its default action (a second Ctrl-C ends the
    /// process at once).
    public static func install(stopping: [Int32] = [SIGUSR1, SIGTERM, SIGINT], ignoring: [Int32] = [],
                               secondSignalKills: Bool = false) {
        // A process inherits its parent's blocked signals (a test runner or a job launcher may
        // block them): unblock ours, or they would wait unseen until the process exits.
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        for number in stopping { sigaddset(&unblocked, number) }
        pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
        for number in ignoring { signal(number, SIG_IGN) }
        for number in stopping {
            if secondSignalKills {
                signal(number) { caught in
                    StopSignals.received.store(caught, ordering: .relaxed)
                    signal(caught, SIG_DFL)
                }
            } else {
                signal(number) { caught in StopSignals.received.store(caught, ordering: .relaxed) }
            }
        }
    }

    /// The signal number that asked to stop, or nil.
    public static var requested: Int32? {
        let value = received.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    /// SIGINT, SIGTERM or SIGUSR1 (else "signal N"), for messages.
    public static func name(_ number: Int32) -> String {
        [SIGINT: "SIGINT", SIGTERM: "SIGTERM", SIGUSR1: "SIGUSR1"][number] ?? "signal \(number)"
    }

    /// Forgets a received signal (for tests).
    public static func reset() { received.store(0, ordering: .relaxed) }

    /// Records a stop request as if `number` had arrived (for tests and fault injection).
    public static func simulate(_ number: Int32) { received.store(number, ordering: .relaxed) }
}
