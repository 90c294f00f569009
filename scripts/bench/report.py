"""What the sections print: headers, aligned tables, PASS/MISS targets, and the run's closing
summary (one Markdown table of every measured operation and contender, then the targets)."""
import sys


class Broken(Exception):
    """The benchmark could not measure: a call failed, a result was wrong, a tool is missing."""


def ratio(x):
    return f"{x:.2f}x"


class Report:
    def __init__(self):
        self.results = []   # (operation, contender, median s, MiB/s or None, CPU s/GiB or None, notes)
        self.targets = []   # (section, text, met)
        self.warnings = []
        self.shared = {}    # measurements one section makes and another reuses (same run, same store)

    def header(self, title):
        print(f"\n=== {title} ===", flush=True)

    def say(self, text=""):
        print(text, flush=True)

    TEXT_COLUMNS = {"flags", "notes", "part integrity (logged)", "measured in"}

    def table(self, headers, rows):
        """Numbers right-aligned; the first column and text columns left-aligned."""
        cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
        left = {0} | {i for i, h in enumerate(headers) if h in self.TEXT_COLUMNS}
        for n, r in enumerate(cells):
            print("  " + "  ".join(c.ljust(w) if i in left else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))).rstrip())
            if n == 0:
                print("  " + "  ".join("-" * w for w in widths))
        sys.stdout.flush()

    def result(self, operation, contender, seconds=None, mibs=None, cpu_per_gib=None, notes=""):
        """One row of the closing summary table."""
        self.results.append((operation, contender, seconds, mibs, cpu_per_gib, notes))

    def target(self, section, met, text):
        self.targets.append((section, text, met))
        print(f"{'PASS' if met else 'MISS'}  {text}", flush=True)

    def warn(self, text):
        self.warnings.append(text)
        print(f"\nWARNING: {text}", flush=True)

    def summary(self, broken):
        print("\n=== summary ===\n")
        if self.results:
            print_markdown(["operation", "contender", "median s", "MiB/s", "CPU s/GiB", "notes"], "llrrrl",
                           summary_rows(self.results))
            print("**bold**: the best of the operation's contenders (highest MiB/s, lowest CPU s/GiB)\n")
        if self.targets:
            met = sum(1 for *_, ok in self.targets if ok)
            print(f"targets: {met}/{len(self.targets)} met\n")
            print_markdown(["section", "target", ""], "lll",
                           [[section, text, "met" if ok else "**missed**"] for section, text, ok in self.targets])
        for w in self.warnings:
            print(f"warning: {w}")
        if broken:
            print(f"broken: {', '.join(broken)}")
        sys.stdout.flush()


def summary_rows(results):
    """Markdown cells of the summary, the best MiB/s and the lowest CPU s/GiB of each operation in
    bold (only where the operation has more than one contender to beat)."""
    best_rate, best_cpu, counts = {}, {}, {}
    for op, _, _, mibs, cpu, _ in results:
        counts[op] = counts.get(op, 0) + 1
        if mibs is not None:
            best_rate[op] = max(best_rate.get(op, mibs), mibs)
        if cpu is not None:
            best_cpu[op] = min(best_cpu.get(op, cpu), cpu)
    rows, last_op = [], None
    for op, who, s, mibs, cpu, notes in results:
        rate = "" if mibs is None else f"{mibs:,.0f}"
        cpus = "" if cpu is None else f"{cpu:.2f}"
        if counts[op] > 1 and mibs is not None and rate == f"{best_rate[op]:,.0f}":
            rate = f"**{rate}**"
        if counts[op] > 1 and cpu is not None and cpus == f"{best_cpu[op]:.2f}":
            cpus = f"**{cpus}**"
        rows.append([op if op != last_op else "", who, "" if s is None else f"{s:.3f}", rate, cpus, notes])
        last_op = op
    return rows


def print_markdown(headers, align, rows):
    """A Markdown table padded so that it also reads aligned as plain text: `align` holds l or r
    per column (numbers right)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(3, *(len(r[i]) for r in cells)) for i in range(len(headers))]

    def line(r):
        return "| " + " | ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(r, widths, align)) + " |"

    print(line(cells[0]))
    print("|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align)) + "|")
    for r in cells[1:]:
        print(line(r))
    print()
