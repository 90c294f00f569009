"""Artifact GC on RGW: Argo's GC calls replayed, directory deletes in batches, lifecycle rules
merged into the bucket's own, and the orphan sweeper."""
import concurrent.futures
import os
import subprocess
import time


from harness import artifact, pb, plugin_binary


def test_seed_gc_workflow_as_argo_calls_it(rgw, bucket, s3plugin, tmp_path):
    """artifactGC OnWorkflowDeletion, one output overriding with OnWorkflowCompletion."""
    cfg = rgw.config(bucket)
    stub = s3plugin.stub()
    wf = "artifact-gc-x7k2p"
    for name in ["on-completion", "on-deletion"]:
        (tmp_path / f"{name}.txt").write_text("hello world\n")
        r = stub.Save(pb.SaveArtifactRequest(path=str(tmp_path / f"{name}.txt"),
                                             output_artifact=artifact(f"{wf}/{wf}/{name}.tgz", cfg, name=name)))
        assert r.success, r.error
    s3 = rgw.boto3()

    def keys():
        return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))

    # workflow completes: the GC pod deletes the OnWorkflowCompletion artifact
    assert stub.Delete(pb.DeleteArtifactRequest(artifact=artifact(f"{wf}/{wf}/on-completion.tgz", cfg, "on-completion"))).success
    assert keys() == [f"{wf}/{wf}/on-deletion.tgz"]
    # workflow deleted: the other one goes
    assert stub.Delete(pb.DeleteArtifactRequest(artifact=artifact(f"{wf}/{wf}/on-deletion.tgz", cfg, "on-deletion"))).success
    assert keys() == []
    # Argo's GC retries: deleting again succeeds
    r = stub.Delete(pb.DeleteArtifactRequest(artifact=artifact(f"{wf}/{wf}/on-deletion.tgz", cfg, "on-deletion")))
    assert r.success, r.error


def test_directory_of_2500_objects_in_3_batches(rgw, bucket, proxy, s3plugin):
    s3 = rgw.boto3()
    keys = [f"key/d{i % 25}/f{i}" for i in range(2500)] + ["key2/keep", "keyX", "key2/sub/keep"]
    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
    s3.create_multipart_upload(Bucket=bucket, Key="key/unfinished.bin")
    cfg = rgw.config(bucket, endpoint=proxy.endpoint)
    r = s3plugin.stub().Delete(pb.DeleteArtifactRequest(artifact=artifact("key", cfg)))
    assert r.success, r.error
    assert proxy.op_count("DeleteObjects") == 3
    assert proxy.op_count("AbortMultipartUpload") == 1
    left = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        left += [o["Key"] for o in page.get("Contents", [])]
    assert sorted(left) == ["key2/keep", "key2/sub/keep", "keyX"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == []
    print(f"delete of 2,500 objects: {proxy.op_count('ListObjectsV2')} ListObjectsV2, {proxy.op_count('DeleteObjects')} DeleteObjects, "
          f"{proxy.op_count('ListMultipartUploads')} ListMultipartUploads, {proxy.op_count('AbortMultipartUpload')} AbortMultipartUpload requests")


def put_lifecycle(r):
    return r.method == "PUT" and "lifecycle" in r.query


def lifecycle_rules(s3, bucket):
    try:
        return s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except s3.exceptions.ClientError as e:
        if "NoSuchLifecycleConfiguration" in str(e):
            return []
        raise


def test_lifecycle_merge_keeps_other_rules(rgw, bucket, proxy, s3_env, tmp_path):
    from harness import Plugin
    s3 = rgw.boto3()
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "someone-elses", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 90}}]})
    cfg = rgw.config(bucket, endpoint=proxy.endpoint,
                     extra="lifecycle: {expireAfterDays: 30, abortIncompleteUploadsAfterDays: 2}\n")
    (tmp_path / "f").write_bytes(b"x")
    p = Plugin(workdir=tmp_path / "p1", env=s3_env).start()
    try:
        for key in ["wf-a/pod/out.tgz", "wf-a/pod/second.tgz", "wf-b/pod/out.tgz"]:
            assert p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact(key, cfg))).success
    finally:
        p.stop()
    rules = {r["ID"]: r for r in lifecycle_rules(s3, bucket)}
    assert "someone-elses" in rules and rules["someone-elses"]["Expiration"]["Days"] == 90
    ours = [r for r in rules.values() if r["ID"].startswith("argo-artifact-plugin-")]
    assert sorted(r["Filter"]["Prefix"] for r in ours) == ["wf-a/", "wf-b/"]     # two prefixes, two rules
    assert all(r["Expiration"]["Days"] == 30 for r in ours)
    assert proxy.count(put_lifecycle) == 2                           # once per prefix per process

    # A new process re-applying the same rules changes nothing.
    proxy.clear_requests()
    p = Plugin(workdir=tmp_path / "p2", env=s3_env).start()
    try:
        assert p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("wf-a/pod/again.tgz", cfg))).success
        assert "already in place" in p.log()
    finally:
        p.stop()
    assert proxy.count(put_lifecycle) == 0


