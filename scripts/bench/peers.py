"""The tools a user would pick instead of the plugin, all from the project venv (pinned in
Tests/requirements.txt) or Debian: s5cmd, rclone, boto3, aws-c-s3 (awscrt) and curl. Each runs in
its own process, against the same store as the plugin; each returns {"s", "cpu"} (see measure.py)
and is verified by the section on its warm-up round.

A variant is a tool plus the flags it runs with: the defaults, and a tuned variant where flags
exist that could make it faster; the sections report each tool's best variant and name its
flags."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from measure import run_child
from report import Broken
from store import ACCESS_KEY, REGION, SECRET_KEY, VENV_BIN

HERE = Path(__file__).resolve().parent
CURL_WRITE_OUT = "%{http_code} %{time_total} %{time_starttransfer} %{size_download} %{size_upload}"


def tool(name):
    path = VENV_BIN / name
    if not os.access(path, os.X_OK):
        raise Broken(f"no {name} at {path}: the venv's packages provide it (make venv)")
    return path


def versions():
    """One line naming every peer's version, for the section headers."""
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    import awscrt
    import boto3
    import s3transfer
    return (f"s5cmd {first_line([tool('s5cmd'), 'version'])}, {first_line([tool('rclone'), 'version'])}, "
            f"boto3 {boto3.__version__} / s3transfer {s3transfer.__version__}, awscrt {awscrt.__version__}, "
            f"{' '.join(first_line(['curl', '--version']).split()[:2])}")


class Peer:
    """A tool and its flags. family groups variants of one tool (the best of them is reported)."""

    family = ""

    def __init__(self, name, flags=(), label=None):
        self.name = name
        self.flags = list(flags)
        self.label = label if label is not None else (" ".join(self.flags) or "defaults")

    def upload(self, store, path, key):
        raise NotImplementedError

    def download(self, store, key, path):
        raise NotImplementedError

    def upload_tree(self, store, path, prefix):
        raise NotImplementedError


def aws_env():
    return dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION=REGION)


class S5cmd(Peer):
    """s5cmd (aws-sdk-go): path-style addressing is what it uses for a custom endpoint (checked:
    the requests go to /bucket/key). global_flags go before `cp`, flags after it."""

    family = "s5cmd"

    def __init__(self, name, flags=(), global_flags=()):
        super().__init__(name, [*global_flags, *flags])
        self.cp_flags, self.global_flags = list(flags), list(global_flags)

    def _cp(self, store, src, dst, what):
        return run_child([tool("s5cmd"), "--endpoint-url", store.endpoint, *self.global_flags, "cp",
                          *self.cp_flags, src, dst], f"{self.name} {what}", env=aws_env())

    def upload(self, store, path, key):
        return self._cp(store, path, f"s3://{store.bucket}/{key}", f"cp {path} -> {key}")

    def download(self, store, key, path):
        return self._cp(store, f"s3://{store.bucket}/{key}", path, f"cp {key} -> {path}")

    def upload_tree(self, store, path, prefix):
        # the wildcard keeps the structure below the directory: prefix/d00/inner/f000.bin
        return self._cp(store, f"{path}/*", f"s3://{store.bucket}/{prefix}/", f"cp {path}/* -> {prefix}/")


class Rclone(Peer):
    """rclone with a remote defined on the fly in the environment (no config file)."""

    family = "rclone"
    PROVIDER = {"Ceph RGW": "Ceph", "SeaweedFS": "SeaweedFS"}

    def _env(self, store):
        return dict(os.environ, RCLONE_CONFIG_BENCH_TYPE="s3",
                    RCLONE_CONFIG_BENCH_PROVIDER=self.PROVIDER.get(store.name, "Other"),
                    RCLONE_CONFIG_BENCH_ENDPOINT=store.endpoint, RCLONE_CONFIG_BENCH_REGION=REGION,
                    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=ACCESS_KEY, RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=SECRET_KEY)

    def _run(self, store, command, src, dst, what):
        return run_child([tool("rclone"), "--config", "", command, "--s3-force-path-style", *self.flags, src, dst],
                         f"{self.name} {what}", env=self._env(store))

    def upload(self, store, path, key):
        return self._run(store, "copyto", path, f"bench:{store.bucket}/{key}", f"copyto {path} -> {key}")

    def download(self, store, key, path):
        return self._run(store, "copyto", f"bench:{store.bucket}/{key}", path, f"copyto {key} -> {path}")

    def upload_tree(self, store, path, prefix):
        return self._run(store, "copy", path, f"bench:{store.bucket}/{prefix}", f"copy {path} -> {prefix}")


