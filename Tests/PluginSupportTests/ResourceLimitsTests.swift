import Foundation
import TestSupport
import XCTest
@testable import PluginSupport

/// Limit discovery against recorded hosts (Tests/Fixtures/cgroup): the files are read through
/// the seam, so this machine's own cgroup never enters.
final class ResourceLimitsTests: XCTestCase {
    func host(_ name: String) -> (String) -> String? {
        let root = TestPaths.fixtures.appendingPathComponent("cgroup/\(name)").path
        return { path in try? String(contentsOfFile: root + path, encoding: .utf8) }
    }

    func limits(_ name: String, env: [String: String] = [:]) throws -> ResourceLimits {
        try ResourceLimits.discover(environment: env, read: host(name))
    }

    func testV1HybridTakesTheParentsMemoryLimitAndTheGroupsQuota() throws {
        let l = try limits("v1-hybrid")
        XCTAssertEqual(l.memoryBytes, 128 << 20, "the parent's limit binds the group")
        XCTAssertEqual(l.memorySource, "cgroup v1")
        XCTAssertEqual(l.cpuCores, 0.5)
    }

    func testV2PodInACgroupNamespace() throws {
        let l = try limits("v2-pod")
        XCTAssertEqual(l.memoryBytes, 512 << 20)
        XCTAssertEqual(l.memorySource, "cgroup v2")
        XCTAssertEqual(l.cpuCores, 0.5)
    }

    func testV2NestedTakesTheTightestOfMaxAndHighAlongThePath() throws {
        let l = try limits("v2-nested")
        XCTAssertEqual(l.memoryBytes, 192 << 20, "memory.high of the group is below every memory.max")
        XCTAssertEqual(l.cpuCores, 2, "'max' in the group, 2 cores on its parent")
    }

    func testV1ContainerMountedAtItsOwnGroup() throws {
        let l = try limits("v1-container")
        XCTAssertEqual(l.memoryBytes, 96 << 20)
        XCTAssertEqual(l.cpuCores, 1.5)
    }

    func testMaxEverywhereIsNoLimit() throws {
        let l = try limits("v2-unlimited")
        XCTAssertNil(l.memoryBytes)
        XCTAssertNil(l.cpuCores)
        XCTAssertEqual(ResourcePlan.make(l).budgetBytes, ResourcePlan.defaultBudget, "no limit: today's defaults")
        XCTAssertEqual(ResourcePlan.make(l).transferConcurrency, ResourcePlan.defaultConcurrency)
    }

    func testMissingControllerLeavesThatLimitUnknown() throws {
        let l = try limits("v1-no-cpu")
        XCTAssertEqual(l.memoryBytes, 48 << 20)
        XCTAssertNil(l.cpuCores)
    }

    func testNothingReadableIsNoLimit() throws {
        let l = try ResourceLimits.discover(environment: [:], read: { _ in nil })
        XCTAssertEqual(l, ResourceLimits())
    }

    func testDownwardAPIVariablesAndTheTighterWins() throws {
        // The Downward API writes bytes and (with divisor 1m) millicores; people write quantities.
        var l = try limits("v2-unlimited", env: [ResourceLimits.memoryVariable: "268435456", ResourceLimits.cpuVariable: "500m"])
        XCTAssertEqual(l.memoryBytes, 256 << 20)
        XCTAssertEqual(l.memorySource, ResourceLimits.memoryVariable)
        XCTAssertEqual(l.cpuCores, 0.5)
        l = try limits("v1-hybrid", env: [ResourceLimits.memoryVariable: "1Gi", ResourceLimits.cpuVariable: "0.25"])
        XCTAssertEqual(l.memoryBytes, 128 << 20, "the cgroup's tighter limit is what the kernel enforces")
        XCTAssertEqual(l.memorySource, "cgroup v1")
        XCTAssertEqual(l.cpuCores, 0.25)
        XCTAssertEqual(l.cpuSource, ResourceLimits.cpuVariable)
    }

    func testBadVariablesAreNamed() {
        XCTAssertThrowsError(try limits("v2-unlimited", env: [ResourceLimits.memoryVariable: "lots"])) { e in
            XCTAssertTrue("\(e)".contains("ARGO_PLUGIN_MEMORY_LIMIT='lots'"), "\(e)")
        }
        XCTAssertThrowsError(try limits("v2-unlimited", env: [ResourceLimits.cpuVariable: "-1"])) { e in
            XCTAssertTrue("\(e)".contains("ARGO_PLUGIN_CPU_LIMIT"), "\(e)")
        }
    }

    func testQuantities() {
        XCTAssertEqual(ResourceLimits.parseMemory("128Mi"), 128 << 20)
        XCTAssertEqual(ResourceLimits.parseMemory("1G"), 1_000_000_000)
        XCTAssertEqual(ResourceLimits.parseMemory("512Ki"), 512 << 10)
        XCTAssertNil(ResourceLimits.parseMemory("0"))
        XCTAssertNil(ResourceLimits.parseMemory("12Zi"))
        XCTAssertEqual(ResourceLimits.parseCPU("2"), 2)
        XCTAssertEqual(ResourceLimits.parseCPU("250m"), 0.25)
        XCTAssertNil(ResourceLimits.parseCPU("m"))
    }

    func testMountinfoEscapes() {
        let m = CgroupLimits.parseMountinfo("40 31 0:38 / /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,memory\n50 1 0:1 / / rw - ext4 /dev/sda rw\n")
        XCTAssertEqual(m.count, 1, "only cgroup mounts")
        XCTAssertEqual(m.first?.mountPoint, "/sys/fs/cgroup/my dir")
    }

    // MARK: the plan

    func testPlanKeepsPeakUnderThreeQuartersOfTheLimit() {
        for mib in [48, 64, 96, 128, 256, 512] {
            let plan = ResourcePlan.make(ResourceLimits(memoryBytes: Int64(mib) << 20, memorySource: "test"))
            XCTAssertLessThanOrEqual(plan.budgetBytes + ResourcePlan.processReserve, (mib << 20) * 3 / 4, "\(mib) MiB")
            XCTAssertGreaterThan(plan.budgetBytes, 0, "\(mib) MiB leaves room for transfers")
        }
        XCTAssertEqual(ResourcePlan.make(ResourceLimits(memoryBytes: 8 << 30)).budgetBytes, ResourcePlan.defaultBudget,
                       "a large limit keeps the default budget")
    }

    func testPlanFollowsTheCPUQuota() {
        let half = ResourcePlan.make(ResourceLimits(cpuCores: 0.5))
        XCTAssertEqual(half.transferConcurrency, 4)
        XCTAssertEqual(half.ioThreads, 2)
        let tiny = ResourcePlan.make(ResourceLimits(cpuCores: 0.1))
        XCTAssertEqual(tiny.transferConcurrency, 2, "never fewer than two: one waits on the network while one works")
        let many = ResourcePlan.make(ResourceLimits(cpuCores: 16))
        XCTAssertEqual(many.transferConcurrency, ResourcePlan.defaultConcurrency)
    }
}
