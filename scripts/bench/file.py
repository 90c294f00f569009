"""file: the file store (provider: file) on the repository's disk against cp on the same disk:
Save and Load of one big file (BENCH_SIZE_MIB, default 1 GiB) and of the 2,000 x 4 KiB directory.
cp+fsync = cp followed by fsync of the copy (big file) or `sync -f` = syncfs (directory), which is
what the plugin does before it answers a Save (a Load writes the pod's scratch copy: no fsync);
the targets are judged against plain cp."""
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from measure import (GiB, Contender, big_size, fsync_path, med, mibs, per_gib, proc_status, rounds,
                     run_child, run_rounds, size_label)
from plugin import PluginCalls, file_config, plugin_bin, running_plugin
from report import Broken, ratio
from scratch import TREE_DIRS, TREE_FILE_SIZE, TREE_FILES, bench_parent, make_big_file, make_tree, remove, \
    sha256_file, tree_digest

TARGET_BIG = 0.8
TARGET_TREE = 0.5
N_FILES = TREE_DIRS * TREE_FILES


def settled(cleanup):
    """Runs cleanup, then lets writeback and the file system's discards settle, so no contender
    pays for another's."""
    def do(i):
        cleanup(i)
        os.sync()
        time.sleep(0.3)
    return do


def keep(i):
    """Trees are kept until the end: ext4 allocates inodes slowly right after thousands were freed
    (perf: recently_deleted / find_get_block_common), which would charge one contender's cleanup to
    the next one's time."""


def cp(src, dst, sync):
    """cp in its own process (CPU from os.wait4), then fsync / syncfs of the copy when sync."""
    def do(i):
        x = run_child(["cp", "-r", src, dst(i)], f"cp {src}")
        if sync:
            t0 = time.perf_counter()
            if os.path.isdir(dst(i)):
                run_child(["sync", "-f", dst(i)], "sync -f")
            else:
                fsync_path(dst(i))
            x["s"] += time.perf_counter() - t0
        return x
    return do


