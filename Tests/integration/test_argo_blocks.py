"""Argo's own `s3:` and `oss:` blocks, as Argo v4.1's docs write them, moved under
`plugin.configuration` unchanged (only the endpoint and bucket point at the test stores): each
through `config check` and through a real Save and Load."""
import subprocess

import pytest

from conftest import KMS_KEY_IDS, S3_ACCESS_KEY, S3_SECRET_KEY
from harness import MiB, Plugin, artifact, pattern_file, pb, plugin_binary, sha256_file
from doubles.k8s_api_double import KubernetesAPIDouble
from doubles.oss_double import OSSDouble

# docs/workflow-controller-configmap.yaml (artifactRepository.s3), keyFormat left with the
# repository, and the encryptionOptions block with each kind it documents.
S3_DOC = """\
bucket: {bucket}
endpoint: {endpoint}
insecure: true
accessKeySecret:
  name: my-s3-credentials
  key: accessKey
secretKeySecret:
  name: my-s3-credentials
  key: secretKey
useSDKCreds: false
encryptionOptions:
  enableEncryption: {enable}
{more}"""

ENCRYPTION = {
    "as documented (off)": ("false", "", None),
    "SSE-KMS": ("true", f"  kmsKeyId: {KMS_KEY_IDS[0]}\n  kmsEncryptionContext: '{{\"workflow\": \"doc\"}}'\n", "aws:kms"),
    "SSE-C": ("true", "  serverSideCustomerKeySecret:\n    name: my-s3-credentials\n    key: secretKey\n", "SSE-C"),
}

# docs/configure-artifact-repository.md, MinIO with TLS and a custom CA.
MINIO_TLS_DOC = """\
insecure: false
caSecret:
  name: my-root-ca
  key: my-ca.pem
bucket: {bucket}
endpoint: {endpoint}
accessKeySecret:
  name: my-s3-credentials
  key: accessKey
secretKeySecret:
  name: my-s3-credentials
  key: secretKey
"""

# docs/configure-artifact-repository.md, the S3 block with every optional field it shows.
S3_ADDRESSING_DOC = """\
bucket: my-bucket
endpoint: my-minio-endpoint.default:9000
insecure: true
accessKeySecret:
  name: my-minio-cred
  key: accessKey
secretKeySecret:
  name: my-minio-cred
  key: secretKey
useSDKCreds: true
addressingStyle: "virtual-hosted"
"""

# docs/configure-artifact-repository.md, Alibaba Cloud OSS.
OSS_DOC = """\
endpoint: {endpoint}
bucket: {bucket}
accessKeySecret:
  name: my-oss-credentials
  key: accessKey
secretKeySecret:
  name: my-oss-credentials
  key: secretKey
"""


def config_check(text):
    return subprocess.run([plugin_binary(), "config", "check", "-"], input=text, capture_output=True, text=True, timeout=60)


@pytest.fixture
def k8s(tmp_path, rgw):
    d = KubernetesAPIDouble(tmp_path / "k8s").start()
    d.secrets["my-s3-credentials"] = {"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}
    d.secrets["my-root-ca"] = {"my-ca.pem": rgw.ca_pem}
    yield d
    d.stop()


@pytest.fixture
def plugin(tmp_path, k8s):
    p = Plugin(workdir=tmp_path / "plugin", env=k8s.env()).start()
    yield p
    p.stop()


def round_trip(plugin, cfg, key, tmp_path):
    src = pattern_file(tmp_path / "src", 7 * MiB)
    stub = plugin.stub()
    r = stub.Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact(key, cfg)), timeout=120)
    assert r.success, r.error
    r = stub.Load(pb.LoadArtifactRequest(path=str(tmp_path / "back"), input_artifact=artifact(key, cfg)), timeout=120)
    assert r.success, r.error
    assert sha256_file(tmp_path / "back") == sha256_file(src)


