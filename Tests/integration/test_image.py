"""The image `make image` builds, run as Argo runs its sidecar: the OCI archive read back with
skopeo (as a registry push reads it), unpacked with umoci, and started under runc with the
executor's hardening (read-only root, every capability dropped, no new privileges, uid/gid 65532
from the image's USER), /tmp as a tmpfs, the socket directory /tmp/artifact-plugins/<name>/ a
writable bind mount (Argo's emptyDir), workflow volumes as bind mounts, the host's network (RGW on
loopback), in a cgroup with the executor's limits from Argo's documented example (cpu 0.5, 512 MiB).
The socket path is the one argument; the ENTRYPOINT comes from the image config.

`make test` builds the image first (`make image`); run alone, build it yourself. Under CI=true a
missing archive or tool fails the test."""
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import grpc
import pytest
import yaml

from harness import MiB, REPO, artifact, pattern_file, pb, pb_grpc, require_tool, sha256_file

sys.path.insert(0, str(REPO / "scripts" / "bench"))
from measure import proc_status  # noqa: E402  (scripts/bench/measure.py: VmRSS, RssAnon, RssFile, ... of a pid)

PLUGIN = yaml.safe_load((REPO / "plugin.yaml").read_text())
ARCHIVE = Path(os.environ.get("ARGO_PLUGIN_IMAGE") or REPO / "build" / f"argo-artifact-plugin-{PLUGIN['version']}.oci.tar")
DRIVER = "artifacts"                           # the driver's name in artifactDrivers
SOCKET = f"/tmp/artifact-plugins/{DRIVER}/socket"
UID = GID = 65532

# The limits the issue sets (README: "The image").
MAX_COMPRESSED = 40 * MiB
MAX_START_MS = 100
MAX_IDLE_PRIVATE = 16 * MiB
# VmRSS also counts the binary's and the libraries' page-cache pages the kernel maps around each
# touched page (fault-around, 64 KiB); measured 25.6 MiB of which 22 MiB file-backed. Not the
# issue's limit (that one is held on private memory above), a guard against growth.
MAX_IDLE_VMRSS = 32 * MiB

# A minimal shim (what containerd-shim does for a detached container): a child subreaper that runs
# `runc create`, so the container's process becomes its child when runc exits and its exit status
# can be read. It prints "created RC", then "exit STATUS" for the container's process.
SHIM = r"""
import ctypes, os, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)      # PR_SET_CHILD_SUBREAPER
log = open(sys.argv[1], "ab")
rc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log).wait()
print("created", rc, flush=True)
if rc != 0:
    sys.exit(rc)
while True:
    try:
        pid, status = os.waitpid(-1, 0)
    except ChildProcessError:
        break
    print("exit", pid, os.waitstatus_to_exitcode(status), flush=True)
"""


def fail_or_skip(msg):
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {msg}", pytrace=False)
    pytest.skip(msg)


