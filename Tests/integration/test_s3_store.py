"""The S3 store against a real S3 server (Ceph RGW): every RPC, interop with boto3 both ways,
signatures, errors users can act on."""
import hashlib
import io
import os
import tarfile


from harness import Plugin, artifact, make_tree, pb, tree_digest

MiB = 1 << 20


def sha_bytes(b):
    return hashlib.sha256(b).hexdigest()






def test_file_artifact_every_rpc(rgw, bucket, s3plugin, tmp_path):
    cfg = rgw.config(bucket)
    stub = s3plugin.stub()
    data = os.urandom(3 * MiB + 11)
    (tmp_path / "f").write_bytes(data)
    r = stub.Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("wf/pod/f.bin", cfg)))
    assert r.success, r.error
    # boto3 reads what the plugin wrote
    assert rgw.boto3().get_object(Bucket=bucket, Key="wf/pod/f.bin")["Body"].read() == data
    r = stub.Load(pb.LoadArtifactRequest(input_artifact=artifact("wf/pod/f.bin", cfg), path=str(tmp_path / "out" / "f")))
    assert r.success, r.error
    assert (tmp_path / "out" / "f").read_bytes() == data
    msgs = list(stub.OpenStream(pb.OpenStreamRequest(artifact=artifact("wf/pod/f.bin", cfg))))
    assert msgs[-1].is_end and all(len(m.data) <= MiB for m in msgs)
    assert b"".join(m.data for m in msgs) == data
    assert not stub.IsDirectory(pb.IsDirectoryRequest(artifact=artifact("wf/pod/f.bin", cfg))).is_directory
    assert stub.IsDirectory(pb.IsDirectoryRequest(artifact=artifact("wf/pod", cfg))).is_directory
    assert list(stub.ListObjects(pb.ListObjectsRequest(artifact=artifact("wf", cfg))).objects) == ["wf/pod/f.bin"]
    assert stub.Delete(pb.DeleteArtifactRequest(artifact=artifact("wf/pod/f.bin", cfg))).success
    assert "Contents" not in rgw.boto3().list_objects_v2(Bucket=bucket)
    r = stub.Delete(pb.DeleteArtifactRequest(artifact=artifact("wf/pod/f.bin", cfg)))
    assert r.success, r.error


def test_directory_artifact_round_trip_and_tar(rgw, bucket, s3plugin, tmp_path):
    cfg = rgw.config(bucket)
    stub = s3plugin.stub()
    src = make_tree(tmp_path / "out", mid_size=700_000)
    r = stub.Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("wf/dir", cfg)))
    assert r.success, r.error
    keys = sorted(o["Key"] for o in rgw.boto3().list_objects_v2(Bucket=bucket)["Contents"])
    assert "wf/dir/empty/" in keys and "wf/dir/sub/spaces and ünïcode+plus.txt" in keys
    listed = stub.ListObjects(pb.ListObjectsRequest(artifact=artifact("wf/dir", cfg))).objects
    assert sorted(listed) == sorted("wf/dir/" + k for k in tree_digest(src) if not k.endswith("/"))
    r = stub.Load(pb.LoadArtifactRequest(input_artifact=artifact("wf/dir/", cfg), path=str(tmp_path / "back")))
    assert r.success, r.error
    assert tree_digest(tmp_path / "back") == tree_digest(src)
    data = b"".join(m.data for m in stub.OpenStream(pb.OpenStreamRequest(artifact=artifact("wf/dir", cfg))))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        tf.extractall(tmp_path / "untar")
    assert tree_digest(tmp_path / "untar") == tree_digest(src)


def test_objects_written_by_boto3_are_read_by_the_plugin(rgw, bucket, s3plugin, tmp_path):
    cfg = rgw.config(bucket)
    s3 = rgw.boto3()
    blobs = {f"ext/dir/{i}/file {i}.bin": os.urandom(1000 * i + 1) for i in range(1, 6)}
    for k, v in blobs.items():
        s3.put_object(Bucket=bucket, Key=k, Body=v)
    big = os.urandom(40 * MiB + 3)
    s3.upload_fileobj(io.BytesIO(big), bucket, "ext/big.bin")   # boto3 multipart
    stub = s3plugin.stub()
    assert stub.Load(pb.LoadArtifactRequest(input_artifact=artifact("ext/dir", cfg), path=str(tmp_path / "d"))).success
    for k, v in blobs.items():
        assert (tmp_path / "d" / k[len("ext/dir/"):]).read_bytes() == v
    assert stub.Load(pb.LoadArtifactRequest(input_artifact=artifact("ext/big.bin", cfg), path=str(tmp_path / "big"))).success
    assert (tmp_path / "big").read_bytes() == big
    assert b"".join(m.data for m in stub.OpenStream(pb.OpenStreamRequest(artifact=artifact("ext/big.bin", cfg)))) == big


def test_sibling_prefix_safety(rgw, bucket, s3plugin, tmp_path):
    cfg = rgw.config(bucket)
    s3 = rgw.boto3()
    for k in ["a/b", "a/bc", "a/b/x", "a/b/y/z", "a/b2/w", "a/bX"]:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    stub = s3plugin.stub()
    assert sorted(stub.ListObjects(pb.ListObjectsRequest(artifact=artifact("a/b", cfg))).objects) == ["a/b/x", "a/b/y/z"]
    assert stub.Delete(pb.DeleteArtifactRequest(artifact=artifact("a/b", cfg))).success
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert left == ["a/b2/w", "a/bX", "a/bc"]


