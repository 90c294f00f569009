"""The plugin inside the limits Argo gives its sidecar (the executor's resources), in real
cgroup v1 groups, with the default configuration: it reads its limits at start, sizes one
memory budget from them, and is never OOM-killed; bytes arrive whole."""
import hashlib
import os
import threading

import grpc
import pytest

import cgroups
from harness import MiB, Plugin, artifact, pb, pattern_file, sha256_file

GiB = 1 << 30


@pytest.fixture(autouse=True)
def _need_cgroups():
    cgroups.require()


def start(tmp_path, s3_env, memory_mib, cpus=None, name="plugin"):
    group = cgroups.Cgroup(memory_mib=memory_mib, cpus=cpus)
    p = Plugin(workdir=tmp_path / name, env=s3_env, preexec=group.preexec()).start()
    return group, p


def stop(group, p):
    try:
        p.stop()
    finally:
        group.remove()


def object_sha256(rgw, bucket, key):
    h = hashlib.sha256()
    body = rgw.boto3().get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(MiB), b""):
        h.update(chunk)
    return h.hexdigest()


def save_stream(stub, src, key, cfg):
    """(success, error text): the error as Argo reads it, from the response or the status."""
    def chunks():
        yield pb.SaveStreamArtifactRequest(output_artifact=artifact(key, cfg))
        with open(src, "rb") as f:
            for c in iter(lambda: f.read(2 * MiB), b""):
                yield pb.SaveStreamArtifactRequest(chunk=c)
    try:
        r = stub.SaveStream(chunks(), timeout=600)
        return r.success, r.error
    except grpc.RpcError as e:
        return False, f"{e.code().name}: {e.details()}"


def assert_not_killed(group, p):
    assert p.proc.poll() is None, f"the plugin died (exit {p.proc.returncode}):\n{p.log()[-3000:]}"
    assert group.oom_kills() == 0, "the kernel OOM-killed inside the group"


def test_start_up_line_names_the_limits_and_the_budget(tmp_path, s3_env):
    group, p = start(tmp_path, s3_env, 128, cpus=0.5)
    try:
        first = p.log().splitlines()[0]
        assert "memory 128 MiB (cgroup v1)" in first and "cpu 0.5 (cgroup v1)" in first, first
        assert "transfer budget 72 MiB" in first and "4 requests in flight" in first and "2 I/O threads" in first, first
    finally:
        stop(group, p)


def test_128mib_saves_loads_and_streams_1gib(tmp_path, s3_env, rgw, bucket):
    src = pattern_file(tmp_path / "big.bin", GiB)
    digest = sha256_file(src)
    group, p = start(tmp_path, s3_env, 128)
    private = cgroups.PrivatePeak(p.proc.pid)
    try:
        stub, cfg = p.stub(), rgw.config(bucket)
        r = stub.Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("wf/big.bin", cfg)), timeout=600)
        assert r.success, r.error
        assert_not_killed(group, p)
        dest = tmp_path / "loaded.bin"
        r = stub.Load(pb.LoadArtifactRequest(path=str(dest), input_artifact=artifact("wf/big.bin", cfg)), timeout=600)
        assert r.success, r.error
        assert sha256_file(dest) == digest
        dest.unlink()
        h, n = hashlib.sha256(), 0
        for m in stub.OpenStream(pb.OpenStreamRequest(artifact=artifact("wf/big.bin", cfg)), timeout=600):
            h.update(m.data)
            n += len(m.data)
        assert n == GiB and h.hexdigest() == digest
        assert_not_killed(group, p)
        anon, rss = private.stop(), group.peak_rss_mib(p.proc.pid)
        print(f"128 MiB: peak private {anon:.1f} MiB, VmHWM {rss:.1f} MiB")
        # The budget (75% of the limit less 24 MiB) governs private memory; the binary's
        # file-backed pages come on top and are reclaimable.
        assert anon <= 128 * 0.75, f"peak private memory {anon:.1f} MiB, the plan keeps it within 75% of 128 MiB"
        assert rss <= 128 - 8, f"peak RSS {rss:.1f} MiB (private {anon:.1f}), too near the 128 MiB limit"
    finally:
        private.stop()
        stop(group, p)
    assert object_sha256(rgw, bucket, "wf/big.bin") == digest


