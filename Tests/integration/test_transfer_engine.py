"""The upload engine against RGW through a fault-injection proxy: retries, per-part
verification, resume after kill -9, memory bounded by the budget."""
import hashlib
import os
import signal
import threading
import time

import pytest

from harness import Plugin, artifact, pattern_file, pb, sha256_file

MiB = 1 << 20


def data_parts(proxy):
    """UploadPart requests of the artifact's parts (the integrity probe's are a few dozen bytes)."""
    return len([r for r in proxy.records("UploadPart") if (r.body_len or 0) > MiB])


def sha_object(s3, bucket, key):
    h = hashlib.sha256()
    for b in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(MiB):
        h.update(b)
    return h.hexdigest()


def test_injected_503_is_retried(rgw, bucket, proxy, s3plugin, tmp_path):
    cfg = rgw.config(bucket, endpoint=proxy.endpoint)
    (tmp_path / "f").write_bytes(b"retry me")
    proxy.add_rule(op="PutObject", action="status", status=503, code="SlowDown", times=2)
    r = s3plugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("r/x", cfg)))
    assert r.success, r.error
    assert proxy.op_count("PutObject") == 3
    assert rgw.boto3().get_object(Bucket=bucket, Key="r/x")["Body"].read() == b"retry me"


def test_permanent_error_is_not_retried(rgw, bucket, proxy, s3plugin, tmp_path):
    cfg = rgw.config(bucket, endpoint=proxy.endpoint)
    (tmp_path / "f").write_bytes(b"x")
    proxy.add_rule(op="PutObject", action="status", status=403, code="AccessDenied", times=None)
    r = s3plugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("r/y", cfg)))
    assert not r.success and "access denied" in r.error and "PutObject" in r.error
    assert proxy.op_count("PutObject") == 1


# A flipped byte in a part, with every integrity mode: test_integrity.py.


def kill_mid_upload(proxy, s3_env, workdir, src, key, cfg, parts_before_kill, delay):
    """Starts a Save with slowed parts and kill -9s the plugin once `parts_before_kill`
    UploadPart requests went out."""
    p = Plugin(workdir=workdir, env=s3_env).start()
    proxy.add_rule(op="UploadPart", action="delay", seconds=delay, times=None)
    fut = p.stub().Save.future(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact(key, cfg)))
    deadline = time.monotonic() + 60
    while data_parts(proxy) < parts_before_kill and time.monotonic() < deadline:
        time.sleep(0.02)
    p.kill()
    fut.cancel()
    proxy.wait_idle(5)
    proxy.clear_rules()


def test_resume_after_kill_9_uploads_only_missing_parts(rgw, bucket, proxy, s3_env, tmp_path):
    ckpt = tmp_path / "ckpt"
    cfg = rgw.config(bucket, endpoint=proxy.endpoint,
                     extra=f"multipart: {{threshold: 8Mi, partSize: 8Mi, concurrency: 4, checkpointDir: {ckpt}}}\n")
    src = pattern_file(tmp_path / "src", 512 * MiB)
    kill_mid_upload(proxy, s3_env, tmp_path / "p1", src, "resume/big", cfg, parts_before_kill=20, delay=0.05)
    first_round = data_parts(proxy)
    assert 20 <= first_round < 64, first_round
    assert any(ckpt.iterdir()), "no checkpoint written"
    proxy.clear_requests()

    p2 = Plugin(workdir=tmp_path / "p2", env=s3_env).start()
    try:
        r = p2.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("resume/big", cfg)))
        assert r.success, r.error
        second_round = data_parts(proxy)
        assert proxy.op_count("CreateMultipartUpload") == 0, "resumed upload must not start a new one"
        assert proxy.op_count("ListParts") >= 1
        # Only the parts the first run did not finish went up again (at most the ones in flight).
        assert second_round <= 64 - (first_round - 4), (first_round, second_round)
        assert second_round < 64
        print(f"resume: first run {first_round} UploadPart requests before kill -9, second run {second_round} (of 64 parts)")
        assert "resuming upload" in p2.log()
        assert sha_object(rgw.boto3(), bucket, "resume/big") == sha256_file(src)
        assert not any(ckpt.iterdir()), "checkpoint must be removed after success"
    finally:
        p2.stop()


