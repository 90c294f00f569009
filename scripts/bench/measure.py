"""How things are measured: wall time, CPU per process, medians over rounds, RSS.

CPU is counted per process: a contender run as a child (s5cmd, rclone, curl) is timed around the
process and its CPU read from os.wait4's rusage (all its threads); a Python peer measures itself
around the transfer (its own process, imports and interpreter start-up excluded, as the plugin is
already running); the long-running plugin and the store daemons are read from /proc/PID/stat
(utime + stime of all threads) before and after the call."""
import math
import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable

from report import Broken, ratio

MiB = 1 << 20
GiB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")


def rounds(default=3):
    """Measured rounds per contender (BENCH_ROUNDS), each section after one warm-up round."""
    return int(os.environ.get("BENCH_ROUNDS") or default)


def big_size():
    """The size of the big transfers (BENCH_SIZE_MIB, default 1 GiB)."""
    return int(os.environ.get("BENCH_SIZE_MIB") or 1024) * MiB


def size_label(size):
    return f"{size // GiB} GiB" if size % GiB == 0 else f"{size // MiB} MiB"


def median(xs):
    return statistics.median(xs)


def percentile(sorted_xs, q):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_xs:
        return float("nan")
    k = max(0, min(len(sorted_xs) - 1, math.ceil(q * len(sorted_xs)) - 1))
    return sorted_xs[k]


def med(samples, key="s"):
    return median([x[key] for x in samples])


def mibs(size, seconds):
    return size / MiB / seconds


def per_gib(cpu_s, size):
    return cpu_s / (size / GiB)


# ---------------------------------------------------------------------------------------------
# per-process CPU and memory from /proc


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile (KiB) and the thread count, from /proc."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0])
    return out


class RSSSampler:
    """Peak VmRSS / RssAnon of a process, sampled every 10 ms in a thread; VmHWM read at the end."""

    def __init__(self, pid, interval=0.01):
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_anon = self.hwm = 0
        self.samples = 0
        self._stop = threading.Event()

    def _sample(self):
        try:
            s = proc_status(self.pid)
        except (FileNotFoundError, ProcessLookupError):
            return
        self.peak_rss = max(self.peak_rss, s.get("VmRSS", 0))
        self.peak_anon = max(self.peak_anon, s.get("RssAnon", 0))
        self.samples += 1

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        self.hwm = proc_status(self.pid).get("VmHWM", 0)

    @property
    def peak_mib(self):
        """The larger of the sampled peak and the kernel's high-water mark, in MiB."""
        return max(self.peak_rss, self.hwm) / 1024


def machine_busy(seconds=1.0, threshold=0.15):
    """Share of all CPUs used by other processes over `seconds` (this script idles meanwhile), as
    text when above `threshold`, else ''. On a shared machine the numbers need this caveat."""
    def total():
        with open("/proc/stat") as f:
            v = list(map(int, f.readline().split()[1:]))
        return sum(v), v[3] + v[4]   # all, idle + iowait
    a_all, a_idle = total()
    time.sleep(seconds)
    b_all, b_idle = total()
    busy = 1 - (b_idle - a_idle) / max(1, b_all - a_all)
    return f"{busy * 100:.0f}% of all CPUs busy while idle here" if busy > threshold else ""


# ---------------------------------------------------------------------------------------------
# a child process, timed, with its own CPU


def run_child(cmd, what, env=None, timeout=900, ok_codes=(0,)):
    """Runs cmd to completion. Returns {"s": wall seconds around the process, "cpu": its user +
    system seconds (os.wait4), "out", "err"}; raises Broken on an exit status not in ok_codes. The
    child is killed if this process is interrupted, so nothing is left running."""
    import envelope
    group = envelope.group()
    before = envelope.throttling(group)
    try:
        return _run_child(cmd, what, env, timeout, ok_codes, group, before)
    finally:
        if group is not None:
            group.remove()


def _run_child(cmd, what, env, timeout, ok_codes, group, before):
    import envelope
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                preexec_fn=group.preexec() if group else None)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        res = {"s": wall, "cpu": usage.ru_utime + usage.ru_stime, "out": out.read().decode(errors="replace"),
               "err": err.read().decode(errors="replace"), "rss_mib": usage.ru_maxrss / 1024}
        envelope.note(res, group, before)
    if res.get("oom_killed"):
        raise Broken(f"{what}: OOM-killed inside {envelope.label()} (peak RSS {res['rss_mib']:.0f} MiB)")
    if proc.returncode not in ok_codes:
        raise Broken(f"{what} failed (exit {proc.returncode}): {(res['err'] or res['out']).strip()[-1500:]}")
    return res


