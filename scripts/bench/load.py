"""load: Load of one big object (BENCH_SIZE_MIB, default 1 GiB) from Ceph RGW into a local file.
The plugin (a grpcio Load call: parallel ranged GETs into a temp file renamed into place, no
fsync, like the others) against s5cmd, rclone, boto3 and aws-c-s3 (defaults and a tuned variant)
and one curl GET into a file."""
import os

from measure import (RATE_HEADERS, Contender, big_size, med, per_gib, rate_rows, report_unavailable, rounds, run_rounds,
                     size_label, summarize)
from peers import Curl, best_variants, big_download_peers, marked_best, versions
from plugin import PluginCalls, plugin_bin, running_plugin
from report import Broken, ratio
from scratch import SCRATCH, remove, sha256_file
from store import RGW_STORE

TARGET_VS_PEERS = 1.0      # x the fastest of s5cmd, rclone, aws-c-s3 (each at its best variant)
TARGET_FAMILIES = ("s5cmd", "rclone", "aws-c-s3", "argo-s3")
KEY = "load/big"


def run(report):
    report.header("load: Load of a big object from Ceph RGW into a file, plugin vs s5cmd, rclone, boto3, aws-c-s3, "
                  "one curl GET")
    plugin_bin()
    rgw = RGW_STORE.start(report)
    size = big_size()
    label = f"Load {size_label(size)}"
    src, src_sha = SCRATCH.source(report, size)
    out = SCRATCH.subdir(report, "load-out")
    n = rounds()
    peers = big_download_peers()
    report.say(f"binary: {plugin_bin()}; peers: {versions()}")
    report.say(f"median of {n} rounds after a warm-up, order rotating; the object is put once by curl (one PUT, "
               f"untimed); every contender writes a new file on the scratch disk, removed after the round")
    try:
        Curl().upload(rgw, src, KEY)
        if rgw.size(KEY) != size:
            raise Broken("the object to load has the wrong size in RGW")
        with running_plugin(SCRATCH.subdir(report, "plugin-load"), env=rgw.plugin_env) as p:
            calls = PluginCalls(p)
            cfg = rgw.plugin_config()

            def plugin_load(i):
                x = calls.load(KEY, out / f"plugin-{i}", cfg)
                if i < 0 and sha256_file(out / f"plugin-{i}") != src_sha:
                    raise Broken("plugin Load wrote different bytes (sha256)")
                return x

            contenders = {"plugin": Contender(plugin_load, lambda i: remove(out / f"plugin-{i}", settle=0.2),
                                              flags="load: {partSize: 16Mi, concurrency: 8} (defaults)")}
            for peer in peers:
                contenders[peer.name] = peer_load(rgw, peer, out, size)
            results, unavailable = run_rounds(report, label, contenders, n, store=rgw)
        report.say("verified: plugin Load -> the file's sha256 = the source's; the others -> size")
        report_unavailable(report, unavailable)
    finally:
        rgw.delete(KEY)
        remove(out)

    report.say("")
    report.table(RATE_HEADERS, rate_rows(label, results, size, contenders))
    best = best_variants(results, peers)
    summarize(report, f"{label} from RGW", results, size, contenders, best=marked_best(best, peers))
    report.say("")
    p = med(results["plugin"])
    candidates = [best[f] for f in TARGET_FAMILIES if f in best]
    if not candidates:
        raise Broken("no peer of the target ran")
    fastest = min(candidates, key=lambda w: med(results[w]))
    vs = med(results[fastest]) / p
    report.target("load", vs >= TARGET_VS_PEERS, f"{label}: plugin {ratio(vs)} the fastest of s5cmd, rclone, "
                  f"aws-c-s3, Argo's driver: {fastest} ({contenders[fastest].flags}) >= {TARGET_VS_PEERS}x")
    if "rclone" in best:
        rc = best["rclone"]
        cpu_p, cpu_r = per_gib(med(results["plugin"], "cpu"), size), per_gib(med(results[rc], "cpu"), size)
        report.target("load", cpu_p <= cpu_r, f"{label}: plugin CPU {cpu_p:.2f} s/GiB <= {rc}'s {cpu_r:.2f} s/GiB")


def peer_load(store, peer, out, size):
    path = lambda i: out / f"{peer.name.replace(' ', '-').replace('=', '')}-{i}"  # noqa: E731

    def do(i):
        x = peer.download(store, KEY, path(i))
        if i < 0 and os.path.getsize(path(i)) != size:
            raise Broken(f"{peer.name} wrote a different size")
        return x

    return Contender(do, lambda i: remove(path(i), settle=0.2), flags=peer.label, optional=peer.family == "argo-s3")