def run(*cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed ({out.returncode}):\n{out.stderr[-3000:]}"
    return out.stdout


class Image:
    """The archive, read back: manifest, config, digest, and the root filesystem umoci unpacks."""

    def __init__(self, archive, workdir):
        self.archive = archive
        ref = f"oci-archive:{archive}"
        self.manifest = json.loads(run("skopeo", "inspect", "--raw", ref))
        self.config = json.loads(run("skopeo", "inspect", "--config", ref))
        self.digest = json.loads(run("skopeo", "inspect", ref))["Digest"]
        layout = workdir / "layout"
        with tarfile.open(archive) as tf:
            tf.extractall(layout)
        self.index = json.loads((layout / "index.json").read_text())
        self.tag = self.index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        self.bundle = workdir / "unpacked"
        run("umoci", "unpack", "--image", f"{layout}:{self.tag}", str(self.bundle), timeout=300)
        self.rootfs = self.bundle / "rootfs"

    def compressed_size(self):
        return self.manifest["config"]["size"] + sum(layer["size"] for layer in self.manifest["layers"])


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    for tool, package in (("runc", "runc"), ("umoci", "umoci"), ("skopeo", "skopeo")):
        require_tool(tool, package)
    if not ARCHIVE.exists():
        fail_or_skip(f"no image at {ARCHIVE}: `make image` builds it (`make test` does it first)")
    img = Image(ARCHIVE, tmp_path_factory.mktemp("image"))
    # A stale archive would test another commit's image.
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    revision = img.config["config"]["Labels"]["org.opencontainers.image.revision"]
    assert revision.split("-")[0] == head, f"{ARCHIVE} was built from {revision}, HEAD is {head}: run `make image`"
    return img


class Container:
    """One container of the image under runc, configured as Argo's executor runs the sidecar."""

    def __init__(self, image, workdir, env=None, memory_mib=512, cpus=0.5):
        self.image, self.dir = image, workdir
        self.id = f"argo-plugin-image-{uuid.uuid4().hex[:10]}"
        self.cgroup = f"/{self.id}"
        # Host sides of the mounts. The socket directory is world-writable as an emptyDir is.
        self.socket_dir = workdir / "socket-dir"
        self.outputs = workdir / "outputs"       # a step's outputs: the sidecar reads them (read-only here)
        self.inputs = workdir / "inputs"         # where Load puts inputs for the step
        self.store = workdir / "store"           # a file store's root on a volume
        for d in (self.socket_dir, self.outputs, self.inputs, self.store):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o777)
        self.host_socket = str(self.socket_dir / "socket")
        self.log_path = workdir / "container.log"
        self.bundle = workdir / "bundle"
        self.bundle.mkdir(exist_ok=True)
        self.env = env or {}
        self.memory_mib, self.cpus = memory_mib, cpus
        self.shim = None
        self.pid = None
        self.exit_status = None
        self._write_config()

    def _write_config(self):
        run("runc", "spec", "--bundle", str(self.bundle))
        spec = json.loads((self.bundle / "config.json").read_text())
        img = self.image.config["config"]
        user = img.get("User", "")
        uid, gid = (int(x) for x in user.split(":"))
        p = spec["process"]
        p["terminal"] = False
        p["args"] = img["Entrypoint"] + [SOCKET]          # Argo: the entrypoint, then the socket path
        p["env"] = img.get("Env", []) + [f"{k}={v}" for k, v in self.env.items()]
        p["cwd"] = img.get("WorkingDir") or "/"
        p["user"] = {"uid": uid, "gid": gid}
        p["capabilities"] = {k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")}
        p["noNewPrivileges"] = True
        spec["root"] = {"path": str(self.image.rootfs), "readonly": True}
        spec["hostname"] = "artifact-plugin"
        bind = lambda src, dst, ro=False: {"destination": dst, "type": "bind", "source": str(src),  # noqa: E731
                                           "options": ["rbind", "nosuid", "nodev", "ro" if ro else "rw"]}
        spec["mounts"] += [
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]},
            bind(self.socket_dir, f"/tmp/artifact-plugins/{DRIVER}"),
            bind(self.outputs, "/argo/outputs", ro=True),
            bind(self.inputs, "/argo/inputs"),
            bind(self.store, "/mnt/store"),
        ]
        linux = spec["linux"]
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"]   # the pod's network: the host's here
        linux["cgroupsPath"] = self.cgroup
        linux["resources"]["memory"] = {"limit": self.memory_mib << 20, "swap": self.memory_mib << 20}
        linux["resources"]["cpu"] = {"period": 100000, "quota": int(self.cpus * 100000)}
        (self.bundle / "config.json").write_text(json.dumps(spec, indent=1))
        self.spec = spec

    def create(self):
        self.shim = subprocess.Popen([sys.executable, "-c", SHIM, str(self.log_path), "runc", "create", "--bundle",
                                      str(self.bundle), self.id], stdout=subprocess.PIPE, text=True)
        line = self.shim.stdout.readline().split()
        assert line == ["created", "0"], f"runc create: {line}\n{self.log()}"
        self.pid = json.loads(run("runc", "state", self.id))["pid"]

    def start(self, timeout=10.0):
        """`runc start` and wait until the socket accepts a connection; returns the seconds taken."""
        t0 = self.t0 = time.monotonic()
        run("runc", "start", self.id)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.host_socket)
                return time.monotonic() - t0
            except OSError:
                pass
            finally:
                s.close()
            if self.state() == "stopped":
                raise AssertionError(f"the container stopped before listening:\n{self.log()}")
            time.sleep(0.0005)
        raise AssertionError(f"no socket after {timeout}s:\n{self.log()}")

    def state(self):
        out = subprocess.run(["runc", "state", self.id], capture_output=True, text=True)
        return json.loads(out.stdout)["status"] if out.returncode == 0 else "gone"

    def stub(self):
        self.channel = grpc.insecure_channel(f"unix://{self.host_socket}")
        return pb_grpc.ArtifactServiceStub(self.channel)

    def memory(self):
        """Resident memory of the container's process (KiB, /proc/PID/status) and its cgroup's."""
        out = proc_status(self.pid)
        cg = Path("/sys/fs/cgroup/memory") / self.cgroup.lstrip("/")
        out["cgroup_usage"] = int((cg / "memory.usage_in_bytes").read_text()) // 1024
        stat = dict(line.split() for line in (cg / "memory.stat").read_text().splitlines())
        out["cgroup_rss"] = int(stat["rss"]) // 1024
        out["cgroup_cache"] = int(stat["cache"]) // 1024
        return out

    def container_tmp(self):
        """Every path under the container's /tmp (its tmpfs), through /proc/PID/root."""
        root = Path(f"/proc/{self.pid}/root/tmp")
        return sorted(str(p.relative_to(root)) for p in root.rglob("*"))

    def sigterm(self, timeout=40):
        if getattr(self, "channel", None):
            self.channel.close()
        run("runc", "kill", self.id, "TERM")
        return self.wait(timeout)

    def wait(self, timeout):
        import select
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.shim.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            line = self.shim.stdout.readline().split()
            if not line:
                break
            if line[0] == "exit" and int(line[1]) == self.pid:
                self.exit_status = int(line[2])
                return self.exit_status
        raise AssertionError(f"the container did not exit within {timeout}s:\n{self.log()}")

    def first_log_line(self, timeout=5.0):
        """The start-up line (the log is written by its own thread, maybe after the socket is up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.log().splitlines()
            if lines:
                return lines[0]
            time.sleep(0.01)
        raise AssertionError("no start-up line in the log")

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def remove(self):
        subprocess.run(["runc", "delete", "--force", self.id], capture_output=True)
        if self.shim:
            try:
                self.shim.wait(10)
            except subprocess.TimeoutExpired:
                self.shim.kill()
                self.shim.wait()


def evict_page_cache(root):
    """Drop the page cache of every file under root (written back first, then POSIX_FADV_DONTNEED)."""
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


@pytest.fixture
def container_factory(image, tmp_path):
    made = []

    def make(name="c", **kw):
        c = Container(image, tmp_path / name, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.remove()
    leftover = [line for line in run("runc", "list", "-q").split() if line.startswith("argo-plugin-image-")]
    assert not leftover, f"runc containers left: {leftover}"


def test_image_config_and_size(image, tmp_path):
    # skopeo copies it as it is (what `skopeo copy ... docker://` pushes): same manifest digest.
    assert image.digest == image.index["manifests"][0]["digest"]
    run("skopeo", "copy", "--quiet", "--preserve-digests", f"oci-archive:{image.archive}", f"oci:{tmp_path / 'copy'}:{image.tag}")
    assert json.loads((tmp_path / "copy" / "index.json").read_text())["manifests"][0]["digest"] == image.digest
    cfg = image.config
    entrypoint = cfg["config"]["Entrypoint"]
    assert entrypoint == ["/usr/local/bin/argo-artifact-plugin"]
    dockerfile = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", (REPO / "Dockerfile").read_text(), re.M).group(1))
    assert entrypoint == dockerfile, "the Dockerfile and make image disagree on the ENTRYPOINT"
    cm = yaml.safe_load((REPO / "manifests" / "workflow-controller-configmap.yaml").read_text())["data"]
    assert yaml.safe_load(cm["images"])[PLUGIN["image"]]["cmd"] == entrypoint, "the images: index names another command"
    assert cfg["config"]["User"] == f"{UID}:{GID}"
    assert cfg["os"] == "linux" and cfg["architecture"] == "amd64"
    labels = cfg["config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == PLUGIN["version"]
    assert labels["org.opencontainers.image.source"] == PLUGIN["source"]
    commit_time = int(subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%ct"], capture_output=True, text=True).stdout)
    assert cfg["created"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(commit_time)), "created is the commit time"
    assert image.tag == PLUGIN["image"].rsplit(":", 1)[1]
    assert [m["mediaType"] for m in image.manifest["layers"]] == ["application/vnd.oci.image.layer.v1.tar+gzip"]
    size = image.compressed_size()
    print(f"\nimage {PLUGIN['image']} {image.digest}: {size} bytes compressed ({size / MiB:.1f} MiB)")
    assert size <= MAX_COMPRESSED, f"compressed image {size / MiB:.1f} MiB > {MAX_COMPRESSED / MiB:.0f} MiB"


def test_image_holds_no_shell_compiler_or_package_manager(image):
    root = image.rootfs
    files = [p for p in root.rglob("*") if not p.is_dir()]
    names = {p.name for p in files}
    forbidden = {"sh", "bash", "dash", "ash", "zsh", "busybox", "toybox", "su", "login", "env",
                 "apt", "apt-get", "dpkg", "dpkg-deb", "rpm", "pip", "perl", "python3", "awk", "mawk", "sed",
                 "cc", "gcc", "g++", "clang", "ld", "ld.bfd", "ld.gold", "as", "swift", "swiftc", "make", "openssl",
                 "update-ca-certificates"}
    assert not names & forbidden, f"the image holds {sorted(names & forbidden)}"
    # The one program is the plugin: every other executable file is a shared library.
    programs = sorted(str(p.relative_to(root)) for p in files
                      if p.is_file() and not p.is_symlink() and os.stat(p).st_mode & 0o111
                      and not re.search(r"\.so(\.\d+)*$", p.name))
    assert programs == ["usr/local/bin/argo-artifact-plugin"], programs
    scripts = [str(p.relative_to(root)) for p in files if p.is_file() and not p.is_symlink() and p.open("rb").read(2) == b"#!"]
    assert not scripts, f"scripts in the image: {scripts}"
    assert not (root / "var/lib/dpkg/status").exists() and not (root / "etc/apt").exists()
    # What it does hold: the libraries, the CA bundle, a user for 65532, each package's copyright.
    assert "nonroot:x:65532:65532:" in (root / "etc/passwd").read_text()
    assert (root / "etc/ssl/certs/ca-certificates.crt").read_text().count("BEGIN CERTIFICATE") > 100
    status = sorted(p.name for p in (root / "var/lib/dpkg/status.d").iterdir())
    assert {"libc6", "libcurl4", "libisal2", "libnghttp2-14", "libssl3", "ca-certificates"} <= set(status), status
    for pkg in status:
        assert (root / "usr/share/doc" / pkg / "copyright").is_file(), pkg


def test_runs_as_argo_runs_it(container_factory, rgw, tmp_path):
    from conftest import S3_ACCESS_KEY, S3_SECRET_KEY
    bucket = rgw.new_bucket("img")
    c = container_factory(env={"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY})
    c.create()
    evict_page_cache(c.image.rootfs)       # as on a node where the image has not run yet
    cold = c.start()
    print(f"\ncold start (the image's files not in the page cache): socket accepting {cold * 1000:.1f} ms after runc start")
    first = c.first_log_line()
    assert "memory 512 MiB (cgroup v1)" in first and "cpu 0.5 (cgroup v1)" in first, f"the limits are read inside: {first}"
    stub = c.stub()
    assert stub.GetCapabilities(pb.GetCapabilitiesRequest(), timeout=10).supports_save_stream

    time.sleep(1.0)
    idle = c.memory()
    print(f"idle: {idle}")

    # Save (multipart: 70 MiB > the 64 MiB threshold, so the part log goes to /tmp) and Load
    # against RGW on loopback; the output on a read-only volume, the input written to another.
    src = pattern_file(c.outputs / "out.bin", 70 * MiB)
    digest = sha256_file(src)
    cfg = rgw.config(bucket)
    r = stub.Save(pb.SaveArtifactRequest(path="/argo/outputs/out.bin", output_artifact=artifact("wf/pod/out.bin", cfg)), timeout=300)
    assert r.success, r.error
    r = stub.Load(pb.LoadArtifactRequest(path="/argo/inputs/in.bin", input_artifact=artifact("wf/pod/out.bin", cfg)), timeout=300)
    assert r.success, r.error
    assert sha256_file(c.inputs / "in.bin") == digest
    assert os.stat(c.inputs / "in.bin").st_uid == UID, "written as the image's user"

    # Save into a file store on a mounted volume.
    (c.outputs / "small.txt").write_bytes(b"to the file store\n")
    fcfg = "provider: file\nroot: /mnt/store\n"
    r = stub.Save(pb.SaveArtifactRequest(path="/argo/outputs/small.txt", output_artifact=artifact("wf/pod/small.txt", fcfg)), timeout=60)
    assert r.success, r.error
    assert (c.store / "wf/pod/small.txt").read_bytes() == b"to the file store\n"

    # The CA bundle loads: TLS to a server with a certificate no CA in it signed fails on the
    # certificate, not on the bundle.
    err = tls_untrusted_error(stub, tmp_path)
    print(f"TLS, untrusted certificate: {err}")
    assert "certificate" in err.lower() and "cafile" not in err.lower() and "ca-certificates.crt" not in err, err

    after = c.memory()
    print(f"after the calls: {after}")
    in_tmp = c.container_tmp()
    print(f"/tmp in the container: {in_tmp}")
    assert f"artifact-plugins/{DRIVER}/socket" in in_tmp
    assert all(p.split("/")[0] in ("artifact-plugins", "argo-artifact-plugin") for p in in_tmp), in_tmp  # + part logs
    assert os.listdir(c.socket_dir) == ["socket"], "the socket directory holds the socket only"

    status = c.sigterm()
    assert status == 0, f"exit status {status} after SIGTERM:\n{c.log()[-3000:]}"
    assert not os.path.exists(c.host_socket), "the socket is removed on exit"
    log = c.log()
    assert not re.search(r"read-only file system|EROFS|permission denied|EACCES", log, re.I), log[-3000:]
    # Nothing beside the outputs, the input and the stored object was written on the volumes.
    assert sorted(os.listdir(c.outputs)) == ["out.bin", "small.txt"]
    assert sorted(os.listdir(c.inputs)) == ["in.bin"]
    assert sorted(str(p.relative_to(c.store)) for p in c.store.rglob("*") if p.is_file()) == ["wf/pod/small.txt"]

    assert idle["RssAnon"] <= MAX_IDLE_PRIVATE // 1024, idle
    assert idle["VmRSS"] <= MAX_IDLE_VMRSS // 1024, idle


def test_only_the_socket_directory_writable(container_factory, rgw):
    """Without a writable /tmp (readOnlyRootFilesystem and no volume there): a multipart Save still
    succeeds; only its resume checkpoint is skipped, and the log says so."""
    from conftest import S3_ACCESS_KEY, S3_SECRET_KEY
    bucket = rgw.new_bucket("img")
    c = container_factory(env={"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY})
    c.spec["mounts"] = [m for m in c.spec["mounts"] if m["destination"] != "/tmp"]
    (c.bundle / "config.json").write_text(json.dumps(c.spec, indent=1))
    c.create()
    c.start()
    src = pattern_file(c.outputs / "out.bin", 70 * MiB)
    r = c.stub().Save(pb.SaveArtifactRequest(path="/argo/outputs/out.bin", output_artifact=artifact("wf/out.bin", rgw.config(bucket))),
                      timeout=300)
    assert r.success, r.error
    assert rgw.boto3().head_object(Bucket=bucket, Key="wf/out.bin")["ContentLength"] == os.path.getsize(src)
    assert c.sigterm() == 0, c.log()
    log = c.log()
    assert "cannot write the upload checkpoint" in log and "Read-only file system" in log, log
    assert not [line for line in log.splitlines() if " error " in line or "critical" in line], log


def tls_untrusted_error(stub, tmp_path):
    """The error of a Save to an HTTPS endpoint on loopback whose self-signed certificate no CA in
    the image's bundle signed."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from doubles.k8s_api_double import _self_signed
    (tmp_path / "tls").mkdir()
    crt, key = _self_signed(tmp_path / "tls")
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        cfg = f"endpoint: https://127.0.0.1:{server.server_address[1]}\nbucket: tls-check\nuseSDKCreds: true\nretry: {{attempts: 1}}\n"
        r = stub.Save(pb.SaveArtifactRequest(path="/argo/outputs/small.txt", output_artifact=artifact("k", cfg)), timeout=60)
        assert not r.success
        return r.error
    finally:
        server.shutdown()
        server.server_close()


def test_start_time(container_factory):
    """Five containers, each started once: from `runc start` (namespaces, mounts and cgroup are made
    by `runc create` before) to the first accepted connection on the socket. That includes runc
    start itself, the exec, loading the libraries, the Swift runtime and the plugin's start-up.
    Then, as Argo does, a call (GetCapabilities) before SIGTERM."""
    times, calls = [], []
    for i in range(5):
        c = container_factory(f"c{i}")
        c.create()
        times.append(c.start() * 1000)
        assert c.stub().GetCapabilities(pb.GetCapabilitiesRequest(), timeout=10).supports_save_stream
        calls.append((time.monotonic() - c.t0) * 1000)
        assert c.sigterm() == 0, c.log()
        assert not os.path.exists(c.host_socket)
        c.remove()
    median = statistics.median(times)
    print(f"\nsocket accepting after runc start: {', '.join(f'{t:.1f}' for t in times)} ms (median {median:.1f}); "
          f"first call answered: {', '.join(f'{t:.1f}' for t in calls)} ms")
    assert median <= MAX_START_MS, f"median {median:.1f} ms > {MAX_START_MS} ms: {times}"
