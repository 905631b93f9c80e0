import Foundation

/// The path of the running `pais` binary, right however it was started: by a path, or by name
/// through PATH, where argv[0] is just "pais". Read from the /proc/self/exe link (Linux), else
/// from argv[0].
func runningExecutablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
}
