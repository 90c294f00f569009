"""Self-tests of faultproxy.FaultProxy against a tiny local HTTP/1.1 upstream."""
import http.client
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from doubles.faultproxy import FaultProxy, classify
from harness import require_tool

BLOCK = bytes(range(256)) * 256  # 64 KiB


def pattern(n):
    reps = n // len(BLOCK) + 1
    return (BLOCK * reps)[:n]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.read(2)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _note(self, body=b""):
        self.server.received.append({
            "method": self.command, "path": self.path, "headers": dict(self.headers),
            "body": body, "port": self.client_address[1]})

    def _send(self, status, body=b"", ctype="application/octet-stream", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        self._note()
        if "/chunked" in self.path:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        if "size=" in self.path:
            n = int(self.path.split("size=")[1].split("&")[0])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            left = n
            try:
                while left:
                    d = BLOCK[:min(left, len(BLOCK))]
                    self.wfile.write(d)
                    left -= len(d)
            except OSError:
                self.close_connection = True
            return
        self._send(200, f"GET {self.path}".encode(), "text/plain")

    def do_HEAD(self):
        self._note()
        self.send_response(200)
        self.send_header("Content-Length", "1234")
        self.send_header("ETag", '"abc"')
        self.end_headers()

    def do_PUT(self):
        body = self._body()
        self._note(body)
        self._send(200, extra=[("ETag", '"etag-%d"' % len(body))])

    def do_POST(self):
        body = self._body()
        self._note(body)
        self._send(200, b"<Result>ok</Result>", "application/xml")

    def do_DELETE(self):
        self._note()
        self.send_response(204)
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # broken pipes from cut/cancelled downloads are expected


@pytest.fixture
def upstream():
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.received = []
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def proxy(upstream):
    p = FaultProxy("127.0.0.1", upstream.server_address[1]).start()
    yield p
    p.stop()
    assert not p.errors, p.errors


def conn(proxy):
    return http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)


def req(c, method, path, body=None, headers=None):
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()


def raw_exchange(proxy, request_bytes, timeout=5):
    """Send raw bytes, read until the proxy closes; returns (head, body, elapsed)."""
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)
    t0 = time.monotonic()
    s.sendall(request_bytes)
    data = bytearray()
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except ConnectionResetError:
        pass
    elapsed = time.monotonic() - t0
    s.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    return head, body, elapsed


# ---------------------------------------------------------------------------------------------

def test_classify():
    cases = [
        ("PUT", "/b/k", {"partNumber": "3", "uploadId": "u"}, "UploadPart"),
        ("POST", "/b/k", {"uploads": ""}, "CreateMultipartUpload"),
        ("POST", "/b/k", {"uploadId": "u"}, "CompleteMultipartUpload"),
        ("DELETE", "/b/k", {"uploadId": "u"}, "AbortMultipartUpload"),
        ("GET", "/b/k", {"uploadId": "u"}, "ListParts"),
        ("GET", "/b", {"uploads": ""}, "ListMultipartUploads"),
        ("POST", "/b", {"delete": ""}, "DeleteObjects"),
        ("GET", "/b", {"list-type": "2", "prefix": "x/"}, "ListObjectsV2"),
        ("HEAD", "/b/k/deep", {}, "HeadObject"),
        ("HEAD", "/b", {}, "HeadBucket"),
        ("HEAD", "/b/", {}, "HeadBucket"),
        ("GET", "/b/k", {}, "GetObject"),
        ("PUT", "/b/k", {}, "PutObject"),
        ("PUT", "/b", {}, "CreateBucket"),
        ("DELETE", "/b/k", {}, "DeleteObject"),
    ]
    for method, path, q, op in cases:
        assert classify(method, path, q) == op, (method, path, q)


