"""A fault-injecting HTTP/1.1 reverse proxy for the S3 integration tests (stdlib only).

    proxy = FaultProxy("127.0.0.1", rgw_port).start()
    # point the plugin's S3 endpoint at proxy.endpoint ("127.0.0.1:PORT")
    proxy.add_rule(op="UploadPart", action="flip", after=2, times=1)   # corrupt the 3rd part
    proxy.add_rule(op="GetObject", action="cut", cut_after=1 << 20)      # drop a download at 1 MiB
    proxy.add_rule(op="PutObject", action="status", status=503)        # SlowDown once
    ...
    assert proxy.op_count("UploadPart") == 5
    proxy.stop()

Every client connection gets its own keep-alive upstream connection. Requests (request line,
headers and body) are forwarded byte for byte, so SigV4 signatures made for the proxy's address
stay valid as long as the client signed `Host: 127.0.0.1:<proxy port>` (RGW does not check that
Host is its own address). Responses are streamed back in 64 KiB pieces as they arrive.

`Expect: 100-continue` is passed through: the proxy forwards the head, waits for either the
upstream's interim answer (relayed to the client) or the client starting its body anyway.

Rules are checked in the order they were added; the first one that matches a request and is
not exhausted (and is past its `after` skips) fires, and the rules after it do not see that
request. Actions:

    status  answer `status` with an S3 XML error (<Code>code</Code>) without forwarding; the
            request body is read and discarded (after a `100 Continue` if the client asked for
            one), so the connection stays usable
    flip    xor 0x01 into the middle byte of the request body (Content-Length bodies: byte
            len//2; chunked bodies: the middle byte of the first chunk) and forward; headers,
            Content-MD5 included, are left as they are
    cut     forward, deliver `cut_after` response-body bytes, then close client and upstream
            connections (with `rst=True`: an RST instead of a FIN)
    stall   forward, deliver `cut_after` response-body bytes, then send nothing for `seconds`
            (connection left open), then close both connections
    reset   close the client connection at once (RST) without reading the body or answering
    delay   wait `seconds`, then forward normally
"""

import http
import select
import socket
import struct
import threading
import time
from urllib.parse import parse_qsl, urlsplit

__all__ = ["FaultProxy", "Record", "Rule", "classify"]

CHUNK = 64 * 1024
MAX_HEAD = 1 << 20
ACTIONS = ("status", "flip", "cut", "stall", "reset", "delay")


# --------------------------------------------------------------------------- classification

def _is_bucket_path(path):
    """'/bucket' or '/bucket/' (no key)."""
    rest = path.lstrip("/")
    if rest.endswith("/"):
        rest = rest[:-1]
    return rest != "" and "/" not in rest


def classify(method, path, query):
    """S3 operation name from the method, the path (without query) and the query dict."""
    m = method.upper()
    q = query
    bucket = _is_bucket_path(path)
    if m == "PUT" and "partNumber" in q:
        return "UploadPart"
    if m == "POST" and "uploads" in q:
        return "CreateMultipartUpload"
    if m == "POST" and "uploadId" in q:
        return "CompleteMultipartUpload"
    if m == "DELETE" and "uploadId" in q:
        return "AbortMultipartUpload"
    if m == "GET" and "uploadId" in q:
        return "ListParts"
    if m == "GET" and "uploads" in q:
        return "ListMultipartUploads"
    if m == "POST" and "delete" in q:
        return "DeleteObjects"
    if m == "GET" and "list-type" in q:
        return "ListObjectsV2"
    if m == "HEAD":
        return "HeadBucket" if bucket else "HeadObject"
    if m == "GET":
        return "ListObjects" if bucket else "GetObject"
    if m == "PUT":
        return "CreateBucket" if bucket else "PutObject"
    if m == "DELETE":
        return "DeleteBucket" if bucket else "DeleteObject"
    return m


# --------------------------------------------------------------------------- records and rules

