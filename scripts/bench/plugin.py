"""The release plugin under test: started through Tests/integration/harness.py (which also makes
the grpcio stubs) and called over grpcio on its Unix socket, each call timed with the plugin's
own CPU (/proc utime + stime of all its threads) over the same interval."""
import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import time

from measure import cpu_seconds, proc_status
from report import Broken
from scratch import REPO

os.environ.setdefault("PLUGIN_BIN", str(REPO / ".build" / "release" / "argo-artifact-plugin"))
sys.path.insert(0, str(REPO / "Tests" / "integration"))

import harness  # noqa: E402  (generates the grpcio stubs on import)
from harness import Plugin, artifact, file_config, pb, pb_grpc  # noqa: E402, F401

CALL_TIMEOUT = 900


def plugin_bin():
    b = os.environ["PLUGIN_BIN"]
    if not os.access(b, os.X_OK):
        raise Broken(f"no plugin binary at {b}: run `make build-release` (or set PLUGIN_BIN)")
    return b


def connectable(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_connectable(path, proc, timeout=10.0, what="server"):
    """Polls every ~0.2 ms (harness.wait_for_socket sleeps 10 ms, too coarse to time start-up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Broken(f"{what} exited with {proc.returncode} before listening")
        if connectable(path):
            return
        time.sleep(0.0002)
    raise Broken(f"{what}: nothing accepts connections on {path} after {timeout}s")


class BenchPlugin(Plugin):
    """harness.Plugin with a fine-grained readiness wait, recording the spawn-to-accept time."""

    startup_s = None
    memory_mib = None   # overrides the envelope's memory limit for this plugin

    def start(self):
        import envelope
        plugin_bin()
        self.group = envelope.group(self.memory_mib)
        self.preexec = self.group.preexec() if self.group else None
        self.dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([harness.plugin_binary(), *self.args, self.socket], stdout=self._log,
                                     stderr=subprocess.STDOUT, env=self.env, preexec_fn=self.preexec)
        try:
            wait_connectable(self.socket, self.proc, what="plugin")
        except Broken:
            self.stop()
            raise Broken(f"plugin did not start; its log:\n{self.log()}")
        self.startup_s = time.perf_counter() - t0
        return self

    def stop(self, *args, **kw):
        try:
            return super().stop(*args, **kw)
        finally:
            if getattr(self, "group", None) is not None:
                if self.group.oom_kills():
                    print(f"  the plugin was OOM-killed in its envelope; its log tail:\n{self.log()[-1500:]}", flush=True)
                self.group.remove()

    def integrity_choices(self):
        """The plugin's log lines naming the part-integrity algorithm it chose per store, e.g.
        `part integrity for http://127.0.0.1:7480/bucket: md5` (one per store and process)."""
        return [line.strip() for line in self.log().splitlines() if "part integrity" in line]


@contextlib.contextmanager
def running_plugin(workdir, args=(), env=None, memory_mib=None):
    p = BenchPlugin(workdir=workdir, args=args, env=env)
    p.memory_mib = memory_mib
    p.start()
    try:
        yield p
    finally:
        p.stop()


def check_reply(what, r):
    if not r.success:
        raise Broken(f"{what} failed: {r.error or '(no error text)'}")


def self_cpu():
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class PluginCalls:
    """Timed calls to a running plugin: {"s": wall seconds around the call, "cpu": the plugin's CPU
    seconds over the same interval}."""

    def __init__(self, plugin):
        self.p = plugin
        self.stub = plugin.stub()

    def _timed(self, what, call):
        import envelope
        pid, group = self.p.proc.pid, getattr(self.p, "group", None)
        before = envelope.throttling(group)
        c0, t0 = cpu_seconds(pid), time.perf_counter()
        try:
            r = call()
        except Exception as e:
            raise Broken(f"{what}: {e}; plugin log tail:\n{self.p.log()[-1500:]}")
        dt, cpu = time.perf_counter() - t0, cpu_seconds(pid) - c0
        check_reply(what, r)
        return envelope.note({"s": dt, "cpu": cpu, "rss_mib": proc_status(pid).get("VmHWM", 0) / 1024}, group, before)

    def save(self, path, key, config):
        return self._timed(f"Save {path} -> {key}", lambda: self.stub.Save(
            pb.SaveArtifactRequest(path=str(path), output_artifact=artifact(key, config)), timeout=CALL_TIMEOUT))

    def load(self, key, path, config):
        return self._timed(f"Load {key} -> {path}", lambda: self.stub.Load(
            pb.LoadArtifactRequest(input_artifact=artifact(key, config), path=str(path)), timeout=CALL_TIMEOUT))

    def go_stream(self, key, config, size, client):
        """OpenStream read with grpc-go, as argo-server reads it (scripts/go/bin/grpcgo-client into
        /dev/null: it stops at is_end, fails on an error message, counts the bytes)."""
        import envelope
        import json
        pid, group = self.p.proc.pid, getattr(self.p, "group", None)
        before = envelope.throttling(group)
        c0, t0 = cpu_seconds(pid), time.perf_counter()
        out = subprocess.run([str(client), "-socket", self.p.socket, "-config", config, "-timeout", str(CALL_TIMEOUT),
                              "stream", key, "/dev/null"], capture_output=True, text=True, timeout=CALL_TIMEOUT + 30)
        dt, cpu = time.perf_counter() - t0, cpu_seconds(pid) - c0
        try:
            r = json.loads(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            r = {}
        if out.returncode != 0 or not r.get("complete") or r.get("bytes") != size:
            raise Broken(f"grpc-go OpenStream {key}: {out.stdout.strip()[-500:]} {out.stderr.strip()[-500:]}")
        return envelope.note({"s": dt, "cpu": cpu, "rss_mib": proc_status(pid).get("VmHWM", 0) / 1024}, group, before)

    def stream(self, key, config, size, sha=None, out_path=None, stub=None):
        """OpenStream, consuming every message (written to out_path when given): checks is_end (on
        the last message only), no error, the byte count (and the sha256 when given). ttfb = until
        the first data message; client_cpu = this process's CPU meanwhile (the grpcio client)."""
        import grpc
        h = hashlib.sha256() if sha else None
        pid = self.p.proc.pid
        out = open(out_path, "wb") if out_path else None
        import envelope
        group = getattr(self.p, "group", None)
        before = envelope.throttling(group)
        c0, u0, t0 = cpu_seconds(pid), self_cpu(), time.perf_counter()
        first, n, ended, msgs, err = None, 0, False, 0, ""
        try:
            for m in (stub or self.stub).OpenStream(pb.OpenStreamRequest(artifact=artifact(key, config)),
                                                    timeout=CALL_TIMEOUT):
                msgs += 1
                if ended:
                    raise Broken(f"OpenStream {key}: a message after is_end")
                if m.data:
                    if first is None:
                        first = time.perf_counter() - t0
                    n += len(m.data)
                    if out:
                        out.write(m.data)
                    if h:
                        h.update(m.data)
                if m.error:
                    err = m.error
                if m.is_end:
                    ended = True
            if out:
                out.close()
        except grpc.RpcError as e:
            raise Broken(f"OpenStream {key}: {e.code()} {e.details()}")
        finally:
            if out:
                out.close()
        dt = time.perf_counter() - t0
        if err or not ended or n != size:
            raise Broken(f"OpenStream {key}: {n} of {size} bytes, is_end={ended}, error={err!r}")
        if h and h.hexdigest() != sha:
            raise Broken(f"OpenStream {key}: the bytes streamed are not the object's (sha256 differs)")
        return envelope.note({"s": dt, "ttfb": first, "cpu": cpu_seconds(pid) - c0, "client_cpu": self_cpu() - u0,
                              "msgs": msgs, "rss_mib": proc_status(pid).get("VmHWM", 0) / 1024}, group, before)
