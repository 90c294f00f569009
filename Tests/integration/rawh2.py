"""A small blocking HTTP/2 client (the `h2` library) for what grpcio will not do on purpose:
malformed gRPC frames, resets mid-call, a receive window that is never reopened, server-side
deadlines with no client-side timer."""
import socket
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.settings


def grpc_frame(payload: bytes, compressed=False, length=None) -> bytes:
    n = len(payload) if length is None else length
    return struct.pack(">BI", 1 if compressed else 0, n) + payload


def grpc_messages(data: bytes):
    out, i = [], 0
    while i + 5 <= len(data):
        flag, n = struct.unpack(">BI", data[i:i + 5])
        out.append(data[i + 5:i + 5 + n])
        i += 5 + n
    return out


class Response:
    def __init__(self):
        self.headers = {}
        self.trailers = {}
        self.data = bytearray()
        self.ended = False
        self.reset = None

    @property
    def status(self):
        return self.headers.get(":status")

    @property
    def grpc_status(self):
        v = self.trailers.get("grpc-status", self.headers.get("grpc-status"))
        return int(v) if v is not None else None

    @property
    def grpc_message(self):
        from urllib.parse import unquote
        v = self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))
        return unquote(v)


class H2Client:
    def __init__(self, sock_path, window=None, auto_window=True):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock_path)
        self.sock.settimeout(10)
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.auto_window = auto_window
        self.conn.initiate_connection()
        if window is not None:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.flush()
        self.responses = {}
        self.closed = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def start(self, path, headers=None, content_type="application/grpc", method="POST"):
        sid = self.conn.get_next_available_stream_id()
        h = [(":method", method), (":scheme", "http"), (":authority", "localhost"), (":path", path)]
        if content_type:
            h.append(("content-type", content_type))
        h.append(("te", "trailers"))
        h += list((headers or {}).items())
        self.conn.send_headers(sid, h)
        self.flush()
        self.responses[sid] = Response()
        return sid

    def send(self, sid, data, end=False):
        # Respect the server's flow-control window, pumping events while it is closed.
        view = memoryview(data)
        while len(view) > 0:
            if self.responses[sid].ended or self.closed:
                return  # the server answered (or reset) before taking the whole body
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.pump(0.5)
                continue
            self.conn.send_data(sid, view[:window].tobytes())
            view = view[window:]
            self.flush()
        if end and not self.responses[sid].ended:
            self.conn.end_stream(sid)
            self.flush()

    def reset(self, sid, code=8):
        self.conn.reset_stream(sid, error_code=code)
        self.flush()

    def pump(self, timeout=1.0):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not data:
            self.closed = True
            return False
        for ev in self.conn.receive_data(data):
            r = self.responses.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                r.headers = dict(ev.headers)
            elif isinstance(ev, h2.events.TrailersReceived):
                r.trailers = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                r.data += ev.data
                if self.auto_window:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                r.ended = True
            elif isinstance(ev, h2.events.StreamReset):
                if r:
                    r.reset = ev.error_code
                    r.ended = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.closed = True
        self.flush()
        return True

    def wait(self, sid, timeout=10.0):
        deadline = time.monotonic() + timeout
        r = self.responses[sid]
        while not r.ended and time.monotonic() < deadline and not self.closed:
            self.pump(min(0.5, max(0.01, deadline - time.monotonic())))
        return r

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:
            pass
        self.sock.close()


def call(sock_path, method, payload: bytes, headers=None, content_type="application/grpc", timeout=10.0):
    c = H2Client(sock_path)
    try:
        sid = c.start(f"/artifact.ArtifactService/{method}", headers, content_type)
        c.send(sid, payload, end=True)
        return c.wait(sid, timeout)
    finally:
        c.close()