# ---------------------------------------------------------------------------------------------
# rounds


@dataclass
class Contender:
    """do(i) -> {"s": seconds, "cpu": CPU seconds, ...}; i = -1 is the warm-up, where do() also
    verifies what it stored or wrote. cleanup(i) runs after each call, untimed. An optional
    contender that fails its warm-up is reported as unavailable instead of breaking the section
    (a checksum setting this binary does not know yet, a store that refuses it)."""
    do: Callable
    cleanup: Callable = lambda i: None
    optional: bool = False
    flags: str = ""          # how it was run, printed with its rows


def run_rounds(report, label, contenders, n, store=None):
    """A warm-up round (not counted) then n rounds, the order rotating each round. Dirty pages are
    synced before every measurement so no one pays for another's writeback. With `store` (a
    fixture with cpu()), each sample also gets "store_cpu": the store daemons' CPU during the call.
    Returns ({name: [sample, ...]}, {name: reason} for optional contenders that were unavailable)."""
    names = list(contenders)
    res = {name: [] for name in names}
    unavailable = {}
    for r in range(-1, n):
        live = [x for x in names if x not in unavailable]
        k = r % len(live) if live else 0
        parts = []
        for name in live[k:] + live[:k]:
            c = contenders[name]
            os.sync()
            s0 = store.cpu() if store else None
            try:
                x = c.do(r)
            except Broken as e:
                if not (c.optional and r < 0):
                    raise
                unavailable[name] = str(e).splitlines()[0][:300]
                parts.append(f"{name} unavailable")
                c.cleanup(r)
                continue
            if store:
                x["store_cpu"] = store.cpu() - s0
            c.cleanup(r)
            if r >= 0:
                res[name].append(x)
            parts.append(f"{name} {x['s']:.2f}s")
        report.say(f"  {label}, {'warm-up' if r < 0 else f'round {r + 1}/{n}'}: {', '.join(parts)}")
    return {k: v for k, v in res.items() if k not in unavailable}, unavailable


def peak_rss(runs):
    xs = [x["rss_mib"] for x in runs if x.get("rss_mib")]
    return f"{max(xs):.0f}" if xs else ""


def throttled(runs):
    xs = [x for x in runs if "throttled" in x]
    return f"{median([x['throttled'] for x in xs]):.0f} / {median([x['throttled_ms'] for x in xs]):.0f}" if xs else ""


def rate_rows(label, results, size, contenders=None, reference="plugin", store=True):
    """Table rows (see RATE_HEADERS) for one operation: median and spread, MiB/s, throughput vs the
    reference contender, CPU s and CPU s/GiB, and the store daemons' CPU."""
    rows = []
    p = med(results[reference]) if reference in results else None
    for i, (who, runs) in enumerate(results.items()):
        s = med(runs)
        cpu = med(runs, "cpu")
        flags = contenders[who].flags if contenders and who in contenders else ""
        rows.append([label if i == 0 else "", who, f"{s:.3f}", f"{min(x['s'] for x in runs):.3f}-"
                     f"{max(x['s'] for x in runs):.3f}", f"{mibs(size, s):,.0f}",
                     "" if p is None or who == reference else ratio(s / p), f"{cpu:.2f}",
                     f"{per_gib(cpu, size):.2f}", f"{med(runs, 'store_cpu'):.2f}" if store else "", peak_rss(runs),
                     throttled(runs), flags])
    return rows


RATE_HEADERS = ["operation", "by", "median s", "min-max s", "MiB/s", "plugin vs it", "CPU s", "CPU s/GiB",
                "store CPU s", "peak RSS MiB", "throttled periods / ms", "flags"]


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def summarize(report, operation, results, size, contenders, best=(), unit_count=None, unit=""):
    """Adds one summary row per contender: median s, MiB/s, CPU s/GiB, and its flags (with `best`,
    the fastest variant of each tool that ran in several, marked; and a count rate such as files/s
    when given)."""
    for who, runs in results.items():
        s, cpu = med(runs), med(runs, "cpu")
        notes = [contenders[who].flags] if contenders[who].flags else []
        if who in best:
            notes.append("best of its tool")
        if unit_count:
            notes.append(f"{unit_count / s:,.0f} {unit}")
        report.result(operation, who, s, mibs(size, s), per_gib(cpu, size), "; ".join(notes))


def report_unavailable(report, unavailable):
    for who, why in unavailable.items():
        report.say(f"  {who}: unavailable ({why})")
