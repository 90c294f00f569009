import ArtifactProto
import TestSupport
import XCTest
@testable import ArtifactService

/// Configurations come from workflow authors: the stores made for them stay bounded.
final class StoreCacheTests: XCTestCase {
    func testDistinctConfigurationsKeepABoundedNumberOfStores() throws {
        let root = try TestPaths.temporaryDirectory("stores")
        let handler = ArtifactServiceHandler()
        var artifact = Artifact_Artifact()
        artifact.name = "a"
        artifact.plugin.key = "k"
        artifact.plugin.configuration = "root: \(root)/same\n"
        _ = try handler.operations(artifact)
        _ = try handler.operations(artifact)
        XCTAssertEqual(handler.storesHeld, 1, "one configuration, one store")
        for i in 0..<(3 * ArtifactServiceHandler.storesKept) {
            artifact.plugin.configuration = "root: \(root)/r\(i)\n"
            _ = try handler.operations(artifact)
        }
        XCTAssertEqual(handler.storesHeld, ArtifactServiceHandler.storesKept)
    }
}
