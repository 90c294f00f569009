"""The plugin's gRPC server as Argo's client (and others) meet it: a real grpcio client and a
raw HTTP/2 client (h2) on the Unix socket, against the real binary."""
import hashlib
import os
import signal
import socket
import stat
import subprocess
import threading
import time

import grpc
import pytest

from harness import Plugin, artifact, pattern_file, pb, plugin_binary, sha256_file
from rawh2 import H2Client, call, grpc_frame, grpc_messages

MiB = 1 << 20






# --- the three call shapes -----------------------------------------------------------------

def test_unary_calls(plugin, store, tmp_path):
    root, cfg = store
    stub = plugin.stub()
    assert stub.GetCapabilities(pb.GetCapabilitiesRequest()).supports_save_stream is True
    src = pattern_file(tmp_path / "in.bin", 3 * MiB + 7)
    r = stub.Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("wf/a.bin", cfg)))
    assert r.success, r.error
    r = stub.Load(pb.LoadArtifactRequest(input_artifact=artifact("wf/a.bin", cfg), path=str(tmp_path / "out.bin")))
    assert r.success, r.error
    assert sha256_file(tmp_path / "out.bin") == sha256_file(src)


def test_server_streaming_chunks_and_end(plugin, store, tmp_path):
    root, cfg = store
    src = pattern_file(tmp_path / "in.bin", 5 * MiB + 123)
    stub = plugin.stub()
    assert stub.Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("s/big", cfg))).success
    msgs = list(stub.OpenStream(pb.OpenStreamRequest(artifact=artifact("s/big", cfg))))
    assert msgs[-1].is_end and not msgs[-1].data
    assert all(not m.is_end for m in msgs[:-1])
    assert all(len(m.data) <= MiB for m in msgs)
    assert hashlib.sha256(b"".join(m.data for m in msgs)).hexdigest() == sha256_file(src)


def test_client_streaming_save(plugin, store, tmp_path):
    root, cfg = store
    payload = os.urandom(7 * MiB + 5)

    def frames():
        yield pb.SaveStreamArtifactRequest(output_artifact=artifact("up/x.bin", cfg))
        for i in range(0, len(payload), 2 * MiB):
            yield pb.SaveStreamArtifactRequest(chunk=payload[i:i + 2 * MiB])

    r = plugin.stub().SaveStream(frames())
    assert r.success, r.error
    assert (root / "up" / "x.bin").read_bytes() == payload


# --- deadlines and cancellation --------------------------------------------------------------

def test_grpc_timeout_is_enforced_by_the_server(plugin, store):
    """No client-side timer here: the server itself must answer DEADLINE_EXCEEDED and cancel."""
    root, cfg = store
    c = H2Client(plugin.socket)
    t0 = time.monotonic()
    sid = c.start("/artifact.ArtifactService/SaveStream", {"grpc-timeout": "300m"})
    first = pb.SaveStreamArtifactRequest(output_artifact=artifact("dl/x", cfg)).SerializeToString()
    c.send(sid, grpc_frame(first) + grpc_frame(pb.SaveStreamArtifactRequest(chunk=b"abc").SerializeToString()))
    r = c.wait(sid, timeout=5)
    elapsed = time.monotonic() - t0
    c.close()
    assert r.grpc_status == 4, (r.headers, r.trailers)
    assert 0.25 < elapsed < 3
    time.sleep(0.2)
    assert not (root / "dl" / "x").exists()
    staging = root / ".argo-partial"
    assert not staging.exists() or not any(staging.iterdir()), "cancelled upload left a staged file"


