"""Shared helpers for the integration tests and scripts: generate grpcio stubs from the
project's proto, start the real plugin binary on a Unix socket, build Argo-shaped requests."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GEN = REPO / "Tests" / "integration" / "gen"


def plugin_binary():
    explicit = os.environ.get("PLUGIN_BIN")
    if explicit:
        return explicit
    return str(REPO / ".build" / "debug" / "argo-artifact-plugin")


def generate_stubs():
    """artifact_pb2 / artifact_pb2_grpc from proto/artifact.proto, via grpcio-tools."""
    GEN.mkdir(parents=True, exist_ok=True)
    proto = REPO / "proto" / "artifact.proto"
    target = GEN / "artifact_pb2_grpc.py"
    if not target.exists() or target.stat().st_mtime < proto.stat().st_mtime:
        from grpc_tools import protoc
        rc = protoc.main(["protoc", f"-I{proto.parent}", f"--python_out={GEN}", f"--grpc_python_out={GEN}", str(proto)])
        if rc != 0:
            raise RuntimeError("grpc_tools.protoc failed")
    if str(GEN) not in sys.path:
        sys.path.insert(0, str(GEN))
    import artifact_pb2, artifact_pb2_grpc  # noqa: E401
    return artifact_pb2, artifact_pb2_grpc


pb, pb_grpc = generate_stubs()


def require_tool(tool, package, allow_module_level=False):
    """The path of a tool a test needs. Missing under CI=true is a failure (CI must have every
    tool); elsewhere the test is skipped with the Debian package that provides it."""
    import shutil
    found = shutil.which(tool)
    if found:
        return found
    import pytest
    msg = f"'{tool}' is not installed (Debian package {package}; scripts/install-deps.sh test installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {msg}", pytrace=False)
    pytest.skip(msg, allow_module_level=allow_module_level)


def free_port_pair():
    """A free TCP port whose successor is free too (RGW on PORT, its monitor on PORT+1)."""
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port >= 65000:
            continue
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
        finally:
            t.close()
    raise RuntimeError("no free port pair")


def wait_for_socket(path, proc=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"plugin exited with {proc.returncode} before listening")
        if os.path.exists(path):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.01)
    raise TimeoutError(f"no socket at {path} after {timeout}s")


class Plugin:
    """The real plugin binary, serving on a socket in its own temp directory."""

    def __init__(self, workdir=None, args=(), env=None, socket_path=None, preexec=None):
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="argo-plugin-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = str(socket_path or self.dir / "plugin.sock")
        self.log_path = self.dir / "plugin.log"
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.preexec = preexec      # e.g. cgroups.Cgroup(...).preexec(): start inside limits
        self._channels = []

    def start(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([plugin_binary(), *self.args, self.socket], stdout=self._log,
                                     stderr=subprocess.STDOUT, env=self.env, preexec_fn=self.preexec)
        wait_for_socket(self.socket, self.proc)
        return self

    def channel(self, **options):
        import grpc
        opts = [("grpc.max_receive_message_length", 8 << 20)] + list(options.items())
        ch = grpc.insecure_channel(f"unix://{self.socket}", options=opts)
        self._channels.append(ch)
        return ch

    def stub(self, channel=None):
        return pb_grpc.ArtifactServiceStub(channel or self.channel())

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM, timeout=30):
        for ch in self._channels:
            ch.close()
        self._channels = []
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
        # Under a sanitizer build (make test-tsan), any report in the log fails the test.
        report = self.log().find("WARNING: ThreadSanitizer")
        if report >= 0:
            raise AssertionError("ThreadSanitizer report in the plugin's log:\n" + self.log()[report:report + 4000])
        return self.proc.returncode if self.proc else None

    def kill(self):
        self.proc.kill()
        self.proc.wait()


def file_config(root):
    return f"provider: file\nroot: {root}\n"


def artifact(key, config, name="art"):
    return pb.Artifact(name=name, plugin=pb.PluginArtifact(name="test", configuration=config, key=key))


def curl_json(sock, route, body, extra=()):
    """POST a JSON body to the plugin's JSON gateway with curl over HTTP/2; returns (status, text)."""
    import json
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--unix-socket", sock, *extra,
                          "-H", "content-type: application/json", "-o", "-", "-w", "\n%{http_code}",
                          "--data-binary", "@-", f"http://localhost/api/v1/artifacts/{route}"],
                         input=json.dumps(body) if not isinstance(body, (str, bytes)) else body,
                         capture_output=True, text=True, timeout=60)
    text, _, status = out.stdout.rpartition("\n")
    return int(status or 0), text


# --- files for tests -------------------------------------------------------------------------

MiB = 1 << 20


def sha256_file(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(MiB), b""):
            h.update(b)
    return h.hexdigest()


def pattern_file(path, size, seed=1):
    """`size` bytes that differ in every MiB (so misplaced parts show), quick to write."""
    import hashlib
    block = hashlib.sha256(str(seed).encode()).digest() * (MiB // 32)
    with open(path, "wb") as f:
        left, i = size, 0
        while left > 0:
            n = min(left, MiB)
            f.write((i.to_bytes(8, "little") + block[8:])[:n])
            left -= n
            i += 1
    return path


def random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, MiB)
            f.write(os.urandom(n))
            left -= n
    return path


def tree_digest(path):
    """{relative path: sha256} of every file under `path`, empty directories as `dir/`."""
    out = {}
    for d, dirs, files in os.walk(path):
        for n in files:
            p = os.path.join(d, n)
            out[os.path.relpath(p, path)] = sha256_file(p)
        for n in dirs:
            p = os.path.join(d, n)
            if not os.listdir(p):
                out[os.path.relpath(p, path) + "/"] = "dir"
    return out


def make_tree(base, mid_size=300_000):
    """A directory artifact with nesting, an empty directory, a long and a non-ASCII name."""
    (base / "sub" / "deeper").mkdir(parents=True)
    (base / "empty").mkdir()
    (base / "top.txt").write_bytes(b"top\n")
    (base / "sub" / "mid.bin").write_bytes(os.urandom(mid_size))
    (base / "sub" / "deeper" / ("long-name-" + "x" * 120 + ".txt")).write_bytes(b"long\n")
    (base / "sub" / "spaces and ünïcode+plus.txt").write_bytes("ü\n".encode())
    return base
