"""integrity: what verifying every part costs the plugin, judged on its CPU. A Save of one big
file (BENCH_SIZE_MIB, default 1 GiB) with each multipart.checksum setting, on Ceph RGW 16, on
SeaweedFS and on the OSS double: the plugin's CPU s/GiB per setting, and the part-integrity
algorithm the plugin says it chose for the store (its log line `part integrity for
<scheme>://<host>/<bucket>: <algorithm>`; "not logged" by a binary that does not write it).

auto, md5 and none (OSS: auto and none) must work. sha256, crc32 and crc32c are tried too: a
binary that does not know them yet, or a store that refuses them, shows them as unavailable. The
RGW rows come from the save section when it ran earlier in the same run. On the OSS double only
the plugin's CPU is the point: the double (Python, in this process) limits the rate."""
import contextlib
import re

from measure import big_size, med, mibs, per_gib, report_unavailable, rounds, run_rounds, size_label
from plugin import PluginCalls, plugin_bin, running_plugin
from report import Broken
from save import plugin_save
from scratch import SCRATCH
from store import OSS_STORE, RGW_STORE, SEAWEED_STORE

S3_REQUIRED = ("auto", "md5", "none")
S3_OPTIONAL = ("sha256", "crc32", "crc32c")
STORES = [  # (name, start(report) -> store, required settings, optional settings, has daemons to time)
    ("Ceph RGW", lambda report: RGW_STORE.start(report), S3_REQUIRED, S3_OPTIONAL, True),
    ("SeaweedFS", lambda report: SEAWEED_STORE.start(report, SCRATCH), S3_REQUIRED, S3_OPTIONAL, True),
    ("OSS double", lambda report: OSS_STORE.start(report), ("auto", "none"), (), False),
]
CHOICE = re.compile(r"part integrity for (\S+): (\S+)")


def run(report):
    report.header("integrity: plugin CPU per GiB of a Save with each multipart.checksum, on RGW, SeaweedFS, OSS")
    plugin_bin()
    size = big_size()
    src, src_sha = SCRATCH.source(report, size)
    n = rounds()
    report.say(f"Save of {size_label(size)}; median of {n} rounds after a warm-up; one plugin process per setting "
               f"(the integrity choice is logged once per store and process)")
    rows, failed = [], []
    for name, start, required, optional, timed_store in STORES:
        try:
            store = start(report)
            measured = measure_store(report, name, store, required, optional, src, src_sha, size, n, timed_store)
        except Broken as e:
            report.say(f"BROKEN  {name}: {e}")
            failed.append(name)
            continue
        none_cpu = per_gib(med(measured["none"][0], "cpu"), size) if "none" in measured else None
        for i, (checksum, (runs, choices, source)) in enumerate(measured.items()):
            s, cpu = med(runs), per_gib(med(runs, "cpu"), size)
            algorithm = ", ".join(sorted({m.group(2) for m in map(CHOICE.search, choices) if m})) or "not logged"
            extra = "" if none_cpu is None or checksum == "none" else f"{cpu - none_cpu:+.2f}"
            rows.append([name if i == 0 else "", checksum, f"{s:.3f}", f"{mibs(size, s):,.0f}",
                         f"{med(runs, 'cpu'):.2f}", f"{cpu:.2f}", extra, algorithm, source])
            report.result(f"Save {size_label(size)}, integrity cost, {name}", f"plugin checksum {checksum}", s,
                          mibs(size, s), cpu, f"part integrity: {algorithm}" + (f"; {source}" if source else ""))
            for line in choices:
                report.say(f"  {name}, checksum {checksum}: log: {line[:300]}")
    report.say("")
    report.table(["store", "checksum", "median s", "MiB/s", "plugin CPU s", "CPU s/GiB", "vs none s/GiB",
                  "part integrity (logged)", "measured in"], rows)
    if failed:
        raise Broken(f"could not measure on {', '.join(failed)}")


def measure_store(report, name, store, required, optional, src, src_sha, size, n, timed_store):
    """{checksum: (runs, the plugin's integrity log lines, where measured)} for one store."""
    measured = {}
    for checksum in required:
        if (name, checksum) in report.shared:
            runs, choices, shared_size = report.shared[(name, checksum)]
            if shared_size == size:
                measured[checksum] = (runs, choices, "save section")
    todo = [c for c in (*required, *optional) if c not in measured]
    if not todo:
        return measured
    with contextlib.ExitStack() as stack:
        contenders, plugins = {}, {}
        for checksum in todo:
            p = stack.enter_context(running_plugin(
                SCRATCH.subdir(report, f"plugin-integrity-{name.replace(' ', '-')}-{checksum}"), env=store.plugin_env))
            plugins[checksum] = p
            contenders[checksum] = plugin_save(store, PluginCalls(p), checksum, src, src_sha, size, "integrity",
                                               optional=checksum in optional)
        results, unavailable = run_rounds(report, f"{name}, Save {size_label(size)}", contenders, n,
                                          store=store if timed_store else None)
        for checksum in results:
            measured[checksum] = (results[checksum], plugins[checksum].integrity_choices(), "")
    report_unavailable(report, {f"{name}, checksum {c}": why for c, why in unavailable.items()})
    return measured
