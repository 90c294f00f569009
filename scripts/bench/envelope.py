"""The sidecar's envelope: BENCH_ENVELOPE puts the plugin and every peer, each in a cgroup of its
own, inside the same limits (real cgroup v1 groups, Tests/integration/cgroups.py), as Argo's
executor resources put the plugin's sidecar. Default `cpu=0.5,mem=512` (Argo's documented
example); `mem=128` alone, or `none` for the unconstrained run.

Each contender's result gets its peak RSS (`rss_mib`: the child's ru_maxrss, the plugin's VmHWM)
and, inside an envelope, its throttled CPU periods over the call (`throttled`, `throttled_ms`
from cpu.stat) and whether the kernel OOM-killed it."""
import os
import sys

from report import Broken
from scratch import REPO

sys.path.insert(0, str(REPO / "Tests" / "integration"))
import cgroups  # noqa: E402


def parse(text):
    text = (text or "").strip()
    if text in ("", "none", "off"):
        return None
    out = {}
    for part in text.split(","):
        k, _, v = part.partition("=")
        k = k.strip()
        if k == "cpu":
            out["cpus"] = float(v)
        elif k == "mem":
            out["memory_mib"] = int(v)
        else:
            raise Broken(f"BENCH_ENVELOPE: unknown part {part!r} (cpu=CORES,mem=MIB or none)")
    return out


LIMITS = parse(os.environ.get("BENCH_ENVELOPE", "cpu=0.5,mem=512"))


def label():
    if not LIMITS:
        return "unconstrained (BENCH_ENVELOPE=none)"
    parts = []
    if "cpus" in LIMITS:
        parts.append(f"{LIMITS['cpus']:g} CPU")
    if "memory_mib" in LIMITS:
        parts.append(f"{LIMITS['memory_mib']} MiB")
    return " / ".join(parts) + " for each contender (cgroup v1; BENCH_ENVELOPE)"


def group(memory_mib=None):
    """A new group in the envelope's limits (memory_mib overriding its memory), or None without one."""
    if not LIMITS:
        return None
    why = cgroups.available()
    if why:
        raise Broken(f"BENCH_ENVELOPE={os.environ.get('BENCH_ENVELOPE', 'cpu=0.5,mem=512')} needs cgroups: {why} "
                     f"(or run with BENCH_ENVELOPE=none)")
    return cgroups.Cgroup(memory_mib=memory_mib or LIMITS.get("memory_mib"), cpus=LIMITS.get("cpus"))


SMALL_MIB = 128   # the common LimitRange: save also runs the plugin there, in the same run


def small_variant():
    """True when the envelope's memory is above SMALL_MIB, so a 128 MiB plugin row is worth adding."""
    return bool(LIMITS) and LIMITS.get("memory_mib", 1 << 30) > SMALL_MIB


def throttling(g):
    """(nr_throttled, throttled_time ns) of a group so far."""
    if g is None:
        return (0, 0)
    s = g.cpu_stat()
    return (s.get("nr_throttled", 0), s.get("throttled_time", 0))


def note(x, g, before):
    """Adds the group's throttling since `before` and its OOM kills to a result."""
    n, t = throttling(g)
    x["throttled"] = n - before[0]
    x["throttled_ms"] = (t - before[1]) / 1e6
    if g is not None and g.oom_kills():
        x["oom_killed"] = True
    return x
