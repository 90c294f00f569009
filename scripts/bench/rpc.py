"""rpc: unary GetCapabilities over the Unix socket, the plugin against a Python grpcio server
(thread pool of PY_WORKERS, default 16), both loaded by the same h2load runs (RPC_REQUESTS per run,
default 50000): throughput saturated, latency at a moderate load, CPU per RPC, start-up time and
idle memory."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import cpu_seconds, median, percentile, proc_status, rounds
from plugin import BenchPlugin, harness, pb, pb_grpc, plugin_bin, running_plugin, wait_connectable
from report import Broken, ratio

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


def run(report):
    report.header("rpc: unary GetCapabilities over the Unix socket, plugin vs Python grpcio (same h2load runs)")
    n = int(os.environ.get("RPC_REQUESTS", "50000"))
    report.say(f"binary: {plugin_bin()}")
    if not shutil.which("h2load"):
        raise Broken("h2load not found: apt-get install nghttp2-client (or make deps-test)")
    work = Path(tempfile.mkdtemp(prefix="argo-bench-rpc-"))
    report.say(f"load: h2load -t 1 (one core for the client, one left for the server on this {os.cpu_count()}-CPU "
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
            report.say(f"checked: grpcio GetCapabilities -> supports_save_stream=true on both; raw HTTP/2 gRPC "
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
            report.say(f"\n{label}: h2load -c {load['c']} -m {load['m']} ({load['c'] * load['m']} calls in flight)")
            rows = []
            for who in ("plugin", "python"):
                x = res[who]
                rows.append([who, f"{x['rps']:,.0f}", f"{x['p50']:.3f}", f"{x['p99']:.3f}", f"{x['max']:.2f}",
                             f"{x['cpu_us_per_rpc']:.1f}", f"{x['failed']:.0f}/{x['errored']:.0f}/"
                             f"{x['timeout']:.0f}/{x['non2xx']:.0f}"])
            p, q = res["plugin"], res["python"]
            rows.append(["plugin/python", ratio(p["rps"] / q["rps"]), ratio(p["p50"] / q["p50"]),
                         ratio(p["p99"] / q["p99"]), "", ratio(p["cpu_us_per_rpc"] / q["cpu_us_per_rpc"]), ""])
            report.table(["server", "RPC/s", "p50 ms", "p99 ms", "max ms", "CPU us/RPC", "fail/err/tmo/non2xx"], rows)
            for who, x in (("plugin", p), ("python grpcio", q)):
                report.result(f"rpc GetCapabilities, {label} ({load['c'] * load['m']} in flight)", who,
                              notes=f"{x['rps']:,.0f} RPC/s; p50 {x['p50']:.3f} ms, p99 {x['p99']:.3f} ms; "
                                    f"CPU {x['cpu_us_per_rpc']:.1f} us/RPC")

        sat, mod = results["saturated"], results["moderate"]
        report.say(f"\nstart-up (spawn until the socket accepts), median of 5: {startup_ms:.1f} ms "
                   f"(min {min(startups) * 1000:.1f}, max {max(startups) * 1000:.1f})")
        report.say(f"memory idle after start: VmRSS {idle['VmRSS'] / 1024:.1f} MiB (anon {idle['RssAnon'] / 1024:.1f}, "
                   f"file-backed {idle['RssFile'] / 1024:.1f}), {idle['Threads']} threads")
        report.say(f"memory idle after the load: VmRSS {after['VmRSS'] / 1024:.1f} MiB (anon {after['RssAnon'] / 1024:.1f}, "
                   f"file-backed {after['RssFile'] / 1024:.1f}), peak VmHWM {after['VmHWM'] / 1024:.1f} MiB, "
                   f"{after['Threads']} threads")
        report.result("plugin start-up, idle memory", "plugin",
                      notes=f"start {startup_ms:.1f} ms; idle VmRSS {idle['VmRSS'] / 1024:.1f} MiB (anon "
                            f"{idle['RssAnon'] / 1024:.1f}); after the load {after['VmRSS'] / 1024:.1f} MiB")
        report.say("")
        report.target("rpc", sat["plugin"]["rps"] >= RPC_TARGET_RPS,
                      f"throughput {sat['plugin']['rps']:,.0f} RPC/s >= {RPC_TARGET_RPS:,} (saturated)")
        report.target("rpc", mod["plugin"]["p99"] <= RPC_TARGET_P99_MS,
                      f"p99 {mod['plugin']['p99']:.3f} ms <= {RPC_TARGET_P99_MS} ms (moderate load, "
                      f"{LOAD_MODERATE['c'] * LOAD_MODERATE['m']} in flight; saturated p99 "
                      f"{sat['plugin']['p99']:.3f} ms)")
        vs_python = sat["plugin"]["rps"] / sat["python"]["rps"]
        report.target("rpc", vs_python >= RPC_TARGET_RATIO,
                      f"throughput {ratio(vs_python)} the Python grpcio server >= {RPC_TARGET_RATIO:.0f}x (saturated)")
        # The issue asks for "well under a second" and "a few MiB"; these thresholds are this script's reading.
        report.target("rpc", startup_ms < 500, f"start-up {startup_ms:.1f} ms < 500 ms")
        report.target("rpc", idle["VmRSS"] <= 10 * 1024,
                      f"idle VmRSS {idle['VmRSS'] / 1024:.1f} MiB <= 10 MiB (anon part {idle['RssAnon'] / 1024:.1f} MiB; "
                      f"the rest is shared libraries' pages)")
    finally:
        if py_proc is not None:
            stop_process(py_proc)
        shutil.rmtree(work, ignore_errors=True)
