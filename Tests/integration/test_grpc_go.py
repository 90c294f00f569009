"""The plugin as Argo's own client meets it: a grpc-go client (scripts/go, built offline in
GOPATH mode against Debian's grpc 1.33) dialling the Unix socket with a context dialer,
grpc-go's default 4 MiB receive limit, OpenStream read until is_end, SaveStream in 2 MiB
chunks -- against the real binary."""
import json
import os
import subprocess

import pytest

from harness import REPO, random_file, require_tool, sha256_file

MiB = 1 << 20

# Argo's own client library, built offline from Debian's packages.
for tool, package in (("go", "golang-go"), ("protoc", "protobuf-compiler"), ("protoc-gen-go", "golang-goprotobuf-dev")):
    require_tool(tool, package, allow_module_level=True)


@pytest.fixture(scope="session")
def grpcgo(go_programs):
    return str(go_programs / "grpcgo-client")


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one JSON line on stdout, got: {proc.stdout!r} (stderr: {proc.stderr!r})"
        self.json = json.loads(lines[0])

    def __getitem__(self, k):
        return self.json[k]

    def __repr__(self):
        return f"<rc={self.rc} {self.json} stderr={self.stderr.strip()!r}>"


@pytest.fixture
def go(grpcgo, plugin, store):
    """go(cmd, *args) runs the grpc-go client against this test's plugin and file store."""
    _, cfg = store

    def run(*args, timeout=120):
        proc = subprocess.run([grpcgo, "-socket", plugin.socket, "-config", cfg, "-timeout", "60", *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)
        return Result(proc)

    return run






def ok(r):
    assert r.rc == 0 and r["ok"] is True, r
    return r


# ---------------------------------------------------------------------------------------------

def test_capabilities(go):
    assert ok(go("capabilities"))["supports_save_stream"] is True


def test_save_then_load_is_byte_identical(go, store, tmp_path):
    root, _ = store
    src = random_file(tmp_path / "in.bin", 3 * MiB + 7)
    ok(go("save", src, "wf/pod/a.bin"))
    assert sha256_file(root / "wf" / "pod" / "a.bin") == sha256_file(src)
    ok(go("load", "wf/pod/a.bin", tmp_path / "out.bin"))
    assert sha256_file(tmp_path / "out.bin") == sha256_file(src)


def test_open_stream_of_9_mib_within_grpc_go_default_limits(go, tmp_path):
    """grpc-go refuses messages over 4 MiB by default; the plugin's chunks are ≤ 1 MiB."""
    src = random_file(tmp_path / "in.bin", 9 * MiB)
    ok(go("save", src, "big/nine"))
    r = ok(go("stream", "big/nine", tmp_path / "out.bin"))
    assert r["complete"] is True
    assert r["bytes"] == 9 * MiB
    assert 0 < r["max_chunk"] <= MiB
    assert r["messages"] >= 9 + 1  # ≥ 9 data messages, then is_end
    assert sha256_file(tmp_path / "out.bin") == sha256_file(src)


def test_save_stream_in_2_mib_chunks_then_load(go, store, tmp_path):
    root, _ = store
    src = random_file(tmp_path / "in.bin", 7 * MiB + 5)
    r = ok(go("save-stream", src, "up/seven.bin"))
    assert r["success"] is True
    assert r["frames"] == 1 + 4  # output_artifact, then 2+2+2+1 MiB(+5) chunks
    assert r["bytes"] == 7 * MiB + 5
    assert sha256_file(root / "up" / "seven.bin") == sha256_file(src)
    ok(go("load", "up/seven.bin", tmp_path / "back.bin"))
    assert sha256_file(tmp_path / "back.bin") == sha256_file(src)


def test_directory_artifact_list_is_directory_delete(go, store, tmp_path):
    root, _ = store
    src = tmp_path / "outdir"
    files = {"x.txt": b"x\n", "a/y.txt": b"y" * 1000, "a/b/z.bin": os.urandom(300_000), "a/b/c/empty": b""}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)

    ok(go("save", src, "wf/dir"))
    # one object per file, under KEY/rel/path
    for rel, data in files.items():
        assert (root / "wf" / "dir" / rel).read_bytes() == data

    assert sorted(ok(go("list", "wf/dir"))["objects"]) == sorted(f"wf/dir/{rel}" for rel in files)
    assert ok(go("is-directory", "wf/dir"))["is_directory"] is True
    assert ok(go("is-directory", "wf/dir/a"))["is_directory"] is True
    assert ok(go("is-directory", "wf/dir/x.txt"))["is_directory"] is False

    ok(go("load", "wf/dir", tmp_path / "indir"))
    for rel, data in files.items():
        assert (tmp_path / "indir" / rel).read_bytes() == data

    ok(go("delete", "wf/dir"))
    assert not (root / "wf" / "dir").exists()
    assert ok(go("is-directory", "wf/dir"))["is_directory"] is False
    ok(go("delete", "wf/dir"))  # deleting what is not there succeeds (Argo's GC retries)


def test_open_stream_of_missing_key_fails(go, tmp_path):
    r = go("stream", "no/such/key", tmp_path / "out.bin")
    assert r.rc != 0, r
    assert r["ok"] is False and r["complete"] is False, r
    assert r["bytes"] == 0
    assert "not found" in r["error"], r
    assert "not found" in r.stderr


def test_32_concurrent_save_load_stream_on_one_connection(go, store, tmp_path):
    root, _ = store
    src = random_file(tmp_path / "in.bin", MiB + 12345)
    r = go("concurrent", 32, "conc", src, timeout=300)
    assert r.rc == 0, r
    assert r["n"] == 32 and r["succeeded"] == 32 and r["failed"] == [], r
    assert sorted(os.listdir(root / "conc")) == sorted(str(i) for i in range(32))
    assert sha256_file(root / "conc" / "17") == sha256_file(src)


def test_save_stream_with_a_bad_key_is_rejected(go, store, tmp_path):
    root, _ = store
    src = random_file(tmp_path / "in.bin", 3 * MiB)
    r = go("save-stream", src, "../escape")
    assert r.rc != 0 and r["ok"] is False, r
    assert not (root.parent / "escape").exists()
    assert not any(p.is_file() for p in root.rglob("*")), list(root.rglob("*"))


def test_save_stream_rejection_reaches_argo_with_the_plugin_message(go, tmp_path):
    src = random_file(tmp_path / "in.bin", 3 * MiB)
    r = go("save-stream", src, "../escape")
    assert r.rc != 0, r
    # r["error"] is exactly the error Argo's Driver.SaveStream would return
    assert "'..'" in r["error"], r
