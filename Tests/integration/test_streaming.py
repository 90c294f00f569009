"""The streaming reader on RGW: backpressure from a slow client to the store, failures that
never look like success, cancellation that stops the store transfer, parallel ranged loads."""
import hashlib
import os
import time

import grpc
import pytest

from harness import artifact, pb
from rawh2 import H2Client, grpc_frame, grpc_messages

MiB = 1 << 20


@pytest.fixture(scope="module")
def big_object(rgw):
    """One 512 MiB object (and its sha256), written once with boto3."""
    bucket = rgw.new_bucket("stream")
    import io
    h = hashlib.sha256()
    buf = io.BytesIO()
    for i in range(512):
        block = (i.to_bytes(4, "little") * (MiB // 4))
        h.update(block)
        buf.write(block)
    buf.seek(0)
    from boto3.s3.transfer import TransferConfig
    rgw.boto3().upload_fileobj(buf, bucket, "big.bin", Config=TransferConfig(multipart_chunksize=64 * MiB))
    return bucket, "big.bin", h.hexdigest()


def test_slow_reader_keeps_plugin_memory_flat(rgw, big_object, s3plugin):
    bucket, key, digest = big_object
    cfg = rgw.config(bucket)
    c = H2Client(s3plugin.socket, window=64 * 1024, auto_window=False)
    sid = c.start("/artifact.ArtifactService/OpenStream")
    c.send(sid, grpc_frame(pb.OpenStreamRequest(artifact=artifact(key, cfg)).SerializeToString()), end=True)
    resp = c.responses[sid]
    acked = 0
    samples = []
    t_end = time.monotonic() + 5
    # slow phase: 64 KiB every 10 ms
    while time.monotonic() < t_end:
        c.pump(0.005)
        unacked = len(resp.data) - acked
        if unacked > 0:
            n = min(unacked, 64 * 1024)
            c.conn.acknowledge_received_data(n, sid)
            c.flush()
            acked += n
        samples.append(s3plugin.rss_kib())
        time.sleep(0.01)
    slow_bytes = len(resp.data)
    # fast phase: read everything
    c.auto_window = True
    c.conn.acknowledge_received_data(len(resp.data) - acked, sid)
    c.flush()
    c.wait(sid, timeout=120)
    c.close()
    settled = samples[len(samples) // 5:]
    growth_mib = (max(settled) - min(settled)) / 1024
    assert growth_mib < 16, f"RSS moved {growth_mib:.1f} MiB during the slow phase"
    assert slow_bytes < 64 * MiB, slow_bytes          # the slow client really was slow
    msgs = grpc_messages(bytes(resp.data))
    decoded = [pb.OpenStreamResponse.FromString(m) for m in msgs]
    assert decoded[-1].is_end
    assert hashlib.sha256(b"".join(m.data for m in decoded)).hexdigest() == digest
    print(f"slow reader: {slow_bytes // 1024} KiB in 5 s, RSS range {min(settled) // 1024}-{max(settled) // 1024} MiB")


def read_stream(stub, key, cfg):
    msgs, status = [], None
    try:
        for m in stub.OpenStream(pb.OpenStreamRequest(artifact=artifact(key, cfg))):
            msgs.append(m)
    except grpc.RpcError as e:
        status = e.code()
    return msgs, status


def test_transient_cut_is_healed_by_offset_resume(rgw, big_object, proxy, s3plugin):
    bucket, key, digest = big_object
    cfg = rgw.config(bucket, endpoint=proxy.endpoint)
    proxy.add_rule(op="GetObject", action="cut", cut_after=100 * MiB, times=1)
    msgs, status = read_stream(s3plugin.stub(), key, cfg)
    assert status is None and msgs[-1].is_end
    assert hashlib.sha256(b"".join(m.data for m in msgs)).hexdigest() == digest
    gets = proxy.records(op="GetObject")
    assert len(gets) == 2
    assert gets[1].headers.get("range") == f"bytes={100 * MiB}-" and gets[1].headers.get("if-match")


def test_cut_that_persists_fails_the_stream_without_is_end(rgw, big_object, proxy, s3plugin):
    bucket, key, _ = big_object
    cfg = rgw.config(bucket, endpoint=proxy.endpoint, extra="retry: {attempts: 1}\n")
    proxy.add_rule(op="GetObject", action="cut", cut_after=10 * MiB, times=None)
    msgs, status = read_stream(s3plugin.stub(), key, cfg)
    assert status is not None and status != grpc.StatusCode.OK
    assert not any(m.is_end for m in msgs)
    errors = [m.error for m in msgs if m.error]
    assert errors and key in errors[0]


def test_stall_fails_instead_of_hanging(rgw, big_object, proxy, s3plugin):
    bucket, key, _ = big_object
    cfg = rgw.config(bucket, endpoint=proxy.endpoint, extra="retry: {attempts: 1}\ntimeouts: {stall: 3s}\n")
    proxy.add_rule(op="GetObject", action="stall", cut_after=MiB, seconds=120, times=None)
    # < 1 B/s for 3 s is dead; one resume, which stalls too, then failure.
    t0 = time.monotonic()
    msgs, status = [], None
    try:
        for m in s3plugin.stub().OpenStream(pb.OpenStreamRequest(artifact=artifact(key, cfg)), timeout=45):
            msgs.append(m)
    except grpc.RpcError as e:
        status = e.code()
    assert status is not None and not any(m.is_end for m in msgs)
    assert time.monotonic() - t0 < 20
    assert "timed out" in " ".join(m.error for m in msgs) or "stopped answering" in " ".join(m.error for m in msgs)


def test_client_cancel_stops_the_store_transfer(rgw, big_object, proxy, s3plugin):
    bucket, key, _ = big_object
    cfg = rgw.config(bucket, endpoint=proxy.endpoint)
    call = s3plugin.stub().OpenStream(pb.OpenStreamRequest(artifact=artifact(key, cfg)))
    got = 0
    for m in call:
        got += len(m.data)
        if got >= 10 * MiB:
            break
    call.cancel()
    t_cancel = time.monotonic()
    time.sleep(1.0)
    at_1s = proxy.bytes_from_upstream
    time.sleep(1.0)
    at_2s = proxy.bytes_from_upstream
    assert at_2s == at_1s, f"store transfer still running: {at_1s} → {at_2s}"
    assert at_2s < 64 * MiB, f"pulled {at_2s // MiB} MiB for a 10 MiB read"
    print(f"cancel: {at_2s / MiB:.1f} MiB pulled from the store for {got / MiB:.1f} MiB delivered; stopped within 1 s of {t_cancel:.0f}")


def test_parallel_ranged_load(rgw, big_object, proxy, s3plugin, tmp_path):
    bucket, key, digest = big_object
    cfg = rgw.config(bucket, endpoint=proxy.endpoint, extra="load: {partSize: 32Mi, concurrency: 6}\n")
    r = s3plugin.stub().Load(pb.LoadArtifactRequest(input_artifact=artifact(key, cfg), path=str(tmp_path / "big")))
    assert r.success, r.error
    h = hashlib.sha256()
    with open(tmp_path / "big", "rb") as f:
        for b in iter(lambda: f.read(MiB), b""):
            h.update(b)
    assert h.hexdigest() == digest
    gets = proxy.records(op="GetObject")
    assert len(gets) == 16 and all(g.headers.get("if-match") for g in gets)
    assert not [p for p in os.listdir(tmp_path) if "argo-partial" in p]


def test_overwrite_during_load_is_detected(rgw, proxy, s3plugin, tmp_path):
    bucket = rgw.new_bucket("ow")
    s3 = rgw.boto3()
    s3.put_object(Bucket=bucket, Key="v", Body=os.urandom(96 * MiB))
    cfg = rgw.config(bucket, endpoint=proxy.endpoint, extra="load: {partSize: 8Mi, concurrency: 2}\n")
    proxy.add_rule(op="GetObject", action="delay", seconds=0.3, times=None)
    fut = s3plugin.stub().Load.future(pb.LoadArtifactRequest(input_artifact=artifact("v", cfg), path=str(tmp_path / "v")))
    deadline = time.monotonic() + 10
    while proxy.op_count("GetObject") < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    s3.put_object(Bucket=bucket, Key="v", Body=os.urandom(96 * MiB))   # a new version mid-load
    r = fut.result(60)
    assert not r.success
    assert "overwritten while being downloaded" in r.error
    assert not (tmp_path / "v").exists()
    assert not [p for p in os.listdir(tmp_path) if "argo-partial" in p]