def test_keepalive_forwarding_and_ops(proxy, upstream):
    c = conn(proxy)
    auth = "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws4_request, Signature=ab"
    st, h, b = req(c, "GET", "/bucket/key?size=1000", headers={"Authorization": auth})
    assert st == 200 and b == pattern(1000)
    st, h, b = req(c, "PUT", "/bucket/key", body=b"x" * 5000,
                   headers={"Content-MD5": "whatever"})
    assert st == 200 and h["etag"] == '"etag-5000"' and b == b""
    st, h, b = req(c, "HEAD", "/bucket/key")
    assert st == 200 and h["content-length"] == "1234" and b == b""
    st, h, b = req(c, "POST", "/bucket/key?uploads", body=b"")
    assert st == 200 and b == b"<Result>ok</Result>"
    st, h, b = req(c, "PUT", "/bucket/key?partNumber=1&uploadId=U1", body=b"p" * 100)
    assert st == 200
    st, h, b = req(c, "POST", "/bucket/key?uploadId=U1", body=b"<Complete/>")
    assert st == 200
    st, h, b = req(c, "GET", "/bucket?list-type=2&prefix=a%2Fb")
    assert st == 200 and b == b"GET /bucket?list-type=2&prefix=a%2Fb"
    st, h, b = req(c, "DELETE", "/bucket/key")
    assert st == 204 and b == b""
    st, h, b = req(c, "GET", "/bucket/chunked")
    assert st == 200 and b == b"hello chunked world"
    c.close()
    assert proxy.wait_idle()

    # one client connection, one upstream connection, requests forwarded verbatim
    assert proxy.client_connections == 1 and proxy.upstream_connections == 1
    assert len({r["port"] for r in upstream.received}) == 1
    first = upstream.received[0]
    assert first["headers"]["Host"] == proxy.endpoint
    assert first["headers"]["Authorization"] == auth
    assert upstream.received[1]["headers"]["Content-MD5"] == "whatever"
    assert upstream.received[1]["body"] == b"x" * 5000
    assert upstream.received[6]["path"] == "/bucket?list-type=2&prefix=a%2Fb"

    assert proxy.ops() == ["GetObject", "PutObject", "HeadObject", "CreateMultipartUpload",
                           "UploadPart", "CompleteMultipartUpload", "ListObjectsV2",
                           "DeleteObject", "GetObject"]
    assert proxy.op_count("GetObject") == 2 and proxy.op_count("UploadPart") == 1
    assert proxy.count() == 9
    assert proxy.count("PutObject") == 1
    assert proxy.count(lambda r: r.method == "PUT") == 2
    method, path, query, headers, body_len = proxy.requests[4]
    assert (method, path, query, body_len) == ("PUT", "/bucket/key",
                                                {"partNumber": "1", "uploadId": "U1"}, 100)
    assert headers["host"] == proxy.endpoint
    assert query == proxy.requests[4][2]
    assert [r.status for r in proxy.requests] == [200, 200, 200, 200, 200, 200, 200, 204, 200]
    assert proxy.requests[0].response_body_bytes == 1000
    assert proxy.requests[8].response_body_bytes == len(b"hello chunked world")
    expected = 1000 + len(b"<Result>ok</Result>") * 2 + len(b"GET /bucket?list-type=2&prefix=a%2Fb") \
        + len(b"hello chunked world")
    assert proxy.bytes_from_upstream == expected
    assert all(r.done for r in proxy.requests)


def test_status_rule_then_pass(proxy, upstream):
    rule = proxy.add_rule(op="PutObject", action="status", status=503)
    c = conn(proxy)
    st, h, b = req(c, "PUT", "/bucket/k", body=b"a" * 3000)
    assert st == 503
    assert b == (b"<Error><Code>SlowDown</Code><Message>injected</Message>"
                 b"<RequestId>proxy</RequestId></Error>")
    assert int(h["content-length"]) == len(b)
    st, h, b = req(c, "PUT", "/bucket/k", body=b"b" * 3000)
    assert st == 200
    # HEAD answered with a status rule carries no body and keeps the connection usable
    proxy.add_rule(op="HeadObject", action="status", status=404, code="NoSuchKey")
    st, h, b = req(c, "HEAD", "/bucket/k")
    assert st == 404 and b == b""
    st, h, b = req(c, "GET", "/bucket/k?size=10")
    assert st == 200 and b == pattern(10)
    c.close()
    assert rule.fired == 1 and rule.exhausted
    assert proxy.client_connections == 1
    assert [r["method"] for r in upstream.received] == ["PUT", "GET"]
    assert upstream.received[0]["body"] == b"b" * 3000
    assert [r.status for r in proxy.requests] == [503, 200, 404, 200]
    assert [r.action for r in proxy.requests] == ["status", None, "status", None]


def test_flip_after_and_times(proxy, upstream):
    rule = proxy.add_rule(op="UploadPart", action="flip", after=1, times=1)
    c = conn(proxy)
    parts = [os.urandom(10001) for _ in range(3)]
    for i, part in enumerate(parts, 1):
        st, _, _ = req(c, "PUT", f"/b/k?partNumber={i}&uploadId=U", body=part,
                       headers={"Content-MD5": "keep-me"})
        assert st == 200
    c.close()
    got = [r["body"] for r in upstream.received]
    assert got[0] == parts[0] and got[2] == parts[2]
    diff = [i for i in range(len(parts[1])) if got[1][i] != parts[1][i]]
    assert diff == [5000]
    assert got[1][5000] == parts[1][5000] ^ 0x01
    assert upstream.received[1]["headers"]["Content-MD5"] == "keep-me"
    assert rule.seen == 2 and rule.fired == 1
    assert [r.action for r in proxy.requests] == [None, "flip", None]


def test_flip_chunked_request_body(proxy, upstream):
    proxy.add_rule(pred=lambda r: r.method == "PUT", action="flip")
    c = conn(proxy)
    pieces = [b"a" * 100, b"b" * 50]
    c.request("PUT", "/b/k", body=iter(pieces), encode_chunked=True)
    r = c.getresponse()
    r.read()
    assert r.status == 200
    c.request("PUT", "/b/k", body=iter(pieces), encode_chunked=True)
    r = c.getresponse()
    r.read()
    c.close()
    assert upstream.received[0]["body"] == b"a" * 50 + b"`" + b"a" * 49 + b"b" * 50
    assert upstream.received[1]["body"] == b"a" * 100 + b"b" * 50
    assert proxy.wait_idle()
    assert [r.body_len for r in proxy.requests] == [150, 150]


