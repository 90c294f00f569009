#!/usr/bin/env python3
"""Benchmarks of the release plugin binary, each against a reference measured in the same run.

  python3 scripts/bench.py all        # every section, in order
  python3 scripts/bench.py rpc        # unary gRPC throughput/latency vs a Python grpcio server (h2load)
  python3 scripts/bench.py file       # file-store Save/Load of 1 GiB and of 2,000 small files vs cp
  python3 scripts/bench.py s3         # Save/Load of 256 MiB through Ceph RGW vs curl and boto3 (baseline)
  python3 scripts/bench.py upload     # Save of 1 GiB vs boto3 and a curl PUT; CPU/GiB; RSS at 256 MiB and
                                      # 2 GiB; 2,000 small files vs a boto3 put_object loop
  python3 scripts/bench.py download   # OpenStream and Load of 1 GiB vs curl GET and boto3; first byte;
                                      # RSS with 1 and 64 concurrent streams
  python3 scripts/bench.py crc64      # CRC-64/XZ: crcmod and oss2 vs the plugin's OSS upload (auto vs md5)

The s3, upload and download sections share one Ceph RGW (memstore, started by
scripts/testbed/start-rgw.sh on a free port pair on first use, data under /tmp, stopped and purged
at exit) and source files made once per run beside the repository (removed at exit). crc64 uses the
in-memory OSS double (Tests/integration/oss_double.py) and, when `perf` works, a profile of the
plugin to attribute CPU time to its CRC-64 code.

Benchmarks report; they do not fail on a missed target. The exit status is 0 when every section
ran (targets met or not), 1 when something was broken (a call failed, a result was wrong, a tool
is missing), 2 for a bad command line.

Environment:
  PLUGIN_BIN      plugin binary (default: .build/release/argo-artifact-plugin; build it with
                  `make build-release`)
  BENCH_DIR       parent directory for the benchmarks' scratch space (default: beside the
                  repository, on the same disk); it is removed at the end
  BENCH_ROUNDS    measurement rounds per contender; the median is reported (default: rpc 3,
                  file 5, s3/upload/download/crc64 3, each after one warm-up round)
  RPC_REQUESTS    h2load requests per measured run (default 50000)
  PY_WORKERS      thread-pool size of the reference grpcio server (default 16)

Adding a section: write `def bench_NAME(ctx): ...` (print with ctx.header/ctx.row, record numbers
with ctx.summary, targets with ctx.target, raise Broken on a failure) and add it to SECTIONS.
"""
import contextlib
import hashlib
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RELEASE_BIN = REPO / ".build" / "release" / "argo-artifact-plugin"
os.environ.setdefault("PLUGIN_BIN", str(RELEASE_BIN))
sys.path.insert(0, str(REPO / "Tests" / "integration"))

import harness  # noqa: E402  (generates the grpcio stubs on import)
from harness import Plugin, artifact, file_config, free_port_pair, pb, pb_grpc  # noqa: E402



def rounds(default):
    """Measurement rounds per contender (BENCH_ROUNDS overrides the section's default)."""
    return int(os.environ.get("BENCH_ROUNDS") or default)

MiB = 1 << 20
GiB = 1 << 30


class Broken(Exception):
    """The benchmark could not measure: a call failed, a result was wrong, a tool is missing."""


# ----------------------------------------------------------------------------------------------
# shared helpers


class Context:
    """Output and the summary block shared by all sections."""

    def __init__(self):
        self.summary_lines = []   # (key, value)
        self.targets = []         # (name, ok)

    def header(self, title):
        print(f"\n=== {title} ===", flush=True)

    def say(self, text=""):
        print(text, flush=True)

    def summary(self, key, value):
        self.summary_lines.append((key, value))

    def target(self, key, ok, text):
        self.targets.append((key, ok))
        print(f"{'PASS' if ok else 'MISS'}  {text}", flush=True)
        self.summary(f"{key}.target", "PASS" if ok else "MISS")

    def table(self, headers, rows):
        cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
        for n, r in enumerate(cells):
            print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
            if n == 0:
                print("  " + "  ".join("-" * w for w in widths))
        sys.stdout.flush()


def median(xs):
    return statistics.median(xs)


def percentile(sorted_xs, q):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_xs:
        return float("nan")
    k = max(0, min(len(sorted_xs) - 1, math.ceil(q * len(sorted_xs)) - 1))
    return sorted_xs[k]


def fmt_ratio(x):
    return f"{x:.2f}x"


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

    def start(self):
        plugin_bin()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([harness.plugin_binary(), *self.args, self.socket], stdout=self._log,
                                     stderr=subprocess.STDOUT, env=self.env)
        try:
            wait_connectable(self.socket, self.proc, what="plugin")
        except Broken:
            raise Broken(f"plugin did not start; its log:\n{self.log()}")
        self.startup_s = time.perf_counter() - t0
        return self


@contextlib.contextmanager
def running_plugin(workdir, args=(), env=None):
    p = BenchPlugin(workdir=workdir, args=args, env=env).start()
    try:
        yield p
    finally:
        p.stop()


def proc_status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile (KiB) and thread count from /proc."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0])
    return out


