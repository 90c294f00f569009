import XCTest
@testable import Transfer

final class PartPlanTests: XCTestCase {
    let GiB: Int64 = 1 << 30, MiB: Int64 = 1 << 20
    // The two stores' published limits (the dialects in ObjectStore carry the same values).
    let s3 = PartLimits(minPartSize: 5 << 20, maxPartSize: 5 << 30, maxParts: 10_000, maxSinglePut: 5 << 30, maxObjectSize: 5 << 40, storeName: "S3")
    let oss = PartLimits(minPartSize: 100 << 10, maxPartSize: 5 << 30, maxParts: 10_000, maxSinglePut: 5 << 30, maxObjectSize: 48_800 << 30, storeName: "OSS")

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

