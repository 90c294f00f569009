"""Server-side encryption as Argo's `encryptionOptions` asks for it, on a real Ceph RGW 16:
SSE-C (the customer key derived per object as Argo's S3 driver derives it), SSE-KMS (RGW's
testing KMS), and SSE-S3, which RGW 16 accepts and then stores in plaintext: the plugin says so
and leaves no object. Every transfer kind works on encrypted objects."""
import base64
import hashlib
import os
import subprocess

import botocore.exceptions
import grpc
import pytest

from conftest import KMS_KEY_IDS
from harness import REPO, MiB, Plugin, artifact, pattern_file, pb, sha256_file
from doubles.k8s_api_double import KubernetesAPIDouble

# As `kubectl create secret --from-file` stores it: the trailing newline is part of the
# passphrase for Argo's driver (it reads the Secret byte for byte), so it is for the plugin too.
SSEC_SECRET = "argo-sse-c-password: not a key, a passphrase\n"


@pytest.fixture
def k8s(tmp_path):
    d = KubernetesAPIDouble(tmp_path / "k8s").start()
    d.secrets["sse"] = {"customer-key": SSEC_SECRET}
    yield d
    d.stop()


@pytest.fixture(autouse=True)
def _argo_driver(go_programs):
    """Argo's S3 driver (its minio-go calls) is the reference for SSE-C keys."""


@pytest.fixture
def plugin(tmp_path, s3_env, k8s):
    p = Plugin(workdir=tmp_path / "plugin", env=dict(s3_env, **k8s.env())).start()
    yield p
    p.stop()


def ssec_config(rgw, bucket, extra=""):
    return rgw.config(bucket, extra="encryptionOptions:\n  enableEncryption: true\n"
                                    "  serverSideCustomerKeySecret: {name: sse, key: customer-key}\n" + extra)


def kms_config(rgw, bucket, extra=""):
    return rgw.config(bucket, extra=f"encryptionOptions:\n  enableEncryption: true\n  kmsKeyId: {KMS_KEY_IDS[0]}\n"
                                    "  kmsEncryptionContext: '{\"team\": \"data\"}'\n" + extra)


def argo_ssec_key(bucket, key):
    """minio-go's DefaultPBKDF, which Argo's S3 driver uses: Argon2id(secret, bucket + key),
    computed here with the Go program built from Debian's minio-go (scripts/go/bin/argo-s3-driver)."""
    out = subprocess.run([str(REPO / "scripts/go/bin/argo-s3-driver"), "ssec-key", SSEC_SECRET, bucket + key],
                         capture_output=True, text=True, check=True)
    return base64.b64decode(out.stdout.strip())


def ssec_args(bucket, key):
    k = argo_ssec_key(bucket, key)
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": k}


def save(stub, path, key, cfg):
    return stub.Save(pb.SaveArtifactRequest(path=str(path), output_artifact=artifact(key, cfg)), timeout=300)


def load(stub, path, key, cfg):
    return stub.Load(pb.LoadArtifactRequest(path=str(path), input_artifact=artifact(key, cfg)), timeout=300)