def cpu_seconds(pid):
    """utime + stime of a process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy(seconds=1.0, threshold=0.15):
    """Share of all CPUs used by other processes over `seconds` (this script is idle meanwhile), as
    text when above `threshold`, else ''. Benchmarks on a shared machine need this caveat."""
    def total():
        with open("/proc/stat") as f:
            v = list(map(int, f.readline().split()[1:]))
        return sum(v), v[3] + v[4]   # all, idle + iowait
    a_all, a_idle = total()
    time.sleep(seconds)
    b_all, b_idle = total()
    busy = 1 - (b_idle - a_idle) / max(1, b_all - a_all)
    return f"{busy * 100:.0f}% of all CPUs busy while idle here" if busy > threshold else ""


def check_reply(what, r):
    if not r.success:
        raise Broken(f"{what} failed: {r.error or '(no error text)'}")


# ----------------------------------------------------------------------------------------------
# rpc: unary GetCapabilities, plugin vs a Python grpcio server, same h2load runs

PY_SERVER = r'''
import sys
from concurrent import futures
sys.path.insert(0, sys.argv[2])
import grpc
import artifact_pb2 as pb, artifact_pb2_grpc as pb_grpc

class Service(pb_grpc.ArtifactServiceServicer):
    def GetCapabilities(self, request, context):
        return pb.GetCapabilitiesResponse(supports_save_stream=True)

server = grpc.server(futures.ThreadPoolExecutor(max_workers=int(sys.argv[3])))
pb_grpc.add_ArtifactServiceServicer_to_server(Service(), server)
server.add_insecure_port("unix:" + sys.argv[1])
server.start()
server.wait_for_termination()
'''

METHOD = "/artifact.ArtifactService/GetCapabilities"
RPC_TARGET_RPS = 5000
RPC_TARGET_P99_MS = 2.0
RPC_TARGET_RATIO = 2.0
# Throughput is measured saturated (many calls in flight); the p99 target is judged at a moderate
# load, where latency is the server's and not queueing (at 128 in flight, p99 >= 128 / rps).
LOAD_SATURATED = dict(c=8, m=16)
LOAD_MODERATE = dict(c=8, m=1)


def start_python_server(workdir):
    sock = str(Path(workdir) / "python.sock")
    log = open(Path(workdir) / "python.log", "ab")
    proc = subprocess.Popen([sys.executable, "-c", PY_SERVER, sock, str(harness.GEN),
                             os.environ.get("PY_WORKERS", "16")], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        wait_connectable(sock, proc, what="python grpcio server")
    except Broken:
        proc.kill()
        raise Broken("python grpcio server did not start: " + (Path(workdir) / "python.log").read_text())
    return proc, sock


def stop_process(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def grpc_check(sock, who):
    """One real grpcio call: the server answers GetCapabilities correctly."""
    import grpc
    with grpc.insecure_channel(f"unix://{sock}") as ch:
        try:
            r = pb_grpc.ArtifactServiceStub(ch).GetCapabilities(pb.GetCapabilitiesRequest(), timeout=10)
        except grpc.RpcError as e:
            raise Broken(f"{who}: GetCapabilities failed: {e.code()} {e.details()}")
    if not r.supports_save_stream:
        raise Broken(f"{who}: GetCapabilities answered supports_save_stream=false")


def raw_h2_check(sock, who):
    """The exact request h2load sends, once, through a plain HTTP/2 client: status 200, grpc-status 0
    in the trailers and a 7-byte framed reply (h2load itself only sees the HTTP status)."""
    try:
        import rawh2
    except ImportError:
        return "skipped (python h2 not installed)"
    r = rawh2.call(sock, "GetCapabilities", rawh2.grpc_frame(b""))
    msgs = rawh2.grpc_messages(bytes(r.data))
    if r.status != "200" or r.grpc_status != 0 or len(msgs) != 1:
        raise Broken(f"{who}: raw gRPC call: status {r.status}, grpc-status {r.grpc_status}, "
                     f"{len(msgs)} message(s), {r.grpc_message!r}")
    if pb.GetCapabilitiesResponse.FromString(msgs[0]).supports_save_stream is not True:
        raise Broken(f"{who}: raw gRPC call: wrong reply {msgs[0]!r}")
    return "ok"


def h2load(sock, body, n, c, m, log_path, who):
    if not shutil.which("h2load"):
        raise Broken("h2load not found: apt-get install nghttp2-client (or make deps-test)")
    cmd = ["h2load", "-n", str(n), "-c", str(c), "-m", str(m), "-t", "1", "-d", str(body),
           "-H", "content-type: application/grpc", "-H", "te: trailers",
           "-B", f"unix:{sock}", "--log-file", str(log_path), f"http://localhost{METHOD}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    text = out.stdout
    fin = re.search(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s", text)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                    r"(\d+) errored, (\d+) timeout", text)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if out.returncode != 0 or not (fin and req and codes):
        raise Broken(f"h2load against {who} failed (exit {out.returncode}):\n{text}\n{out.stderr}")
    total, _, done, ok, failed, errored, tmo = map(int, req.groups())
    c2, c3, c4, c5 = map(int, codes.groups())
    lat = []
    bad_rows = 0
    with open(log_path) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) < 3:
                continue
            if parts[1] != "200":
                bad_rows += 1
            lat.append(int(parts[2]) / 1000.0)
    lat.sort()
    res = dict(rps=float(fin.group(3)), total=total, done=done, succeeded=ok, failed=failed,
               errored=errored, timeout=tmo, s2xx=c2, non2xx=c3 + c4 + c5, bad_rows=bad_rows,
               p50=percentile(lat, 0.50), p99=percentile(lat, 0.99), max=lat[-1] if lat else float("nan"),
               logged=len(lat))
    if failed or errored or tmo or res["non2xx"] or bad_rows or c2 != n or ok != n:
        raise Broken(f"h2load against {who}: {ok}/{n} succeeded, {failed} failed, {errored} errored, "
                     f"{tmo} timeout, {c2} 2xx, {res['non2xx']} non-2xx, {bad_rows} non-200 log rows")
    return res


def bench_rpc(ctx):
    ctx.header("rpc: unary GetCapabilities over the Unix socket, plugin vs Python grpcio (same h2load runs)")
    n = int(os.environ.get("RPC_REQUESTS", "50000"))
    ctx.say(f"binary: {plugin_bin()}")
    if not shutil.which("h2load"):
        raise Broken("h2load not found: apt-get install nghttp2-client (or make deps-test)")
    work = Path(tempfile.mkdtemp(prefix="argo-bench-rpc-"))
    ctx.say(f"load: h2load -t 1 (one core for the client, one left for the server on this {os.cpu_count()}-CPU "
            f"machine), {n} requests per run, median of {rounds(3)} alternating rounds")
    py_proc = None
    try:
        body = work / "empty.grpc"
        body.write_bytes(b"\x00\x00\x00\x00\x00")   # uncompressed, zero-length GetCapabilitiesRequest
        # start-up time and idle memory, over 5 fresh starts
        startups, idle = [], None
        for i in range(5):
            with running_plugin(work / f"start{i}") as p:
                startups.append(p.startup_s)
                time.sleep(0.2)
                idle = proc_status(p.proc.pid)
        startup_ms = median(startups) * 1000

        plugin = BenchPlugin(workdir=work / "plugin").start()
        try:
            py_proc, py_sock = start_python_server(work)
            for who, sock in (("plugin", plugin.socket), ("python", py_sock)):
                grpc_check(sock, who)
                h2 = raw_h2_check(sock, who)
            ctx.say(f"checked: grpcio GetCapabilities -> supports_save_stream=true on both; raw HTTP/2 gRPC "
                    f"reply (status 200, grpc-status 0): {h2}")
            servers = {"plugin": (plugin.socket, plugin.proc.pid), "python": (py_sock, py_proc.pid)}
            results = {}
            for label, load in (("saturated", LOAD_SATURATED), ("moderate", LOAD_MODERATE)):
                for who, (sock, _) in servers.items():   # warm-up
                    h2load(sock, body, min(n, 5000), load["c"], load["m"], work / "warm.log", who)
                runs = {w: [] for w in servers}
                for r in range(rounds(3)):
                    order = list(servers) if r % 2 == 0 else list(reversed(list(servers)))
                    for who in order:
                        sock, pid = servers[who]
                        c0 = cpu_seconds(pid)
                        res = h2load(sock, body, n, load["c"], load["m"], work / f"{label}-{who}-{r}.log", who)
                        res["cpu_us_per_rpc"] = (cpu_seconds(pid) - c0) / n * 1e6
                        runs[who].append(res)
                results[label] = {w: {k: median([x[k] for x in rs]) for k in
                                      ("rps", "p50", "p99", "max", "cpu_us_per_rpc", "failed", "errored",
                                       "timeout", "non2xx")} for w, rs in runs.items()}
            time.sleep(0.5)
            after = proc_status(plugin.proc.pid)
        finally:
            plugin.stop()

        for label, load in (("saturated", LOAD_SATURATED), ("moderate", LOAD_MODERATE)):
            res = results[label]
            ctx.say(f"\n{label}: h2load -c {load['c']} -m {load['m']} ({load['c'] * load['m']} calls in flight)")
            rows = []
            for who in ("plugin", "python"):
                x = res[who]
                rows.append([who, f"{x['rps']:,.0f}", f"{x['p50']:.3f}", f"{x['p99']:.3f}", f"{x['max']:.2f}",
                             f"{x['cpu_us_per_rpc']:.1f}", f"{x['failed']:.0f}/{x['errored']:.0f}/"
                             f"{x['timeout']:.0f}/{x['non2xx']:.0f}"])
            p, q = res["plugin"], res["python"]
            rows.append(["plugin/python", fmt_ratio(p["rps"] / q["rps"]), fmt_ratio(p["p50"] / q["p50"]),
                         fmt_ratio(p["p99"] / q["p99"]), "", fmt_ratio(p["cpu_us_per_rpc"] / q["cpu_us_per_rpc"]), ""])
            ctx.table(["server", "RPC/s", "p50 ms", "p99 ms", "max ms", "CPU us/RPC", "fail/err/tmo/non2xx"], rows)
            ctx.summary(f"rpc.{label}.plugin_rps", f"{p['rps']:.0f}")
            ctx.summary(f"rpc.{label}.python_rps", f"{q['rps']:.0f}")
            ctx.summary(f"rpc.{label}.ratio_rps", f"{p['rps'] / q['rps']:.2f}")
            ctx.summary(f"rpc.{label}.plugin_p50_ms", f"{p['p50']:.3f}")
            ctx.summary(f"rpc.{label}.plugin_p99_ms", f"{p['p99']:.3f}")
            ctx.summary(f"rpc.{label}.python_p50_ms", f"{q['p50']:.3f}")
            ctx.summary(f"rpc.{label}.python_p99_ms", f"{q['p99']:.3f}")
            ctx.summary(f"rpc.{label}.plugin_cpu_us_per_rpc", f"{p['cpu_us_per_rpc']:.1f}")
            ctx.summary(f"rpc.{label}.python_cpu_us_per_rpc", f"{q['cpu_us_per_rpc']:.1f}")

        sat, mod = results["saturated"], results["moderate"]
        ctx.say(f"\nstart-up (spawn until the socket accepts), median of 5: {startup_ms:.1f} ms "
                f"(min {min(startups) * 1000:.1f}, max {max(startups) * 1000:.1f})")
        ctx.say(f"memory idle after start: VmRSS {idle['VmRSS'] / 1024:.1f} MiB (anon {idle['RssAnon'] / 1024:.1f}, "
                f"file-backed {idle['RssFile'] / 1024:.1f}), {idle['Threads']} threads")
        ctx.say(f"memory idle after the load: VmRSS {after['VmRSS'] / 1024:.1f} MiB (anon {after['RssAnon'] / 1024:.1f}, "
                f"file-backed {after['RssFile'] / 1024:.1f}), peak VmHWM {after['VmHWM'] / 1024:.1f} MiB, "
                f"{after['Threads']} threads")
        ctx.summary("rpc.startup_ms", f"{startup_ms:.1f}")
        ctx.summary("rpc.idle_rss_mib", f"{idle['VmRSS'] / 1024:.1f}")
        ctx.summary("rpc.idle_rss_anon_mib", f"{idle['RssAnon'] / 1024:.1f}")
        ctx.summary("rpc.after_load_rss_mib", f"{after['VmRSS'] / 1024:.1f}")
        ctx.summary("rpc.after_load_rss_anon_mib", f"{after['RssAnon'] / 1024:.1f}")
        ctx.summary("rpc.peak_rss_mib", f"{after['VmHWM'] / 1024:.1f}")

        ctx.say("")
        ctx.target("rpc.throughput", sat["plugin"]["rps"] >= RPC_TARGET_RPS,
                   f"throughput {sat['plugin']['rps']:,.0f} RPC/s >= {RPC_TARGET_RPS:,} (saturated)")
        ctx.target("rpc.p99", mod["plugin"]["p99"] <= RPC_TARGET_P99_MS,
                   f"p99 {mod['plugin']['p99']:.3f} ms <= {RPC_TARGET_P99_MS} ms (moderate load, "
                   f"{LOAD_MODERATE['c'] * LOAD_MODERATE['m']} in flight; saturated p99 "
                   f"{sat['plugin']['p99']:.3f} ms)")
        ratio = sat["plugin"]["rps"] / sat["python"]["rps"]
        ctx.target("rpc.vs_python", ratio >= RPC_TARGET_RATIO,
                   f"throughput {fmt_ratio(ratio)} the Python grpcio server >= {RPC_TARGET_RATIO:.0f}x (saturated)")
        # The issue asks for "well under a second" and "a few MiB"; these thresholds are this script's reading.
        ctx.target("rpc.startup", startup_ms < 500, f"start-up {startup_ms:.1f} ms < 500 ms")
        ctx.target("rpc.idle_rss", idle["VmRSS"] <= 10 * 1024,
                   f"idle VmRSS {idle['VmRSS'] / 1024:.1f} MiB <= 10 MiB (anon part {idle['RssAnon'] / 1024:.1f} MiB; "
                   f"the rest is shared libraries' pages)")
    finally:
        if py_proc is not None:
            stop_process(py_proc)
        shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# file: file-store Save/Load vs cp on the same disk

BIG_SIZE = GiB
TREE_DIRS, TREE_FILES, TREE_FILE_SIZE = 20, 100, 4096
FILE_TARGET_BIG = 0.8
FILE_TARGET_TREE = 0.5
NEED_FREE = 5 * GiB


def bench_dir():
    """Scratch space on the repository's disk (cp's ceiling must be the same disk's)."""
    parent = Path(os.environ.get("BENCH_DIR") or REPO.parent)
    if parent.stat().st_dev != REPO.stat().st_dev:
        print(f"note: BENCH_DIR {parent} is not on the repository's file system")
    return parent