def test_cut_content_length(proxy, upstream):
    proxy.add_rule(op="GetObject", action="cut", cut_after=100_000)
    size = 1 << 20
    c = conn(proxy)
    c.request("GET", "/b/k?size=%d" % size)
    r = c.getresponse()
    assert r.status == 200
    with pytest.raises(http.client.IncompleteRead) as exc:
        r.read()
    assert exc.value.partial == pattern(100_000)
    c.close()
    # the connection is gone; a new one works and gets the whole object
    c = conn(proxy)
    st, _, b = req(c, "GET", "/b/k?size=%d" % size)
    assert st == 200 and b == pattern(size)
    c.close()
    assert proxy.wait_idle()
    first, second = proxy.requests
    assert first.sent_body_bytes == 100_000 and first.action == "cut"
    assert 100_000 <= first.response_body_bytes < size
    assert second.response_body_bytes == size
    assert proxy.bytes_from_upstream == first.response_body_bytes + size
    assert proxy.client_connections == 2 and proxy.upstream_connections == 2


def test_cut_raw_and_chunked(proxy):
    proxy.add_rule(op="GetObject", action="cut", cut_after=7, times=2)
    head, body, _ = raw_exchange(proxy, b"GET /b/k?size=5000 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == pattern(7)
    head, body, _ = raw_exchange(proxy, b"GET /b/chunked HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == b"6\r\nhello \r\n8\r\nc"   # 6 + 1 body bytes, then the connection drops
    assert [r.sent_body_bytes for r in proxy.requests] == [7, 7]


def test_stall(proxy):
    proxy.add_rule(op="GetObject", action="stall", cut_after=10, seconds=0.3)
    head, body, elapsed = raw_exchange(proxy, b"GET /b/k?size=5000 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == pattern(10)
    assert elapsed >= 0.28


def test_reset(proxy):
    proxy.add_rule(op="PutObject", action="reset")
    c = conn(proxy)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        req(c, "PUT", "/b/k", body=b"z" * 100)
    c.close()
    c = conn(proxy)
    st, _, _ = req(c, "PUT", "/b/k", body=b"z" * 100)
    assert st == 200
    c.close()
    assert proxy.op_count("PutObject") == 2
    assert proxy.requests[0].action == "reset" and proxy.requests[0].status is None


def test_cancelled_download_stops_pulling(proxy):
    size = 64 << 20
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    s.sendall(b"GET /b/k?size=%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
    got = 0
    while got < (1 << 20):
        got += len(s.recv(65536))
    s.close()
    assert proxy.wait_idle(3)
    pulled = proxy.bytes_from_upstream
    time.sleep(0.1)
    assert proxy.bytes_from_upstream == pulled
    assert pulled < 32 << 20
    assert proxy.requests[0].done


def test_clear_rules_and_unlimited_times(proxy):
    proxy.add_rule(op="GetObject", action="status", status=500, code="InternalError", times=None)
    c = conn(proxy)
    for _ in range(3):
        st, _, b = req(c, "GET", "/b/k")
        assert st == 500 and b"<Code>InternalError</Code>" in b
    proxy.clear_rules()
    st, _, _ = req(c, "GET", "/b/k")
    assert st == 200
    c.close()
    assert proxy.count(lambda r: r.status == 500) == 3
    proxy.clear_requests()
    assert proxy.count() == 0 and proxy.bytes_from_upstream == 0


def test_curl_expect_100_continue_and_reuse(proxy, upstream, tmp_path):
    require_tool("curl", "curl")
    f = tmp_path / "up.bin"
    data = os.urandom(2 << 20)
    f.write_bytes(data)
    base = f"http://{proxy.endpoint}"
    t0 = time.monotonic()
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n",
         "-H", "Expect: 100-continue", "-T", str(f), f"{base}/b/k",
         "--next", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n",
         f"{base}/b/k?size=300000"],
        capture_output=True, text=True, timeout=10)
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["200 1", "200 0"]  # second request reused the conn
    assert elapsed < 0.9  # no waiting out curl's 1 s Expect timeout
    assert upstream.received[0]["body"] == data
    assert upstream.received[0]["headers"]["Expect"] == "100-continue"
    assert proxy.client_connections == 1

    # a status rule on an Expect request: 100 Continue, body discarded, 503, connection usable
    proxy.add_rule(op="PutObject", action="status", status=503)
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n",
         "-H", "Expect: 100-continue", "-T", str(f), f"{base}/b/k",
         "--next", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n",
         "-T", str(f), f"{base}/b/k"],
        capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["503 1", "200 0"]
    assert proxy.wait_idle()
    assert [r.status for r in proxy.requests] == [200, 200, 503, 200]


def test_stop_closes_everything(upstream):
    p = FaultProxy("127.0.0.1", upstream.server_address[1]).start()
    c = conn(p)
    st, _, _ = req(c, "GET", "/b/k")
    assert st == 200
    p.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        req(c, "GET", "/b/k")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", p.port), timeout=1).close()
