import XCTest
@testable import ObjectStore

final class XMLReaderTests: XCTestCase {
    func testListingRecordsAndEntities() throws {
        let xml = """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>true</IsTruncated>
        <NextContinuationToken>tok&amp;en</NextContinuationToken>
        <Contents><Key>a%2Fb+c</Key><Size>12</Size><ETag>&quot;abc&quot;</ETag><Owner><ID>x</ID></Owner></Contents>
        <Contents><Key><![CDATA[raw<key>]]></Key><Size>0</Size></Contents>
        <!-- comment --></ListBucketResult>
        """
        let (recs, fields) = try XMLReader.records(Array(xml.utf8), record: "Contents")
        XCTAssertEqual(recs.count, 2)
        XCTAssertEqual(recs[0]["Key"], "a%2Fb+c")
        XCTAssertEqual(recs[0]["ETag"], "\"abc\"")
        XCTAssertEqual(recs[0]["Owner.ID"], "x")
        XCTAssertEqual(recs[1]["Key"], "raw<key>")
        XCTAssertEqual(fields["NextContinuationToken"], "tok&en")
        XCTAssertEqual(fields["IsTruncated"], "true")
        XCTAssertEqual(ObjectStoreClient.urlDecode("a%2Fb+c"), "a/b c")
    }

    func testEscapeRoundTrip() throws {
        let s = "k<&>\"'é"
        var got = ""
        try XMLReader.parse(Array("<K>\(XMLReader.escape(s))</K>".utf8)) { if case .text(let t) = $0 { got += t } }
        XCTAssertEqual(got, s)
    }
}

