#!/usr/bin/env python3
"""Long soak: a steady mix of Save, Load, OpenStream, SaveStream and directory Delete against RGW
through the fault proxy, for MINUTES, with the plugin's RSS and open file descriptors sampled
every 10 s. After a warm-up both must stay flat within 10 %: for descriptors the median of the
last third of the run against the first third's; for RSS the floor (10th percentile of a sample
taken every second) of the last third against the first third's. RSS follows the transfers in
flight (part buffers are mapped and unmapped whole), so its peaks and medians follow which
transfers happen to overlap; what a leak raises is the floor.

  .venv/bin/python scripts/soak.py --minutes 30        # make soak
  .venv/bin/python scripts/soak.py --minutes 3         # what make test runs (test_soak.py)

Prints every sample, then first / last / max of each curve and the transfer counts; exits 1 when
a curve grows, a transfer lies, or the plugin dies."""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "integration"))

from harness import MiB, Plugin, free_port_pair, require_tool  # noqa: E402
from workload import Workload, add_store_faults, run_mix, sample_process  # noqa: E402

S3_ACCESS_KEY = "AKIAARGOPLUGINSOAK"
S3_SECRET_KEY = "argo-plugin-soak-secret-key/+0123456789"


def flat(samples, warmup, tolerance=0.10, slack=0, statistic="median"):
    """(ok, text): `statistic` (median, or floor = the 10th percentile) of the last third of the
    samples after warm-up within `tolerance` (or `slack`) of the first third's."""
    import statistics
    s = [v for t, v in samples if t >= warmup]
    if len(s) < 6:
        return True, "too few samples after warm-up to judge"
    third = len(s) // 3

    def stat(xs):
        if statistic == "median":
            return statistics.median(xs)
        xs = sorted(xs)
        return xs[len(xs) // 10]

    early, late = stat(s[:third]), stat(s[-third:])
    return late <= max(early * (1 + tolerance), early + slack), f"first-third {statistic} {early:.0f}, last-third {statistic} {late:.0f} ({(late / early - 1) * 100:+.1f}%)"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--warmup", type=float, help="seconds before the curves are judged (default: a quarter of the run, "
                    "at least 60 s: the allocator's arenas and the buffer pool fill to their working size first)")
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--json", help="also write the samples and counts here")
    args = ap.parse_args()
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the finally below stops the RGW this run started
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    if args.warmup is None:
        args.warmup = max(60.0, args.minutes * 60 / 4)
    require_tool("radosgw", "radosgw")
    work = Path(tempfile.mkdtemp(prefix="argo-plugin-soak-"))
    port = free_port_pair()
    env = dict(os.environ, S3_ACCESS_KEY=S3_ACCESS_KEY, S3_SECRET_KEY=S3_SECRET_KEY, OSD_STORE="memstore", MEMSTORE_BYTES="6G")
    rgw_dir = f"/tmp/argo-plugin-soak-rgw-{os.getpid()}"
    out = subprocess.run([str(REPO / "scripts" / "testbed" / "start-rgw.sh"), rgw_dir, str(port)], env=env,
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.exit(f"RGW did not start: {out.stderr[-2000:]}")
    endpoint = out.stdout.strip().splitlines()[-1]
    from doubles.faultproxy import FaultProxy
    import boto3
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY,
                      region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))
    bucket = f"soak-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    host, rport = endpoint.split("//", 1)[1].split(":")
    proxy = FaultProxy(host, int(rport)).start()
    plugin = Plugin(workdir=work / "plugin", env={"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}).start()
    cfg = (f"endpoint: {proxy.endpoint}\nbucket: {bucket}\ninsecure: true\nuseSDKCreds: true\n"
           f"multipart: {{threshold: 8Mi, partSize: 8Mi, concurrency: 4, checkpointDir: {work / 'ckpt'}}}\n"
           "load: {partSize: 8Mi, concurrency: 4}\ntimeouts: {connect: 3s, stall: 2s}\n")
    rc = 0
    try:
        load = Workload(plugin.stub(), s3, bucket, cfg, str(work / "data"), seed=int(time.time()), max_size=32 * MiB)
        add_store_faults(proxy, seed=3, slowdown=0.05, reset=0.01, stall=0.005)
        start = time.monotonic()
        rss, fds, rss_fine = [], [], []
        stop_fine = threading.Event()

        def sample_fine():   # RSS every second, for the floor
            while not stop_fine.wait(1.0):
                try:
                    rss_fine.append((time.monotonic() - start, sample_process(plugin.proc.pid)[0]))
                except OSError:
                    return
        fine = threading.Thread(target=sample_fine, daemon=True)
        fine.start()

        def sample():
            t = time.monotonic() - start
            r, f = sample_process(plugin.proc.pid)
            rss.append((t, r))
            fds.append((t, f))
            print(f"  t={t:6.0f}s  rss={r / 1024:7.1f} MiB  fds={f:4d}  transfers ok={load.tally.ok} failed={load.tally.failed_clearly}", flush=True)
        sample()
        errors = run_mix(load, seconds=args.minutes * 60, parallel=4, on_tick=sample, tick_seconds=args.interval)
        sample()
        stop_fine.set()
        fine.join()
        t = load.tally
        ok_rss, rss_text = flat(rss_fine, args.warmup, statistic="floor")
        # Descriptors count in tens; a connection more or less in the pool is not a leak.
        ok_fds, fds_text = flat(fds, args.warmup, slack=4)
        summary = {
            "minutes": args.minutes, "transfers_ok": t.ok, "transfers_failed_clearly": t.failed_clearly,
            "problems": {k: len(v) for k, v in t.problems().items()}, "uploads_left": len(load.open_uploads()),
            "rss_kib": {"first": rss[0][1], "last": rss[-1][1], "max": max(v for _, v in rss)},
            "fds": {"first": fds[0][1], "last": fds[-1][1], "max": max(v for _, v in fds)},
            "rss_flat": rss_text, "fds_flat": fds_text,
        }
        print("soak:", json.dumps(summary))
        if args.json:
            Path(args.json).write_text(json.dumps({"summary": summary, "rss": rss, "rss_every_second": rss_fine, "fds": fds}))
        if errors or any(t.problems().values()) or summary["uploads_left"] or not ok_rss or not ok_fds or plugin.proc.poll() is not None:
            print("soak: FAILED", errors[:3], t.problems() if any(t.problems().values()) else "")
            rc = 1
    finally:
        plugin.stop()
        proxy.stop()
        subprocess.run([str(REPO / "scripts" / "testbed" / "stop-rgw.sh"), rgw_dir, "--purge"], timeout=120)
    sys.exit(rc)


if __name__ == "__main__":
    main()