def test_ssec_round_trips_and_the_data_really_is_encrypted(rgw, bucket, plugin, tmp_path):
    cfg = ssec_config(rgw, bucket, "multipart: {threshold: 5Mi, partSize: 5Mi}\nload: {partSize: 4Mi}\n")
    stub = plugin.stub()
    small, big = pattern_file(tmp_path / "small", 100_000), pattern_file(tmp_path / "big", 23 * MiB, seed=3)
    for src, key in ((small, "wf/small"), (big, "wf/big")):
        r = save(stub, src, key, cfg)
        assert r.success, r.error
        s3 = rgw.boto3()
        # Without the key the store refuses to read it: the data is encrypted at rest.
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.get_object(Bucket=bucket, Key=key)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        # With the key Argo's own driver would derive, it reads back as saved.
        head = s3.head_object(Bucket=bucket, Key=key, **ssec_args(bucket, key))
        assert head["SSECustomerAlgorithm"] == "AES256"
        body = s3.get_object(Bucket=bucket, Key=key, **ssec_args(bucket, key))["Body"].read()
        assert hashlib.sha256(body).hexdigest() == sha256_file(src)
        # Load (ranged, parallel), OpenStream
        dest = tmp_path / (key.replace("/", "_") + ".back")
        r = load(stub, dest, key, cfg)
        assert r.success, r.error
        assert sha256_file(dest) == sha256_file(src)
        h = hashlib.sha256()
        for m in stub.OpenStream(pb.OpenStreamRequest(artifact=artifact(key, cfg)), timeout=300):
            h.update(m.data)
        assert h.hexdigest() == sha256_file(src)
    assert SSEC_SECRET.strip() not in plugin.log()


def test_ssec_objects_written_by_argos_driver_load_and_the_reverse(rgw, bucket, plugin, tmp_path):
    """Argo's S3 driver (its minio-go calls) with the same Secret value: each reads what the
    other wrote."""
    cfg = ssec_config(rgw, bucket)
    src = pattern_file(tmp_path / "argo", 3 * MiB, seed=7)
    env = dict(os.environ, S3_ENDPOINT=rgw.hostport, S3_BUCKET=bucket, SSEC_SECRET=SSEC_SECRET,
               AWS_ACCESS_KEY_ID=rgw_access(), AWS_SECRET_ACCESS_KEY=rgw_secret())
    driver = str(REPO / "scripts/go/bin/argo-s3-driver")
    subprocess.run([driver, "put", str(src), "by-argo"], env=env, check=True, capture_output=True)
    r = load(plugin.stub(), tmp_path / "by-argo.back", "by-argo", cfg)
    assert r.success, r.error
    assert sha256_file(tmp_path / "by-argo.back") == sha256_file(src)
    assert save(plugin.stub(), src, "by-plugin", cfg).success
    subprocess.run([driver, "get", "by-plugin", str(tmp_path / "by-plugin.back")], env=env, check=True, capture_output=True)
    assert sha256_file(tmp_path / "by-plugin.back") == sha256_file(src)


def test_ssec_inside_128_mib_stream_and_load_do_not_wait_on_themselves(rgw, bucket, s3_env, k8s, tmp_path):
    """A key derivation claims 64 MiB of the budget (72 MiB at a 128 MiB limit): it runs before a
    transfer takes its own buffers, or a SaveStream holding a part buffer would wait for ever."""
    import cgroups
    cgroups.require()
    group = cgroups.Cgroup(memory_mib=128)
    p = Plugin(workdir=tmp_path / "p128", env=dict(s3_env, **k8s.env()), preexec=group.preexec()).start()
    try:
        cfg = ssec_config(rgw, bucket)
        src = pattern_file(tmp_path / "src", 40 * MiB, seed=11)

        def chunks():
            yield pb.SaveStreamArtifactRequest(output_artifact=artifact("tight/stream", cfg))
            with open(src, "rb") as f:
                for c in iter(lambda: f.read(2 * MiB), b""):
                    yield pb.SaveStreamArtifactRequest(chunk=c)
        assert p.stub().SaveStream(chunks(), timeout=120).success
        r = load(p.stub(), tmp_path / "back", "tight/stream", cfg)
        assert r.success, r.error
        assert sha256_file(tmp_path / "back") == sha256_file(src)
        assert group.oom_kills() == 0
    finally:
        p.stop()
        group.remove()


