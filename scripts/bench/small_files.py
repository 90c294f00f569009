"""small_files: Save of a directory artifact of 2,000 x 4 KiB files (20 directories of 100) to
Ceph RGW: the plugin (one Save call, the files uploaded concurrently) against the parallel peers:
s5cmd cp of the directory (wildcard; 256 workers by default), rclone copy with --transfers, boto3
put_object from a thread pool."""
import hashlib

from measure import RATE_HEADERS, Contender, med, rate_rows, rounds, run_rounds, summarize
from peers import best_variants, marked_best, tree_upload_peers, versions
from plugin import PluginCalls, plugin_bin, running_plugin
from report import Broken, ratio
from scratch import SCRATCH, TREE_DIRS, TREE_FILE_SIZE, TREE_FILES
from store import RGW_STORE

TARGET_VS_S5CMD = 1.5
TARGET_VS_ARGO = 3.0       # x Argo's own S3 driver (one FPutObject per file, in walk order)
N_FILES = TREE_DIRS * TREE_FILES


def run(report):
    report.header(f"small_files: Save of a directory of {N_FILES:,} x 4 KiB to Ceph RGW, plugin vs s5cmd, rclone, "
                  f"boto3 (all parallel)")
    plugin_bin()
    rgw = RGW_STORE.start(report)
    tree = SCRATCH.tree(report)
    size = N_FILES * TREE_FILE_SIZE
    label = f"Save {N_FILES:,} x 4 KiB"
    n = rounds()
    peers = tree_upload_peers()
    report.say(f"peers: {versions()}; median of {n} rounds after a warm-up, order rotating")
    local = {str(q.relative_to(tree)): (q.stat().st_size, hashlib.md5(q.read_bytes()).hexdigest())
             for q in tree.rglob("*") if q.is_file()}

    def stored(prefix):
        return {k[len(prefix) + 1:]: v for k, v in rgw.listing(prefix + "/").items()}

    with running_plugin(SCRATCH.subdir(report, "plugin-small"), env=rgw.plugin_env) as p:
        calls = PluginCalls(p)
        cfg = rgw.plugin_config()

        def plugin_save(i):
            x = calls.save(tree, f"small/plugin-{i}", cfg)
            if i < 0 and stored(f"small/plugin-{i}") != local:
                raise Broken(f"plugin directory Save: the objects' names, sizes or ETags (single-PUT ETag = "
                             f"MD5) are not the files'")
            return x

        contenders = {"plugin": Contender(plugin_save, lambda i: rgw.delete(f"small/plugin-{i}/", prefix=True),
                                          flags="one Save call")}
        for peer in peers:
            contenders[peer.name] = peer_tree(rgw, peer, tree, local)
        results, _ = run_rounds(report, label, contenders, n, store=rgw)
    report.say(f"verified: every contender stored {N_FILES} objects under the same relative names with the same "
               f"sizes and MD5 ETags")

    report.say("")
    report.table(RATE_HEADERS + ["files/s"], [row + [f"{N_FILES / med(results[row[1]]):,.0f}"]
                                              for row in rate_rows(label, results, size, contenders)])
    best = best_variants(results, peers)
    summarize(report, f"{label} to RGW", results, size, contenders, best=marked_best(best, peers),
              unit_count=N_FILES, unit="files/s")
    report.say("")
    p = med(results["plugin"])
    fastest = min(best.values(), key=lambda w: med(results[w]))
    report.say(f"info  {label}: plugin {ratio(med(results[fastest]) / p)} the fastest parallel peer, {fastest} "
               f"({contenders[fastest].flags})")
    if "s5cmd" in best:
        s5 = best["s5cmd"]
        vs = med(results[s5]) / p
        report.target("small_files", vs >= TARGET_VS_S5CMD, f"{label}: plugin {ratio(vs)} {s5} "
                      f"({contenders[s5].flags}) >= {TARGET_VS_S5CMD}x")
    if "argo-s3" in best:
        vs = med(results[best["argo-s3"]]) / p
        report.target("small_files", vs >= TARGET_VS_ARGO, f"{label}: plugin {ratio(vs)} Argo's S3 driver >= {TARGET_VS_ARGO}x")


def peer_tree(store, peer, tree, local):
    prefix = lambda i: f"small/{peer.name.replace(' ', '-').replace('=', '')}-{i}"  # noqa: E731

    def do(i):
        x = peer.upload_tree(store, tree, prefix(i))
        if i < 0:
            got = {k[len(prefix(i)) + 1:]: v for k, v in store.listing(prefix(i) + "/").items()}
            if got != local:
                raise Broken(f"{peer.name}: {len(got)} objects stored for {len(local)} files, or names, sizes or "
                             f"MD5 ETags differ")
        return x

    return Contender(do, lambda i: store.delete(prefix(i) + "/", prefix=True), flags=peer.label, optional=peer.family == "argo-s3")
