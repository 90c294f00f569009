import Glibc
import Logging
import PluginSupport
import Synchronization
import XCTest
@testable import PluginHTTP2

/// A handler made of a closure.
struct TestHandler: HTTP2Handler {
    let body: @Sendable (HTTP2Request, HTTP2ResponseWriter) async -> Void
    func handle(_ request: HTTP2Request, _ response: HTTP2ResponseWriter) async { await body(request, response) }
}

/// The HTTP/2 server in this process, one client connection over a socketpair, no socket file.
final class InProcessServerTests: XCTestCase {
    /// The server with one connection adopted; the client's end of the socketpair is returned
    /// (the client is made and used inside one I/O job: it is not Sendable).
    func serve(_ handler: @escaping @Sendable (HTTP2Request, HTTP2ResponseWriter) async -> Void) throws -> (HTTP2Server, Int32) {
        let server = try HTTP2Server(configuration: .init(socketPath: "/nonexistent/unused"), handler: TestHandler(body: handler),
                                     logger: Logger(label: "test"))
        server.startWithoutListening()
        let (a, b) = socketPair()
        server.adopt(a)
        return (server, b)
    }

    func testRequestBodyLargerThanTheWindowsEchoesBackWithTrailers() async throws {
        let (server, fd) = try serve { req, res in
            guard let body = try? await req.body.collect(limit: 64 << 20) else { return res.reset() }
            res.sendHeaders([HTTP2Header(":status", "200"), HTTP2Header("x-path", req.head.path)])
            try? await res.write(Array(body.reversed()))
            res.finish(trailers: [HTTP2Header("x-count", String(body.count))])
        }
        let body = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let r = try await IOPool.shared.run { () -> H2TestClient.Response? in
            let client = H2TestClient(fd: fd)
            let id = client.start(path: "/echo", body: body)
            return client.finish(id, timeoutMs: 20_000)
        }
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.headers.first { $0.0 == "x-path" }?.1, "/echo")
        XCTAssertEqual(r?.body.count, body.count)
        XCTAssertTrue(r?.body == Array(body.reversed()), "the body came back changed")
        XCTAssertEqual(r?.trailers.first { $0.0 == "x-count" }?.1, String(body.count))
        XCTAssertEqual(r?.closedWith, 0)
        await server.shutdown(grace: .seconds(1))
    }

    /// Flow control end to end: a client that does not read holds the handler back; once it
    /// reads, everything arrives.
    func testSlowReaderSuspendsTheWriter() async throws {
        let written = Atomic<Int>(0)
        let chunk = 64 << 10, chunks = 64
        let (server, fd) = try serve { _, res in
            res.sendHeaders([HTTP2Header(":status", "200")])
            for _ in 0..<chunks {
                do { try await res.write([UInt8](repeating: 7, count: chunk)) } catch { return }
                written.add(1, ordering: .relaxed)
            }
            res.finish()
        }
        let (stalled, r) = try await IOPool.shared.run { () -> (Int, H2TestClient.Response?) in
            let client = H2TestClient(fd: fd, autoWindow: false)
            let id = client.start(path: "/big", body: nil)
            client.pump(timeoutMs: 500) { _ in false }    // take what the window lets through, give no credit back
            let stalled = written.load(ordering: .relaxed)
            var consumed = 0
            client.pump(timeoutMs: 20_000) { c in
                let got = c.response(id)?.body.count ?? 0
                if got > consumed {
                    c.consume(id, got - consumed)
                    consumed = got
                }
                return c.response(id)?.closedWith != nil
            }
            return (stalled, client.response(id))
        }
        XCTAssertLessThan(stalled, 8, "the handler kept writing while the client read nothing (\(stalled) chunks)")
        XCTAssertEqual(written.load(ordering: .relaxed), chunks)
        XCTAssertEqual(r?.body.count, chunk * chunks)
        await server.shutdown(grace: .seconds(1))
    }

    func testClientResetCancelsTheHandler() async throws {
        let outcome = Locked<String?>(nil)
        let (server, fd) = try serve { req, res in
            do {
                while try await req.body.next() != nil {}
                outcome.withLock { $0 = "body ended" }
            } catch is CancellationError {
                outcome.withLock { $0 = "cancelled" }
            } catch {
                outcome.withLock { $0 = "failed: \(error)" }
            }
        }
        try await IOPool.shared.run {
            let client = H2TestClient(fd: fd)
            // A request whose body never ends: submit headers only, then reset the stream.
            let id = client.start(path: "/wait", body: nil, endless: true)
            client.pump(timeoutMs: 200) { _ in false }
            client.reset(id)
            client.pump(timeoutMs: 2000) { _ in outcome.withLock { $0 != nil } }
        }
        let got = outcome.withLock { $0 }
        XCTAssertTrue(got == "cancelled" || got?.hasPrefix("failed: stream reset") == true, got ?? "the handler never saw the reset")
        await server.shutdown(grace: .seconds(1))
    }

    func testHTTP1RequestGetsAReadableRefusal() async throws {
        let server = try HTTP2Server(configuration: .init(socketPath: "/nonexistent/unused"),
                                     handler: TestHandler { _, res in res.reset() }, logger: Logger(label: "test"))
        server.startWithoutListening()
        let (a, b) = socketPair()
        server.adopt(a)
        let reply = try await IOPool.shared.run { () -> String in
            let req = "GET /api/v1/artifacts/list HTTP/1.1\r\nHost: x\r\n\r\n"
            _ = req.withCString { write(b, $0, strlen($0)) }
            var out: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(b, &buf, buf.count)
                if n <= 0 { break }
                out += buf[..<n]
            }
            close(b)
            return String(decoding: out, as: UTF8.self)
        }
        XCTAssertTrue(reply.hasPrefix("HTTP/1.1 505"), reply)
        XCTAssertTrue(reply.contains("HTTP/2 only"), reply)
        await server.shutdown(grace: .seconds(1))
    }

    /// Graceful shutdown: the call in flight finishes, the client gets GOAWAY, and shutdown
    /// returns once it did (no polling: the server waits on the streams' count reaching zero).
    func testShutdownLetsTheCallInFlightFinish() async throws {
        let (server, fd) = try serve { _, res in
            try? await Task.sleep(for: .milliseconds(300))
            res.sendHeaders([HTTP2Header(":status", "200")])
            try? await res.write(Array("done".utf8))
            res.finish()
        }
        let started = ContinuousClock.now
        async let response = IOPool.shared.run { () -> (H2TestClient.Response?, Bool) in
            let client = H2TestClient(fd: fd)
            let id = client.start(path: "/slow", body: nil)
            let r = client.finish(id, timeoutMs: 5000)
            client.pump(timeoutMs: 1000) { $0.goawayReceived }
            return (r, client.goawayReceived)
        }
        try await Task.sleep(for: .milliseconds(100))
        await server.shutdown(grace: .seconds(5))
        let elapsed = ContinuousClock.now - started
        let (r, goaway) = try await response
        XCTAssertEqual(r.map { String(decoding: $0.body, as: UTF8.self) }, "done")
        XCTAssertTrue(goaway, "no GOAWAY before the connection closed")
        XCTAssertLessThan(elapsed, .seconds(4), "shutdown waited for the grace period instead of the call")
        XCTAssertEqual(server.inFlight, 0)
    }

    /// A handler still running when its stream is gone is cancelled and awaited: shutdown returns
    /// only after every handler task has.
    func testShutdownAwaitsEveryHandlerTask() async throws {
        let returned = Atomic<Bool>(false)
        let (server, fd) = try serve { _, res in
            res.sendHeaders([HTTP2Header(":status", "200")])
            try? await Timers.sleep(for: .seconds(60))    // ends at cancellation
            await Task { try? await Timers.sleep(for: .milliseconds(200)) }.value   // and returns 200 ms later
            returned.store(true, ordering: .relaxed)
        }
        async let client: Void = IOPool.shared.run {
            let client = H2TestClient(fd: fd)
            _ = client.start(path: "/forever", body: nil)
            client.pump(timeoutMs: 3000) { $0.goawayReceived }
        }
        while server.inFlight == 0 { try await Timers.sleep(for: .milliseconds(1)) }
        await server.shutdown(grace: .milliseconds(100))
        XCTAssertTrue(returned.load(ordering: .relaxed), "shutdown returned while a handler task still ran")
        _ = try await client
    }
}
