/// What kind of failure an error is, in the terms a caller acts on. Every module's errors say
/// their own category; the service maps categories to status codes in one place and knows no
/// module's error types.
public enum FailureCategory: Sendable, Hashable, CaseIterable {
    /// Nothing at the key, no such bucket, upload or file.
    case notFound
    /// The request or the configuration is wrong; retrying it as it is cannot help.
    case invalidArgument
    /// Credentials were accepted but do not allow this.
    case permissionDenied
    /// Credentials were refused, expired or could not be obtained.
    case unauthenticated
    /// The store holds something that does not fit, or a dependency is not in the state needed.
    case failedPrecondition
    /// A concurrent change won (an object replaced mid-read).
    case aborted
    /// Bytes read or written do not match what was expected.
    case dataLoss
    /// The store or the network failed; a later retry may work.
    case unavailable
    /// Memory, disk or a size limit ran out.
    case resourceExhausted
    /// The store cannot do this at all.
    case unimplemented
    case cancelled
    /// A bug or an unclassified failure.
    case internalError
}

/// An error that says its category (see `FailureCategory`).
public protocol CategorizedError: Error {
    var category: FailureCategory { get }
}
