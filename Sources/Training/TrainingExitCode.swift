/// Exit codes of `pais train`, for job scripts.
public enum TrainingExitCode {
    /// The run finished all its epochs (or stopped early on its metric).
    public static let finished: Int32 = 0
    /// A stop signal arrived; a checkpoint was written; requeue the job to continue
    /// (EX_TEMPFAIL from sysexits.h: "try again later").
    public static let checkpointedForRequeue: Int32 = 75
}