def test_changed_source_restarts_and_leaves_no_upload_behind(rgw, bucket, proxy, s3_env, tmp_path):
    ckpt = tmp_path / "ckpt"
    cfg = rgw.config(bucket, endpoint=proxy.endpoint,
                     extra=f"multipart: {{threshold: 8Mi, partSize: 8Mi, concurrency: 2, checkpointDir: {ckpt}}}\n")
    src = pattern_file(tmp_path / "src", 96 * MiB)
    kill_mid_upload(proxy, s3_env, tmp_path / "p1", src, "changed/big", cfg, parts_before_kill=4, delay=0.1)
    s3 = rgw.boto3()
    assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1
    pattern_file(src, 96 * MiB, seed=2)          # the step rewrote its output
    p2 = Plugin(workdir=tmp_path / "p2", env=s3_env).start()
    try:
        r = p2.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("changed/big", cfg)))
        assert r.success, r.error
        assert "source changed" in p2.log()
        assert sha_object(s3, bucket, "changed/big") == sha256_file(src)
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    finally:
        p2.stop()


def test_corrupt_checkpoint_starts_over(rgw, bucket, s3_env, tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    cfg = rgw.config(bucket, extra=f"multipart: {{threshold: 8Mi, partSize: 8Mi, checkpointDir: {ckpt}}}\n")
    src = pattern_file(tmp_path / "src", 20 * MiB)
    p = Plugin(workdir=tmp_path / "p", env=s3_env).start()
    try:
        # plant garbage where the checkpoint would be: any file in the directory is a candidate
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("cc/x", cfg)))
        assert r.success
        assert not any(ckpt.iterdir()), "a finished upload leaves no checkpoint"
        # A corrupt checkpoint where the next upload looks (named by sha256 of store and key).
        store_id = f"s3://{rgw.hostport}/{bucket}"
        name = hashlib.sha256(f"{store_id}\ncc/y".encode()).hexdigest() + ".partlog"
        (ckpt / name).write_text("{not json")
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("cc/y", cfg)))
        assert r.success, r.error
        assert "checkpoint unreadable" in p.log()
        assert not (ckpt / name).exists()
    finally:
        p.stop()


def test_save_stream_fast_client_memory_bounded(rgw, bucket, s3_env, tmp_path):
    """300 MiB pushed as fast as grpcio can: the plugin's RSS stays within its memory budget."""
    cfg = rgw.config(bucket, extra="multipart: {partSize: 8Mi, concurrency: 4, memoryLimit: 64Mi}\n")
    p = Plugin(workdir=tmp_path / "p", env=s3_env).start()
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], p.rss_kib())
            time.sleep(0.01)

    try:
        base = p.rss_kib()
        t = threading.Thread(target=sample)
        t.start()
        chunk = os.urandom(2 * MiB)
        h = hashlib.sha256()

        def frames():
            yield pb.SaveStreamArtifactRequest(output_artifact=artifact("stream/300", cfg))
            for i in range(150):
                c = i.to_bytes(4, "little") + chunk[4:]
                h.update(c)
                yield pb.SaveStreamArtifactRequest(chunk=c)

        r = p.stub().SaveStream(frames())
        stop.set()
        t.join()
        assert r.success, r.error
        assert sha_object(rgw.boto3(), bucket, "stream/300") == h.hexdigest()
        grown_mib = (peak[0] - base) / 1024
        # budget 64 MiB + gRPC receive windows and message buffers + curl
        assert grown_mib < 64 + 40, f"RSS grew {grown_mib:.0f} MiB (base {base // 1024} MiB)"
    finally:
        p.stop()


def test_aborted_streams_give_their_buffers_and_uploads_back(rgw, bucket, s3_env, tmp_path):
    """Streams cut mid-way must return their part buffers to the budget (otherwise the store
    would hang once the budget leaked away) and leave no multipart upload behind."""
    cfg = rgw.config(bucket, extra="multipart: {partSize: 8Mi, concurrency: 2, memoryLimit: 16Mi}\n")
    p = Plugin(workdir=tmp_path / "p", env=s3_env).start()
    try:
        stub = p.stub()
        chunk = os.urandom(2 * MiB)
        for i in range(5):
            sent = threading.Event()

            def frames(i=i):
                yield pb.SaveStreamArtifactRequest(output_artifact=artifact(f"cut/{i}", cfg))
                for _ in range(10):
                    yield pb.SaveStreamArtifactRequest(chunk=chunk)
                sent.set()
                time.sleep(30)

            fut = stub.SaveStream.future(frames())
            assert sent.wait(20)
            time.sleep(0.3)
            fut.cancel()
        deadline = time.monotonic() + 10
        s3 = rgw.boto3()
        while s3.list_multipart_uploads(Bucket=bucket).get("Uploads") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

        def whole():
            yield pb.SaveStreamArtifactRequest(output_artifact=artifact("cut/after", cfg))
            for _ in range(12):
                yield pb.SaveStreamArtifactRequest(chunk=chunk)
        r = stub.SaveStream(whole(), timeout=30)
        assert r.success, r.error
        assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="cut/0")
    finally:
        p.stop()


