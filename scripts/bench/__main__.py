"""Benchmarks of the release plugin binary, each against the tools a user would pick instead,
measured in the same run against the same store.

  .venv/bin/python scripts/bench all              # every section, in the order below
  .venv/bin/python scripts/bench save load        # some sections (also: cd scripts && python -m bench ...)

  rpc          unary gRPC throughput/latency vs a Python grpcio server (the same h2load runs)
  file         file-store Save/Load of a big file and of 2,000 small files vs cp on the same disk
  save         Save of a big file to Ceph RGW vs s5cmd, rclone, boto3, aws-c-s3 and one curl PUT
  load         Load of a big object from RGW into a file vs the same peers and one curl GET
  stream       OpenStream of a big object (grpcio client writing a file) vs one curl GET
  small_files  Save of a 2,000 x 4 KiB directory vs s5cmd, rclone and boto3, all parallel
  memory       peak RSS: Save of 256 MiB vs 2 GiB (flat), 1 and 64 concurrent OpenStreams
  integrity    plugin CPU per GiB for each multipart.checksum, on RGW, SeaweedFS and the OSS double
  tls          plugin Save and Load and one curl PUT over HTTP and over HTTPS: TLS's CPU per GiB

The stores (Ceph RGW on memstore, SeaweedFS, the OSS double) start on first use on free ports and
stop at exit, with their data; the source files are made once per run in a scratch directory
beside the repository and removed at exit, also on Ctrl-C, SIGTERM or a failure. Each section
prints its own tables and PASS/MISS lines; the run ends with one Markdown table of every operation
and contender (MiB/s, CPU s/GiB) and the targets, met or missed.

Benchmarks report; they do not fail on a missed target. Exit status: 0 when every section ran
(targets met or not), 1 when something was broken (a call failed, a result was wrong, a tool is
missing) or the run was interrupted, 2 for a bad command line.

Environment:
  PLUGIN_BIN      plugin binary (default .build/release/argo-artifact-plugin: make build-release)
  BENCH_DIR       parent of the scratch directory (default: beside the repository, same disk)
  BENCH_ROUNDS    measured rounds per contender, each section after one warm-up; the median is
                  reported (default 3; file 5)
  BENCH_SIZE_MIB  size of the big file (default 1024); e.g. 64 for a quick trial
  BENCH_RSS_MIB   the memory section's two Save sizes (default 256,2048)
  BENCH_STREAMS   the memory section's concurrent OpenStreams (default 64)
  RPC_REQUESTS    h2load requests per measured rpc run (default 50000)
  PY_WORKERS      thread-pool size of the reference grpcio server (default 16)
  BENCH_ENVELOPE  limits for the plugin and every peer, each in a cgroup of its own (default
                  cpu=0.5,mem=512: Argo's documented executor resources; e.g. mem=128; none: the
                  unconstrained run). Tables then show each contender's peak RSS and its
                  throttled CPU periods; a peer the kernel OOM-kills is reported unavailable.

Adding a section: a module with `run(report)` (print with report.header/say/table, summary rows
with report.result, targets with report.target, raise report.Broken when it cannot measure),
listed in SECTIONS.
"""
import signal
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))   # the modules beside this file, flat

import file  # noqa: E402
import integrity  # noqa: E402
import load  # noqa: E402
import memory  # noqa: E402
import rpc  # noqa: E402
import save  # noqa: E402
import small_files  # noqa: E402
import stream  # noqa: E402
import tls  # noqa: E402
from measure import machine_busy  # noqa: E402
from report import Broken, Report  # noqa: E402
from scratch import SCRATCH  # noqa: E402
from store import OSS_STORE, RGW_STORE, SEAWEED_STORE  # noqa: E402

SECTIONS = {
    "rpc": rpc.run,
    "file": file.run,
    "save": save.run,
    "load": load.run,
    "stream": stream.run,
    "small_files": small_files.run,
    "memory": memory.run,
    "integrity": integrity.run,   # after save: reuses its RGW rows
    "tls": tls.run,
}


def usage():
    return f"usage: python scripts/bench {{all | SECTION...}}; sections: {', '.join(SECTIONS)}"


def main(argv):
    args = argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__ if args else usage(), file=sys.stderr)
        return 0 if args else 2
    unknown = [a for a in args if a != "all" and a not in SECTIONS]
    if unknown:
        print(f"unknown section {', '.join(unknown)}; {usage()}", file=sys.stderr)
        return 2
    chosen = list(SECTIONS) if "all" in args else list(dict.fromkeys(args))

    # SIGTERM and SIGHUP unwind like Ctrl-C: every `with` and `finally` stops what it started
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    report = Report()
    import envelope
    report.say(f"envelope: {envelope.label()}")
    broken = []
    try:
        for name in chosen:
            run_section(report, name, broken)
    except (KeyboardInterrupt, SystemExit) as e:
        print(f"\ninterrupted ({type(e).__name__}); stopping everything this run started", flush=True)
        broken.append("interrupted")
    finally:
        for store in (RGW_STORE, SEAWEED_STORE, OSS_STORE):
            store.stop()
        SCRATCH.close()
    report.summary(broken)
    return 1 if broken else 0


def run_section(report, name, broken):
    try:
        before = machine_busy()
        SECTIONS[name](report)
        after = machine_busy()
        if before or after:
            report.warn(f"other processes were busy during '{name}' ({before or after}); its numbers are noisy: "
                        f"compare the min-max spreads, rerun on a quiet machine")
    except Broken as e:
        print(f"\nBROKEN [{name}]: {e}", flush=True)
        broken.append(name)
    except Exception as e:   # a failing grpc call, a crash in the script: broken, not a MISS
        traceback.print_exc()
        print(f"\nBROKEN [{name}]: {type(e).__name__}: {e}", flush=True)
        broken.append(name)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
