/// What one request of the client holds in memory at most, beside the caller's own buffers: the
/// transfer engines claim it from the process's memory budget for each request in flight.
public enum RequestMemory {
    /// Bytes a file body may queue before its producer waits, each chunk counted whole until
    /// curl has sent all of it; with the chunk the producer fills, a body holds at most
    /// `bodyQueue + fileChunk` (RequestBodyWriter).
    public static let bodyQueue = 2 << 20
    /// Chunks a file body is read in (on the I/O pool), one at a time.
    public static let fileChunk = 1 << 20
    /// curl's receive buffer (CURLOPT_BUFFERSIZE): large reads, fewer callbacks per GiB.
    public static let receiveBuffer = 256 << 10
    /// curl's upload buffer (CURLOPT_UPLOAD_BUFFERSIZE, HTTP/1.1).
    public static let uploadBuffer = 512 << 10

    /// A request whose body is read from a file as it is sent.
    public static var fileUpload: Int { bodyQueue + fileChunk + uploadBuffer + receiveBuffer }

    /// A streamed response read in `segment`s: the inbox's high-water mark, a segment being
    /// consumed, curl's buffer.
    public static func streamedDownload(segment: Int) -> Int {
        StreamingInbox.highWater(segment: segment) + StreamingInbox.segmentSize(segment) + receiveBuffer
    }
}