class Record:
    """One request seen by the proxy.

    Unpacks / indexes like the tuple (method, path, query, headers, body_len); more fields are
    attributes: op, target (raw request target), version, status (final status sent, None if
    none), action (the rule action applied, or None), response_body_bytes (body bytes read from
    upstream for this request), sent_body_bytes (body bytes delivered to the client), done,
    conn_id (client connection number), started (time.monotonic()).

    body_len is the request's Content-Length (0 if none); for a chunked request it is None
    while the rules are matched and the decoded length once the body has been read.
    """

    __slots__ = ("method", "path", "query", "headers", "body_len", "op", "target", "version",
                 "status", "action", "response_body_bytes", "sent_body_bytes", "done", "conn_id",
                 "started")

    def __init__(self, method, path, query, headers, body_len, target, version, conn_id):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body_len = body_len
        self.op = classify(method, path, query)
        self.target = target
        self.version = version
        self.status = None
        self.action = None
        self.response_body_bytes = 0
        self.sent_body_bytes = 0
        self.done = False
        self.conn_id = conn_id
        self.started = time.monotonic()

    def _tuple(self):
        return (self.method, self.path, self.query, self.headers, self.body_len)

    def __iter__(self):
        return iter(self._tuple())

    def __getitem__(self, i):
        return self._tuple()[i]

    def __len__(self):
        return 5

    def __repr__(self):
        return (f"Record({self.op} {self.method} {self.target} body_len={self.body_len} "
                f"status={self.status} action={self.action} "
                f"response_body_bytes={self.response_body_bytes} done={self.done})")


class Rule:
    """A fault rule; see FaultProxy.add_rule. `seen` counts matching requests (including the
    `after` skips), `fired` how many times the action was applied."""

    def __init__(self, op, pred, action, times, after, status, code, message, cut_after,
                 seconds, rst):
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; one of {ACTIONS}")
        if callable(op) and pred is None:
            op, pred = None, op
        self.op = op
        self.pred = pred
        self.action = action
        self.times = times
        self.after = after
        self.status = status
        self.code = code
        self.message = message
        self.cut_after = cut_after
        self.seconds = seconds
        self.rst = rst
        self.seen = 0
        self.fired = 0

    @property
    def exhausted(self):
        return self.times is not None and self.fired >= self.times

    def matches(self, rec):
        if self.op is not None:
            ops = (self.op,) if isinstance(self.op, str) else tuple(self.op)
            if rec.op not in ops:
                return False
        if self.pred is not None and not self.pred(rec):
            return False
        return True

    def __repr__(self):
        what = self.op if self.op is not None else getattr(self.pred, "__name__", "pred")
        return (f"Rule({what} {self.action} after={self.after} times={self.times} "
                f"seen={self.seen} fired={self.fired})")


# --------------------------------------------------------------------------- plumbing

class _Gone(Exception):
    pass


class _ClientGone(_Gone):
    pass


class _UpstreamGone(_Gone):
    pass


