/// A failure the user can act on, printed by the argument parser as one `Error: ...` line with a
/// non-zero exit (unlike `ValidationError`, which also prints the usage text).
struct CommandError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
