"""save: Save of one big file (BENCH_SIZE_MIB, default 1 GiB) to Ceph RGW. The plugin (a grpcio
Save call; multipart.checksum auto, plus md5 and none as extra rows for the CPU cost of integrity)
against s5cmd, rclone, boto3 and aws-c-s3 (each with its defaults and a tuned variant where one
exists) and a single curl PUT (the store's line rate for one request)."""
import contextlib

import envelope

from measure import (RATE_HEADERS, Contender, big_size, med, per_gib, rate_rows, report_unavailable, rounds,
                     run_rounds, size_label, summarize)
from peers import best_variants, big_upload_peers, marked_best, versions
from plugin import PluginCalls, plugin_bin, running_plugin
from report import Broken, ratio
from scratch import SCRATCH
from store import RGW_STORE

TARGET_VS_PEERS = 1.5      # x the fastest of s5cmd, rclone, boto3, aws-c-s3, Argo's driver (each at its best)
TARGET_VS_CURL = 0.95      # x one curl PUT
TARGET_CPU_VS_CURL = 2.0   # plugin CPU s/GiB (every part verified) at most this many times one curl PUT's
TARGET_SMALL_SHARE = 0.9   # the plugin's Save speed at 128 MiB against the envelope's memory
CHECKSUMS = ("auto", "md5", "none")
SMALL = f"plugin at {envelope.SMALL_MIB} MiB"
PARALLEL_FAMILIES = ("s5cmd", "rclone", "boto3", "aws-c-s3", "argo-s3")


def plugin_name(checksum):
    return "plugin" if checksum == "auto" else f"plugin {checksum}"


def run(report):
    report.header("save: Save of a big file to Ceph RGW, plugin vs s5cmd, rclone, boto3, aws-c-s3, one curl PUT")
    plugin_bin()
    rgw = RGW_STORE.start(report)
    size = big_size()
    label = f"Save {size_label(size)}"
    src, src_sha = SCRATCH.source(report, size)
    n = rounds()
    peers = big_upload_peers()
    report.say(f"binary: {plugin_bin()}; peers: {versions()}")
    report.say(f"median of {n} rounds after a warm-up, order rotating; every contender in its own process (the "
               f"plugin running, one per checksum setting), all against the same RGW")
    with contextlib.ExitStack() as stack:
        contenders, plugins = {}, {}
        for checksum in CHECKSUMS:
            p = stack.enter_context(running_plugin(SCRATCH.subdir(report, f"plugin-save-{checksum}"),
                                                   env=rgw.plugin_env))
            plugins[checksum] = p
            contenders[plugin_name(checksum)] = plugin_save(rgw, PluginCalls(p), checksum, src, src_sha, size, "save")
        if envelope.small_variant():
            p = stack.enter_context(running_plugin(SCRATCH.subdir(report, "plugin-save-small"), env=rgw.plugin_env,
                                                   memory_mib=envelope.SMALL_MIB))
            contenders[SMALL] = plugin_save(rgw, PluginCalls(p), "auto", src, src_sha, size, "save-small")
            contenders[SMALL].flags = f"checksum auto, its cgroup at {envelope.SMALL_MIB} MiB"
        for peer in peers:
            contenders[peer.name] = peer_save(rgw, peer, src, size)
        results, unavailable = run_rounds(report, label, contenders, n, store=rgw)
        choices = {c: p.integrity_choices() for c, p in plugins.items()}
    report.say("verified: plugin Save (checksum auto) -> the object's sha256 = the source's; the others -> size")
    report_unavailable(report, unavailable)
    for checksum in CHECKSUMS:   # the integrity section reuses these
        if plugin_name(checksum) in results:
            report.shared[("Ceph RGW", checksum)] = (results[plugin_name(checksum)], choices[checksum], size)

    report.say("")
    report.say("CPU: plugin = its process over the call (/proc), binaries = the process (os.wait4), Python peers "
               "= their own getrusage around the transfer; store CPU = the RGW and OSD daemons during the call "
               "(the same 2 cores).")
    report.table(RATE_HEADERS, rate_rows(label, results, size, contenders))
    for checksum, lines in choices.items():
        report.say(f"part integrity, checksum {checksum}: {'; '.join(lines) if lines else 'not logged'}")
    best = best_variants(results, peers)
    summarize(report, f"{label} to RGW", results, size, contenders, best=marked_best(best, peers))

    report.say("")
    p = med(results["plugin"])
    parallel = {f: best[f] for f in PARALLEL_FAMILIES if f in best}
    if not parallel:
        raise Broken("no parallel peer ran")
    fastest = min(parallel.values(), key=lambda w: med(results[w]))
    vs_fastest = med(results[fastest]) / p
    report.target("save", vs_fastest >= TARGET_VS_PEERS,
                  f"{label}: plugin {ratio(vs_fastest)} the fastest parallel peer, {fastest} "
                  f"({contenders[fastest].flags}) >= {TARGET_VS_PEERS}x")
    if "curl" in results:
        vs_curl = med(results["curl"]) / p
        report.target("save", vs_curl >= TARGET_VS_CURL, f"{label}: plugin {ratio(vs_curl)} one curl PUT >= "
                      f"{TARGET_VS_CURL}x")
    if SMALL in results:
        share = med(results["plugin"]) / med(results[SMALL])
        report.target("save", share >= TARGET_SMALL_SHARE,
                      f"{label}: plugin at {envelope.SMALL_MIB} MiB runs at {share:.0%} of its speed in the envelope's "
                      f"{envelope.LIMITS['memory_mib']} MiB >= {TARGET_SMALL_SHARE:.0%}")
    if "curl" in results:
        cpu_p, cpu_c = per_gib(med(results["plugin"], "cpu"), size), per_gib(med(results["curl"], "cpu"), size)
        report.target("save", cpu_p <= TARGET_CPU_VS_CURL * cpu_c,
                      f"{label}: plugin CPU {cpu_p:.2f} s/GiB = {cpu_p / cpu_c:.2f}x one curl PUT's {cpu_c:.2f} s/GiB <= "
                      f"{TARGET_CPU_VS_CURL}x")


def plugin_save(store, calls, checksum, src, src_sha, size, prefix, optional=False):
    """A Contender saving src through the plugin with multipart.checksum = checksum."""
    cfg = store.plugin_config(f"multipart: {{checksum: {checksum}}}\n")
    key = lambda i: f"{prefix}/plugin-{checksum}-{i}"  # noqa: E731

    def do(i):
        x = calls.save(src, key(i), cfg)
        if i < 0:
            if checksum == "auto":
                if store.sha256(key(i)) != src_sha:
                    raise Broken(f"plugin Save (checksum {checksum}) stored different bytes (sha256)")
            elif store.size(key(i)) != size:
                raise Broken(f"plugin Save (checksum {checksum}) stored a different size")
        return x

    return Contender(do, lambda i: store.delete(key(i)), optional=optional, flags=f"multipart.checksum: {checksum}")


def peer_save(store, peer, src, size):
    key = lambda i: f"save/{peer.name.replace(' ', '-').replace('=', '')}-{i}"  # noqa: E731

    def do(i):
        x = peer.upload(store, src, key(i))
        if i < 0 and store.size(key(i)) != size:
            raise Broken(f"{peer.name} stored a different size")
        return x

    return Contender(do, lambda i: store.delete(key(i)), flags=peer.label, optional=peer.family == "argo-s3")