def test_stored_key_crafted_to_escape_is_refused_on_load(rgw, bucket, s3plugin, tmp_path):
    cfg = rgw.config(bucket)
    s3 = rgw.boto3()
    s3.put_object(Bucket=bucket, Key="evil/ok.txt", Body=b"ok")
    s3.put_object(Bucket=bucket, Key="evil/../../escaped.txt", Body=b"bad")
    r = s3plugin.stub().Load(pb.LoadArtifactRequest(input_artifact=artifact("evil", cfg), path=str(tmp_path / "dest" / "in")))
    assert not r.success and "evil/../../escaped.txt" in r.error
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "dest" / "escaped.txt").exists()
    assert not (tmp_path / "dest" / "in").exists()


def test_wrong_secret_is_a_clear_403(rgw, bucket, tmp_path):
    p = Plugin(workdir=tmp_path / "p", env={"AWS_ACCESS_KEY_ID": "AKIAARGOPLUGINTEST", "AWS_SECRET_ACCESS_KEY": "wrong"}).start()
    try:
        (tmp_path / "f").write_bytes(b"x")
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", rgw.config(bucket))))
        assert not r.success
        assert "SignatureDoesNotMatch" in r.error and "403" in r.error and "secret key" in r.error
        assert "argo-plugin-test-secret" not in p.log()
    finally:
        p.stop()


def test_secrets_never_logged(rgw, bucket, s3plugin, tmp_path):
    cfg = rgw.config(bucket)
    (tmp_path / "f").write_bytes(b"x")
    s3plugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", cfg)))
    s3plugin.stub().Load(pb.LoadArtifactRequest(input_artifact=artifact("nope", cfg), path=str(tmp_path / "x")))
    log = s3plugin.log()
    assert "argo-plugin-test-secret-key" not in log
    assert "Signature=" not in log and "AKIAARGOPLUGINTEST" not in log


def test_missing_bucket_and_create_if_not_present(rgw, s3plugin, tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    stub = s3plugin.stub()
    r = stub.Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", rgw.config("no-such-bucket-here"))))
    assert not r.success and "does not exist" in r.error and "createBucketIfNotPresent" in r.error
    cfg = rgw.config("created-by-plugin", extra="createBucketIfNotPresent: true\n")
    r = stub.Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", cfg)))
    assert r.success, r.error
    assert rgw.boto3().get_object(Bucket="created-by-plugin", Key="k")["Body"].read() == b"x"


def test_unreachable_endpoint_said_plainly(s3plugin, tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    cfg = "endpoint: 127.0.0.1:1\nbucket: bkt\ninsecure: true\nuseSDKCreds: true\nretry: {attempts: 2}\n"
    r = s3plugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", cfg)))
    assert not r.success and "cannot connect to the store" in r.error
    cfg = "endpoint: no-such-host.invalid:9000\nbucket: bkt\ninsecure: true\nuseSDKCreds: true\nretry: {attempts: 1}\n"
    r = s3plugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", cfg)))
    assert not r.success and "cannot resolve" in r.error


def test_no_credentials_configured(rgw, bucket, plugin, tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    cfg = f"endpoint: {rgw.hostport}\nbucket: {bucket}\ninsecure: true\n"
    r = plugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", cfg)))
    assert not r.success and "no credentials configured" in r.error


def test_save_stream_small_and_multipart(rgw, bucket, s3plugin):
    cfg = rgw.config(bucket, extra="multipart: {partSize: 5Mi}\n")
    stub = s3plugin.stub()
    for key, size in [("ss/small", 100_000), ("ss/big", 23 * MiB + 7)]:
        data = os.urandom(size)

        def frames():
            yield pb.SaveStreamArtifactRequest(output_artifact=artifact(key, cfg))
            for i in range(0, len(data), 2 * MiB):
                yield pb.SaveStreamArtifactRequest(chunk=data[i:i + 2 * MiB])

        r = stub.SaveStream(frames())
        assert r.success, r.error
        obj = rgw.boto3().get_object(Bucket=bucket, Key=key)
        assert obj["Body"].read() == data
        if size > 5 * MiB:
            assert obj["ETag"].endswith('-5"'), obj["ETag"]


def test_concurrent_directory_upload_many_files(rgw, bucket, s3plugin, tmp_path):
    cfg = rgw.config(bucket)
    d = tmp_path / "many"
    for i in range(300):
        (d / f"g{i % 10}").mkdir(parents=True, exist_ok=True)
        (d / f"g{i % 10}" / f"f{i}.txt").write_bytes(f"file {i}\n".encode() * 100)
    r = s3plugin.stub().Save(pb.SaveArtifactRequest(path=str(d), output_artifact=artifact("many", cfg)))
    assert r.success, r.error
    keys = []
    for page in rgw.boto3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="many/"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    assert len(keys) == 300


def test_tar_stream_refuses_entries_that_would_escape(rgw, bucket, s3plugin):
    import grpc
    s3 = rgw.boto3()
    s3.put_object(Bucket=bucket, Key="slip/ok.txt", Body=b"ok")
    s3.put_object(Bucket=bucket, Key="slip/../../etc/cron.d/x", Body=b"bad")
    msgs, status = [], None
    try:
        for m in s3plugin.stub().OpenStream(pb.OpenStreamRequest(artifact=artifact("slip", rgw.config(bucket)))):
            msgs.append(m)
    except grpc.RpcError as e:
        status = e.code()
    assert status is not None and not any(m.data for m in msgs) and not any(m.is_end for m in msgs)
    assert any("would not stay inside" in m.error or "'..'" in m.error for m in msgs)
