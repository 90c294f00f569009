"""A mix of Argo's transfers against the plugin, each checked from outside: what the plugin says
happened must be what happened in the store and on disk. Used by the fault soak
(test_fault_soak.py) and the long soak (scripts/soak.py)."""
import hashlib
import os
import random
import threading
import time
from dataclasses import dataclass, field

import grpc

from harness import MiB, artifact, pb

KINDS = ("save", "load", "stream", "save_stream", "delete_dir")


def add_store_faults(proxy, seed=1, slowdown=0.10, reset=0.02, stall=0.01, stall_seconds=4.0):
    """Random faults on every request through the proxy: `slowdown` answered 503 (half SlowDown,
    half ServiceUnavailable), `reset` connections dropped with an RST, `stall` answers that stop
    after 64 KiB and hang. Rules fire in order, so each probability is made conditional."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def chance(p):
        def pred(_rec):
            with lock:
                return rng.random() < p
        return pred
    left = 1.0
    proxy.add_rule(pred=chance(slowdown / 2), action="status", status=503, code="SlowDown", times=None)
    left -= slowdown / 2
    proxy.add_rule(pred=chance((slowdown / 2) / left), action="status", status=503, code="ServiceUnavailable", times=None)
    left -= slowdown / 2
    proxy.add_rule(pred=chance(reset / left), action="reset", times=None)
    left -= reset
    proxy.add_rule(pred=chance(stall / left), action="stall", cut_after=64 << 10, seconds=stall_seconds, times=None)


@dataclass
class Tally:
    ok: int = 0
    failed_clearly: int = 0
    unclear_errors: list = field(default_factory=list)
    wrong_bytes: list = field(default_factory=list)
    partial_objects: list = field(default_factory=list)
    partial_files: list = field(default_factory=list)
    lying_ends: list = field(default_factory=list)
    complete_despite_error: int = 0
    failures: list = field(default_factory=list)
    by_kind: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind, outcome):
        with self.lock:
            self.by_kind.setdefault(kind, {}).setdefault(outcome, 0)
            self.by_kind[kind][outcome] += 1

    def problems(self):
        return {"unclear errors": self.unclear_errors, "wrong bytes": self.wrong_bytes,
                "partial objects": self.partial_objects, "partial files": self.partial_files,
                "stream ends that lie": self.lying_ends}


class Workload:
    """Transfers against one bucket: `store` is a boto3 client straight to the store (not through
    the faults), `stub` the plugin's, `cfg` the configuration whose endpoint is the proxy."""

    def __init__(self, stub, store, bucket, cfg, workdir, seed=7, min_size=1 * MiB, max_size=64 * MiB):
        self.stub, self.store, self.bucket, self.cfg = stub, store, bucket, cfg
        self.dir = workdir
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()
        self.tally = Tally()
        self.min_size, self.max_size = min_size, max_size
        os.makedirs(self.dir, exist_ok=True)
        # Sources for uploads and objects for downloads, a handful of sizes made once.
        self.sources = []
        for i in range(6):
            size = self.size()
            path = os.path.join(self.dir, f"src-{i}.bin")
            data = os.urandom(size)
            with open(path, "wb") as f:
                f.write(data)
            self.sources.append((path, size, hashlib.sha256(data).hexdigest()))
        self.objects = []
        for i, (path, size, digest) in enumerate(self.sources[:4]):
            key = f"soak/object-{i}"
            self.store.upload_file(path, self.bucket, key)
            self.objects.append((key, size, digest))

    def size(self):
        with self.rng_lock:
            return int(2 ** self.rng.uniform(self.min_size.bit_length() - 1, self.max_size.bit_length() - 1))

    def pick(self, seq):
        with self.rng_lock:
            return self.rng.choice(seq)

    def run(self, i):
        kind = self.pick(KINDS)
        getattr(self, kind)(i, kind)

    # -- checks shared by the kinds

    def clear(self, kind, error, location):
        """A failure must say what failed, where, and why, in a few KiB."""
        ok = bool(error) and len(error.encode()) <= 4096 and location in error and len(error) > len(location) + 20
        if not ok:
            self.tally.unclear_errors.append((kind, error[:300]))
        return ok

    def failed(self, kind, error, location):
        with self.tally.lock:
            self.tally.failures.append((kind, error[:400]))
        if self.clear(kind, error, location):
            with self.tally.lock:
                self.tally.failed_clearly += 1
            self.tally.count(kind, "failed")

    def succeeded(self, kind):
        with self.tally.lock:
            self.tally.ok += 1
        self.tally.count(kind, "ok")

    def stored(self, key):
        try:
            return self.store.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.store.exceptions.NoSuchKey:
            return None

    def after_failed_upload(self, key, digest):
        data = self.stored(key)
        if data is None:
            return
        if hashlib.sha256(data).hexdigest() == digest:
            with self.tally.lock:
                self.tally.complete_despite_error += 1   # stored whole; the answer was lost
        else:
            self.tally.partial_objects.append(key)

    def judge_upload(self, kind, key, digest, ok, error):
        """An upload's answer against what the store holds: success with the source's bytes, or
        a clear failure that left nothing partial; then the object goes."""
        if ok:
            data = self.stored(key)
            if data is None or hashlib.sha256(data).hexdigest() != digest:
                self.tally.wrong_bytes.append((kind, key))
            else:
                self.succeeded(kind)
        else:
            self.failed(kind, error, f"s3://{self.bucket}/{key}")
            self.after_failed_upload(key, digest)
        self.store.delete_object(Bucket=self.bucket, Key=key)

    # -- the kinds

    def save(self, i, kind):
        path, size, digest = self.pick(self.sources)
        key = f"soak/save-{i}"
        r = self.stub.Save(pb.SaveArtifactRequest(path=path, output_artifact=artifact(key, self.cfg)), timeout=600)
        self.judge_upload(kind, key, digest, r.success, r.error)

    def save_stream(self, i, kind):
        path, size, digest = self.pick(self.sources)
        key = f"soak/stream-save-{i}"

        def chunks():
            yield pb.SaveStreamArtifactRequest(output_artifact=artifact(key, self.cfg))
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(2 * MiB), b""):
                    yield pb.SaveStreamArtifactRequest(chunk=block)
        try:
            r = self.stub.SaveStream(chunks(), timeout=600)
            ok, error = r.success, r.error
        except grpc.RpcError as e:
            ok, error = False, e.details() or ""
        self.judge_upload(kind, key, digest, ok, error)

    def load(self, i, kind):
        key, size, digest = self.pick(self.objects)
        dest_dir = os.path.join(self.dir, f"load-{i}")
        os.makedirs(dest_dir)
        dest = os.path.join(dest_dir, "out.bin")
        r = self.stub.Load(pb.LoadArtifactRequest(path=dest, input_artifact=artifact(key, self.cfg)), timeout=600)
        if r.success:
            h = hashlib.sha256()
            with open(dest, "rb") as f:
                for b in iter(lambda: f.read(MiB), b""):
                    h.update(b)
            if h.hexdigest() != digest:
                self.tally.wrong_bytes.append((kind, key))
            else:
                self.succeeded(kind)
        else:
            self.failed(kind, r.error, f"s3://{self.bucket}/{key}")
            if os.listdir(dest_dir):
                self.tally.partial_files.append((key, os.listdir(dest_dir)))
        for n in os.listdir(dest_dir):
            os.remove(os.path.join(dest_dir, n))
        os.rmdir(dest_dir)

    def stream(self, i, kind):
        key, size, digest = self.pick(self.objects)
        h = hashlib.sha256()
        got, ended, error = 0, False, ""
        try:
            for m in self.stub.OpenStream(pb.OpenStreamRequest(artifact=artifact(key, self.cfg)), timeout=600):
                if m.error:
                    error = m.error
                    break
                if m.is_end:
                    ended = True
                    break
                h.update(m.data)
                got += len(m.data)
        except grpc.RpcError as e:
            error = error or e.details() or ""
        if ended:
            if got != size or h.hexdigest() != digest:
                self.tally.lying_ends.append((key, got, size))
            else:
                self.succeeded(kind)
        else:
            self.failed(kind, error, f"s3://{self.bucket}/{key}")

    def delete_dir(self, i, kind):
        prefix = f"soak/dir-{i}"
        keys = [f"{prefix}/f{j}.txt" for j in range(self.pick([3, 20, 60]))]
        for k in keys:
            self.store.put_object(Bucket=self.bucket, Key=k, Body=b"x" * 100)
        r = self.stub.Delete(pb.DeleteArtifactRequest(artifact=artifact(prefix, self.cfg)), timeout=600)
        left = self.store.list_objects_v2(Bucket=self.bucket, Prefix=prefix + "/").get("KeyCount", 0)
        if r.success:
            if left:
                self.tally.wrong_bytes.append((kind, f"{prefix}: {left} object(s) left after a successful Delete"))
            else:
                self.succeeded(kind)
        else:
            self.failed(kind, r.error, f"s3://{self.bucket}/{prefix}")
            for k in keys:
                self.store.delete_object(Bucket=self.bucket, Key=k)

    def open_uploads(self):
        return self.store.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])