def test_someone_elses_rule_on_our_prefix_is_left_alone(rgw, bucket, s3_env, tmp_path):
    from harness import Plugin
    s3 = rgw.boto3()
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "ops-team", "Filter": {"Prefix": "wf-c/"}, "Status": "Enabled", "Expiration": {"Days": 7}}]})
    cfg = rgw.config(bucket, extra="lifecycleRule: {markDeletionAfterDays: 30}\n")
    (tmp_path / "f").write_bytes(b"x")
    p = Plugin(workdir=tmp_path / "p", env=s3_env).start()
    try:
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("wf-c/pod/out", cfg)))
        assert r.success, r.error
        assert "left alone" in p.log() and "ops-team" in p.log()
    finally:
        p.stop()
    assert [r["ID"] for r in lifecycle_rules(s3, bucket)] == ["ops-team"]


def test_lifecycle_failure_never_fails_the_save(rgw, bucket, proxy, s3plugin, tmp_path):
    cfg = rgw.config(bucket, endpoint=proxy.endpoint, extra="lifecycle: {expireAfterDays: 30}\n")
    proxy.add_rule(op=lambda r: "lifecycle" in r.query, action="status", status=403, code="AccessDenied", times=None)
    (tmp_path / "f").write_bytes(b"x")
    r = s3plugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("lc/x", cfg)))
    assert r.success, r.error
    assert "not applied" in s3plugin.log() and "AccessDenied" in s3plugin.log()


def run_gc(config_path, env, *args):
    return subprocess.run([plugin_binary(), "gc", "--config", str(config_path), *args],
                          capture_output=True, text=True, env=dict(os.environ, **env), timeout=120)


def test_sweeper_dry_run_lists_exactly_what_a_real_run_deletes(rgw, bucket, s3_env, tmp_path):
    s3 = rgw.boto3()
    for i in range(30):
        s3.put_object(Bucket=bucket, Key=f"orphans/old-{i}", Body=b"o" * i)
    time.sleep(2.2)
    t_mid = int(time.time()) - 1
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"orphans/new-{i}", Body=b"n")
    s3.put_object(Bucket=bucket, Key="elsewhere/old", Body=b"e")
    s3.create_multipart_upload(Bucket=bucket, Key="orphans/abandoned.bin")
    cfgfile = tmp_path / "repo.yaml"
    cfgfile.write_text(rgw.config(bucket))
    env = dict(s3_env, ARGO_PLUGIN_NOW=str(t_mid + 30 * 86400))
    dry = run_gc(cfgfile, env, "--prefix", "orphans/", "--older-than", "30d", "--abort-uploads-older-than", "1h", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    would = sorted(l.split()[2] for l in dry.stdout.splitlines() if l.startswith("would delete"))
    assert would == sorted(f"orphans/old-{i}" for i in range(30)), dry.stdout
    assert "would abort unfinished upload of orphans/abandoned.bin" in dry.stdout
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 36          # dry run touched nothing
    real = run_gc(cfgfile, env, "--prefix", "orphans/", "--older-than", "30d", "--abort-uploads-older-than", "1h")
    assert real.returncode == 0, real.stdout + real.stderr
    deleted = sorted(l.split()[1] for l in real.stdout.splitlines() if l.startswith("deleting"))
    assert deleted == would
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert left == ["elsewhere/old"] + [f"orphans/new-{i}" for i in range(5)]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert "summary: 35 object(s) scanned, 30" in real.stdout and "1 unfinished upload(s)" in real.stdout


def test_sweeper_on_the_file_store_and_its_safety(tmp_path):
    root = tmp_path / "root"
    (root / "wf-old" / "pod").mkdir(parents=True)
    (root / "wf-new").mkdir()
    (root / "wf-old" / "pod" / "a.tgz").write_bytes(b"a")
    (root / "wf-new" / "b.tgz").write_bytes(b"b")
    old = time.time() - 40 * 86400
    os.utime(root / "wf-old" / "pod" / "a.tgz", (old, old))
    (root / ".argo-partial").mkdir()
    (root / ".argo-partial" / "dead-upload").write_bytes(b"partial")
    os.utime(root / ".argo-partial" / "dead-upload", (old, old))
    cfgfile = tmp_path / "repo.yaml"
    cfgfile.write_text(f"provider: file\nroot: {root}\n")
    refused = run_gc(cfgfile, {}, "--older-than", "30d")
    assert refused.returncode != 0 and "--all-prefixes" in (refused.stdout + refused.stderr)
    r = run_gc(cfgfile, {}, "--all-prefixes", "--older-than", "30d", "--abort-uploads-older-than", "24h")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (root / "wf-old").exists() and (root / "wf-new" / "b.tgz").exists()
    assert not (root / ".argo-partial" / "dead-upload").exists()
