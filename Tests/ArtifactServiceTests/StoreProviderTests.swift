import ArtifactCore
import ArtifactProto
import Foundation
import Logging
import PluginRPC
import TestSupport
import XCTest
@testable import ArtifactService

/// A provider the plugin does not ship (MemoryStoreProvider, a test double) works through the
/// service with nothing but its module and one more line in the provider table.
final class StoreProviderTests: XCTestCase {
    let handler = ArtifactServiceHandler(providers: StoreProviders.all + [MemoryStoreProvider()])
    let context = RPCContext(method: "test", transport: "test", logger: Logger(label: "test"))

    func artifact(_ key: String, _ configuration: String) -> Artifact_Artifact {
        var a = Artifact_Artifact()
        a.name = "a"
        a.plugin.key = key
        a.plugin.configuration = configuration
        return a
    }

    func testAProviderOfItsOwnRunsSaveLoadAndListThroughTheService() async throws {
        let dir = try TestPaths.temporaryDirectory("memory-provider")
        try Data("hello, memory".utf8).write(to: URL(fileURLWithPath: dir + "/in"))
        let config = "provider: memory\nquota: 1Ki\n"

        var save = Artifact_SaveArtifactRequest()
        save.outputArtifact = artifact("wf/out", config)
        save.path = dir + "/in"
        let saved = try await handler.save(save, context: context)
        XCTAssertTrue(saved.success, saved.error)

        var load = Artifact_LoadArtifactRequest()
        load.inputArtifact = artifact("wf/out", config)
        load.path = dir + "/back"
        let loaded = try await handler.load(load, context: context)
        XCTAssertTrue(loaded.success, loaded.error)
        XCTAssertEqual(try String(contentsOfFile: dir + "/back", encoding: .utf8), "hello, memory")

        var list = Artifact_ListObjectsRequest()
        list.artifact = artifact("wf", config)
        let listed = try await handler.listObjects(list, context: context)
        XCTAssertEqual(listed.objects, ["wf/out"])
    }

    func testItsErrorsAndFieldsReachTheUserAsItSaysThem() async throws {
        let dir = try TestPaths.temporaryDirectory("memory-provider-full")
        try Data(repeating: 7, count: 2048).write(to: URL(fileURLWithPath: dir + "/big"))
        var save = Artifact_SaveArtifactRequest()
        save.outputArtifact = artifact("big", "quota: 1Ki\n")   // claimed by its own field
        save.path = dir + "/big"
        let r = try await handler.save(save, context: context)
        XCTAssertFalse(r.success)
        XCTAssertTrue(r.error.contains("holds 1024 bytes at most; this object needs 2048"), r.error)
        XCTAssertEqual(StatusMapping.code(MemoryStoreFull(needed: 2, quota: 1)), .resourceExhausted)

        save.outputArtifact = artifact("big", "provider: memory\nquota: lots\n")
        let bad = try await handler.save(save, context: context)
        XCTAssertTrue(bad.error.contains("quota") && bad.error.contains("expected a size"), bad.error)

        let parser = ConfigParser(StoreProviders.all + [MemoryStoreProvider()])
        let c = try parser.parse("provider: memory\nquota: 2Ki\nmultipart: {checksum: none}")
        XCTAssertEqual(try parser.parse(c.yamlDescription), c, c.yamlDescription)
        XCTAssertThrowsError(try StoreProviders.parser.parse("provider: memory\nquota: 2Ki"), "the shipped table has no memory store")
    }
}