@pytest.mark.parametrize("kind", list(ENCRYPTION))
def test_s3_block_of_the_controller_configmap_docs(rgw, bucket, plugin, tmp_path, kind):
    enable, more, reported = ENCRYPTION[kind]
    cfg = S3_DOC.format(bucket=bucket, endpoint=rgw.hostport, enable=enable, more=more)
    out = config_check(cfg)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("provider: s3\n") and f"enableEncryption: {enable}" in out.stdout
    round_trip(plugin, cfg, f"doc/{kind}", tmp_path)
    head = rgw.boto3().head_object if reported != "SSE-C" else None
    if reported == "aws:kms":
        assert head(Bucket=bucket, Key=f"doc/{kind}")["ServerSideEncryption"] == "aws:kms"
    elif reported is None:
        assert "ServerSideEncryption" not in head(Bucket=bucket, Key=f"doc/{kind}")
    else:
        with pytest.raises(Exception):    # unreadable without the customer key
            rgw.boto3().get_object(Bucket=bucket, Key=f"doc/{kind}")


def test_minio_tls_block_with_a_custom_ca(rgw, bucket, plugin, tmp_path):
    cfg = MINIO_TLS_DOC.format(bucket=bucket, endpoint=rgw.tls_endpoint)
    out = config_check(cfg)
    assert out.returncode == 0 and "caSecret: {name: my-root-ca, key: my-ca.pem}" in out.stdout, out.stdout + out.stderr
    round_trip(plugin, cfg, "doc/tls", tmp_path)


def test_s3_block_with_argos_addressing_style(tmp_path):
    out = config_check(S3_ADDRESSING_DOC)
    assert out.returncode == 0, out.stderr
    assert "addressingStyle: virtual-hosted" in out.stdout
    moved = "keyFormat: prefix/in/bucket\n" + S3_ADDRESSING_DOC
    out = config_check(moved)
    assert out.returncode == 1 and "keyFormat" in out.stderr and "artifact repository" in out.stderr


def test_oss_block_of_the_docs(tmp_path):
    out = config_check(OSS_DOC.format(endpoint="http://oss-cn-zhangjiakou-internal.aliyuncs.com", bucket="my-artifact-bucket"))
    assert out.returncode == 0 and out.stdout.startswith("provider: oss\n"), out.stdout + out.stderr
    oss = OSSDouble(bucket="my-artifact-bucket", region="cn-zhangjiakou").start()
    k8s = KubernetesAPIDouble(tmp_path / "k8s").start()
    k8s.secrets["my-oss-credentials"] = {"accessKey": oss.access_key, "secretKey": oss.secret_key}
    p = Plugin(workdir=tmp_path / "plugin", env=k8s.env()).start()
    try:
        # The double on loopback is not an *.aliyuncs.com host: the provider and region say so.
        cfg = "provider: oss\nregion: cn-zhangjiakou\n" + OSS_DOC.format(endpoint=f"http://{oss.endpoint}", bucket="my-artifact-bucket")
        round_trip(p, cfg, "doc/oss", tmp_path)
        assert oss.verified > 0 and oss.signature_failures == 0
    finally:
        p.stop()
        k8s.stop()
        oss.stop()


def test_create_bucket_with_object_locking_as_argo(rgw, plugin, tmp_path):
    import uuid
    name = f"lock-{uuid.uuid4().hex[:12]}"
    cfg = (f"bucket: {name}\nendpoint: {rgw.hostport}\ninsecure: true\n"
           "accessKeySecret: {name: my-s3-credentials, key: accessKey}\nsecretKeySecret: {name: my-s3-credentials, key: secretKey}\n"
           "createBucketIfNotPresent:\n  objectLocking: true\n")
    out = config_check(cfg)
    assert out.returncode == 0 and "createBucketIfNotPresent: {objectLocking: true}" in out.stdout, out.stdout + out.stderr
    round_trip(plugin, cfg, "locked/obj", tmp_path)
    lock = rgw.boto3().get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
