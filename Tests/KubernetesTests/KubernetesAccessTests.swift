import ArtifactCore
import XCTest
@testable import Kubernetes

final class KubernetesAccessTests: XCTestCase {
    func testOutsideAClusterTheErrorSaysSo() async {
        let access = KubernetesAccess(environment: [:])
        do {
            _ = try await access.client()
            XCTFail("no KUBERNETES_SERVICE_HOST: no client")
        } catch let e as KubernetesError {
            XCTAssertTrue(e.message.contains("not running in a Kubernetes pod"), e.message)
        } catch {
            XCTFail("\(error)")
        }
    }

    /// GC by outcome outside a cluster follows gc.onUnknown, and Always asks nobody.
    func testOutcomeLookupWithoutACluster() async {
        let lookup = WorkflowOutcomeLookup(environment: [:])
        var gc = GCSettings()
        let always = await lookup.decide(gc)
        XCTAssertEqual(always, .delete(reason: "gc.when is Always"))
        gc.when = .succeeded
        gc.onUnknown = .keep
        let d = await lookup.decide(gc)
        XCTAssertFalse(d.deletes)
        XCTAssertEqual(lookup.workflowLookupCount, 0)
    }
}
