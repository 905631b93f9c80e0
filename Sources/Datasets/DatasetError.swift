/// A problem with dataset inputs or files, phrased for the user (names the file, row or pixel).
public struct DatasetError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
