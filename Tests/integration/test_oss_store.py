"""The native OSS store against the OSS-dialect test double (an in-memory stand-in: no OSS
exists offline) that verifies every request's V4 signature with the official SDK's signer and
answers CRC-64 like OSS does; plus RRSA against a local STS double."""
import io
import json
import os
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest

from harness import Plugin, artifact, pb
from doubles.oss_double import OSSDouble

MiB = 1 << 20


@pytest.fixture
def oss():
    d = OSSDouble(bucket="argo-artifacts", region="cn-hangzhou").start()
    yield d
    d.stop()


def oss_env(d):
    return {"ALIBABA_CLOUD_ACCESS_KEY_ID": d.access_key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": d.secret_key}


def oss_config(d, extra=""):
    return (f"provider: oss\nendpoint: http://{d.endpoint}\nbucket: {d.bucket}\nregion: {d.region}\n"
            f"useSDKCreds: true\n{extra}")


@pytest.fixture
def ossplugin(oss, tmp_path):
    p = Plugin(workdir=tmp_path / "plugin", env=oss_env(oss)).start()
    yield p
    p.stop()


def test_every_rpc_with_verified_signatures(oss, ossplugin, tmp_path):
    cfg = oss_config(oss, "multipart: {threshold: 1Mi, partSize: 256Ki}\n")
    stub = ossplugin.stub()
    small = os.urandom(300_000)
    big = os.urandom(3 * MiB + 17)
    (tmp_path / "small").write_bytes(small)
    (tmp_path / "big").write_bytes(big)
    d = tmp_path / "dir"
    (d / "sub").mkdir(parents=True)
    (d / "empty").mkdir()
    (d / "a.txt").write_bytes(b"a")
    (d / "sub" / "b.bin").write_bytes(os.urandom(2 * MiB))
    for path, key in [(tmp_path / "small", "wf/small"), (tmp_path / "big", "wf/big"), (d, "wf/dir")]:
        r = stub.Save(pb.SaveArtifactRequest(path=str(path), output_artifact=artifact(key, cfg)))
        assert r.success, r.error
    assert oss.get("wf/small") == small and oss.get("wf/big") == big
    assert oss.counts["UploadPart"] >= 13 + 8     # multipart for the big file and the 2 MiB one

    def frames():
        yield pb.SaveStreamArtifactRequest(output_artifact=artifact("wf/streamed", cfg))
        for i in range(0, len(big), 700_000):
            yield pb.SaveStreamArtifactRequest(chunk=big[i:i + 700_000])
    assert stub.SaveStream(frames()).success
    assert oss.get("wf/streamed") == big

    assert stub.Load(pb.LoadArtifactRequest(input_artifact=artifact("wf/big", cfg), path=str(tmp_path / "out" / "big"))).success
    assert (tmp_path / "out" / "big").read_bytes() == big
    assert stub.Load(pb.LoadArtifactRequest(input_artifact=artifact("wf/dir", cfg), path=str(tmp_path / "out" / "dir"))).success
    assert (tmp_path / "out" / "dir" / "sub" / "b.bin").read_bytes() == (d / "sub" / "b.bin").read_bytes()
    assert (tmp_path / "out" / "dir" / "empty").is_dir()
    data = b"".join(m.data for m in stub.OpenStream(pb.OpenStreamRequest(artifact=artifact("wf/big", cfg))))
    assert data == big
    tar = b"".join(m.data for m in stub.OpenStream(pb.OpenStreamRequest(artifact=artifact("wf/dir", cfg))))
    names = tarfile.open(fileobj=io.BytesIO(tar)).getnames()
    assert "sub/b.bin" in names and "a.txt" in names
    assert sorted(stub.ListObjects(pb.ListObjectsRequest(artifact=artifact("wf/dir", cfg))).objects) == ["wf/dir/a.txt", "wf/dir/sub/b.bin"]
    assert stub.IsDirectory(pb.IsDirectoryRequest(artifact=artifact("wf/dir", cfg))).is_directory
    assert stub.Delete(pb.DeleteArtifactRequest(artifact=artifact("wf", cfg))).success
    assert oss.objects() == {} or list(oss.objects()) == []
    assert oss.signature_failures == 0 and oss.verified > 40
    print(f"OSS double: {oss.verified} signatures verified, 0 failed; {dict(oss.counts)}")


def test_many_pages_of_listing(oss, ossplugin):
    cfg = oss_config(oss)
    for i in range(2300):
        oss.put(f"pages/k{i:05d}", b"x")
    r = ossplugin.stub().ListObjects(pb.ListObjectsRequest(artifact=artifact("pages", cfg)))
    assert r.error == "" and len(r.objects) == 2300


def test_corrupted_part_is_caught_by_crc64_and_resent(oss, ossplugin, tmp_path):
    # CRC-64 alone (no Content-MD5, no ETag check): the CRC is what must catch it.
    cfg = oss_config(oss, "multipart: {threshold: 1Mi, partSize: 512Ki, checksum: crc64}\n")
    data = os.urandom(3 * MiB)
    (tmp_path / "f").write_bytes(data)
    oss.corrupt_next_part = True
    r = ossplugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("crc/part", cfg)))
    assert r.success, r.error
    assert oss.get("crc/part") == data
    assert oss.counts["UploadPart"] == 6 + 1
    assert "CRC-64" in ossplugin.log()