def run(report):
    report.header("file: file-store Save/Load vs cp on the same disk")
    plugin_bin()
    size = big_size()
    parent = bench_parent()
    free = shutil.disk_usage(parent).free
    need = 5 * size + GiB
    if free < need:
        report.say(f"SKIP: only {free / GiB:.1f} GiB free under {parent}; this section needs {need / GiB:.0f} GiB")
        return
    n = rounds(5)
    work = Path(tempfile.mkdtemp(prefix=".argo-bench-file-", dir=parent))
    fs = subprocess.run(["stat", "-f", "-c", "%T", str(work)], capture_output=True, text=True).stdout.strip()
    report.say(f"binary: {plugin_bin()}")
    report.say(f"scratch: {work} ({fs}, {free / GiB:.0f} GiB free); median of {n} rounds after a warm-up, order "
               f"rotating; the page cache is not dropped (the source is cached for every contender alike), dirty "
               f"pages are synced between measurements")
    try:
        store, src, out = work / "store", work / "src", work / "out"
        for d in (store, src, out):
            d.mkdir()
        config = file_config(store)
        with running_plugin(work / "plugin") as p:
            calls = PluginCalls(p)
            results = {}

            # ---- one big file
            big = src / "big.bin"
            report.say(f"creating a {size_label(size)} source file ...")
            big_sha = make_big_file(big, size)
            calls.save(big, "verify/big.bin", config)
            stored_big = store / "verify/big.bin"
            if os.path.getsize(stored_big) != size or sha256_file(stored_big) != big_sha:
                raise Broken("Save of the big file stored different bytes")
            calls.load("verify/big.bin", out / "verify.bin", config)
            if os.path.getsize(out / "verify.bin") != size or sha256_file(out / "verify.bin") != big_sha:
                raise Broken("Load of the big file wrote different bytes")
            remove(out / "verify.bin")
            report.say("verified: Save and Load of the big file give the source's size and sha256")

            results["save_big"] = run_rounds(report, f"Save {size_label(size)}", {
                "plugin": Contender(lambda i: calls.save(big, f"big/{i}", config),
                                    settled(lambda i: remove(store / f"big/{i}"))),
                "cp": Contender(cp(big, lambda i: out / f"cp{i}", False), settled(lambda i: remove(out / f"cp{i}"))),
                "cp+fsync": Contender(cp(big, lambda i: out / f"cps{i}", True),
                                      settled(lambda i: remove(out / f"cps{i}"))),
            }, n)[0]
            results["load_big"] = run_rounds(report, f"Load {size_label(size)}", {
                "plugin": Contender(lambda i: calls.load("verify/big.bin", out / f"load{i}", config),
                                    settled(lambda i: remove(out / f"load{i}"))),
                "cp": Contender(cp(stored_big, lambda i: out / f"cp{i}", False),
                                settled(lambda i: remove(out / f"cp{i}"))),
                "cp+fsync": Contender(cp(stored_big, lambda i: out / f"cps{i}", True),
                                      settled(lambda i: remove(out / f"cps{i}"))),
            }, n)[0]
            remove(big)
            remove(store / "verify")
            os.sync()

            # ---- 2,000 x 4 KiB files
            tree = src / "tree"
            make_tree(tree)
            os.sync()
            tree_sha = tree_digest(tree)
            calls.save(tree, "verify/tree", config)
            if tree_digest(store / "verify/tree") != tree_sha:
                raise Broken("Save of the directory stored a different tree")
            calls.load("verify/tree", out / "verify-tree", config)
            if tree_digest(out / "verify-tree") != tree_sha:
                raise Broken("Load of the directory wrote a different tree")
            report.say(f"verified: Save and Load of the {N_FILES}-file directory give the source's files and sha256s")
            stored_tree = store / "verify/tree"

            results["save_tree"] = run_rounds(report, f"Save {N_FILES} x 4 KiB", {
                "plugin": Contender(lambda i: calls.save(tree, f"tree/{i}", config), keep),
                "cp": Contender(cp(tree, lambda i: out / f"save-cp{i}", False), keep),
                "cp+fsync": Contender(cp(tree, lambda i: out / f"save-cps{i}", True), keep),
            }, n)[0]
            results["load_tree"] = run_rounds(report, f"Load {N_FILES} x 4 KiB", {
                "plugin": Contender(lambda i: calls.load("verify/tree", out / f"load-plugin{i}", config), keep),
                "cp": Contender(cp(stored_tree, lambda i: out / f"load-cp{i}", False), keep),
                "cp+fsync": Contender(cp(stored_tree, lambda i: out / f"load-cps{i}", True), keep),
            }, n)[0]
            peak = proc_status(p.proc.pid)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # ---- report
    report.say("")
    report.say("Ratios are throughput ratios (reference time / plugin time). CPU: plugin = its process (/proc), "
               "cp = the cp process (os.wait4; fsync's kernel time not included).")
    tree_bytes = N_FILES * TREE_FILE_SIZE
    ops = (("save_big", f"Save {size_label(size)} file", size, None),
           ("load_big", f"Load {size_label(size)} file", size, None),
           ("save_tree", f"Save {N_FILES} x 4 KiB", tree_bytes, N_FILES),
           ("load_tree", f"Load {N_FILES} x 4 KiB", tree_bytes, N_FILES))
    rows = []
    for key, label, nbytes, count in ops:
        r = results[key]
        for who, runs in r.items():
            s = med(runs)
            rate = f"{count / s:,.0f} files/s" if count else f"{mibs(nbytes, s):,.0f} MiB/s"
            rows.append([label if who == "plugin" else "", who, f"{s:.3f}",
                         f"{min(x['s'] for x in runs):.3f}-{max(x['s'] for x in runs):.3f}", rate,
                         "" if who == "plugin" else ratio(s / med(r["plugin"])), f"{med(runs, 'cpu'):.2f}"])
            report.result(f"file store: {label}", who, s, mibs(nbytes, s), per_gib(med(runs, "cpu"), nbytes),
                          f"{count / s:,.0f} files/s" if count else "")
    report.table(["operation", "by", "median s", "min-max s", "rate", "plugin vs it", "CPU s"], rows)
    report.say("")
    for key, label, _, _ in ops:
        r = results[key]
        vs_cp = med(r["cp"]) / med(r["plugin"])
        vs_sync = med(r["cp+fsync"]) / med(r["plugin"])
        best = min(x["s"] for x in r["cp"]) / min(x["s"] for x in r["plugin"])
        detail = f"{ratio(vs_sync)} cp+fsync; fastest runs: {ratio(best)} cp"
        target = {"save_big": TARGET_BIG, "load_big": TARGET_BIG, "save_tree": TARGET_TREE}.get(key)
        if target is None:
            report.say(f"info  {label}: {ratio(vs_cp)} cp ({detail}); no target")
        else:
            report.target("file", vs_cp >= target, f"{label}: plugin {ratio(vs_cp)} cp >= {target}x ({detail})")
    report.say(f"plugin memory at the end: VmRSS {peak['VmRSS'] / 1024:.1f} MiB, peak VmHWM {peak['VmHWM'] / 1024:.1f} MiB")