def test_cancelled_directory_save_leaves_nothing(rgw, bucket, proxy, s3plugin, tmp_path):
    import grpc
    cfg = rgw.config(bucket, endpoint=proxy.endpoint)
    d = tmp_path / "d"
    d.mkdir()
    for i in range(200):
        (d / f"f{i}.txt").write_bytes(b"x" * 100)
    proxy.add_rule(op="PutObject", action="delay", seconds=0.6, times=None)   # 200 files, 64 at a time: > 2 s
    with pytest.raises(grpc.RpcError) as e:
        s3plugin.stub().Save(pb.SaveArtifactRequest(path=str(d), output_artifact=artifact("cancelled/dir", cfg)), timeout=1.0)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, (e.value.code(), e.value.details())
    proxy.clear_rules()
    proxy.wait_idle(5)
    s3 = rgw.boto3()

    def left():
        return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="cancelled/").get("Contents", [])]

    deadline = time.monotonic() + 20
    while left() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left() == [], (left(), s3plugin.log()[-3000:])


def test_sigterm_mid_upload_exits_cleanly_and_the_restart_sends_only_missing_parts(rgw, bucket, proxy, s3_env, tmp_path):
    """Argo stops the pod in the middle of a Save: the plugin exits 0 within its grace period,
    removes its socket, keeps the upload and its part log; the next plugin finishes the upload
    sending only the parts the log does not list."""
    import json
    ckpt = tmp_path / "ckpt"
    cfg = rgw.config(bucket, endpoint=proxy.endpoint,
                     extra=f"multipart: {{threshold: 8Mi, partSize: 8Mi, concurrency: 4, checkpointDir: {ckpt}}}\n")
    src = pattern_file(tmp_path / "src", 256 * MiB)
    grace = 2
    p = Plugin(workdir=tmp_path / "p1", env=s3_env, args=["--grace-period", str(grace)]).start()
    proxy.add_rule(op="UploadPart", action="delay", seconds=1.0, times=None)   # 32 parts, 4 at a time: ~8 s
    fut = p.stub().Save.future(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("term/big", cfg)))
    deadline = time.monotonic() + 60
    while data_parts(proxy) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    p.proc.send_signal(signal.SIGTERM)
    rc = p.proc.wait(grace + 10)
    took = time.monotonic() - t0
    p.stop()
    assert rc == 0, p.log()[-2000:]
    assert took <= grace + 3, f"exit took {took:.1f}s with a {grace}s grace period"
    assert not os.path.exists(p.socket), "the socket must be removed"
    assert "grace period over" in p.log() and "checkpoint kept" in p.log(), p.log()[-2000:]
    try:
        fut.result(timeout=5)
    except Exception:  # noqa: BLE001 - the call was cut short, as it should be
        pass
    proxy.wait_idle(5)
    proxy.clear_rules()
    logs = list(ckpt.iterdir())
    assert len(logs) == 1, logs
    lines = logs[0].read_text().splitlines()
    logged = len(lines) - 1                      # header, then one record per finished part
    assert logged >= 5, lines[:3]
    assert json.loads(lines[0])["key"] == "term/big"
    proxy.clear_requests()
    p2 = Plugin(workdir=tmp_path / "p2", env=s3_env).start()
    try:
        r = p2.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("term/big", cfg)))
        assert r.success, r.error
        print(f"SIGTERM: exit 0 in {took:.2f}s, {logged} parts logged; the restart sent {data_parts(proxy)} of 32 parts")
        assert proxy.op_count("CreateMultipartUpload") == 0
        assert data_parts(proxy) == 32 - logged, "the restart must send exactly the parts the log lacks"
        assert sha_object(rgw.boto3(), bucket, "term/big") == sha256_file(src)
    finally:
        p2.stop()
