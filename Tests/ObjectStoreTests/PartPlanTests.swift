import ObjectStore
import XCTest
@testable import Transfer

final class PartPlanTests: XCTestCase {
    let GiB: Int64 = 1 << 30, MiB: Int64 = 1 << 20
    // The limits the plugin plans with: what each dialect reports (S3's and OSS's published ones).
    let s3 = S3Dialect(region: "us-east-1").limits
    let oss = OSSDialect(region: "cn-hangzhou").limits

    func testTheDialectsReportTheStoresPublishedLimits() {
        XCTAssertEqual([s3.minPartSize, s3.maxPartSize, Int64(s3.maxParts), s3.maxSinglePut], [5 * MiB, 5 * GiB, 10_000, 5 * GiB])
        XCTAssertEqual([oss.minPartSize, oss.maxPartSize, Int64(oss.maxParts)], [100 << 10, 5 * GiB, 10_000])
    }

    func testTwentyGiBUsesConfiguredParts() throws {
        let p = try PartPlan.make(size: 20 * GiB, preferredPartSize: 16 * MiB, limits: s3)
        XCTAssertEqual(p.partSize, 16 * MiB)
        XCTAssertEqual(p.partCount, 1280)
        XCTAssertEqual(p.range(1280).length, 16 * MiB)
    }

    func testOneTiBGrowsPartsToFitTenThousand() throws {
        let p = try PartPlan.make(size: 1 << 40, preferredPartSize: 16 * MiB, limits: s3)
        XCTAssertEqual(p.partSize, 105 * MiB)   // ceil(1 TiB / 10,000) = 104.86 MiB → 105 MiB
        XCTAssertLessThanOrEqual(p.partCount, 10_000)
        XCTAssertEqual(p.partCount, 9987)
    }

    func testOSSLimitsAndTheLargestObjects() throws {
        let tb: Int64 = 1_000_000_000_000
        let size = Int64(48.8 * Double(tb))
        XCTAssertThrowsError(try PartPlan.make(size: size, preferredPartSize: 16 * MiB, limits: s3)) { e in
            XCTAssertTrue("\(e)".contains("largest object S3 holds"), "\(e)")
        }
        let plan = try PartPlan.make(size: size, preferredPartSize: 16 * MiB, limits: oss)
        XCTAssertLessThanOrEqual(plan.partCount, 10_000)
        XCTAssertLessThanOrEqual(plan.partSize, 5 * GiB)
        XCTAssertEqual(Int64(plan.partCount - 1) * plan.partSize + plan.range(plan.partCount).length, size)
        XCTAssertThrowsError(try PartPlan.make(size: 60 * tb, preferredPartSize: 16 * MiB, limits: oss)) { e in
            XCTAssertTrue("\(e)".contains("cannot upload"), "\(e)")
        }
    }

    func testSmallPartsRaisedToStoreMinimum() throws {
        XCTAssertEqual(try PartPlan.make(size: 100 * MiB, preferredPartSize: 1 * MiB, limits: s3).partSize, 5 * MiB)
        XCTAssertEqual(try PartPlan.make(size: 100 * MiB, preferredPartSize: 1 * MiB, limits: oss).partSize, 1 * MiB)
    }
}

