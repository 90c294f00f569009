"""Credentials from Kubernetes Secrets, read through the in-cluster API (a local HTTPS double
of the API server that checks the bearer token), against RGW."""
import pytest

from conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from harness import Plugin, artifact, pb
from doubles.k8s_api_double import KubernetesAPIDouble


@pytest.fixture
def k8s(tmp_path):
    d = KubernetesAPIDouble(tmp_path / "k8s").start()
    d.secrets["my-minio-cred"] = {"accesskey": S3_ACCESS_KEY, "secretkey": S3_SECRET_KEY}
    yield d
    d.stop()


def secret_config(rgw, bucket, access="accesskey"):
    # The block of Argo's e2e plugin artifact repository, as written there.
    return (f"bucket: {bucket}\nendpoint: {rgw.hostport}\ninsecure: true\n"
            f"accessKeySecret:\n  name: my-minio-cred\n  key: {access}\n"
            f"secretKeySecret:\n  name: my-minio-cred\n  key: secretkey\n")


def test_secret_references_resolve_through_the_api(rgw, bucket, k8s, tmp_path):
    p = Plugin(workdir=tmp_path / "p", env=k8s.env()).start()
    try:
        (tmp_path / "f").write_bytes(b"from a secret")
        stub = p.stub()
        for i in range(3):
            r = stub.Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact(f"k{i}", secret_config(rgw, bucket))))
            assert r.success, r.error
        assert rgw.boto3().get_object(Bucket=bucket, Key="k0")["Body"].read() == b"from a secret"
        # resolved once per configuration, not per call; both keys of the Secret from one GET
        assert k8s.count("/secrets/my-minio-cred") == 1
        assert S3_SECRET_KEY not in p.log() and "sa-token-123" not in p.log()
    finally:
        p.stop()


def test_rbac_denial_says_what_is_missing(rgw, bucket, k8s, tmp_path):
    k8s.forbidden.add(("secrets", "my-minio-cred"))
    p = Plugin(workdir=tmp_path / "p", env=k8s.env()).start()
    try:
        (tmp_path / "f").write_bytes(b"x")
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", secret_config(rgw, bucket))))
        assert not r.success
        assert "may not read secret my-minio-cred" in r.error and "403" in r.error and "RBAC" in r.error
    finally:
        p.stop()


def test_missing_key_and_missing_secret(rgw, bucket, k8s, tmp_path):
    p = Plugin(workdir=tmp_path / "p", env=k8s.env()).start()
    try:
        (tmp_path / "f").write_bytes(b"x")
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", secret_config(rgw, bucket, access="nokey"))))
        assert not r.success and "has no key nokey" in r.error
        cfg = secret_config(rgw, bucket).replace("my-minio-cred", "absent")
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", cfg)))
        assert not r.success and "secret absent not found in namespace argo" in r.error
    finally:
        p.stop()


def test_wrong_token_and_not_in_cluster(rgw, bucket, k8s, tmp_path):
    (k8s.sa_dir / "token").write_text("stolen-or-stale")
    p = Plugin(workdir=tmp_path / "p", env=k8s.env()).start()
    try:
        (tmp_path / "f").write_bytes(b"x")
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", secret_config(rgw, bucket))))
        assert not r.success and "rejected the pod's service-account token" in r.error
    finally:
        p.stop()
    p = Plugin(workdir=tmp_path / "p2").start()
    try:
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", secret_config(rgw, bucket))))
        assert not r.success and "not running in a Kubernetes pod" in r.error
    finally:
        p.stop()
