"""stream: OpenStream of one big object (BENCH_SIZE_MIB, default 1 GiB) from Ceph RGW through a
grpcio client (in this process) writing a file, against one curl GET into a file: the throughput,
the first byte, and the plugin's CPU per GiB."""
import os

from measure import (RATE_HEADERS, Contender, big_size, med, per_gib, rate_rows, rounds, run_rounds, size_label,
                     summarize)
from peers import ArgoS3Driver, Curl
from plugin import PluginCalls, plugin_bin, running_plugin
from report import Broken, ratio
from scratch import SCRATCH, remove
from store import RGW_STORE

GO = "plugin, grpc-go client"
TARGET_VS_CURL = 0.9
TARGET_VS_ARGO = 1.5       # x Argo's own S3 driver (minio-go GetObject)
TARGET_CPU_PER_GIB = 0.35
TARGET_TTFB_MS = 5.0       # first byte at most this much later than curl's
KEY = "stream/big"


def run(report):
    report.header("stream: OpenStream of a big object from Ceph RGW into a file (grpcio client) vs one curl GET")
    plugin_bin()
    rgw = RGW_STORE.start(report)
    size = big_size()
    label = f"OpenStream {size_label(size)}"
    src, src_sha = SCRATCH.source(report, size)
    out = SCRATCH.subdir(report, "stream-out")
    n = rounds()
    curl = Curl()
    import grpc
    report.say(f"median of {n} rounds after a warm-up; grpcio {grpc.__version__} client in this process writing the "
               f"messages to a file; curl GET into a file; the object is put once by curl, untimed")
    try:
        curl.upload(rgw, src, KEY)
        with running_plugin(SCRATCH.subdir(report, "plugin-stream"), env=rgw.plugin_env) as p:
            calls = PluginCalls(p)
            cfg = rgw.plugin_config()

            def plugin_stream(i):
                return calls.stream(KEY, cfg, size, sha=src_sha if i < 0 else None, out_path=out / f"plugin-{i}")

            def curl_get(i):
                x = curl.download(rgw, KEY, out / f"curl-{i}")
                if os.path.getsize(out / f"curl-{i}") != size:
                    raise Broken(f"curl GET wrote {os.path.getsize(out / f'curl-{i}')} bytes, expected {size}")
                return x

            argo = ArgoS3Driver()
            go_client = argo.binary().parent / "grpcgo-client"   # built by the same scripts/go/build.sh

            def plugin_go_stream(i):
                return calls.go_stream(KEY, cfg, size, go_client)

            def argo_get(i):
                x = argo.stream(rgw, KEY)
                if int(x["out"].strip() or 0) != size:
                    raise Broken(f"Argo's S3 driver GetObject read {x['out'].strip()} bytes, expected {size}")
                return x

            contenders = {
                "plugin": Contender(plugin_stream, lambda i: remove(out / f"plugin-{i}", settle=0.2),
                                    flags="grpcio client, messages written to a file"),
                GO: Contender(plugin_go_stream, flags="grpc-go client (argo-server's library) into /dev/null"),
                "curl": Contender(curl_get, lambda i: remove(out / f"curl-{i}", settle=0.2), flags=curl.label),
                argo.name: Contender(argo_get, optional=True, flags="minio-go GetObject, copied to a discard sink")}
            results, _ = run_rounds(report, label, contenders, n, store=rgw)
        report.say("verified: OpenStream -> is_end on the last message only, the byte count, the sha256 of the "
                   "object (warm-up); curl -> size")
    finally:
        rgw.delete(KEY)
        remove(out)

    report.say("")
    report.table(RATE_HEADERS, rate_rows(label, results, size, contenders))
    summarize(report, f"{label} from RGW", results, size, contenders)
    ps, cs = med(results["plugin"]), med(results["curl"])
    if argo.name in results:
        # Argo's reader of OpenStream is argo-server, a grpc-go client: that row is the comparison.
        vs_argo = med(results[argo.name]) / med(results[GO])
        report.target("stream", vs_argo >= TARGET_VS_ARGO, f"{label}: plugin read by grpc-go {ratio(vs_argo)} Argo's S3 "
                      f"driver GetObject >= {TARGET_VS_ARGO}x")
    pt, ct = med(results["plugin"], "ttfb") * 1000, med(results["curl"], "ttfb") * 1000
    client = med(results["plugin"], "client_cpu")
    report.say(f"first byte, median: plugin {pt:.1f} ms (the call until the first data message), curl {ct:.1f} ms "
               f"(time_starttransfer)")
    report.say(f"grpcio client CPU (this process): {client:.2f} s for {size_label(size)} in {ps:.2f} s "
               f"({client / ps * 100:.0f}% of one core); it is not the plugin's and is not judged")
    report.say("")
    cpu = per_gib(med(results["plugin"], "cpu"), size)
    report.target("stream", cs / ps >= TARGET_VS_CURL, f"{label}: plugin {ratio(cs / ps)} curl GET >= "
                  f"{TARGET_VS_CURL}x")
    report.target("stream", cpu <= TARGET_CPU_PER_GIB, f"{label}: plugin CPU {cpu:.2f} s/GiB <= "
                  f"{TARGET_CPU_PER_GIB} s/GiB")
    report.target("stream", pt <= ct + TARGET_TTFB_MS, f"{label}: first byte {pt:.1f} ms <= curl's {ct:.1f} ms + "
                  f"{TARGET_TTFB_MS:.0f} ms")