def make_big_file(path, size):
    """Incompressible, not sparse, each MiB distinct; fsynced. Returns its sha256."""
    block = bytearray(os.urandom(MiB))
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(size // MiB):
            block[:8] = i.to_bytes(8, "little")
            f.write(block)
            h.update(block)
        f.flush()
        os.fsync(f.fileno())
    return h.hexdigest()


def make_tree(root):
    for d in range(TREE_DIRS):
        sub = root / f"d{d:02d}" / "inner"
        sub.mkdir(parents=True)
        for i in range(TREE_FILES):
            (sub / f"f{i:03d}.bin").write_bytes(os.urandom(TREE_FILE_SIZE))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 * MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_digest(root):
    """{relative path: sha256} of every regular file under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise Broken(f"{' '.join(map(str, cmd))} failed: {r.stderr.strip()}")


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def measure(contenders, rounds):
    """contenders: {name: (do(i) -> None, cleanup(i) -> None)}. Rounds alternate the order; every
    measurement starts with no dirty pages (sync, untimed) so no one pays for another's writeback.
    Returns {name: [seconds...]}."""
    times = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            do, cleanup = contenders[name]
            os.sync()
            t0 = time.perf_counter()
            do(r)
            times[name].append(time.perf_counter() - t0)
            cleanup(r)
            os.sync()
            time.sleep(0.3)   # let writeback and the file system's discards of the cleanup settle
    return times


def bench_file(ctx):
    ctx.header("file: file-store Save/Load vs cp on the same disk")
    plugin_bin()
    parent = bench_dir()
    free = shutil.disk_usage(parent).free
    if free < NEED_FREE:
        ctx.say(f"SKIP: only {free / GiB:.1f} GiB free under {parent}; this section needs {NEED_FREE / GiB:.0f} GiB")
        ctx.summary("file", "skipped (disk space)")
        return
    work = Path(tempfile.mkdtemp(prefix=".argo-bench-file-", dir=parent))
    fs = subprocess.run(["stat", "-f", "-c", "%T", str(work)], capture_output=True, text=True).stdout.strip()
    ctx.say(f"binary: {plugin_bin()}")
    ctx.say(f"scratch: {work} ({fs}, {free / GiB:.0f} GiB free); median of {rounds(5)} alternating rounds; "
            f"page cache is not dropped (the source is cached for every contender alike), dirty pages are "
            f"synced between measurements")
    try:
        store, src, out = work / "store", work / "src", work / "out"
        for d in (store, src, out):
            d.mkdir()
        config = file_config(store)
        with running_plugin(work / "plugin") as p:
            stub = p.stub()

            def save(path, key):
                check_reply(f"Save {path} -> {key}",
                            stub.Save(pb.SaveArtifactRequest(path=str(path), output_artifact=artifact(key, config)),
                                      timeout=900))

            def load(key, path):
                check_reply(f"Load {key} -> {path}",
                            stub.Load(pb.LoadArtifactRequest(input_artifact=artifact(key, config), path=str(path)),
                                      timeout=900))

            rows, results = [], {}

            # ---- one 1 GiB file
            big = src / "big.bin"
            ctx.say(f"creating {BIG_SIZE / GiB:.0f} GiB source file ...")
            big_sha = make_big_file(big, BIG_SIZE)

            save(big, "verify/big.bin")   # also warms the plugin's config cache and code paths
            if os.path.getsize(store / "verify/big.bin") != BIG_SIZE or sha256_file(store / "verify/big.bin") != big_sha:
                raise Broken("Save of the big file stored different bytes")
            load("verify/big.bin", out / "verify.bin")
            if os.path.getsize(out / "verify.bin") != BIG_SIZE or sha256_file(out / "verify.bin") != big_sha:
                raise Broken("Load of the big file wrote different bytes")
            remove(out / "verify.bin")
            ctx.say("verified: Save and Load of the big file give the source's size and sha256")
            stored_big = store / "verify/big.bin"

            def cp_file(s, d, sync):
                def do(i):
                    run(["cp", str(s), str(d(i))])
                    if sync:
                        fsync_path(d(i))
                return do

            t = measure({
                "plugin": (lambda i: save(big, f"big/{i}"), lambda i: remove(store / f"big/{i}")),
                "cp": (cp_file(big, lambda i: out / f"cp{i}", False), lambda i: remove(out / f"cp{i}")),
                "cp+fsync": (cp_file(big, lambda i: out / f"cps{i}", True), lambda i: remove(out / f"cps{i}")),
            }, rounds(5))
            results["save_1g"] = t

            t = measure({
                "plugin": (lambda i: load("verify/big.bin", out / f"load{i}"), lambda i: remove(out / f"load{i}")),
                "cp": (cp_file(stored_big, lambda i: out / f"cp{i}", False), lambda i: remove(out / f"cp{i}")),
                "cp+fsync": (cp_file(stored_big, lambda i: out / f"cps{i}", True), lambda i: remove(out / f"cps{i}")),
            }, rounds(5))
            results["load_1g"] = t
            remove(big)
            remove(store / "verify")
            os.sync()

            # ---- 2,000 x 4 KiB files
            tree = src / "tree"
            n_files = TREE_DIRS * TREE_FILES
            make_tree(tree)
            os.sync()
            tree_sha = tree_digest(tree)
            save(tree, "verify/tree")
            if tree_digest(store / "verify/tree") != tree_sha:
                raise Broken("Save of the directory stored a different tree")
            load("verify/tree", out / "verify-tree")
            if tree_digest(out / "verify-tree") != tree_sha:
                raise Broken("Load of the directory wrote a different tree")
            # Trees are kept until the end: ext4 allocates inodes slowly right after thousands were
            # freed (perf: recently_deleted / find_get_block_common in inode allocation), which would
            # charge one contender's cleanup to the next contender's time.
            ctx.say(f"verified: Save and Load of the {n_files}-file directory give the source's files and sha256s")
            stored_tree = store / "verify/tree"

            def keep(i):
                pass

            def cp_tree(s, d, sync):
                def do(i):
                    run(["cp", "-r", str(s), str(d(i))])
                    if sync:
                        run(["sync", "-f", str(d(i))])   # syncfs, as the plugin's directory Save does
                return do

            t = measure({
                "plugin": (lambda i: save(tree, f"tree/{i}"), keep),
                "cp": (cp_tree(tree, lambda i: out / f"save-cp{i}", False), keep),
                "cp+fsync": (cp_tree(tree, lambda i: out / f"save-cps{i}", True), keep),
            }, rounds(5))
            results["save_tree"] = t

            t = measure({
                "plugin": (lambda i: load("verify/tree", out / f"load-plugin{i}"), keep),
                "cp": (cp_tree(stored_tree, lambda i: out / f"load-cp{i}", False), keep),
                "cp+fsync": (cp_tree(stored_tree, lambda i: out / f"load-cps{i}", True), keep),
            }, rounds(5))
            results["load_tree"] = t
            peak = proc_status(p.proc.pid)

        # ---- report
        spread = {k: {who: (min(v), max(v)) for who, v in t.items()} for k, t in results.items()}
        results = {k: {who: median(v) for who, v in t.items()} for k, t in results.items()}
        ctx.say("")
        ctx.say("cp+fsync = cp followed by fsync of the copy (big file) or `sync -f` = syncfs (directory), which "
                "is what the plugin does before it answers. Ratios are throughput ratios (reference time / plugin "
                "time); targets are judged against plain cp.")
        ctx.say("")
        for key, label, unit_size, unit in (("save_1g", "Save 1 GiB file", BIG_SIZE / MiB, "MiB/s"),
                                            ("load_1g", "Load 1 GiB file", BIG_SIZE / MiB, "MiB/s"),
                                            ("save_tree", f"Save {n_files} x 4 KiB", n_files, "files/s"),
                                            ("load_tree", f"Load {n_files} x 4 KiB", n_files, "files/s")):
            r = results[key]
            for who in ("plugin", "cp", "cp+fsync"):
                ratio = "" if who == "plugin" else fmt_ratio(r[who] / r["plugin"])
                lo, hi = spread[key][who]
                rows.append([label if who == "plugin" else "", who, f"{r[who]:.3f}", f"{lo:.3f}-{hi:.3f}",
                             f"{unit_size / r[who]:,.0f} {unit}", ratio])
        ctx.table(["operation", "by", "median s", "min-max s", "rate", "plugin vs it"], rows)

        ctx.say("")
        for key, target in (("save_1g", FILE_TARGET_BIG), ("load_1g", FILE_TARGET_BIG),
                            ("save_tree", FILE_TARGET_TREE), ("load_tree", None)):
            r = results[key]
            vs_cp = r["cp"] / r["plugin"]
            vs_sync = r["cp+fsync"] / r["plugin"]
            rate = (BIG_SIZE / MiB if key.endswith("1g") else n_files) / r["plugin"]
            ctx.summary(f"file.{key}.plugin_s", f"{r['plugin']:.3f}")
            ctx.summary(f"file.{key}.cp_s", f"{r['cp']:.3f}")
            ctx.summary(f"file.{key}.cp_fsync_s", f"{r['cp+fsync']:.3f}")
            ctx.summary(f"file.{key}.plugin_rate", f"{rate:.0f} {'MiB/s' if key.endswith('1g') else 'files/s'}")
            ctx.summary(f"file.{key}.vs_cp", f"{vs_cp:.2f}")
            ctx.summary(f"file.{key}.vs_cp_fsync", f"{vs_sync:.2f}")
            what = {"save_1g": "Save 1 GiB", "load_1g": "Load 1 GiB", "save_tree": f"Save {n_files} files",
                    "load_tree": f"Load {n_files} files"}[key]
            best = spread[key]["cp"][0] / spread[key]["plugin"][0]
            best_sync = spread[key]["cp+fsync"][0] / spread[key]["plugin"][0]
            ctx.summary(f"file.{key}.vs_cp_best", f"{best:.2f}")
            ctx.summary(f"file.{key}.vs_cp_fsync_best", f"{best_sync:.2f}")
            detail = (f"{fmt_ratio(vs_sync)} cp+fsync; fastest runs: {fmt_ratio(best)} cp, "
                      f"{fmt_ratio(best_sync)} cp+fsync")
            if target is not None:
                ctx.target(f"file.{key}", vs_cp >= target, f"{what}: {fmt_ratio(vs_cp)} cp >= {target}x ({detail})")
            else:
                ctx.say(f"info  {what}: {fmt_ratio(vs_cp)} cp ({detail}); no target")
        ctx.say(f"plugin memory at the end: VmRSS {peak['VmRSS'] / 1024:.1f} MiB, peak VmHWM {peak['VmHWM'] / 1024:.1f} MiB")
        ctx.summary("file.plugin_peak_rss_mib", f"{peak['VmHWM'] / 1024:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# shared by the object-store sections (s3, upload, download): one Ceph RGW for the whole run,
# scratch source files on the repository's disk, boto3 in a child process, curl, RSS sampling

import atexit  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import threading  # noqa: E402

S3_ACCESS_KEY = "AKIAARGOPLUGINTEST"               # as Tests/integration/conftest.py
S3_SECRET_KEY = "argo-plugin-test-secret-key/+0123456789"
RGW_MEMSTORE_BYTES = "8G"
NEED_FREE_REMOTE = 8 * GiB


class RGWFixture:
    """One throw-away Ceph RGW (memstore) shared by every section of the run: started on first use
    with scripts/testbed/start-rgw.sh, stopped (and its data purged) when the script exits."""

    bucket = "argo-bench"

    def __init__(self):
        self.data = None
        self.endpoint = None
        self._client = None

    def get(self, ctx):
        if self.endpoint:
            return self
        if not shutil.which("radosgw"):
            raise Broken("Ceph RGW (radosgw) not installed: scripts/install-deps.sh test installs it")
        port = free_port_pair()
        self.data = f"/tmp/argo-bench-rgw-{os.getpid()}"
        atexit.register(self.stop)
        env = dict(os.environ, S3_ACCESS_KEY=S3_ACCESS_KEY, S3_SECRET_KEY=S3_SECRET_KEY, OSD_STORE="memstore",
                   MEMSTORE_BYTES=RGW_MEMSTORE_BYTES)
        ctx.say(f"starting Ceph RGW (memstore, {RGW_MEMSTORE_BYTES}) on 127.0.0.1:{port}, data {self.data} ...")
        t0 = time.perf_counter()
        out = subprocess.run([str(REPO / "scripts" / "testbed" / "start-rgw.sh"), self.data, str(port)], env=env,
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise Broken(f"RGW did not start: {out.stderr[-2000:]}")
        self.endpoint = out.stdout.strip().splitlines()[-1]
        self.hostport = self.endpoint.split("//", 1)[1]
        self.client().create_bucket(Bucket=self.bucket)
        ver = subprocess.run(["radosgw", "--version"], capture_output=True, text=True).stdout.split("(")[0].strip()
        ctx.say(f"RGW up in {time.perf_counter() - t0:.1f} s: {self.endpoint} ({ver}), bucket {self.bucket}")
        return self

    def stop(self):
        if self.data:
            subprocess.run([str(REPO / "scripts" / "testbed" / "stop-rgw.sh"), self.data, "--purge"], timeout=120,
                           capture_output=True)
            self.data = self.endpoint = self._client = None

    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config
            self._client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_ACCESS_KEY,
                                        aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1",
                                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                                      retries={"max_attempts": 2}))
        return self._client

    def presign(self, method, key):
        op = {"PUT": "put_object", "GET": "get_object"}[method]
        return self.client().generate_presigned_url(op, Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=3600)

    def config(self, extra=""):
        return f"endpoint: {self.hostport}\nbucket: {self.bucket}\ninsecure: true\nuseSDKCreds: true\n{extra}"

    plugin_env = {"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}

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

    def delete(self, key_or_prefix, prefix=False):
        """Deletes an object (or everything under a prefix) and runs RGW's garbage collection now, so
        memstore space comes back before the next measurement."""
        c = self.client()
        if prefix:
            keys = list(self.listing(key_or_prefix))
            for i in range(0, len(keys), 1000):
                c.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                             "Quiet": True})
        else:
            c.delete_object(Bucket=self.bucket, Key=key_or_prefix)
        self.gc()

    def gc(self):
        subprocess.run(["radosgw-admin", "-c", f"{self.data}/ceph.conf", "gc", "process", "--include-all"],
                       capture_output=True, timeout=120)

    def cpu(self):
        """CPU seconds used so far by the RGW and OSD daemons (they share this machine's cores with
        the client being measured)."""
        total = 0.0
        with open(f"{self.data}/pids") as f:
            for line in f:
                pid, name = line.split()
                if name.startswith(("rgw", "osd")):
                    try:
                        total += cpu_seconds(int(pid))
                    except FileNotFoundError:
                        raise Broken(f"RGW's {name} (pid {pid}) is gone; see {self.data}/log")
        return total


RGW = RGWFixture()


class Scratch:
    """Source files on the repository's disk, made once per run and shared by the sections; removed
    when the script exits."""

    def __init__(self):
        self.dir = None
        self.files = {}    # size -> (path, sha256)
        self.tree_path = None

    def path(self, ctx):
        if self.dir is None:
            parent = bench_dir()
            free = shutil.disk_usage(parent).free
            if free < NEED_FREE_REMOTE:
                raise Broken(f"only {free / GiB:.1f} GiB free under {parent}; the object-store sections need "
                             f"{NEED_FREE_REMOTE / GiB:.0f} GiB")
            self.dir = Path(tempfile.mkdtemp(prefix=".argo-bench-remote-", dir=parent))
            atexit.register(self.close)
            ctx.say(f"scratch: {self.dir} ({free / GiB:.0f} GiB free)")
        return self.dir

    def source(self, ctx, size):
        if size not in self.files:
            path = self.path(ctx) / f"src-{size // MiB}m.bin"
            ctx.say(f"creating {size / MiB:,.0f} MiB source file ...")
            self.files[size] = (path, make_big_file(path, size))
        return self.files[size]

    def tree(self, ctx):
        if self.tree_path is None:
            root = self.path(ctx) / "tree"
            make_tree(root)
            os.sync()
            self.tree_path = root
        return self.tree_path

    def out(self, ctx, name):
        d = self.path(ctx) / name
        d.mkdir(exist_ok=True)
        return d

    def close(self):
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.files = {}
            self.tree_path = None


SCRATCH = Scratch()


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


BOTO_CHILD = r'''
import hashlib, json, os, resource, sys, time
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
a = json.loads(sys.argv[1])
c = boto3.client("s3", endpoint_url=a["endpoint"], aws_access_key_id=a["ak"], aws_secret_access_key=a["sk"],
                 region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
c.head_bucket(Bucket=a["bucket"])          # credentials resolved and a connection open before timing

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return r.ru_utime + r.ru_stime

if a["op"] == "put_loop":
    files = []
    for dirpath, _, names in os.walk(a["path"]):
        for n in sorted(names):
            p = os.path.join(dirpath, n)
            files.append((p, a["key"] + "/" + os.path.relpath(p, a["path"])))
c0, t0 = cpu(), time.perf_counter()
if a["op"] == "upload_file":
    c.upload_file(a["path"], a["bucket"], a["key"], Config=TransferConfig())
elif a["op"] == "download_file":
    c.download_file(a["bucket"], a["key"], a["path"], Config=TransferConfig())
elif a["op"] == "put_loop":
    for p, k in files:
        with open(p, "rb") as f:
            c.put_object(Bucket=a["bucket"], Key=k, Body=f.read())
else:
    raise SystemExit("unknown op " + a["op"])
print(json.dumps({"s": time.perf_counter() - t0, "cpu": cpu() - c0}))
'''


def boto3_child(rgw, op, path, key):
    """boto3 (default TransferConfig) in a fresh process; its own clock and getrusage(RUSAGE_SELF)
    around the call only, so interpreter start-up and imports are not counted."""
    arg = json.dumps(dict(op=op, path=str(path), key=key, bucket=rgw.bucket, endpoint=rgw.endpoint,
                          ak=S3_ACCESS_KEY, sk=S3_SECRET_KEY))
    r = subprocess.run([sys.executable, "-c", BOTO_CHILD, arg], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise Broken(f"boto3 {op} {key} failed: {r.stderr.strip()[-1500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def curl(args, what):
    """One curl transfer: curl's own time_total / time_starttransfer, the HTTP status, and the CPU
    seconds of the curl process (getrusage of children)."""
    c0 = children_cpu()
    r = subprocess.run(["curl", "-sS", "-w", "%{http_code} %{time_total} %{time_starttransfer} %{size_download} "
                        "%{size_upload}", *args], capture_output=True, text=True, timeout=900)
    cpu = children_cpu() - c0
    fields = r.stdout.strip().split()
    if r.returncode != 0 or len(fields) != 5 or fields[0] != "200":
        raise Broken(f"curl {what} failed (exit {r.returncode}, status {fields[0] if fields else '?'}): "
                     f"{r.stderr.strip()}")
    return {"s": float(fields[1]), "ttfb": float(fields[2]), "down": int(float(fields[3])),
            "up": int(float(fields[4])), "cpu": cpu}


def curl_put(rgw, path, key):
    return curl(["-o", "/dev/null", "-H", "Expect:", "-T", str(path), rgw.presign("PUT", key)], f"PUT {key}")


def curl_get(rgw, key, path="/dev/null", sync=False):
    x = curl(["-o", str(path), rgw.presign("GET", key)], f"GET {key}")
    if sync:
        t0 = time.perf_counter()
        fsync_path(path)
        x["s"] += time.perf_counter() - t0
    return x


class RSSSampler:
    """Peak VmRSS / RssAnon of a process, sampled every 10 ms in a thread; VmHWM read at the end."""

    def __init__(self, pid, interval=0.01):
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_anon = 0
        self.samples = 0
        self._stop = threading.Event()

    def _sample(self):
        try:
            s = proc_status(self.pid)
        except (FileNotFoundError, ProcessLookupError):
            return
        self.peak_rss = max(self.peak_rss, s.get("VmRSS", 0))
        self.peak_anon = max(self.peak_anon, s.get("RssAnon", 0))
        self.samples += 1

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        self.hwm = proc_status(self.pid).get("VmHWM", 0)

    @property
    def peak_mib(self):
        """The larger of the sampled peak and the kernel's high-water mark, in MiB."""
        return max(self.peak_rss, self.hwm) / 1024


class PluginCalls:
    """Timed calls to a running plugin: wall time around the call, the plugin's CPU (utime+stime of
    all its threads, from /proc) over the same interval."""

    def __init__(self, plugin):
        self.p = plugin
        self.stub = plugin.stub()

    def _timed(self, what, call):
        pid = self.p.proc.pid
        c0, t0 = cpu_seconds(pid), time.perf_counter()
        try:
            r = call()
        except Exception as e:
            raise Broken(f"{what}: {e}; plugin log tail:\n{self.p.log()[-1500:]}")
        dt, cpu = time.perf_counter() - t0, cpu_seconds(pid) - c0
        check_reply(what, r)
        return {"s": dt, "cpu": cpu}

    def save(self, path, key, config):
        return self._timed(f"Save {path} -> {key}", lambda: self.stub.Save(
            pb.SaveArtifactRequest(path=str(path), output_artifact=artifact(key, config)), timeout=900))

    def load(self, key, path, config):
        return self._timed(f"Load {key} -> {path}", lambda: self.stub.Load(
            pb.LoadArtifactRequest(input_artifact=artifact(key, config), path=str(path)), timeout=900))

    def stream(self, key, config, size, sha=None, stub=None):
        """OpenStream, consuming every message: checks is_end (on the last message only), no error
        and the byte count (and the sha256 when given). ttfb = until the first data message."""
        import grpc
        h = hashlib.sha256() if sha else None
        pid = self.p.proc.pid
        c0, u0, t0 = cpu_seconds(pid), self_cpu(), time.perf_counter()
        first, n, ended, msgs, err = None, 0, False, 0, ""
        try:
            for m in (stub or self.stub).OpenStream(pb.OpenStreamRequest(artifact=artifact(key, config)), timeout=900):
                msgs += 1
                if ended:
                    raise Broken(f"OpenStream {key}: a message after is_end")
                if m.data:
                    if first is None:
                        first = time.perf_counter() - t0
                    n += len(m.data)
                    if h:
                        h.update(m.data)
                if m.error:
                    err = m.error
                if m.is_end:
                    ended = True
        except grpc.RpcError as e:
            raise Broken(f"OpenStream {key}: {e.code()} {e.details()}")
        dt = time.perf_counter() - t0
        if err or not ended or n != size:
            raise Broken(f"OpenStream {key}: {n} of {size} bytes, is_end={ended}, error={err!r}")
        if h and h.hexdigest() != sha:
            raise Broken(f"OpenStream {key}: the bytes streamed are not the object's (sha256 differs)")
        return {"s": dt, "ttfb": first, "cpu": cpu_seconds(pid) - c0, "client_cpu": self_cpu() - u0, "msgs": msgs}


def measure_runs(ctx, label, contenders, n, store=None):
    """contenders: {name: (do(i) -> {"s": seconds, ...}, cleanup(i))}. A warm-up round (i = -1, not
    counted; do() verifies its result there) then n rounds, the order rotating each round. Dirty
    pages are synced before every measurement. With `store` (an RGWFixture), each result also gets
    "store_cpu": the RGW and OSD daemons' CPU seconds during the call. Returns {name: [result, ...]}."""
    names = list(contenders)
    res = {name: [] for name in names}
    for r in range(-1, n):
        k = r % len(names)
        parts = []
        for name in names[k:] + names[:k]:
            do, cleanup = contenders[name]
            os.sync()
            s0 = store.cpu() if store else None
            x = do(r)
            if store:
                x["store_cpu"] = store.cpu() - s0
            cleanup(r)
            if r >= 0:
                res[name].append(x)
            parts.append(f"{name} {x['s']:.2f}s")
        ctx.say(f"  {label}, {'warm-up' if r < 0 else f'round {r + 1}/{n}'}: {', '.join(parts)}")
    return res


def med(runs, key="s"):
    return median([x[key] for x in runs])


def rate_table(ctx, specs, cpu=True, store=False):
    """specs: [(operation label, {name: runs}, bytes)]; ratios are plugin throughput / the other's
    (= the other's time / the plugin's). store: add the RGW+OSD CPU column."""
    rows = []
    for label, res, size in specs:
        p = med(res["plugin"])
        for i, (who, runs) in enumerate(res.items()):
            s = med(runs)
            lo, hi = min(x["s"] for x in runs), max(x["s"] for x in runs)
            row = [label if i == 0 else "", who, f"{s:.3f}", f"{lo:.3f}-{hi:.3f}", f"{size / MiB / s:,.0f}",
                   "" if who == "plugin" else fmt_ratio(s / p)]
            if cpu:
                c = med(runs, "cpu") if all("cpu" in x for x in runs) else None
                row += ["" if c is None else f"{c:.2f}", "" if c is None else f"{c / (size / GiB):.2f}"]
            if store:
                row.append(f"{med(runs, 'store_cpu'):.2f}")
            rows.append(row)
    ctx.table(["operation", "by", "median s", "min-max s", "MiB/s", "plugin vs it"]
              + (["CPU s", "CPU s/GiB"] if cpu else []) + (["store CPU s"] if store else []), rows)


def rm_local(path):
    remove(path)
    time.sleep(0.2)   # let the file system's discards of the removal settle


# ----------------------------------------------------------------------------------------------
# s3: baseline Save/Load of 256 MiB through RGW vs curl (presigned URLs) and boto3

S3_SIZE = 256 * MiB


def bench_s3(ctx):
    ctx.header("s3: Save/Load of 256 MiB through Ceph RGW, plugin vs curl (presigned URL) vs boto3 (baseline)")
    plugin_bin()
    rgw = RGW.get(ctx)
    src, src_sha = SCRATCH.source(ctx, S3_SIZE)
    out = SCRATCH.out(ctx, "s3-out")
    n = rounds(3)
    cfg = rgw.config()
    ctx.say(f"binary: {plugin_bin()}; median of {n} rounds after a warm-up, order rotating; boto3 "
            f"{__import__('boto3').__version__} default TransferConfig in a child process (its own clock); curl "
            f"{subprocess.run(['curl', '--version'], capture_output=True, text=True).stdout.split()[1]} PUT/GET of "
            f"SigV4 presigned path-style URLs, straight to RGW")
    try:
        with running_plugin(SCRATCH.path(ctx) / "plugin-s3", env=rgw.plugin_env) as p:
            calls = PluginCalls(p)

            def save_plugin(i):
                x = calls.save(src, f"s3/save-plugin-{i}", cfg)
                if i < 0 and rgw.sha256(f"s3/save-plugin-{i}") != src_sha:
                    raise Broken("plugin Save stored different bytes (sha256)")
                return x

            def save_curl(i):
                x = curl_put(rgw, src, f"s3/save-curl-{i}")
                if i < 0 and rgw.size(f"s3/save-curl-{i}") != S3_SIZE:
                    raise Broken("curl PUT stored a different size")
                return x

            def save_boto3(i):
                x = boto3_child(rgw, "upload_file", src, f"s3/save-boto3-{i}")
                if i < 0 and rgw.size(f"s3/save-boto3-{i}") != S3_SIZE:
                    raise Broken("boto3 upload_file stored a different size")
                return x

            def drop(who):
                return lambda i: rgw.delete(f"s3/save-{who}-{i}")

            save = measure_runs(ctx, "Save 256 MiB", {"plugin": (save_plugin, drop("plugin")),
                                                      "curl": (save_curl, drop("curl")),
                                                      "boto3": (save_boto3, drop("boto3"))}, n, store=rgw)

            boto3_child(rgw, "upload_file", src, "s3/src")   # the object every Load reads
            ctx.say("verified: plugin Save -> object sha256 = source's; curl and boto3 -> size")

            def load_plugin(i):
                x = calls.load("s3/src", out / f"plugin-{i}", cfg)
                if i < 0 and sha256_file(out / f"plugin-{i}") != src_sha:
                    raise Broken("plugin Load wrote different bytes (sha256)")
                return x

            def load_curl(i):
                x = curl_get(rgw, "s3/src", out / f"curl-{i}")
                if i < 0 and os.path.getsize(out / f"curl-{i}") != S3_SIZE:
                    raise Broken("curl GET wrote a different size")
                return x

            def load_boto3(i):
                x = boto3_child(rgw, "download_file", out / f"boto3-{i}", "s3/src")
                if i < 0 and os.path.getsize(out / f"boto3-{i}") != S3_SIZE:
                    raise Broken("boto3 download_file wrote a different size")
                return x

            def rm(who):
                return lambda i: rm_local(out / f"{who}-{i}")

            load = measure_runs(ctx, "Load 256 MiB", {"plugin": (load_plugin, rm("plugin")),
                                                      "curl": (load_curl, rm("curl")),
                                                      "boto3": (load_boto3, rm("boto3"))}, n, store=rgw)
            ctx.say("verified: plugin Load -> file sha256 = source's; curl and boto3 -> size")
        rgw.delete("s3/", prefix=True)

        ctx.say("")
        ctx.say("Load: the plugin fsyncs the file before answering; curl and boto3 do not. CPU: plugin = its "
                "process, curl = the curl process, boto3 = the child's getrusage around the call; store CPU = the "
                "RGW and OSD daemons during the call.")
        rate_table(ctx, [("Save 256 MiB", save, S3_SIZE), ("Load 256 MiB", load, S3_SIZE)], store=True)
        ctx.say("")
        for op, res in (("save", save), ("load", load)):
            p = med(res["plugin"])
            for who in ("plugin", "curl", "boto3"):
                ctx.summary(f"s3.{op}.{who}_mibs", f"{S3_SIZE / MiB / med(res[who]):.0f}")
            for who in ("curl", "boto3"):
                ctx.summary(f"s3.{op}.vs_{who}", f"{med(res[who]) / p:.2f}")
            ctx.say(f"info  {op.capitalize()} 256 MiB: {fmt_ratio(med(res['curl']) / p)} curl, "
                    f"{fmt_ratio(med(res['boto3']) / p)} boto3; baseline, no target")
    finally:
        shutil.rmtree(out, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# upload: Save of 1 GiB vs boto3 and curl, CPU per GiB, memory at 256 MiB and 2 GiB, a directory

UP_SIZE = GiB
UP_RSS_SIZES = (256 * MiB, 2 * GiB)
UP_TARGET_CURL = 1.0
UP_TARGET_BOTO3 = 1.3
UP_TARGET_CPU = 0.5
UP_TARGET_RSS_TOL = 0.10
UP_TARGET_TREE = 10.0
UP_MULTIPART = "multipart: {partSize: 16Mi, concurrency: 8}\n"


def bench_upload(ctx):
    ctx.header("upload: Save to Ceph RGW, plugin vs boto3 upload_file vs one curl PUT (the store's line rate)")
    plugin_bin()
    rgw = RGW.get(ctx)
    n = rounds(3)
    cfg = rgw.config()
    src, src_sha = SCRATCH.source(ctx, UP_SIZE)
    ctx.say(f"median of {n} rounds after a warm-up; plugin with default multipart settings (16 MiB parts, 8 in "
            f"flight); boto3 default TransferConfig (8 MiB parts, 10 threads) in a child process")
    with running_plugin(SCRATCH.path(ctx) / "plugin-upload", env=rgw.plugin_env) as p:
        calls = PluginCalls(p)

        def save_plugin(i):
            x = calls.save(src, f"upload/plugin-{i}", cfg)
            if i < 0 and rgw.sha256(f"upload/plugin-{i}") != src_sha:
                raise Broken("plugin Save of 1 GiB stored different bytes (sha256)")
            return x

        def save_boto3(i):
            x = boto3_child(rgw, "upload_file", src, f"upload/boto3-{i}")
            if i < 0 and rgw.size(f"upload/boto3-{i}") != UP_SIZE:
                raise Broken("boto3 upload_file stored a different size")
            return x

        def save_curl(i):
            x = curl_put(rgw, src, f"upload/curl-{i}")
            if i < 0 and (x["up"] != UP_SIZE or rgw.size(f"upload/curl-{i}") != UP_SIZE):
                raise Broken("curl PUT stored a different size")
            return x

        def drop(who):
            return lambda i: rgw.delete(f"upload/{who}-{i}")

        big = measure_runs(ctx, "Save 1 GiB", {"plugin": (save_plugin, drop("plugin")),
                                               "boto3": (save_boto3, drop("boto3")),
                                               "curl": (save_curl, drop("curl"))}, n, store=rgw)
        ctx.say("verified: plugin Save -> object sha256 = source's; boto3, curl -> size")

        # ---- 2,000 x 4 KiB files
        tree = SCRATCH.tree(ctx)
        n_files = TREE_DIRS * TREE_FILES
        local = {str(q.relative_to(tree)): (q.stat().st_size, hashlib.md5(q.read_bytes()).hexdigest())
                 for q in tree.rglob("*") if q.is_file()}

        def tree_plugin(i):
            x = calls.save(tree, f"upload/tree-plugin-{i}", cfg)
            if i < 0:
                got = {k.split("/", 2)[2]: v for k, v in rgw.listing(f"upload/tree-plugin-{i}/").items()}
                if got != local:
                    raise Broken(f"plugin directory Save: {len(got)} objects stored, {len(local)} files; sizes or "
                                 f"ETags (single-PUT ETag = MD5) differ")
            return x

        def tree_boto3(i):
            x = boto3_child(rgw, "put_loop", tree, f"upload/tree-boto3-{i}")
            if i < 0 and len(rgw.listing(f"upload/tree-boto3-{i}/")) != n_files:
                raise Broken("boto3 put_object loop stored a different number of objects")
            return x

        def drop_tree(who):
            return lambda i: rgw.delete(f"upload/tree-{who}-{i}/", prefix=True)

        small = measure_runs(ctx, f"Save {n_files} x 4 KiB", {"plugin": (tree_plugin, drop_tree("plugin")),
                                                              "boto3 loop": (tree_boto3, drop_tree("boto3"))},
                             n, store=rgw)
        ctx.say(f"verified: plugin directory Save -> {n_files} objects, sizes and MD5 ETags = the files'; "
                f"boto3 loop -> {n_files} objects")

    # ---- memory: a fresh plugin per source size, the explicit default multipart settings
    rss = {}
    for size in UP_RSS_SIZES:
        path, _ = SCRATCH.source(ctx, size)
        with running_plugin(SCRATCH.path(ctx) / f"plugin-rss-{size // MiB}", env=rgw.plugin_env) as fresh:
            idle = proc_status(fresh.proc.pid)["VmRSS"] / 1024
            with RSSSampler(fresh.proc.pid) as s:
                x = PluginCalls(fresh).save(path, f"upload/rss-{size // MiB}", rgw.config(UP_MULTIPART))
        if rgw.size(f"upload/rss-{size // MiB}") != size:
            raise Broken(f"plugin Save of {size // MiB} MiB stored a different size")
        rgw.delete(f"upload/rss-{size // MiB}")
        rss[size] = dict(peak=s.peak_mib, sampled=s.peak_rss / 1024, anon=s.peak_anon / 1024, idle=idle,
                         samples=s.samples, s=x["s"])
        ctx.say(f"  memory, Save {size / MiB:,.0f} MiB on a fresh plugin: peak RSS {s.peak_mib:.1f} MiB "
                f"(10 ms samples: max VmRSS {s.peak_rss / 1024:.1f}, RssAnon {s.peak_anon / 1024:.1f}; "
                f"{s.samples} samples), idle before {idle:.1f} MiB, {size / MiB / x['s']:.0f} MiB/s")
    rgw.delete("upload/", prefix=True)

    # ---- report
    ctx.say("")
    ctx.say("CPU: plugin = its process (/proc utime+stime), boto3 = the child's getrusage around the call, "
            "curl = the curl process; store CPU = the RGW and OSD daemons during the call (same 2 cores).")
    rate_table(ctx, [("Save 1 GiB", big, UP_SIZE)], store=True)
    ctx.say("")
    rows = []
    for who, runs in small.items():
        s = med(runs)
        rows.append([f"Save {n_files} x 4 KiB" if who == "plugin" else "", who, f"{s:.3f}",
                     f"{min(x['s'] for x in runs):.3f}-{max(x['s'] for x in runs):.3f}", f"{n_files / s:,.0f}",
                     "" if who == "plugin" else fmt_ratio(s / med(small["plugin"])), f"{med(runs, 'cpu'):.2f}",
                     f"{med(runs, 'store_cpu'):.2f}"])
    ctx.table(["operation", "by", "median s", "min-max s", "files/s", "plugin vs it", "CPU s", "store CPU s"], rows)
    ctx.say("")
    p, b, c = med(big["plugin"]), med(big["boto3"]), med(big["curl"])
    cpu_p, cpu_b = med(big["plugin"], "cpu") / (UP_SIZE / GiB), med(big["boto3"], "cpu") / (UP_SIZE / GiB)
    lo, hi = rss[UP_RSS_SIZES[0]]["peak"], rss[UP_RSS_SIZES[1]]["peak"]
    rss_ratio = hi / lo
    t_p, t_b = med(small["plugin"]), med(small["boto3 loop"])
    for who, s in (("plugin", p), ("boto3", b), ("curl", c)):
        ctx.summary(f"upload.1g.{who}_mibs", f"{UP_SIZE / MiB / s:.0f}")
    ctx.summary("upload.1g.vs_curl", f"{c / p:.2f}")
    ctx.summary("upload.1g.vs_boto3", f"{b / p:.2f}")
    ctx.summary("upload.1g.plugin_cpu_s_per_gib", f"{cpu_p:.2f}")
    ctx.summary("upload.1g.boto3_cpu_s_per_gib", f"{cpu_b:.2f}")
    ctx.summary("upload.1g.curl_cpu_s_per_gib", f"{med(big['curl'], 'cpu') / (UP_SIZE / GiB):.2f}")
    ctx.summary("upload.1g.cpu_vs_boto3", f"{cpu_p / cpu_b:.2f}")
    for size in UP_RSS_SIZES:
        ctx.summary(f"upload.rss_{size // MiB}m_mib", f"{rss[size]['peak']:.1f}")
    ctx.summary("upload.rss_ratio_2g_vs_256m", f"{rss_ratio:.2f}")
    ctx.summary("upload.tree.plugin_s", f"{t_p:.3f}")
    ctx.summary("upload.tree.boto3_loop_s", f"{t_b:.3f}")
    ctx.summary("upload.tree.vs_loop", f"{t_b / t_p:.2f}")
    ctx.target("upload.vs_curl", c / p >= UP_TARGET_CURL,
               f"Save 1 GiB: {fmt_ratio(c / p)} a single curl PUT >= {UP_TARGET_CURL}x "
               f"({UP_SIZE / MiB / p:.0f} vs {UP_SIZE / MiB / c:.0f} MiB/s)")
    ctx.target("upload.vs_boto3", b / p >= UP_TARGET_BOTO3,
               f"Save 1 GiB: {fmt_ratio(b / p)} boto3 upload_file >= {UP_TARGET_BOTO3}x "
               f"({UP_SIZE / MiB / p:.0f} vs {UP_SIZE / MiB / b:.0f} MiB/s)")
    ctx.target("upload.cpu", cpu_p <= UP_TARGET_CPU * cpu_b,
               f"CPU {cpu_p:.2f} s/GiB = {cpu_p / cpu_b:.2f}x boto3's {cpu_b:.2f} s/GiB <= {UP_TARGET_CPU}x")
    ctx.target("upload.rss_flat", abs(rss_ratio - 1) <= UP_TARGET_RSS_TOL,
               f"peak RSS {lo:.1f} MiB (256 MiB source) vs {hi:.1f} MiB (2 GiB): {rss_ratio:.2f}x, equal "
               f"within +-{UP_TARGET_RSS_TOL * 100:.0f}%")
    ctx.target("upload.tree", t_b / t_p >= UP_TARGET_TREE,
               f"Save {n_files} x 4 KiB: {fmt_ratio(t_b / t_p)} a sequential boto3 put_object loop >= "
               f"{UP_TARGET_TREE:.0f}x ({t_p:.2f} s vs {t_b:.2f} s)")


# ----------------------------------------------------------------------------------------------
# download: OpenStream and Load of 1 GiB vs curl GET and boto3, first byte, memory with 1 and 64 streams

DOWN_SIZE = GiB
DOWN_SMALL = 64 * MiB
DOWN_STREAMS = 64
DOWN_TARGET_STREAM = 0.9
DOWN_TARGET_TTFB_MS = 5.0
DOWN_TARGET_RSS_1 = 64
DOWN_TARGET_RSS_64 = 256
DOWN_TARGET_LOAD_BOTO3 = 1.5
DOWN_TARGET_LOAD_CURL = 0.9


def concurrent_streams(plugin, key, cfg, size, count):
    """count threads, each with its own channel, each consuming a whole OpenStream."""
    import grpc
    results, errors = [None] * count, []
    go = threading.Barrier(count)

    def one(i):
        ch = grpc.insecure_channel(f"unix://{plugin.socket}", options=[("grpc.max_receive_message_length", 8 << 20)])
        try:
            stub = pb_grpc.ArtifactServiceStub(ch)
            grpc.channel_ready_future(ch).result(timeout=30)
            go.wait()
            n, ended, err = 0, False, ""
            for m in stub.OpenStream(pb.OpenStreamRequest(artifact=artifact(key, cfg)), timeout=900):
                n += len(m.data)
                ended = ended or m.is_end
                err = err or m.error
            results[i] = (n, ended, err)
        except Exception as e:
            errors.append(f"stream {i}: {type(e).__name__}: {e}")
            go.abort()
        finally:
            ch.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    bad = [r for r in results if r != (size, True, "")]
    if errors or bad:
        raise Broken(f"{count} concurrent OpenStreams: {len(errors)} failed, {len(bad)} incomplete: "
                     f"{(errors or [str(bad[0])])[0]}")
    return dt


def bench_download(ctx):
    ctx.header("download: OpenStream and Load from Ceph RGW, plugin vs curl GET (presigned) and boto3 download_file")
    plugin_bin()
    rgw = RGW.get(ctx)
    n = rounds(3)
    cfg = rgw.config()
    src, src_sha = SCRATCH.source(ctx, DOWN_SIZE)
    out = SCRATCH.out(ctx, "download-out")
    ctx.say(f"median of {n} rounds after a warm-up; grpcio {__import__('grpc').__version__} client in this process "
            f"(1 MiB messages); the objects are put by curl, untimed")
    try:
        curl_put(rgw, src, "download/big")
        small = SCRATCH.path(ctx) / "src-64m-slice.bin"
        with open(src, "rb") as f, open(small, "wb") as g:
            g.write(f.read(DOWN_SMALL))
        curl_put(rgw, small, "download/small")
        if rgw.size("download/big") != DOWN_SIZE or rgw.size("download/small") != DOWN_SMALL:
            raise Broken("the download objects have the wrong size in RGW")

        with running_plugin(SCRATCH.path(ctx) / "plugin-download", env=rgw.plugin_env) as p:
            calls = PluginCalls(p)

            def stream_plugin(i):
                return calls.stream("download/big", cfg, DOWN_SIZE, sha=src_sha if i < 0 else None)

            def stream_curl(i):
                x = curl_get(rgw, "download/big")
                if x["down"] != DOWN_SIZE:
                    raise Broken(f"curl GET: {x['down']} bytes, expected {DOWN_SIZE}")
                return x

            none = lambda i: None  # noqa: E731
            stream = measure_runs(ctx, "OpenStream 1 GiB", {"plugin": (stream_plugin, none),
                                                            "curl": (stream_curl, none)}, n, store=rgw)
            ctx.say("verified: OpenStream -> is_end on the last message, 1 GiB, sha256 = the object's (warm-up); "
                    "curl -> size")

            def load_plugin(i):
                x = calls.load("download/big", out / f"plugin-{i}", cfg)
                if i < 0 and sha256_file(out / f"plugin-{i}") != src_sha:
                    raise Broken("plugin Load wrote different bytes (sha256)")
                return x

            def load_boto3(i):
                x = boto3_child(rgw, "download_file", out / f"boto3-{i}", "download/big")
                if i < 0 and os.path.getsize(out / f"boto3-{i}") != DOWN_SIZE:
                    raise Broken("boto3 download_file wrote a different size")
                return x

            def load_curl(sync):
                def do(i):
                    x = curl_get(rgw, "download/big", out / f"curl{'s' if sync else ''}-{i}", sync=sync)
                    if i < 0 and os.path.getsize(out / f"curl{'s' if sync else ''}-{i}") != DOWN_SIZE:
                        raise Broken("curl GET wrote a different size")
                    return x
                return do

            def rm(who):
                return lambda i: rm_local(out / f"{who}-{i}")

            load = measure_runs(ctx, "Load 1 GiB", {"plugin": (load_plugin, rm("plugin")),
                                                    "boto3": (load_boto3, rm("boto3")),
                                                    "curl": (load_curl(False), rm("curl")),
                                                    "curl+fsync": (load_curl(True), rm("curls"))}, n, store=rgw)
            ctx.say("verified: plugin Load -> file sha256 = the object's; boto3, curl -> size")

        # ---- memory: a fresh plugin for every run; the peak depends on how many streams overlap, so
        # the median of n runs is judged
        rss1, rss64 = [], []
        for r in range(n):
            with running_plugin(SCRATCH.path(ctx) / f"plugin-rss1-{r}", env=rgw.plugin_env) as fresh:
                idle = proc_status(fresh.proc.pid)
                with RSSSampler(fresh.proc.pid) as s1:
                    x1 = PluginCalls(fresh).stream("download/big", cfg, DOWN_SIZE)
            rss1.append(s1.peak_mib)
            ctx.say(f"  memory, 1 OpenStream of 1 GiB on a fresh plugin, run {r + 1}/{n}: peak RSS {s1.peak_mib:.1f} "
                    f"MiB (10 ms samples: VmRSS {s1.peak_rss / 1024:.1f}, RssAnon {s1.peak_anon / 1024:.1f}; idle "
                    f"{idle['VmRSS'] / 1024:.1f}, anon {idle['RssAnon'] / 1024:.1f}), "
                    f"{DOWN_SIZE / MiB / x1['s']:.0f} MiB/s")
        for r in range(n):
            with running_plugin(SCRATCH.path(ctx) / f"plugin-rss64-{r}", env=rgw.plugin_env) as fresh:
                c0 = cpu_seconds(fresh.proc.pid)
                with RSSSampler(fresh.proc.pid) as s64:
                    t64 = concurrent_streams(fresh, "download/small", cfg, DOWN_SMALL, DOWN_STREAMS)
                cpu64 = cpu_seconds(fresh.proc.pid) - c0
                threads64 = proc_status(fresh.proc.pid)["Threads"]
            rss64.append((s64.peak_mib, t64))
            ctx.say(f"  memory, {DOWN_STREAMS} concurrent OpenStreams of {DOWN_SMALL // MiB} MiB (a thread and a "
                    f"channel each) on a fresh plugin, run {r + 1}/{n}: peak RSS {s64.peak_mib:.1f} MiB (10 ms "
                    f"samples: VmRSS {s64.peak_rss / 1024:.1f}, RssAnon {s64.peak_anon / 1024:.1f}); all complete "
                    f"(is_end, {DOWN_SMALL // MiB} MiB each) in {t64:.2f} s = "
                    f"{DOWN_STREAMS * DOWN_SMALL / MiB / t64:.0f} MiB/s in all, plugin CPU {cpu64:.2f} s, "
                    f"{threads64} threads")
        peak1 = median(rss1)
        peak64 = median([x[0] for x in rss64])
        t64 = median([x[1] for x in rss64])
    finally:
        rgw.delete("download/", prefix=True)
        shutil.rmtree(out, ignore_errors=True)

    # ---- report
    ctx.say("")
    ctx.say("OpenStream: curl writes to /dev/null, the grpcio client drops the bytes. Load: the plugin fsyncs the "
            "file before answering; boto3 and curl do not (curl+fsync does, for reference; targets are judged "
            "against plain curl).")
    rate_table(ctx, [("OpenStream 1 GiB", stream, DOWN_SIZE), ("Load 1 GiB", load, DOWN_SIZE)], store=True)
    ps, cs = med(stream["plugin"]), med(stream["curl"])
    pt, ct = med(stream["plugin"], "ttfb") * 1000, med(stream["curl"], "ttfb") * 1000
    client = med(stream["plugin"], "client_cpu")
    runs_ms = {w: ", ".join(f"{x['ttfb'] * 1000:.1f}" for x in stream[w]) for w in ("plugin", "curl")}
    ctx.say(f"first byte, median: plugin {pt:.1f} ms (call until the first data message; runs {runs_ms['plugin']}), "
            f"curl {ct:.1f} ms (time_starttransfer; runs {runs_ms['curl']})")
    ctx.say(f"grpcio client CPU per OpenStream of 1 GiB: {client:.2f} s in {ps:.2f} s ({client / ps * 100:.0f}% of "
            f"one core); plugin CPU {med(stream['plugin'], 'cpu'):.2f} s")
    ctx.say("")
    pl, bl, cl, sl = (med(load[w]) for w in ("plugin", "boto3", "curl", "curl+fsync"))
    ctx.summary("download.stream.plugin_mibs", f"{DOWN_SIZE / MiB / ps:.0f}")
    ctx.summary("download.stream.curl_mibs", f"{DOWN_SIZE / MiB / cs:.0f}")
    ctx.summary("download.stream.vs_curl", f"{cs / ps:.2f}")
    ctx.summary("download.stream.plugin_ttfb_ms", f"{pt:.1f}")
    ctx.summary("download.stream.curl_ttfb_ms", f"{ct:.1f}")
    ctx.summary("download.stream.client_cpu_s", f"{client:.2f}")
    ctx.summary("download.rss_1_stream_mib", f"{peak1:.1f}")
    ctx.summary(f"download.rss_{DOWN_STREAMS}_streams_mib", f"{peak64:.1f}")
    ctx.summary(f"download.rss_{DOWN_STREAMS}_streams_range_mib",
                f"{min(x[0] for x in rss64):.1f}-{max(x[0] for x in rss64):.1f}")
    ctx.summary(f"download.{DOWN_STREAMS}_streams_mibs", f"{DOWN_STREAMS * DOWN_SMALL / MiB / t64:.0f}")
    for who, s in (("plugin", pl), ("boto3", bl), ("curl", cl), ("curl_fsync", sl)):
        ctx.summary(f"download.load.{who}_mibs", f"{DOWN_SIZE / MiB / s:.0f}")
    ctx.summary("download.load.vs_boto3", f"{bl / pl:.2f}")
    ctx.summary("download.load.vs_curl", f"{cl / pl:.2f}")
    ctx.summary("download.load.vs_curl_fsync", f"{sl / pl:.2f}")
    ctx.target("download.stream", cs / ps >= DOWN_TARGET_STREAM,
               f"OpenStream 1 GiB: {fmt_ratio(cs / ps)} curl GET >= {DOWN_TARGET_STREAM}x "
               f"({DOWN_SIZE / MiB / ps:.0f} vs {DOWN_SIZE / MiB / cs:.0f} MiB/s)")
    ctx.target("download.ttfb", pt <= ct + DOWN_TARGET_TTFB_MS,
               f"first byte {pt:.1f} ms <= curl's {ct:.1f} ms + {DOWN_TARGET_TTFB_MS:.0f} ms")
    ctx.target("download.rss_1", peak1 <= DOWN_TARGET_RSS_1,
               f"peak RSS with 1 stream {peak1:.1f} MiB <= {DOWN_TARGET_RSS_1} MiB (median of {n} fresh plugins; "
               f"max {max(rss1):.1f})")
    ctx.target("download.rss_64", peak64 <= DOWN_TARGET_RSS_64,
               f"peak RSS with {DOWN_STREAMS} streams {peak64:.1f} MiB <= {DOWN_TARGET_RSS_64} MiB (median of {n} "
               f"fresh plugins; range {min(x[0] for x in rss64):.1f}-{max(x[0] for x in rss64):.1f})")
    ctx.target("download.load_vs_boto3", bl / pl >= DOWN_TARGET_LOAD_BOTO3,
               f"Load 1 GiB: {fmt_ratio(bl / pl)} boto3 download_file >= {DOWN_TARGET_LOAD_BOTO3}x "
               f"({DOWN_SIZE / MiB / pl:.0f} vs {DOWN_SIZE / MiB / bl:.0f} MiB/s)")
    ctx.target("download.load_vs_curl", cl / pl >= DOWN_TARGET_LOAD_CURL,
               f"Load 1 GiB: {fmt_ratio(cl / pl)} curl GET to a file >= {DOWN_TARGET_LOAD_CURL}x "
               f"({DOWN_SIZE / MiB / cl:.0f} MiB/s; {fmt_ratio(sl / pl)} curl+fsync)")


# ----------------------------------------------------------------------------------------------
# crc64: CRC-64/XZ, references in-process; the plugin's cost measured on its OSS upload path

CRC_REF_SIZE = 256 * MiB
CRC_UP_SIZE = 512 * MiB
CRC_TARGET_OVERHEAD = 0.10
CRC_SYMBOL = "ArtifactPlugin5CRC64V6update"


def perf_profile(pid, fn, data_path):
    """Runs fn() while `perf record -e cpu-clock` samples the process. Returns (fn's result, profile)
    where profile = {"total_s", "symbols": {name: share}, "dsos": {name: share}}, or None when perf
    is missing or cannot attach."""
    if not shutil.which("perf"):
        return fn(), None
    rec = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-p", str(pid), "-o",
                            str(data_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    if rec.poll() is not None:
        return fn(), None
    try:
        result = fn()
    finally:
        rec.send_signal(signal.SIGINT)
        try:
            rec.wait(30)
        except subprocess.TimeoutExpired:
            rec.kill()
            rec.wait()
    prof = {"symbols": {}, "dsos": {}, "total_s": None}
    for sort, into in (("symbol", "symbols"), ("dso", "dsos")):
        r = subprocess.run(["perf", "report", "-i", str(data_path), "--stdio", "--no-children", "--sort", sort,
                            "--percent-limit", "0"], capture_output=True, text=True, timeout=120)
        for line in r.stdout.splitlines():
            m = re.match(r"# Event count \(approx\.\): (\d+)", line)
            if m:
                prof["total_s"] = int(m.group(1)) / 1e9   # cpu-clock counts nanoseconds
            m = re.match(r"\s+([\d.]+)%\s+(?:\[[.k]\]\s+)?(\S+)", line)
            if m and not line.startswith("#"):
                into_d = prof[into]
                into_d[m.group(2)] = into_d.get(m.group(2), 0) + float(m.group(1)) / 100
    if not prof["total_s"]:
        return result, None
    return result, prof


def bench_crc64(ctx):
    ctx.header("crc64: CRC-64/XZ throughput; crcmod and oss2 in-process vs the plugin's OSS upload path")
    plugin_bin()
    import crcmod
    import oss2.utils
    from doubles.oss_double import OSSDouble
    n = rounds(3)
    src, src_sha = SCRATCH.source(ctx, CRC_REF_SIZE)
    up, up_sha = SCRATCH.source(ctx, CRC_UP_SIZE)

    # ---- references: 256 MiB already in memory
    fun = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)
    if fun(b"123456789") != 0x995DC9BBDF1939FA:
        raise Broken("crcmod does not compute CRC-64/XZ (check value of '123456789')")
    ext = "C extension" if getattr(crcmod.crcmod, "_usingExtension", False) else "pure Python (no C extension!)"
    data = Path(src).read_bytes()

    def oss2_crc(b):
        c = oss2.utils.Crc64()
        c.update(b)
        return c.crc

    refs, values = {}, {}
    for name, f in (("crcmod", fun), ("oss2.utils.Crc64", oss2_crc)):
        times = []
        for r in range(-1, n):
            t0 = time.perf_counter()
            values[name] = f(data)
            if r >= 0:
                times.append(time.perf_counter() - t0)
        refs[name] = times
        ctx.say(f"  {name} on {CRC_REF_SIZE // MiB} MiB: {', '.join(f'{t:.3f}s' for t in times)}")
    del data
    if len(set(values.values())) != 1:
        raise Broken(f"the references disagree: {values}")
    ctx.say(f"verified: crcmod ({ext}) and oss2 give the same CRC-64 ({values['crcmod']:#018x}); check value ok")

    # ---- the plugin: Save of 512 MiB to the OSS double, checksum auto (MD5 + CRC-64) vs md5
    double = OSSDouble(bucket="argo-artifacts", region="cn-hangzhou").start()
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": double.access_key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": double.secret_key}

    def oss_cfg(checksum):
        return (f"provider: oss\nendpoint: http://{double.endpoint}\nbucket: {double.bucket}\nregion: {double.region}\n"
                f"useSDKCreds: true\nmultipart: {{checksum: {checksum}}}\n")

    work = SCRATCH.out(ctx, "crc64")
    ctx.say(f"plugin: Save of {CRC_UP_SIZE // MiB} MiB to the OSS double (in this process; it verifies every "
            f"signature and computes MD5 and CRC-64 of what it stores) with multipart {{checksum: auto}} (MD5 + "
            f"CRC-64, every part's and the object's CRC checked) vs {{checksum: md5}}; median of {n} rounds after a "
            f"warm-up")
    try:
        with running_plugin(work / "plugin", env=env) as p:
            calls = PluginCalls(p)

            def save(checksum):
                def do(i):
                    x = calls.save(up, f"crc/{checksum}-{i}", oss_cfg(checksum))
                    if i < 0:
                        got = double.get(f"crc/{checksum}-{i}")
                        if got is None or hashlib.sha256(got).hexdigest() != up_sha:
                            raise Broken(f"Save with checksum {checksum}: the double holds different bytes")
                    return x
                return do

            def clear(i):
                with double.lock:
                    double.objects().clear()
                    double.buckets[double.bucket].uploads.clear()

            res = measure_runs(ctx, f"Save {CRC_UP_SIZE // MiB} MiB to OSS", {"auto": (save("auto"), clear),
                                                                             "md5": (save("md5"), clear)}, n)
            ctx.say("verified: both Saves succeed (with auto the plugin compared every part's CRC-64 with the "
                    "double's x-oss-hash-crc64ecma, and the object's) and the double holds the source's sha256")

            profiles = {}
            for checksum in ("auto", "md5"):
                x, prof = perf_profile(p.proc.pid, lambda: save(checksum)(99), work / f"perf-{checksum}.data")
                clear(0)
                profiles[checksum] = (x, prof)
                if prof is None:
                    break
    finally:
        double.stop()
        shutil.rmtree(work, ignore_errors=True)

    # ---- report
    ctx.say("")
    rows = []
    for name, times in refs.items():
        rows.append([name, "in-process", f"{median(times):.3f}", f"{CRC_REF_SIZE / MiB / median(times):,.0f}"])
    ctx.table(["CRC-64/XZ over 256 MiB in memory", "where", "median s", "MiB/s"], rows)
    ctx.say("")
    a, m = med(res["auto"]), med(res["md5"])
    ca, cm = med(res["auto"], "cpu"), med(res["md5"], "cpu")
    rows = []
    for who, runs in res.items():
        rows.append([f"Save {CRC_UP_SIZE // MiB} MiB, checksum {who}", f"{med(runs):.3f}",
                     f"{min(x['s'] for x in runs):.3f}-{max(x['s'] for x in runs):.3f}",
                     f"{CRC_UP_SIZE / MiB / med(runs):,.0f}", f"{med(runs, 'cpu'):.2f}"])
    ctx.table(["plugin, OSS double", "median s", "min-max s", "MiB/s", "plugin CPU s"], rows)
    overhead = a / m - 1
    cpu_overhead = ca / cm - 1
    delta = ca - cm
    ctx.say(f"CRC-64 overhead: wall {overhead * 100:+.1f}%, plugin CPU {cpu_overhead * 100:+.1f}% "
            f"(+{delta:.2f} s for {CRC_UP_SIZE // MiB} MiB; CPU is read in 10 ms ticks). The double, in Python, "
            f"limits the upload rate, so the wall-time overhead shows only what the CRC adds to the critical path.")
    raw_delta = CRC_UP_SIZE / MiB / delta if delta > 0.02 else None
    crcmod_mibs = CRC_REF_SIZE / MiB / median(refs["crcmod"])
    raw_perf = None
    xa, prof_a = profiles.get("auto", (None, None))
    if prof_a:
        crc_share = sum(v for k, v in prof_a["symbols"].items() if CRC_SYMBOL in k)
        crc_s = crc_share * prof_a["total_s"]
        raw_perf = CRC_UP_SIZE / MiB / crc_s if crc_s > 0 else None
        md5_share = prof_a["dsos"].get("libcrypto.so.3", 0)
        kern = prof_a["dsos"].get("[kernel.kallsyms]", 0)
        _, prof_m = profiles.get("md5", (None, None))
        crc_md5 = sum(v for k, v in prof_m["symbols"].items() if CRC_SYMBOL in k) if prof_m else float("nan")
        ctx.say(f"perf profile of the plugin (cpu-clock, 999 Hz) during one more Save with checksum auto: "
                f"{prof_a['total_s']:.2f} CPU s; CRC64.update {crc_share * 100:.1f}% = {crc_s:.3f} s, libcrypto "
                f"(MD5) {md5_share * 100:.1f}%, kernel {kern * 100:.1f}%; with checksum md5 "
                f"CRC64.update is {crc_md5 * 100:.1f}% of the samples")
        if raw_perf:
            ctx.say(f"plugin CRC-64 raw throughput (bytes / CPU time attributed to CRC64.update by perf): "
                    f"{raw_perf:,.0f} MiB/s = {fmt_ratio(raw_perf / crcmod_mibs)} crcmod")
    else:
        ctx.say("perf unavailable: no per-function profile; raw CRC-64 throughput only from the CPU difference")
    if raw_delta:
        ctx.say(f"plugin CRC-64 raw throughput from the CPU difference (auto - md5): {raw_delta:,.0f} MiB/s "
                f"(coarse: 10 ms CPU ticks, other per-call costs)")
    ctx.say("")
    for name, times in refs.items():
        ctx.summary(f"crc64.{name.split('.')[0]}_mibs", f"{CRC_REF_SIZE / MiB / median(times):.0f}")
    ctx.summary("crc64.upload_auto_s", f"{a:.3f}")
    ctx.summary("crc64.upload_md5_s", f"{m:.3f}")
    ctx.summary("crc64.upload_mibs", f"{CRC_UP_SIZE / MiB / a:.0f}")
    ctx.summary("crc64.overhead_pct", f"{overhead * 100:.1f}")
    ctx.summary("crc64.plugin_cpu_auto_s", f"{ca:.2f}")
    ctx.summary("crc64.plugin_cpu_md5_s", f"{cm:.2f}")
    ctx.summary("crc64.plugin_cpu_overhead_pct", f"{cpu_overhead * 100:.1f}")
    ctx.summary("crc64.plugin_raw_mibs_perf", f"{raw_perf:.0f}" if raw_perf else "n/a (perf unavailable)")
    ctx.summary("crc64.plugin_raw_mibs_cpu_delta", f"{raw_delta:.0f}" if raw_delta else "n/a (difference too small)")
    if raw_perf:
        ctx.summary("crc64.plugin_raw_vs_crcmod", f"{raw_perf / crcmod_mibs:.2f}")
    ctx.target("crc64.overhead", overhead <= CRC_TARGET_OVERHEAD,
               f"CRC-64 overhead on a {CRC_UP_SIZE // MiB} MiB OSS upload {overhead * 100:+.1f}% <= "
               f"{CRC_TARGET_OVERHEAD * 100:.0f}% (plugin CPU {cpu_overhead * 100:+.1f}%)")


# ----------------------------------------------------------------------------------------------

SECTIONS = {
    "rpc": bench_rpc,
    "file": bench_file,
    "s3": bench_s3,
    "upload": bench_upload,
    "download": bench_download,
    "crc64": bench_crc64,
}


def main(argv):
    names = list(SECTIONS)
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(f"usage: {argv[0]} {{all|{'|'.join(names)}}}", file=sys.stderr)
        return 2 if len(argv) != 2 else 0
    what = argv[1]
    if what == "all":
        chosen = names
    elif what in SECTIONS:
        chosen = [what]
    else:
        print(f"unknown section '{what}'; sections: all, {', '.join(names)}", file=sys.stderr)
        return 2
    ctx = Context()
    broken = []
    # SIGTERM unwinds like Ctrl-C, so the shared RGW and the scratch files are removed (atexit too)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        run_sections(ctx, chosen, broken)
    finally:
        RGW.stop()
        SCRATCH.close()
    print("\n=== summary ===")
    for k, v in ctx.summary_lines:
        print(f"{k}: {v}")
    missed = [k for k, ok in ctx.targets if not ok]
    print(f"targets: {len(ctx.targets) - len(missed)}/{len(ctx.targets)} met" + (f" (missed: {', '.join(missed)})" if missed else ""))
    if broken:
        print(f"broken: {', '.join(broken)}")
    return 1 if broken else 0


def run_sections(ctx, chosen, broken):
    for name in chosen:
        try:
            before = machine_busy()
            SECTIONS[name](ctx)
            after = machine_busy()
            if before or after:
                print(f"\nWARNING: other processes were busy during '{name}' ({before or after}); "
                      f"its numbers are noisy: compare the min-max spreads, rerun on a quiet machine", flush=True)
                ctx.summary(f"{name}.warning", f"machine busy ({before or after})")
        except Broken as e:
            print(f"\nBROKEN [{name}]: {e}", flush=True)
            broken.append(name)
        except Exception as e:   # a failing grpc call, a crash in the script: broken, not a MISS
            import traceback
            traceback.print_exc()
            print(f"\nBROKEN [{name}]: {type(e).__name__}: {e}", flush=True)
            broken.append(name)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