def test_grpcio_deadline(plugin, store):
    root, cfg = store

    def slow():
        yield pb.SaveStreamArtifactRequest(output_artifact=artifact("dl2/x", cfg))
        time.sleep(2)
        yield pb.SaveStreamArtifactRequest(chunk=b"late")

    with pytest.raises(grpc.RpcError) as e:
        plugin.stub().SaveStream(slow(), timeout=0.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(0.3)
    assert not (root / "dl2" / "x").exists()


def test_cancel_mid_call_stops_the_handler(plugin, store):
    root, cfg = store
    sent = threading.Event()

    def frames():
        yield pb.SaveStreamArtifactRequest(output_artifact=artifact("c/x", cfg))
        yield pb.SaveStreamArtifactRequest(chunk=b"a" * MiB)
        sent.set()
        time.sleep(5)
        yield pb.SaveStreamArtifactRequest(chunk=b"never")

    fut = plugin.stub().SaveStream.future(frames())
    assert sent.wait(5)
    time.sleep(0.2)
    fut.cancel()
    with pytest.raises(grpc.FutureCancelledError):
        fut.result()
    deadline = time.monotonic() + 3
    while "SaveStream" not in plugin.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "reset by the client" in plugin.log() or "cancelled" in plugin.log()
    assert not (root / "c" / "x").exists()
    # and the server keeps serving
    assert plugin.stub().GetCapabilities(pb.GetCapabilitiesRequest()).supports_save_stream


def test_rst_stream_mid_call_then_next_request_works(plugin, store):
    root, cfg = store
    c = H2Client(plugin.socket)
    sid = c.start("/artifact.ArtifactService/SaveStream")
    c.send(sid, grpc_frame(pb.SaveStreamArtifactRequest(output_artifact=artifact("rst/x", cfg)).SerializeToString()))
    c.send(sid, grpc_frame(b"", length=100)[:5] + b"partial")
    time.sleep(0.1)
    c.reset(sid)
    sid2 = c.start("/artifact.ArtifactService/GetCapabilities")
    c.send(sid2, grpc_frame(b""), end=True)
    r = c.wait(sid2)
    c.close()
    assert r.grpc_status == 0
    assert pb.GetCapabilitiesResponse.FromString(grpc_messages(bytes(r.data))[0]).supports_save_stream
    assert not (root / "rst" / "x").exists()


# --- concurrency ------------------------------------------------------------------------------

def test_100_concurrent_streams_on_one_channel(plugin, store):
    """All 100 calls are open at the same moment (a barrier inside every request stream)."""
    root, cfg = store
    barrier = threading.Barrier(100, timeout=20)
    stub = plugin.stub()

    def frames(i):
        yield pb.SaveStreamArtifactRequest(output_artifact=artifact(f"many/{i}", cfg))
        barrier.wait()
        yield pb.SaveStreamArtifactRequest(chunk=f"payload {i}".encode())

    futures = [stub.SaveStream.future(frames(i)) for i in range(100)]
    results = [f.result(timeout=30) for f in futures]
    assert all(r.success for r in results), [r.error for r in results if not r.success][:3]
    assert sorted(os.listdir(root / "many")) == sorted(str(i) for i in range(100))
    assert (root / "many" / "42").read_bytes() == b"payload 42"


def test_16_channels_at_once(plugin, store, tmp_path):
    root, cfg = store
    src = pattern_file(tmp_path / "f", 256 * 1024)
    errors = []

    def worker(n):
        try:
            stub = plugin.stub(plugin.channel())
            for j in range(5):
                key = f"ch/{n}/{j}"
                assert stub.Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact(key, cfg))).success
                data = b"".join(m.data for m in stub.OpenStream(pb.OpenStreamRequest(artifact=artifact(key, cfg))))
                assert len(data) == 256 * 1024
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert not errors, errors[:2]


def test_slow_handler_does_not_block_other_calls(plugin, store):
    root, cfg = store
    gate = threading.Event()

    def held():
        yield pb.SaveStreamArtifactRequest(output_artifact=artifact("held/x", cfg))
        gate.wait(10)
        yield pb.SaveStreamArtifactRequest(chunk=b"done")

    stub = plugin.stub()
    futures = [stub.SaveStream.future(held()) for _ in range(8)]
    t0 = time.monotonic()
    for _ in range(20):
        assert stub.IsDirectory(pb.IsDirectoryRequest(artifact=artifact("held", cfg)), timeout=2).error == ""
    assert time.monotonic() - t0 < 5
    gate.set()
    assert all(f.result(10).success for f in futures)


# --- flow control -------------------------------------------------------------------------------