def python_child(what, **args):
    """A peer_child.py process; its own in-call numbers, the process's as process_s/process_cpu."""
    x = run_child([sys.executable, HERE / "peer_child.py", json.dumps(args)], what)
    try:
        mine = json.loads(x["out"].strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise Broken(f"{what}: no result line: {x['out'][-500:]} {x['err'][-1000:]}")
    out = {"s": mine["s"], "cpu": mine["cpu"], "process_s": x["s"], "process_cpu": x["cpu"]}
    out.update({k: x[k] for k in ("rss_mib", "throttled", "throttled_ms") if k in x})
    return out


def child_args(store, **kw):
    return dict(endpoint=store.endpoint, bucket=store.bucket, ak=ACCESS_KEY, sk=SECRET_KEY, **kw)


class Boto3(Peer):
    """boto3 upload_file / download_file (s3transfer, threads) with the default TransferConfig or
    a given max_concurrency; for a directory, put_object from a thread pool of `threads`."""

    family = "boto3"

    def __init__(self, name, max_concurrency=None, threads=None):
        label = (f"max_concurrency={max_concurrency}" if max_concurrency else
                 f"thread pool of {threads}, put_object" if threads else "default TransferConfig")
        super().__init__(name, label=label)
        self.max_concurrency, self.threads = max_concurrency, threads

    def upload(self, store, path, key):
        return python_child(f"{self.name} upload_file {key}", **child_args(
            store, op="boto3_upload", path=str(path), key=key, max_concurrency=self.max_concurrency))

    def download(self, store, key, path):
        return python_child(f"{self.name} download_file {key}", **child_args(
            store, op="boto3_download", path=str(path), key=key, max_concurrency=self.max_concurrency))

    def upload_tree(self, store, path, prefix):
        return python_child(f"{self.name} put_object x N {prefix}", **child_args(
            store, op="boto3_put_tree", path=str(path), key=prefix, threads=self.threads or 16))


class AwsCrt(Peer):
    """aws-c-s3 through awscrt and s3transfer's CRTTransferManager, with the CRT's defaults, minus
    the trailing CRC32 on uploads that RGW 16 refuses (see peer_child.WithoutUploadChecksum)."""

    family = "aws-c-s3"

    def __init__(self, name="aws-c-s3"):
        super().__init__(name, label="CRT defaults; upload checksum off (RGW 16 refuses its CRC32 trailer)")

    def upload(self, store, path, key):
        return python_child(f"{self.name} upload {key}", **child_args(store, op="crt_upload", path=str(path), key=key))

    def download(self, store, key, path):
        return python_child(f"{self.name} download {key}", **child_args(store, op="crt_download", path=str(path),
                                                                          key=key))


class Curl(Peer):
    """One curl request signed with --aws-sigv4: a single PUT of the whole file (-T) or a GET into a
    file. curl 7.88 signs no x-amz-content-sha256 of its own and RGW requires one: UNSIGNED-PAYLOAD
    is given (as S3 allows), so curl hashes nothing."""

    family = "curl"

    def __init__(self, name="curl"):
        super().__init__(name, label="single request, --aws-sigv4")

    def _run(self, store, args, what):
        if not shutil.which("curl"):
            raise Broken("curl not found")
        x = run_child(["curl", "-sS", "-w", CURL_WRITE_OUT, "--aws-sigv4", f"aws:amz:{REGION}:s3",
                       "--user", f"{ACCESS_KEY}:{SECRET_KEY}", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                       *args], f"curl {what}")
        fields = x["out"].strip().split()
        if len(fields) != 5 or fields[0] != "200":
            raise Broken(f"curl {what}: HTTP status {fields[0] if fields else '?'}: {x['err'].strip()}")
        x.update(ttfb=float(fields[2]), down=int(float(fields[3])), up=int(float(fields[4])))
        return x

    def upload(self, store, path, key):
        return self._run(store, ["-o", "/dev/null", "-T", str(path), store.url(key)], f"PUT {key}")

    def download(self, store, key, path):
        return self._run(store, ["-o", str(path), store.url(key)], f"GET {key}")


class ArgoS3Driver(Peer):
    """What a user has without the plugin: the minio-go v7 calls of Argo's own S3 artifact driver
    (scripts/go/src/argo-s3-driver, built offline from Debian's golang-github-minio-minio-go-v7-dev
    by scripts/go/build.sh): FPutObject with SendContentMd5, ConcurrentStreamParts and NumThreads
    4; a directory as one FPutObject per file in walk order; FGetObject; GetObject."""

    family = "argo-s3"
    _built = None

    def __init__(self, name="Argo's S3 driver"):
        super().__init__(name, label="minio-go v7: FPutObject SendContentMd5 ConcurrentStreamParts NumThreads=4 / "
                                      "FGetObject / GetObject")

    @classmethod
    def binary(cls):
        if cls._built is None:
            out = subprocess.run([str(HERE.parent / "go" / "build.sh")], capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                raise Broken(f"scripts/go/build.sh failed: {out.stderr[-1500:]}")
            cls._built = HERE.parent / "go" / "bin" / "argo-s3-driver"
        return cls._built

    def _run(self, store, args, what):
        env = dict(aws_env(), S3_ENDPOINT=store.endpoint.split("//", 1)[-1], S3_BUCKET=store.bucket, S3_REGION=REGION)
        return run_child([self.binary(), *args], f"{self.name} {what}", env=env)

    def upload(self, store, path, key):
        return self._run(store, ["put", str(path), key], f"put {key}")

    def download(self, store, key, path):
        return self._run(store, ["get", key, str(path)], f"get {key}")

    def stream(self, store, key):
        return self._run(store, ["stream", key], f"GetObject {key}")

    def upload_tree(self, store, path, prefix):
        return self._run(store, ["putdir", str(path), prefix], f"putdir {prefix}")


# The variants each section runs. Tuned flags were picked by trying a few on this 2-core machine
# against RGW (see the README's benchmark paragraph); the defaults always run too.
S5CMD_TUNED = ["--concurrency", "16", "--part-size", "16"]
RCLONE_UPLOAD_TUNED = ["--s3-upload-concurrency", "16", "--s3-chunk-size", "16M", "--s3-disable-checksum"]
RCLONE_DOWNLOAD_TUNED = ["--multi-thread-streams", "16"]


def big_upload_peers():
    return [S5cmd("s5cmd"), S5cmd("s5cmd tuned", S5CMD_TUNED),
            Rclone("rclone"), Rclone("rclone tuned", RCLONE_UPLOAD_TUNED),
            Boto3("boto3"), Boto3("boto3 mc=16", max_concurrency=16),
            AwsCrt(), Curl(), ArgoS3Driver()]


def big_download_peers():
    return [S5cmd("s5cmd"), S5cmd("s5cmd tuned", S5CMD_TUNED),
            Rclone("rclone"), Rclone("rclone tuned", RCLONE_DOWNLOAD_TUNED),
            Boto3("boto3"), Boto3("boto3 mc=16", max_concurrency=16),
            AwsCrt(), Curl(), ArgoS3Driver()]


def tree_upload_peers():
    return [S5cmd("s5cmd"), S5cmd("s5cmd tuned", global_flags=["--numworkers", "64"]),
            Rclone("rclone"), Rclone("rclone --transfers 16", ["--transfers", "16"]),
            Rclone("rclone --transfers 64", ["--transfers", "64", "--checkers", "64"]),
            Boto3("boto3 pool=16", threads=16), Boto3("boto3 pool=64", threads=64), ArgoS3Driver()]


def best_variants(results, peers):
    """{family: name of its fastest variant (median wall time)} among the peers that ran."""
    from measure import med
    best = {}
    for p in peers:
        if p.name in results and (p.family not in best or med(results[p.name]) < med(results[best[p.family]])):
            best[p.family] = p.name
    return best


def marked_best(best, peers):
    """The best variants of the tools that ran in more than one variant (worth marking)."""
    counts = {}
    for p in peers:
        counts[p.family] = counts.get(p.family, 0) + 1
    return {name for family, name in best.items() if counts.get(family, 0) > 1}