def sample_process(pid):
    """(RSS in KiB, open file descriptors) of a process."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def run_mix(workload, transfers=None, seconds=None, parallel=4, on_tick=None, tick_seconds=10, first_index=0):
    """Runs `transfers` operations (or for `seconds`), `parallel` at a time, calling on_tick
    every `tick_seconds`; operations are numbered from `first_index` (their keys follow it)."""
    from concurrent.futures import ThreadPoolExecutor
    errors = []
    counter = iter(range(first_index, first_index + 10 ** 9))
    counter_lock = threading.Lock()
    deadline = time.monotonic() + seconds if seconds else None
    done = threading.Event()

    def worker():
        while True:
            with counter_lock:
                i = next(counter)
            if transfers is not None and i - first_index >= transfers:
                return
            if deadline is not None and time.monotonic() >= deadline:
                return
            try:
                workload.run(i)
            except Exception as e:  # noqa: BLE001 - a crash of the check itself is a failure too
                errors.append(f"op {i}: {e!r}")

    ticker = None
    if on_tick:
        def tick():
            while not done.wait(tick_seconds):
                on_tick()
        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
    with ThreadPoolExecutor(parallel) as pool:
        for f in [pool.submit(worker) for _ in range(parallel)]:
            f.result()
    done.set()
    return errors