def test_slow_reader_holds_server_memory_bounded(plugin, store, tmp_path):
    """A client that never reopens its receive window: the server may hold only a couple of
    messages for that stream; the rest of a 256 MiB artifact must stay unread on disk."""
    root, cfg = store
    src = pattern_file(tmp_path / "big", 256 * MiB)
    assert plugin.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("big", cfg))).success
    time.sleep(0.3)
    before = plugin.rss_kib()
    c = H2Client(plugin.socket, auto_window=False)
    sid = c.start("/artifact.ArtifactService/OpenStream")
    c.send(sid, grpc_frame(pb.OpenStreamRequest(artifact=artifact("big", cfg)).SerializeToString()), end=True)
    t_end = time.monotonic() + 2
    while time.monotonic() < t_end:
        c.pump(0.2)
    during = plugin.rss_kib()
    got = len(c.responses[sid].data)
    c.close()
    assert got <= 1 << 20, got           # only the initial windows' worth reached us
    assert during - before < 24 * 1024, (before, during)


# --- bad input ----------------------------------------------------------------------------------

def raw_exchange(sock_path, data, wait=1.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    s.sendall(data)
    s.settimeout(wait)
    got = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except socket.timeout:
        got += b"<timeout>"
    s.close()
    return got


def still_serving(plugin):
    return plugin.stub().GetCapabilities(pb.GetCapabilitiesRequest(), timeout=5).supports_save_stream


def test_garbage_instead_of_preface(plugin):
    got = raw_exchange(plugin.socket, b"\x00\x01garbage that is not http/2 at all\r\n\r\n" * 3)
    assert b"<timeout>" not in got     # closed, not left hanging
    assert still_serving(plugin)


def test_http1_request_gets_a_readable_refusal(plugin):
    got = raw_exchange(plugin.socket, b"GET /api/v1/artifacts/list HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 505"), got[:80]
    assert b"HTTP/2" in got
    assert still_serving(plugin)


def test_4gib_length_prefix_is_refused_at_once(plugin):
    r = call(plugin.socket, "Load", grpc_frame(b"", length=0xFFFFFFFF))
    assert r.grpc_status == 8, (r.headers, r.trailers)
    assert "larger than max" in r.grpc_message
    assert still_serving(plugin)


def test_message_over_receive_limit(plugin):
    big = pb.LoadArtifactRequest(path="x" * (5 * MiB)).SerializeToString()
    r = call(plugin.socket, "Load", grpc_frame(big))
    assert r.grpc_status == 8
    assert still_serving(plugin)


def test_truncated_message(plugin):
    r = call(plugin.socket, "Load", grpc_frame(b"", length=100)[:5] + b"0123456789")
    assert r.grpc_status == 13, (r.headers, r.trailers)
    assert "ended inside a message" in r.grpc_message
    assert still_serving(plugin)


def test_undecodable_message(plugin):
    r = call(plugin.socket, "Load", grpc_frame(b"\xff\xff\xff\xff\xff"))
    assert r.grpc_status == 3, (r.headers, r.trailers)
    assert "LoadArtifactRequest" in r.grpc_message


def test_unknown_method(plugin):
    r = call(plugin.socket, "NoSuchMethod", grpc_frame(b""))
    assert r.grpc_status == 12
    with pytest.raises(grpc.RpcError) as e:
        plugin.channel().unary_unary("/artifact.ArtifactService/Nope")(b"")
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_wrong_content_type(plugin):
    r = call(plugin.socket, "Load", grpc_frame(b""), content_type="text/plain")
    assert r.status == "415"
    assert b"application/grpc" in bytes(r.data)
    assert still_serving(plugin)


def test_compressed_message_in_unsupported_encoding(plugin):
    r = call(plugin.socket, "GetCapabilities", grpc_frame(b"\x1f\x8b", compressed=True), headers={"grpc-encoding": "gzip"})
    assert r.grpc_status == 12, (r.headers, r.trailers)
    assert "gzip" in r.grpc_message
    assert (r.trailers or r.headers).get("grpc-accept-encoding") == "identity"


def test_status_message_is_percent_encoded(plugin, store):
    root, cfg = store
    r = call(plugin.socket, "OpenStream",
             grpc_frame(pb.OpenStreamRequest(artifact=artifact("missing/ключ%", cfg)).SerializeToString()))
    assert r.grpc_status == 5
    raw = (r.trailers or r.headers)["grpc-message"]
    assert raw.isascii() and "%25" in raw
    assert "ключ%" in r.grpc_message


# --- socket lifecycle and signals --------------------------------------------------------------

def test_socket_is_usable_by_every_user(plugin):
    mode = os.stat(plugin.socket).st_mode
    assert stat.S_ISSOCK(mode) and mode & 0o777 == 0o777


def test_stale_socket_is_replaced(tmp_path):
    path = str(tmp_path / "sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()   # leaves a socket file nobody listens on
    p = Plugin(workdir=tmp_path, socket_path=path).start()
    try:
        assert still_serving(p)
    finally:
        p.stop()


def test_live_socket_is_not_stolen(plugin):
    out = subprocess.run([plugin_binary(), plugin.socket], capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert "already answering" in out.stderr
    assert still_serving(plugin)


def test_sigterm_lets_the_call_in_flight_finish(tmp_path, store):
    root, cfg = store
    p = Plugin(workdir=tmp_path).start()
    started = threading.Event()
    go_on = threading.Event()

    def frames():
        yield pb.SaveStreamArtifactRequest(output_artifact=artifact("term/x", cfg))
        yield pb.SaveStreamArtifactRequest(chunk=b"first ")
        started.set()
        go_on.wait(10)
        yield pb.SaveStreamArtifactRequest(chunk=b"second")

    fut = p.stub().SaveStream.future(frames())
    assert started.wait(5)
    time.sleep(0.2)
    p.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert p.proc.poll() is None, "exited with a call in flight"
    go_on.set()
    r = fut.result(timeout=10)
    assert r.success, r.error
    assert p.proc.wait(10) == 0
    assert not os.path.exists(p.socket)
    assert (root / "term" / "x").read_bytes() == b"first second"


def test_sigterm_idle_exits_zero_fast(tmp_path):
    p = Plugin(workdir=tmp_path).start()
    t0 = time.monotonic()
    assert p.stop() == 0
    assert time.monotonic() - t0 < 2
    assert not os.path.exists(p.socket)


def test_grace_period_cancels_stuck_calls(tmp_path, store):
    root, cfg = store
    p = Plugin(workdir=tmp_path, args=["--grace-period", "1"]).start()

    def stuck():
        yield pb.SaveStreamArtifactRequest(output_artifact=artifact("stuck/x", cfg))
        time.sleep(20)
        yield pb.SaveStreamArtifactRequest(chunk=b"never")

    fut = p.stub().SaveStream.future(stuck())
    time.sleep(0.3)
    t0 = time.monotonic()
    p.proc.send_signal(signal.SIGTERM)
    assert p.proc.wait(10) == 0
    assert time.monotonic() - t0 < 5
    with pytest.raises(Exception):
        fut.result(timeout=5)
    assert not (root / "stuck" / "x").exists()
    p.stop()


def test_help_and_version():
    out = subprocess.run([plugin_binary(), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "socket" in out.stdout.lower()
    out = subprocess.run([plugin_binary(), "version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("argo-artifact-plugin ")


def test_a_sigterm_the_moment_the_socket_accepts_is_never_lost(tmp_path):
    """Argo may stop a pod the instant the sidecar is up. The handler is installed before the
    socket exists: a SIGTERM sent right after the first connect must end the plugin (exit 0,
    socket removed), every time. (With a dispatch signal source and SIG_IGN until it was armed,
    7 of 200 such signals were lost, 1 of 150 in this loop, and the plugin ran on until SIGKILL.)"""
    from harness import plugin_binary
    lost, runs = 0, 150
    for i in range(runs):
        sock = str(tmp_path / f"s{i}")
        proc = subprocess.Popen([plugin_binary(), sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:     # connect as soon as it can, then signal at once
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(sock)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the plugin did not start"
                time.sleep(0.001)
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(5)
        except subprocess.TimeoutExpired:
            lost += 1
            proc.kill()
            proc.wait()
            continue
        assert code == 0
        assert not os.path.exists(sock)
    assert lost == 0, f"{lost} of {runs} SIGTERMs sent as the socket appeared were lost"
