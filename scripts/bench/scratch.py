"""Scratch space beside the repository (BENCH_DIR): the source files, made once per run from
random bytes and shared by the sections, and the contenders' output; all removed at exit."""
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from measure import GiB, MiB, size_label
from report import Broken

REPO = Path(__file__).resolve().parents[2]
TREE_DIRS, TREE_FILES, TREE_FILE_SIZE = 20, 100, 4096   # the small-files directory: 2,000 x 4 KiB


def bench_parent():
    """Where scratch directories go: the repository's disk, so cp's ceiling is that disk's."""
    parent = Path(os.environ.get("BENCH_DIR") or REPO.parent)
    if parent.stat().st_dev != REPO.stat().st_dev:
        print(f"note: BENCH_DIR {parent} is not on the repository's file system")
    return parent


def make_big_file(path, size):
    """Incompressible, not sparse, each MiB distinct; fsynced. Returns its sha256."""
    block = bytearray(os.urandom(MiB))
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(size // MiB):
            block[:8] = i.to_bytes(8, "little")
            f.write(block)
            h.update(block)
        f.flush()
        os.fsync(f.fileno())
    return h.hexdigest()


def make_tree(root):
    for d in range(TREE_DIRS):
        sub = root / f"d{d:02d}" / "inner"
        sub.mkdir(parents=True)
        for i in range(TREE_FILES):
            (sub / f"f{i:03d}.bin").write_bytes(os.urandom(TREE_FILE_SIZE))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 * MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_digest(root):
    """{relative path: sha256} of every regular file under root."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def remove(path, settle=0.0):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)
    if settle:
        time.sleep(settle)   # let the file system's discards of the removal settle


class Scratch:
    """One scratch directory for the run (created on first use, removed by close())."""

    def __init__(self, need_free=8 * GiB):
        self.dir = None
        self.need_free = need_free
        self.files = {}     # size -> (path, sha256)
        self.tree_path = None

    def path(self, report):
        if self.dir is None:
            parent = bench_parent()
            free = shutil.disk_usage(parent).free
            if free < self.need_free:
                raise Broken(f"only {free / GiB:.1f} GiB free under {parent}; the benchmarks need "
                             f"{self.need_free / GiB:.0f} GiB")
            self.dir = Path(tempfile.mkdtemp(prefix=".argo-bench-", dir=parent))
            report.say(f"scratch: {self.dir} ({free / GiB:.0f} GiB free)")
        return self.dir

    def source(self, report, size):
        """(path, sha256) of a random file of `size` bytes, made on first use."""
        if size not in self.files:
            path = self.path(report) / f"src-{size // MiB}m.bin"
            report.say(f"creating a {size_label(size)} source file ...")
            self.files[size] = (path, make_big_file(path, size))
        return self.files[size]

    def tree(self, report):
        """The 2,000 x 4 KiB directory, made on first use."""
        if self.tree_path is None:
            root = self.path(report) / "tree"
            make_tree(root)
            os.sync()
            self.tree_path = root
        return self.tree_path

    def subdir(self, report, name):
        d = self.path(report) / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def close(self):
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.files = {}
            self.tree_path = None


SCRATCH = Scratch()