def test_96mib_four_concurrent_256mib_saves(tmp_path, s3_env, rgw, bucket):
    srcs = [pattern_file(tmp_path / f"out{i}.bin", 256 * MiB, seed=i + 10) for i in range(4)]
    digests = [sha256_file(s) for s in srcs]
    group, p = start(tmp_path, s3_env, 96)
    private = cgroups.PrivatePeak(p.proc.pid)
    results = [None] * 4
    try:
        stub, cfg = p.stub(), rgw.config(bucket)

        def save(i):
            results[i] = stub.Save(pb.SaveArtifactRequest(path=str(srcs[i]), output_artifact=artifact(f"wf/out{i}.bin", cfg)),
                                   timeout=600)
        threads = [threading.Thread(target=save, args=(i,)) for i in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert_not_killed(group, p)
        for r in results:
            assert r.success, r.error
        # Budget 48 MiB; the rest is the process and malloc's heap (measured 59-78 MiB at the peak;
        # a file body that held more chunks than it reserved reached 83-94 MiB, or was killed).
        anon = private.stop()
        print(f"96 MiB, four 256 MiB Saves: peak private {anon:.1f} MiB")
        assert anon <= 96 * 0.9, f"peak private memory {anon:.1f} MiB, too near the 96 MiB limit"
    finally:
        private.stop()
        stop(group, p)
    for i in range(4):
        assert object_sha256(rgw, bucket, f"wf/out{i}.bin") == digests[i]


def test_64mib_directory_save_and_gc_delete(tmp_path, s3_env, rgw, bucket):
    tree = tmp_path / "tree"
    for d in range(20):
        (tree / f"d{d:02}").mkdir(parents=True)
        for f in range(100):
            (tree / f"d{d:02}" / f"f{f:03}.txt").write_bytes(os.urandom(4096))
    pattern_file(tree / "big.bin", 80 * MiB)           # a multipart file beside the small ones
    group, p = start(tmp_path, s3_env, 64)
    try:
        stub, cfg = p.stub(), rgw.config(bucket)
        r = stub.Save(pb.SaveArtifactRequest(path=str(tree), output_artifact=artifact("wf/tree", cfg)), timeout=600)
        assert r.success, r.error
        listed = rgw.boto3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="wf/tree/")
        keys = [o["Key"] for page in listed for o in page.get("Contents", [])]
        assert len(keys) == 2001
        r = stub.Delete(pb.DeleteArtifactRequest(artifact=artifact("wf/tree", cfg)), timeout=600)
        assert r.success, r.error
        assert_not_killed(group, p)
        assert rgw.boto3().list_objects_v2(Bucket=bucket, Prefix="wf/tree/").get("KeyCount", 0) == 0
    finally:
        stop(group, p)


def test_48mib_save_completes_or_fails_clearly(tmp_path, s3_env, rgw, bucket):
    src = pattern_file(tmp_path / "out.bin", 256 * MiB)
    digest = sha256_file(src)
    group, p = start(tmp_path, s3_env, 48)
    try:
        stub, cfg = p.stub(), rgw.config(bucket)
        r = stub.Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("wf/out.bin", cfg)), timeout=600)
        if r.success:
            assert object_sha256(rgw, bucket, "wf/out.bin") == digest
        else:
            assert "not enough memory" in r.error and "48 MiB" in r.error, r.error

        # SaveStream (no file behind it: its parts are buffered from the budget).
        ok, error = save_stream(stub, src, "wf/stream.bin", cfg)
        if ok:
            assert object_sha256(rgw, bucket, "wf/stream.bin") == digest
        else:
            assert "not enough memory" in error and "48 MiB" in error, error
        assert_not_killed(group, p)
    finally:
        stop(group, p)


def test_a_part_over_the_whole_budget_fails_at_once_naming_the_limit(tmp_path, s3_env, rgw, bucket):
    """32 MiB leaves a budget smaller than one S3 part (5 MiB): a SaveStream cannot fit even the
    smallest plan, and says so at once instead of being killed."""
    src = pattern_file(tmp_path / "out.bin", 32 * MiB)
    group, p = start(tmp_path, s3_env, 32)
    try:
        stub, cfg = p.stub(), rgw.config(bucket)
        ok, error = save_stream(stub, src, "wf/stream.bin", cfg)
        assert not ok
        assert error.startswith("RESOURCE_EXHAUSTED"), error
        assert "not enough memory" in error and "32 MiB" in error and "5 MiB" in error, error
        assert_not_killed(group, p)
        assert rgw.boto3().list_objects_v2(Bucket=bucket, Prefix="wf/").get("KeyCount", 0) == 0, "nothing half-written"
    finally:
        stop(group, p)