def test_corrupted_single_put_is_caught_and_resent(oss, ossplugin, tmp_path):
    cfg = oss_config(oss, "multipart: {checksum: crc64}\n")
    data = b"precious bytes" * 1000
    (tmp_path / "f").write_bytes(data)
    oss.corrupt_next_put = True
    r = ossplugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("crc/put", cfg)))
    assert r.success, r.error
    assert oss.get("crc/put") == data and oss.counts["PutObject"] == 2
    assert "CRC-64" in ossplugin.log()


def test_corrupted_stored_object_fails_stream_and_load(oss, ossplugin, tmp_path):
    cfg = oss_config(oss, "load: {partSize: 1Mi}\n")
    data = os.urandom(5 * MiB)
    oss.put("crc/obj", data)
    oss.corrupt_object("crc/obj")
    msgs, status = [], None
    try:
        for m in ossplugin.stub().OpenStream(pb.OpenStreamRequest(artifact=artifact("crc/obj", cfg))):
            msgs.append(m)
    except grpc.RpcError as e:
        status = e.code()
    assert status == grpc.StatusCode.DATA_LOSS
    assert not any(m.is_end for m in msgs) and any("CRC-64" in m.error for m in msgs)
    r = ossplugin.stub().Load(pb.LoadArtifactRequest(input_artifact=artifact("crc/obj", cfg), path=str(tmp_path / "o")))
    assert not r.success and "CRC-64" in r.error
    assert not (tmp_path / "o").exists()


def test_transient_oss_errors_are_retried(oss, ossplugin, tmp_path):
    cfg = oss_config(oss)
    (tmp_path / "f").write_bytes(b"x")
    oss.fail_next("PutObject", 503, "ServiceBusy", times=2)
    r = ossplugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("busy", cfg)))
    assert r.success, r.error
    assert oss.counts["PutObject"] == 3


def test_wrong_secret_and_expired_token_are_clear(oss, tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    p = Plugin(workdir=tmp_path / "p", env={"ALIBABA_CLOUD_ACCESS_KEY_ID": oss.access_key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "wrong"}).start()
    try:
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", oss_config(oss))))
        assert not r.success and "SignatureDoesNotMatch" in r.error and "secret key" in r.error
    finally:
        p.stop()


def test_archived_object(oss, ossplugin, tmp_path):
    oss.put("cold/x", b"frozen bytes")
    oss.archive("cold/x", "ColdArchive")
    r = ossplugin.stub().Load(pb.LoadArtifactRequest(input_artifact=artifact("cold/x", oss_config(oss)), path=str(tmp_path / "x")))
    assert not r.success and "archived; restore it first" in r.error
    p = Plugin(workdir=tmp_path / "p2", env=dict(oss_env(oss), ARGO_PLUGIN_RESTORE_POLL_SECONDS="1")).start()
    try:
        r = p.stub().Load(pb.LoadArtifactRequest(input_artifact=artifact("cold/x", oss_config(oss, "restoreArchived: true\n")), path=str(tmp_path / "x")))
        assert r.success, r.error
        assert (tmp_path / "x").read_bytes() == b"frozen bytes"
        assert oss.counts["RestoreObject"] >= 1
    finally:
        p.stop()


def test_storage_class_and_lifecycle_xml(oss, ossplugin, tmp_path):
    cfg = oss_config(oss, "storageClass: ia\nlifecycleRule: {markInfrequentAccessAfterDays: 7, markDeletionAfterDays: 30}\n")
    (tmp_path / "f").write_bytes(b"x")
    assert ossplugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("wf-o/pod/f", cfg))).success
    put = [r for r in oss.requests if r["op"] == "PutObject"][-1]
    assert put["headers"].get("x-oss-storage-class") == "IA"
    xml = (oss.lifecycle() or b"").decode()
    assert xml and "<Prefix>wf-o/</Prefix>" in xml and "<StorageClass>IA</StorageClass>" in xml and "<Days>30</Days>" in xml


