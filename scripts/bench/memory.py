"""memory: the plugin's peak RSS does not grow with the object. Save of a 256 MiB and of a 2 GiB
file to Ceph RGW, each on a fresh plugin with the default multipart settings written out (16 MiB
parts, 8 in flight): the peaks must be equal within 10%. And OpenStream: the peak with one stream
of a big object, and with 64 concurrent streams (a thread and a channel each).

  BENCH_RSS_MIB   the two Save sizes (default 256,2048)
  BENCH_STREAMS   concurrent OpenStreams (default 64, of 64 MiB each)"""
import os
import threading
import time

from measure import (MiB, RSSSampler, big_size, cpu_seconds, median, mibs, proc_status, rounds, size_label)
from peers import Curl
from plugin import PluginCalls, artifact, pb, pb_grpc, plugin_bin, running_plugin
from report import Broken
from scratch import SCRATCH
from store import RGW_STORE

TARGET_FLAT = 0.10
TARGET_RSS_ONE_STREAM_MIB = 64
TARGET_RSS_MANY_STREAMS_MIB = 256
MULTIPART = "multipart: {partSize: 16Mi, concurrency: 8}\n"
STREAM_OBJECT = 64 * MiB


def run(report):
    report.header("memory: the plugin's peak RSS, Save of a small and a large file; 1 and many OpenStreams")
    plugin_bin()
    rgw = RGW_STORE.start(report)
    n = rounds()
    small_mib, large_mib = (int(x) for x in (os.environ.get("BENCH_RSS_MIB") or "256,2048").split(","))
    streams = int(os.environ.get("BENCH_STREAMS") or 64)

    # ---- Save: a fresh plugin per size
    peaks = {}
    for size in (small_mib * MiB, large_mib * MiB):
        path, _ = SCRATCH.source(report, size)
        key = f"memory/save-{size // MiB}"
        with running_plugin(SCRATCH.subdir(report, f"plugin-rss-{size // MiB}"), env=rgw.plugin_env) as fresh:
            idle = proc_status(fresh.proc.pid)["VmRSS"] / 1024
            with RSSSampler(fresh.proc.pid) as s:
                x = PluginCalls(fresh).save(path, key, rgw.plugin_config(MULTIPART))
        if rgw.size(key) != size:
            raise Broken(f"plugin Save of {size_label(size)} stored a different size")
        rgw.delete(key)
        peaks[size] = s.peak_mib
        report.say(f"  Save {size_label(size)} on a fresh plugin: peak RSS {s.peak_mib:.1f} MiB (10 ms samples: max "
                   f"VmRSS {s.peak_rss / 1024:.1f}, RssAnon {s.peak_anon / 1024:.1f}; {s.samples} samples), idle "
                   f"before {idle:.1f} MiB, {mibs(size, x['s']):.0f} MiB/s")

    # ---- OpenStream: one big stream, then many small ones; a fresh plugin each run
    big = big_size()
    src, _ = SCRATCH.source(report, big)
    small_size = min(STREAM_OBJECT, big)
    small = SCRATCH.path(report) / "stream-slice.bin"
    with open(src, "rb") as f, open(small, "wb") as g:
        g.write(f.read(small_size))
    curl = Curl()
    cfg = rgw.plugin_config()
    one, many = [], []
    try:
        curl.upload(rgw, src, "memory/big")
        curl.upload(rgw, small, "memory/small")
        for r in range(n):
            with running_plugin(SCRATCH.subdir(report, f"plugin-rss1-{r}"), env=rgw.plugin_env) as fresh:
                with RSSSampler(fresh.proc.pid) as s1:
                    x = PluginCalls(fresh).stream("memory/big", cfg, big)
            one.append(s1.peak_mib)
            report.say(f"  1 OpenStream of {size_label(big)}, fresh plugin, run {r + 1}/{n}: peak RSS "
                       f"{s1.peak_mib:.1f} MiB, {mibs(big, x['s']):.0f} MiB/s")
        for r in range(n):
            with running_plugin(SCRATCH.subdir(report, f"plugin-rss{streams}-{r}"), env=rgw.plugin_env) as fresh:
                c0 = cpu_seconds(fresh.proc.pid)
                with RSSSampler(fresh.proc.pid) as sn:
                    t = concurrent_streams(fresh, "memory/small", cfg, small_size, streams)
                cpu = cpu_seconds(fresh.proc.pid) - c0
                threads = proc_status(fresh.proc.pid)["Threads"]
            many.append(sn.peak_mib)
            report.say(f"  {streams} concurrent OpenStreams of {size_label(small_size)}, fresh plugin, run "
                       f"{r + 1}/{n}: peak RSS {sn.peak_mib:.1f} MiB; all complete in {t:.2f} s = "
                       f"{mibs(streams * small_size, t):.0f} MiB/s in all, plugin CPU {cpu:.2f} s, {threads} threads")
    finally:
        rgw.delete("memory/", prefix=True)
        small.unlink(missing_ok=True)

    report.say("")
    lo, hi = peaks[small_mib * MiB], peaks[large_mib * MiB]
    report.result(f"Save peak RSS, {small_mib} MiB -> {large_mib} MiB", "plugin",
                  notes=f"{lo:.1f} MiB -> {hi:.1f} MiB ({hi / lo:.2f}x)")
    report.result(f"OpenStream peak RSS, 1 / {streams} streams", "plugin",
                  notes=f"{median(one):.1f} MiB / {median(many):.1f} MiB (median of {n} fresh plugins)")
    report.target("memory", abs(hi / lo - 1) <= TARGET_FLAT,
                  f"Save peak RSS {lo:.1f} MiB ({small_mib} MiB file) vs {hi:.1f} MiB ({large_mib} MiB): "
                  f"{hi / lo:.2f}x, equal within +-{TARGET_FLAT * 100:.0f}%")
    report.target("memory", median(one) <= TARGET_RSS_ONE_STREAM_MIB,
                  f"peak RSS with 1 OpenStream {median(one):.1f} MiB <= {TARGET_RSS_ONE_STREAM_MIB} MiB "
                  f"(median of {n} fresh plugins; max {max(one):.1f})")
    report.target("memory", median(many) <= TARGET_RSS_MANY_STREAMS_MIB,
                  f"peak RSS with {streams} OpenStreams {median(many):.1f} MiB <= {TARGET_RSS_MANY_STREAMS_MIB} MiB "
                  f"(median of {n} fresh plugins; range {min(many):.1f}-{max(many):.1f})")


def concurrent_streams(plugin, key, cfg, size, count):
    """count threads, each with its own channel, each consuming a whole OpenStream. Returns the
    wall time until all are complete; raises Broken unless every one ended with is_end and size."""
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
                     f"{(errors or [str(bad[0]) if bad else ''])[0]}")
    return dt
