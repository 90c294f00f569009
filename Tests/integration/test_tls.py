"""A store over TLS, as real stores are: RGW's beast serving HTTPS with a certificate for
localhost signed by a CA the test makes (Tests/integration/tlsbed.py), the CA handed to the
plugin through `caSecret` (read from the Kubernetes API double). The transfers that matter run
over TLS; a wrong CA, an expired certificate and a host name the certificate does not name each
fail saying which."""
import hashlib
import time

import pytest

from harness import MiB, Plugin, artifact, pattern_file, pb, sha256_file
from doubles.k8s_api_double import KubernetesAPIDouble
from tlsbed import TLSTerminator

CA = "caSecret: {name: store-ca, key: ca.crt}\n"


@pytest.fixture
def k8s(tmp_path, rgw):
    d = KubernetesAPIDouble(tmp_path / "k8s").start()
    d.secrets["store-ca"] = {"ca.crt": rgw.ca_pem, "other.crt": rgw.other_ca_pem}
    yield d
    d.stop()


@pytest.fixture
def tls_env(s3_env, k8s):
    return dict(s3_env, **k8s.env())


@pytest.fixture
def tlsplugin(tmp_path, tls_env):
    p = Plugin(workdir=tmp_path / "plugin", env=tls_env).start()
    yield p
    p.stop()


def sha_tls(rgw, bucket, key):
    h = hashlib.sha256()
    for b in rgw.boto3_tls().get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(MiB):
        h.update(b)
    return h.hexdigest()


def front(rgw, upstream_port):
    """TLS on a port of its own, with beast's certificate, in front of a plain upstream (the fault
    proxy): a middlebox that ends TLS, as load balancers do."""
    return TLSTerminator("127.0.0.1", upstream_port, rgw.server_cert, rgw.server_key)


def test_multipart_load_stream_list_and_gc_over_tls(rgw, bucket, tlsplugin, tmp_path):
    cfg = rgw.config_tls(bucket, CA + "multipart: {threshold: 5Mi, partSize: 5Mi}\nload: {partSize: 4Mi}\n")
    stub = tlsplugin.stub()
    src = pattern_file(tmp_path / "big", 23 * MiB)
    r = stub.Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("tls/dir/big", cfg)), timeout=300)
    assert r.success, r.error
    assert sha_tls(rgw, bucket, "tls/dir/big") == sha256_file(src)
    r = stub.Load(pb.LoadArtifactRequest(path=str(tmp_path / "back"), input_artifact=artifact("tls/dir/big", cfg)), timeout=300)
    assert r.success and sha256_file(tmp_path / "back") == sha256_file(src)
    h = hashlib.sha256()
    for m in stub.OpenStream(pb.OpenStreamRequest(artifact=artifact("tls/dir/big", cfg)), timeout=300):
        h.update(m.data)
    assert h.hexdigest() == sha256_file(src)

    def chunks():
        yield pb.SaveStreamArtifactRequest(output_artifact=artifact("tls/dir/streamed", cfg))
        with open(src, "rb") as f:
            for c in iter(lambda: f.read(2 * MiB), b""):
                yield pb.SaveStreamArtifactRequest(chunk=c)
    assert stub.SaveStream(chunks(), timeout=300).success
    assert sorted(stub.ListObjects(pb.ListObjectsRequest(artifact=artifact("tls/dir", cfg))).objects) == ["tls/dir/big", "tls/dir/streamed"]
    assert stub.Delete(pb.DeleteArtifactRequest(artifact=artifact("tls/dir", cfg))).success
    assert rgw.boto3_tls().list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_byte_flipped_behind_tls_is_caught_and_sent_again(rgw, bucket, proxy, tlsplugin, tmp_path):
    with front(rgw, proxy.port) as f:
        cfg = (f"endpoint: https://{f.endpoint}\nbucket: {bucket}\nuseSDKCreds: true\n" + CA
               + "multipart: {threshold: 5Mi, partSize: 5Mi}\n")
        src = pattern_file(tmp_path / "src", 23 * MiB)
        proxy.add_rule(pred=lambda r: r.op == "UploadPart" and (r.body_len or 0) > MiB, action="flip", after=2, times=1)
        r = tlsplugin.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("tls/flip", cfg)), timeout=300)
        assert r.success, r.error
        parts = [r for r in proxy.records("UploadPart") if (r.body_len or 0) > MiB]
        assert [p.action for p in parts].count("flip") == 1 and len(parts) == 6, parts
    assert sha_tls(rgw, bucket, "tls/flip") == sha256_file(src)


def test_resume_over_tls_sends_only_the_missing_parts(rgw, bucket, proxy, tls_env, tmp_path):
    ckpt = tmp_path / "ckpt"
    src = pattern_file(tmp_path / "src", 96 * MiB)
    with front(rgw, proxy.port) as f:
        cfg = (f"endpoint: https://{f.endpoint}\nbucket: {bucket}\nuseSDKCreds: true\n" + CA
               + f"multipart: {{threshold: 8Mi, partSize: 8Mi, concurrency: 2, checkpointDir: {ckpt}}}\n")
        data = lambda: len([r for r in proxy.records("UploadPart") if (r.body_len or 0) > MiB])
        p = Plugin(workdir=tmp_path / "p1", env=tls_env).start()
        proxy.add_rule(op="UploadPart", action="delay", seconds=0.2, times=None)
        fut = p.stub().Save.future(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("tls/resume", cfg)))
        deadline = time.monotonic() + 60
        while data() < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        p.kill()
        fut.cancel()
        proxy.wait_idle(5)
        proxy.clear_rules()
        first = data()
        proxy.clear_requests()
        p2 = Plugin(workdir=tmp_path / "p2", env=tls_env).start()
        try:
            r = p2.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("tls/resume", cfg)), timeout=300)
            assert r.success, r.error
            assert proxy.op_count("CreateMultipartUpload") == 0 and "resuming upload" in p2.log()
            assert data() <= 12 - (first - 2), (first, data())
        finally:
            p2.stop()
    assert sha_tls(rgw, bucket, "tls/resume") == sha256_file(src)


def save_error(plugin, tmp_path, cfg):
    (tmp_path / "f").write_bytes(b"x")
    r = plugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", cfg)), timeout=60)
    assert not r.success
    return r.error


def test_wrong_ca_expired_certificate_and_wrong_host_each_say_which(rgw, bucket, tlsplugin, expired_tls_front, tmp_path):
    once = "retry: {attempts: 1}\n"
    wrong_ca = save_error(tlsplugin, tmp_path, rgw.config_tls(bucket, "caSecret: {name: store-ca, key: other.crt}\n" + once))
    assert "TLS failed" in wrong_ca and "not signed by a CA the plugin trusts" in wrong_ca, wrong_ca
    no_ca = save_error(tlsplugin, tmp_path, rgw.config_tls(bucket, once))
    assert "not signed by a CA the plugin trusts: give that CA in caSecret" in no_ca, no_ca
    expired = save_error(tlsplugin, tmp_path, f"endpoint: {expired_tls_front.url}\nbucket: {bucket}\nuseSDKCreds: true\n" + CA + once)
    assert "certificate has expired" in expired, expired
    wrong_host = save_error(tlsplugin, tmp_path, f"endpoint: {rgw.tls_ip_url}\nbucket: {bucket}\nuseSDKCreds: true\n" + CA + once)
    assert "does not name the endpoint's host" in wrong_host and "127.0.0.1" in wrong_host, wrong_host
    assert rgw.ca_pem.splitlines()[1] not in tlsplugin.log()