class STSDouble:
    """A local stand-in for Alibaba Cloud STS's AssumeRoleWithOIDC (a test double)."""

    def __init__(self, oss, ttl=310, delay=0.0):
        self.oss, self.ttl, self.calls, self.delay = oss, ttl, [], delay
        double = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
                double.calls.append((q, form))
                n = len(double.calls)
                if double.delay:
                    time.sleep(double.delay)
                ak, sk, tok = f"STS.ak{n}", f"sts-secret-{n}", f"sts-token-{n}"
                double.oss.add_credentials(ak, sk, token=tok)
                exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + double.ttl))
                body = json.dumps({"RequestId": "x", "Credentials": {"AccessKeyId": ak, "AccessKeySecret": sk,
                                                                     "SecurityToken": tok, "Expiration": exp}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"


def test_rrsa_assume_role_with_oidc_and_refresh(oss, tmp_path):
    sts = STSDouble(oss, ttl=310)   # the plugin refreshes 300 s before expiry: valid ~10 s here
    token_file = tmp_path / "oidc-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.oidc-token-of-the-pod\n")
    env = {"ALIBABA_CLOUD_ROLE_ARN": "acs:ram::123456:role/argo-artifacts",
           "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "acs:ram::123456:oidc-provider/ack-rrsa-c123",
           "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(token_file), "ALIBABA_CLOUD_STS_ENDPOINT": sts.endpoint,
           "ARGO_POD_NAME": "wf-abc-123"}
    p = Plugin(workdir=tmp_path / "p", env=env).start()
    try:
        (tmp_path / "f").write_bytes(b"rrsa")
        cfg = oss_config(oss)
        assert p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("r/1", cfg))).success
        assert p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("r/2", cfg))).success
        assert len(sts.calls) == 1
        q, form = sts.calls[0]
        assert q["Action"] == "AssumeRoleWithOIDC" and q["Version"] == "2015-04-01" and q["Format"] == "JSON"
        assert form["RoleArn"] == "acs:ram::123456:role/argo-artifacts"
        assert form["OIDCProviderArn"].endswith("ack-rrsa-c123")
        assert form["OIDCToken"] == "eyJhbGciOiJSUzI1NiJ9.oidc-token-of-the-pod"
        assert form["RoleSessionName"] == "argo-artifact-plugin-wf-abc-123"
        req = [r for r in oss.requests if r["op"] == "PutObject"][-1]
        assert req["headers"].get("x-oss-security-token") == "sts-token-1"
        time.sleep(11)
        assert p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("r/3", cfg))).success
        assert len(sts.calls) == 2, "credentials must be refreshed before they expire"
        assert "oidc-token-of-the-pod" not in p.log() and "sts-secret" not in p.log()
    finally:
        p.stop()
        sts.server.shutdown()


def test_fifty_parts_in_flight_refresh_credentials_once(oss, tmp_path):
    """Temporary credentials that expire under 50 part uploads at once: one STS call serves
    them all (single-flight), not one per part."""
    sts = STSDouble(oss, ttl=303, delay=0.3)   # valid 3 s (refreshed 300 s early); STS answers slowly
    token_file = tmp_path / "oidc-token"
    token_file.write_text("oidc-token\n")
    env = {"ALIBABA_CLOUD_ROLE_ARN": "acs:ram::1:role/r", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "acs:ram::1:oidc-provider/p",
           "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(token_file), "ALIBABA_CLOUD_STS_ENDPOINT": sts.endpoint}
    p = Plugin(workdir=tmp_path / "p", env=env).start()
    try:
        cfg = oss_config(oss, "multipart: {threshold: 1Mi, partSize: 256Ki, concurrency: 50, memoryLimit: 16Mi}\n")
        (tmp_path / "small").write_bytes(b"x")
        assert p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "small"), output_artifact=artifact("r/warm", cfg))).success
        assert len(sts.calls) == 1
        time.sleep(3.2)                          # the credentials are stale now
        big = os.urandom(50 * 256 * 1024)
        (tmp_path / "big").write_bytes(big)
        oss.reset_counters()
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "big"), output_artifact=artifact("r/big", cfg)))
        assert r.success, r.error
        assert oss.get("r/big") == big
        parts = len([q for q in oss.requests if q["op"] == "UploadPart"])
        print(f"{parts} parts, {len(sts.calls) - 1} STS call(s) after the credentials expired")
        assert parts == 50
        assert len(sts.calls) == 2, f"{len(sts.calls) - 1} STS calls for one expiry"
    finally:
        p.stop()
        sts.server.shutdown()


def test_secret_references_and_inline_security_token(oss, tmp_path):
    from doubles.k8s_api_double import KubernetesAPIDouble
    k8s = KubernetesAPIDouble(tmp_path / "k8s").start()
    try:
        oss.add_credentials("STS.secretak", "secret-from-k8s", token="inline-sts-token")
        k8s.secrets["oss-credentials"] = {"accessKey": "STS.secretak", "secretKey": "secret-from-k8s"}
        cfg = (f"endpoint: http://{oss.endpoint}\nbucket: {oss.bucket}\nregion: cn-hangzhou\nprovider: oss\n"
               f"accessKeySecret: {{name: oss-credentials, key: accessKey}}\nsecretKeySecret: {{name: oss-credentials, key: secretKey}}\n"
               f"securityToken: inline-sts-token\n")
        p = Plugin(workdir=tmp_path / "p", env=k8s.env()).start()
        try:
            (tmp_path / "f").write_bytes(b"x")
            r = p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("s/1", cfg)))
            assert r.success, r.error
        finally:
            p.stop()
    finally:
        k8s.stop()
