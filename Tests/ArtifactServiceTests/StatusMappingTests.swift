import ArtifactCore
import Glibc
import ObjectStore
import PluginRPC
import PluginSupport
import StoreHTTP
import XCTest
@testable import ArtifactService

/// The one boundary where domain errors become gRPC codes.
final class StatusMappingTests: XCTestCase {
    func store(_ kind: StoreErrorKind, _ status: Int) -> StoreError {
        StoreError(dialect: "S3", operation: "GetObject", location: "s3://b/k", status: status, code: "X", kind: kind, message: "", requestID: nil)
    }

    func testCodes() {
        XCTAssertEqual(StatusMapping.code(ArtifactError.notFound("x")), .notFound)
        XCTAssertEqual(StatusMapping.code(ArtifactError.invalidKey("k", "why")), .invalidArgument)
        XCTAssertEqual(StatusMapping.code(ArtifactError.corrupted("x")), .dataLoss)
        XCTAssertEqual(StatusMapping.code(ArtifactError.conflict("x")), .failedPrecondition)
        XCTAssertEqual(StatusMapping.code(ConfigError("root", "missing")), .invalidArgument)
        XCTAssertEqual(StatusMapping.code(FileSystemError(operation: "open", path: "/p", code: EACCES)), .permissionDenied)
        XCTAssertEqual(StatusMapping.code(FileSystemError(operation: "write", path: "/p", code: ENOSPC)), .resourceExhausted)
        XCTAssertEqual(StatusMapping.code(store(.noSuchKey, 404)), .notFound)
        XCTAssertEqual(StatusMapping.code(store(.credentialsRejected, 403)), .unauthenticated)
        XCTAssertEqual(StatusMapping.code(store(.preconditionFailed, 412)), .aborted)
        XCTAssertEqual(StatusMapping.code(store(.transient, 503)), .unavailable)
        XCTAssertEqual(StatusMapping.code(HTTPClientError(kind: .connect, message: "")), .unavailable)
        XCTAssertEqual(StatusMapping.code(CredentialError(message: "")), .unauthenticated)
        XCTAssertEqual(StatusMapping.code(CancellationError()), .cancelled)
        XCTAssertEqual(StatusMapping.code(RPCError(.deadlineExceeded, "late")), .deadlineExceeded)
    }
}