class _Conn:
    """A socket with a read buffer; every failure is raised as `gone`."""

    def __init__(self, sock, gone):
        self.sock = sock
        self.gone = gone
        self.buf = bytearray()

    def _recv(self, n):
        try:
            d = self.sock.recv(n)
        except (OSError, ValueError) as e:
            raise self.gone(str(e)) from None
        if not d:
            raise self.gone("eof")
        return d

    def sendall(self, data):
        try:
            self.sock.sendall(data)
        except (OSError, ValueError) as e:
            raise self.gone(str(e)) from None

    def read_head(self):
        """Bytes up to and including the blank line; None on EOF before any byte."""
        while True:
            while self.buf[:2] == b"\r\n":
                del self.buf[:2]
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[:i + 4])
                del self.buf[:i + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise self.gone("head too large")
            try:
                self.buf += self._recv(CHUNK)
            except _Gone:
                if not self.buf:
                    return None
                raise

    def readline(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > MAX_HEAD:
                raise self.gone("line too long")
            self.buf += self._recv(CHUNK)

    def read_some(self, n):
        if self.buf:
            d = bytes(self.buf[:n])
            del self.buf[:n]
            return d
        return self._recv(min(n, CHUNK))

    def read_exact(self, n):
        out = bytearray()
        while len(out) < n:
            out += self.read_some(n - len(out))
        return bytes(out)


def _parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if not line or ":" not in line:
            continue
        k, v = line.split(":", 1)
        k = k.strip().lower()
        v = v.strip()
        headers[k] = f"{headers[k]}, {v}" if k in headers else v
    return lines[0], headers


def _is_chunked(headers):
    return "chunked" in headers.get("transfer-encoding", "").lower()


def _content_length(headers):
    v = headers.get("content-length")
    if v is None:
        return None
    return int(v.split(",")[0].strip())


# Body piece iterators: yield (is_data, bytes, chunk_size_or_None).

def _iter_length(conn, n):
    left = n
    while left > 0:
        d = conn.read_some(min(left, CHUNK))
        left -= len(d)
        yield True, d, None


def _iter_chunked(conn):
    while True:
        line = conn.readline()
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise conn.gone(f"bad chunk size line {line!r}") from None
        yield False, line, size
        if size == 0:
            while True:  # trailers up to the blank line
                t = conn.readline()
                yield False, t, None
                if t in (b"\r\n", b"\n"):
                    return
        left = size
        while left > 0:
            d = conn.read_some(min(left, CHUNK))
            left -= len(d)
            yield True, d, None
        yield False, conn.read_exact(2), None


def _iter_until_eof(conn):
    while True:
        try:
            d = conn.read_some(CHUNK)
        except _Gone:
            return
        yield True, d, None


def _close(sock, rst=False):
    if sock is None:
        return
    try:
        if rst:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Injected"


# --------------------------------------------------------------------------- the proxy

class FaultProxy:
    def __init__(self, upstream_host, upstream_port, host="127.0.0.1"):
        self.upstream_host = upstream_host
        self.upstream_port = int(upstream_port)
        self.host = host
        self.port = None
        self.requests = []              # list of Record
        self.bytes_from_upstream = 0    # response body bytes read from upstream, all requests
        self.bytes_to_client = 0        # response body bytes delivered to clients
        self.client_connections = 0     # accepted client connections
        self.upstream_connections = 0   # upstream connections opened
        self.errors = []                # unexpected exceptions in connection threads
        self._rules = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._stopping = threading.Event()
        self._socks = set()
        self._listener = None
        self._accept_thread = None

    # ---- lifecycle

    @property
    def endpoint(self):
        return f"{self.host}:{self.port}"

    @property
    def url(self):
        return f"http://{self.endpoint}"

    def start(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.host, 0))
        ls.listen(256)
        ls.settimeout(0.2)
        self._listener = ls
        self.port = ls.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                               name=f"faultproxy-accept-{self.port}")
        self._accept_thread.start()
        return self

    def stop(self):
        self._stopping.set()
        _close(self._listener)
        with self._lock:
            socks = list(self._socks)
            self._socks.clear()
        for s in socks:
            _close(s)
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=2)

    def __enter__(self):
        return self if self.port is not None else self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- rules

    def add_rule(self, op=None, action="status", *, pred=None, times=1, after=0, status=503,
                 code="SlowDown", message="injected", cut_after=0, seconds=5.0, rst=False):
        """Add a fault rule and return it (its .fired / .seen count what happened).

        op: an operation name as classify() gives it, a tuple/list of names, or a callable
            (taken as pred); pred: callable(Record) -> bool (both must hold when both given).
        times: how many matching requests get the action (None: unlimited);
        after: let the first `after` matching requests through untouched.
        status/code/message: for "status"; cut_after: response-body bytes delivered before a
        "cut"/"stall"; seconds: for "stall"/"delay"; rst: "cut" closes with an RST.
        """
        rule = Rule(op, pred, action, times, after, status, code, message, cut_after, seconds,
                    rst)
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove_rule(self, rule):
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear_rules(self):
        with self._lock:
            self._rules.clear()

    @property
    def rules(self):
        with self._lock:
            return list(self._rules)

    def _choose_rule(self, rec):
        with self._lock:
            for rule in self._rules:
                if rule.exhausted:
                    continue
                try:
                    ok = rule.matches(rec)
                except Exception as e:  # a broken predicate must not kill the connection
                    self.errors.append(f"rule predicate raised: {e!r}")
                    ok = False
                if not ok:
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                rule.fired += 1
                return rule
        return None

    # ---- counting

    def count(self, pred=None):
        """Number of requests seen; pred: callable(Record) -> bool, or an op name."""
        with self._lock:
            recs = list(self.requests)
        if pred is None:
            return len(recs)
        if isinstance(pred, str):
            return sum(1 for r in recs if r.op == pred)
        return sum(1 for r in recs if pred(r))

    def op_count(self, op):
        return self.count(lambda r: r.op == op)

    def ops(self):
        """Operation names of all requests, in arrival order."""
        with self._lock:
            return [r.op for r in self.requests]

    def records(self, op=None):
        with self._lock:
            return [r for r in self.requests if op is None or r.op == op]

    def clear_requests(self):
        """Forget the records and zero the byte counters (rules are kept)."""
        with self._lock:
            self.requests.clear()
            self.bytes_from_upstream = 0
            self.bytes_to_client = 0

    def wait_idle(self, timeout=5.0):
        """Wait until no request is being handled; True if that happened within timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # ---- internals

    def _track(self, sock):
        with self._lock:
            if self._stopping.is_set():
                _close(sock)
                raise _Gone("stopping")
            self._socks.add(sock)

    def _untrack_close(self, sock, rst=False):
        if sock is None:
            return
        with self._lock:
            self._socks.discard(sock)
        _close(sock, rst)

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                csock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            csock.settimeout(None)
            csock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self._track(csock)
            except _Gone:
                break
            with self._lock:
                self.client_connections += 1
                conn_id = self.client_connections
            threading.Thread(target=_Session(self, csock, conn_id).run, daemon=True,
                             name=f"faultproxy-conn-{conn_id}").start()


class _Session:
    """One client connection and its upstream connection."""

    def __init__(self, proxy, csock, conn_id):
        self.p = proxy
        self.client = _Conn(csock, _ClientGone)
        self.up = None
        self.conn_id = conn_id

    def run(self):
        rst = False
        try:
            while not self.p._stopping.is_set():
                head = self.client.read_head()
                if head is None:
                    break
                keep, rst = self.handle(head)
                if not keep:
                    break
        except _Gone:
            pass
        except Exception as e:
            if not self.p._stopping.is_set():
                with self.p._lock:
                    self.p.errors.append(repr(e))
        finally:
            self.close_upstream()
            self.p._untrack_close(self.client.sock, rst)

    # ---- upstream connection

    def close_upstream(self, rst=False):
        if self.up is not None:
            self.p._untrack_close(self.up.sock, rst)
            self.up = None

    def connect_upstream(self):
        try:
            s = socket.create_connection((self.p.upstream_host, self.p.upstream_port), timeout=10)
        except OSError as e:
            raise _UpstreamGone(f"connect: {e}") from None
        s.settimeout(None)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.p._track(s)
        with self.p._lock:
            self.p.upstream_connections += 1
        self.up = _Conn(s, _UpstreamGone)

    def send_head_upstream(self, head):
        if self.up is not None:
            # a kept-alive connection the server has closed (or that has stray data) is stale
            try:
                r, _, _ = select.select([self.up.sock], [], [], 0)
            except (OSError, ValueError):
                r = [True]
            if r or self.up.buf:
                self.close_upstream()
        reused = self.up is not None
        if self.up is None:
            self.connect_upstream()
        try:
            self.up.sendall(head)
        except _UpstreamGone:
            if not reused:
                raise
            self.close_upstream()
            self.connect_upstream()
            self.up.sendall(head)

    # ---- one request

    def handle(self, head):
        """Handle one request whose head has been read; returns (keep_alive, close_with_rst)."""
        p = self.p
        reqline, headers = _parse_head(head)
        parts = reqline.split(" ")
        if len(parts) != 3:
            self.send_simple(400, "BadRequest", "bad request line", close=True)
            return False, False
        method, target, version = parts
        u = urlsplit(target)
        query = dict(parse_qsl(u.query, keep_blank_values=True))
        chunked = _is_chunked(headers)
        length = None if chunked else (_content_length(headers) or 0)
        rec = Record(method, u.path, query, headers, length, target, version, self.conn_id)
        with p._lock:
            p.requests.append(rec)
            p._inflight += 1
        try:
            conn_hdr = headers.get("connection", "").lower()
            client_close = "close" in conn_hdr or (version == "HTTP/1.0"
                                                   and "keep-alive" not in conn_hdr)
            has_body = chunked or length > 0
            expect = has_body and "100-continue" in headers.get("expect", "").lower()

            rule = p._choose_rule(rec)
            action = rule.action if rule else None
            rec.action = action

            if action == "reset":
                return False, True

            if action == "status":
                if expect and not self.client.buf:
                    self.client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                n = 0
                if chunked:
                    for is_data, d, _ in _iter_chunked(self.client):
                        n += len(d) if is_data else 0
                    rec.body_len = n
                else:
                    for _ in _iter_length(self.client, length):
                        pass
                self.send_simple(rule.status, rule.code, rule.message, close=client_close,
                                 head_only=method.upper() == "HEAD")
                rec.status = rule.status
                return not client_close, False

            if action == "delay":
                p._stopping.wait(rule.seconds)

            keep, rst = self.forward(rec, head, method, chunked, length, expect, rule)
            return keep and not client_close, rst
        finally:
            rec.done = True
            with p._idle:
                p._inflight -= 1
                p._idle.notify_all()

    def send_simple(self, status, code, message, close=False, head_only=False):
        body = (f"<Error><Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>proxy</RequestId></Error>").encode()
        head = (f"HTTP/1.1 {status} {_reason(status)}\r\n"
                f"Content-Type: application/xml\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"x-amz-request-id: proxy\r\n"
                f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n").encode()
        self.client.sendall(head if head_only else head + body)

    def forward(self, rec, head, method, chunked, length, expect, rule):
        try:
            self.send_head_upstream(head)
        except _UpstreamGone:
            self.close_upstream()
            self.send_simple(502, "BadGateway", "upstream unreachable", close=True)
            rec.status = 502
            return False, False

        final = None          # final response head, if it came before the request body
        if expect and not self.client.buf:
            while final is None:
                if not self.up.buf:
                    r, _, _ = select.select([self.up.sock, self.client.sock], [], [])
                    if self.up.sock not in r:
                        break             # the client is sending its body without waiting
                h = self.up.read_head()
                if h is None:
                    raise _UpstreamGone("eof")
                st = int(h.split(b" ", 2)[1])
                if 100 <= st < 200 and st != 101:
                    self.client.sendall(h)
                    if st == 100:
                        break
                else:
                    final = h

        early = final is not None
        body_sent_fully = True
        if final is None:
            try:
                self.relay_request_body(rec, chunked, length, rule)
            except _UpstreamGone:
                body_sent_fully = False   # upstream may have answered early and closed
            try:
                final = self.read_final_head()
            except _UpstreamGone:
                self.close_upstream()
                self.send_simple(502, "BadGateway", "upstream closed", close=True)
                rec.status = 502
                return False, False
        keep, rst = self.relay_response(rec, final, method, rule)
        if early or not body_sent_fully:
            keep = False          # the state of the client's request body is unknown
        return keep, rst

    def relay_request_body(self, rec, chunked, length, rule):
        flip = rule is not None and rule.action == "flip"
        flip_at = None
        if flip and not chunked and length:
            flip_at = length // 2
        pos = 0
        total = 0
        pieces = _iter_chunked(self.client) if chunked else _iter_length(self.client, length)
        for is_data, d, size in pieces:
            if size is not None and flip and flip_at is None and size > 0:
                flip_at = pos + size // 2
            if is_data:
                if flip_at is not None and pos <= flip_at < pos + len(d):
                    b = bytearray(d)
                    b[flip_at - pos] ^= 0x01
                    d = bytes(b)
                    flip_at = -1
                pos += len(d)
                total += len(d)
            self.up.sendall(d)
        if chunked:
            rec.body_len = total

    def read_final_head(self):
        while True:
            h = self.up.read_head()
            if h is None:
                raise _UpstreamGone("eof before response")
            st = int(h.split(b" ", 2)[1])
            if 100 <= st < 200 and st != 101:
                self.client.sendall(h)  # interim responses are passed on
                continue
            return h

    def relay_response(self, rec, head, method, rule):
        p = self.p
        statusline, rh = _parse_head(head)
        sp = statusline.split(" ", 2)
        status = int(sp[1])
        rec.status = status
        conn_hdr = rh.get("connection", "").lower()
        up_close = "close" in conn_hdr or (sp[0] == "HTTP/1.0" and "keep-alive" not in conn_hdr)
        if method.upper() == "HEAD" or status in (204, 304) or 100 <= status < 200:
            pieces = iter(())
        elif _is_chunked(rh):
            pieces = _iter_chunked(self.up)
        elif rh.get("content-length") is not None:
            pieces = _iter_length(self.up, _content_length(rh))
        else:
            pieces = _iter_until_eof(self.up)
            up_close = True

        limit = None
        if rule is not None and rule.action in ("cut", "stall"):
            limit = max(0, int(rule.cut_after))

        try:
            self.client.sendall(head)
            sent = 0
            if limit is None or limit > 0:
                for is_data, d, _ in pieces:
                    if is_data:
                        with p._lock:
                            p.bytes_from_upstream += len(d)
                        rec.response_body_bytes += len(d)
                        if limit is not None and sent + len(d) >= limit:
                            d = d[:limit - sent]
                        self.client.sendall(d)
                        sent += len(d)
                        rec.sent_body_bytes = sent
                        with p._lock:
                            p.bytes_to_client += len(d)
                        if limit is not None and sent >= limit:
                            break
                    else:
                        self.client.sendall(d)
        except _ClientGone:
            self.close_upstream()  # the rest of the response is not wanted any more
            return False, False
        except _UpstreamGone:
            self.close_upstream()
            return False, False    # client sees the connection drop mid-response

        if limit is not None:
            if rule.action == "stall":
                p._stopping.wait(rule.seconds)
            self.close_upstream(rst=True)
            return False, bool(rule.rst)
        if up_close:
            self.close_upstream()
            return False, False
        return True, False