def test_ssec_upload_resumes_after_kill_9_with_only_the_missing_parts(rgw, bucket, proxy, s3_env, k8s, tmp_path):
    import time
    ckpt = tmp_path / "ckpt"
    cfg = ssec_config(rgw, bucket, f"multipart: {{threshold: 8Mi, partSize: 8Mi, concurrency: 2, checkpointDir: {ckpt}}}\n")
    cfg = cfg.replace(f"endpoint: {rgw.hostport}", f"endpoint: {proxy.endpoint}")
    src = pattern_file(tmp_path / "src", 96 * MiB, seed=13)
    data = lambda: len([r for r in proxy.records("UploadPart") if (r.body_len or 0) > MiB])  # noqa: E731
    env = dict(s3_env, **k8s.env())
    p = Plugin(workdir=tmp_path / "p1", env=env).start()
    proxy.add_rule(op="UploadPart", action="delay", seconds=0.2, times=None)
    fut = p.stub().Save.future(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("enc/resume", cfg)))
    deadline = time.monotonic() + 60
    while data() < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    p.kill()
    fut.cancel()
    proxy.wait_idle(5)
    proxy.clear_rules()
    first = data()
    proxy.clear_requests()
    p2 = Plugin(workdir=tmp_path / "p2", env=env).start()
    try:
        r = save(p2.stub(), src, "enc/resume", cfg)
        assert r.success, r.error
        assert proxy.op_count("CreateMultipartUpload") == 0 and "resuming upload" in p2.log()
        assert data() <= 12 - (first - 2), (first, data())
    finally:
        p2.stop()
    body = rgw.boto3().get_object(Bucket=bucket, Key="enc/resume", **ssec_args(bucket, "enc/resume"))["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha256_file(src)


def rgw_access():
    from conftest import S3_ACCESS_KEY
    return S3_ACCESS_KEY


def rgw_secret():
    from conftest import S3_SECRET_KEY
    return S3_SECRET_KEY


def test_sse_kms_multipart_stream_and_load(rgw, bucket, plugin, tmp_path):
    cfg = kms_config(rgw, bucket, "multipart: {threshold: 5Mi, partSize: 5Mi}\n")
    stub = plugin.stub()
    src = pattern_file(tmp_path / "big", 12 * MiB, seed=5)
    assert save(stub, src, "kms/big", cfg).success
    head = rgw.boto3().head_object(Bucket=bucket, Key="kms/big")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == KMS_KEY_IDS[0]
    # SaveStream (parts buffered, each sent as it fills)
    def chunks():
        yield pb.SaveStreamArtifactRequest(output_artifact=artifact("kms/stream", cfg))
        with open(src, "rb") as f:
            for c in iter(lambda: f.read(2 * MiB), b""):
                yield pb.SaveStreamArtifactRequest(chunk=c)
    assert stub.SaveStream(chunks(), timeout=300).success
    assert rgw.boto3().head_object(Bucket=bucket, Key="kms/stream")["ServerSideEncryption"] == "aws:kms"
    r = load(stub, tmp_path / "back", "kms/stream", cfg)
    assert r.success and sha256_file(tmp_path / "back") == sha256_file(src)


def test_sse_s3_ignored_by_the_store_fails_the_save_and_leaves_nothing(rgw, bucket, plugin, tmp_path):
    """RGW 16 accepts x-amz-server-side-encryption: AES256 and stores plaintext (it says nothing
    of it in its answers): the Save fails saying so, and an older object at the key survives."""
    s3 = rgw.boto3()
    s3.put_object(Bucket=bucket, Key="keep/me", Body=b"older version")
    cfg = rgw.config(bucket, extra="encryptionOptions: {enableEncryption: true}\n")
    src = pattern_file(tmp_path / "f", 1000)
    r = save(plugin.stub(), src, "keep/me", cfg)
    assert not r.success
    assert "ignored server-side encryption" in r.error and "SSE-S3" in r.error and "no encryption" in r.error, r.error
    assert s3.get_object(Bucket=bucket, Key="keep/me")["Body"].read() == b"older version"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["keep/me"], keys


def test_a_kms_key_the_store_does_not_know_is_named(rgw, bucket, plugin, tmp_path):
    cfg = rgw.config(bucket, extra="encryptionOptions: {enableEncryption: true, kmsKeyId: no-such-key}\n")
    r = save(plugin.stub(), pattern_file(tmp_path / "f", 10), "k", cfg)
    assert not r.success and "no-such-key" in r.error, r.error


def test_without_enable_encryption_nothing_is_encrypted_as_in_argo(rgw, bucket, plugin, tmp_path):
    cfg = rgw.config(bucket, extra=f"encryptionOptions: {{kmsKeyId: {KMS_KEY_IDS[0]}}}\n")
    assert save(plugin.stub(), pattern_file(tmp_path / "f", 10), "plain", cfg).success
    assert "ServerSideEncryption" not in rgw.boto3().head_object(Bucket=bucket, Key="plain")
    assert "nothing is encrypted" in plugin.log()


# --- OSS, on the OSS double (it checks the encryption headers as OSS does and reports them) -----

@pytest.fixture
def oss():
    from doubles.oss_double import OSSDouble
    d = OSSDouble(bucket="argo-artifacts", region="cn-hangzhou").start()
    yield d
    d.stop()


def oss_plugin(oss, tmp_path):
    return Plugin(workdir=tmp_path / "oss-plugin", env={"ALIBABA_CLOUD_ACCESS_KEY_ID": oss.access_key,
                                                        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": oss.secret_key}).start()


def oss_config(oss, extra):
    return (f"provider: oss\nendpoint: http://{oss.endpoint}\nbucket: {oss.bucket}\nregion: {oss.region}\nuseSDKCreds: true\n"
            f"multipart: {{threshold: 1Mi, partSize: 256Ki}}\n{extra}")


@pytest.mark.parametrize("options, alg, key_id", [
    ("{enableEncryption: true}", "AES256", None),
    ("{enableEncryption: true, kmsKeyId: key-1234}", "KMS", "key-1234"),
])
def test_oss_encryption_headers_on_every_write(oss, tmp_path, options, alg, key_id):
    p = oss_plugin(oss, tmp_path)
    try:
        cfg = oss_config(oss, f"encryptionOptions: {options}\n")
        stub = p.stub()
        for size, key in ((1000, "small"), (3 * MiB + 5, "big")):
            src = pattern_file(tmp_path / key, size)
            r = save(stub, src, key, cfg)
            assert r.success, r.error
            assert oss.get(key) == src.read_bytes()
            back = tmp_path / (key + ".back")
            assert load(stub, back, key, cfg).success and back.read_bytes() == src.read_bytes()
        writes = oss.sse_requests
        assert writes and all(a == alg and k == key_id for op, a, k in writes), writes
        assert {op for op, _, _ in writes} >= {"PutObject", "InitiateMultipartUpload"}
    finally:
        p.stop()


def test_oss_that_ignores_encryption_fails_the_save(oss, tmp_path):
    oss.ignore_encryption = True
    oss.put("keep", b"older")
    p = oss_plugin(oss, tmp_path)
    try:
        r = save(p.stub(), pattern_file(tmp_path / "f", 10), "keep", oss_config(oss, "encryptionOptions: {enableEncryption: true}\n"))
        assert not r.success and "ignored server-side encryption" in r.error, r.error
        assert oss.get("keep") == b"older" and sorted(oss.objects()) == ["keep"]
    finally:
        p.stop()


def test_oss_refuses_options_it_does_not_have(oss, tmp_path):
    p = oss_plugin(oss, tmp_path)
    try:
        for extra, field in (("encryptionOptions: {enableEncryption: true, kmsEncryptionContext: '{}'}\n", "kmsEncryptionContext"),
                             ("encryptionOptions: {enableEncryption: true, serverSideCustomerKeySecret: {name: a, key: b}}\n", "serverSideCustomerKeySecret")):
            r = save(p.stub(), pattern_file(tmp_path / "f", 10), "k", oss_config(oss, extra))
            assert not r.success and field in r.error and "OSS has no such encryption option" in r.error, r.error
    finally:
        p.stop()
