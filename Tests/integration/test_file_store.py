"""Argo semantics on the file store, end to end through grpcio, plus hostile input and crashes."""
import hashlib
import io
import os
import tarfile
import time

import grpc
import pytest

from harness import Plugin, artifact, make_tree, pb, sha256_file, tree_digest

MiB = 1 << 20








def save(stub, path, key, cfg):
    return stub.Save(pb.SaveArtifactRequest(path=str(path), output_artifact=artifact(key, cfg)))


def load(stub, key, path, cfg):
    return stub.Load(pb.LoadArtifactRequest(input_artifact=artifact(key, cfg), path=str(path)))


def stream(stub, key, cfg):
    msgs = list(stub.OpenStream(pb.OpenStreamRequest(artifact=artifact(key, cfg))))
    assert msgs and msgs[-1].is_end
    return b"".join(m.data for m in msgs)


def test_file_round_trip(plugin, store, tmp_path):
    root, cfg = store
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(3 * MiB + 1))
    stub = plugin.stub()
    assert save(stub, src, "wf/pod/f.bin", cfg).success
    assert load(stub, "wf/pod/f.bin", tmp_path / "new" / "dir" / "f.bin", cfg).success
    assert sha256_file(tmp_path / "new" / "dir" / "f.bin") == sha256_file(src)
    assert hashlib.sha256(stream(stub, "wf/pod/f.bin", cfg)).hexdigest() == sha256_file(src)


def test_directory_round_trip_listing_and_tar(plugin, store, tmp_path):
    root, cfg = store
    src = make_tree(tmp_path / "out")
    stub = plugin.stub()
    assert save(stub, src, "wf/pod/out", cfg).success
    listed = stub.ListObjects(pb.ListObjectsRequest(artifact=artifact("wf/pod/out", cfg)))
    assert listed.error == ""
    assert sorted(listed.objects) == sorted("wf/pod/out/" + k for k in tree_digest(src) if not k.endswith("/"))
    assert stub.IsDirectory(pb.IsDirectoryRequest(artifact=artifact("wf/pod/out", cfg))).is_directory
    assert stub.IsDirectory(pb.IsDirectoryRequest(artifact=artifact("wf/pod/out/", cfg))).is_directory
    assert not stub.IsDirectory(pb.IsDirectoryRequest(artifact=artifact("wf/pod/out/top.txt", cfg))).is_directory
    assert not stub.IsDirectory(pb.IsDirectoryRequest(artifact=artifact("wf/pod/ou", cfg))).is_directory

    assert load(stub, "wf/pod/out", tmp_path / "back", cfg).success
    assert tree_digest(tmp_path / "back") == tree_digest(src)

    data = stream(stub, "wf/pod/out", cfg)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        tf.extractall(tmp_path / "untar")
    assert tree_digest(tmp_path / "untar") == tree_digest(src)


def test_key_with_and_without_trailing_slash(plugin, store, tmp_path):
    root, cfg = store
    src = make_tree(tmp_path / "d")
    stub = plugin.stub()
    assert save(stub, src, "slash/d/", cfg).success
    assert load(stub, "slash/d", tmp_path / "l1", cfg).success
    assert tree_digest(tmp_path / "l1") == tree_digest(src)
    assert stub.Delete(pb.DeleteArtifactRequest(artifact=artifact("slash/d/", cfg))).success
    assert not (root / "slash").exists()


def test_delete_is_idempotent_and_sibling_safe(plugin, store, tmp_path):
    root, cfg = store
    stub = plugin.stub()
    f = tmp_path / "f"
    f.write_bytes(b"x")
    for key in ["a/b", "a/bc", "a/b.txt"]:
        assert save(stub, f, key, cfg).success
    d = make_tree(tmp_path / "dir")
    assert save(stub, d, "a/b2", cfg).success
    assert save(stub, d, "a/b2x", cfg).success

    assert stub.Delete(pb.DeleteArtifactRequest(artifact=artifact("a/b", cfg))).success
    assert stub.Delete(pb.DeleteArtifactRequest(artifact=artifact("a/b2", cfg))).success
    objs = stub.ListObjects(pb.ListObjectsRequest(artifact=artifact("a", cfg))).objects
    assert "a/bc" in objs and "a/b.txt" in objs
    assert any(o.startswith("a/b2x/") for o in objs)
    assert not any(o == "a/b" or o.startswith("a/b2/") for o in objs)
    # again: nothing there is success
    r = stub.Delete(pb.DeleteArtifactRequest(artifact=artifact("a/b2", cfg)))
    assert r.success, r.error
    r = stub.Delete(pb.DeleteArtifactRequest(artifact=artifact("never/existed", cfg)))
    assert r.success, r.error
    # an empty key would mean the whole store: refused
    r = stub.Delete(pb.DeleteArtifactRequest(artifact=artifact("", cfg)))
    assert not r.success and "empty" in r.error


def test_not_found_names_store_and_key(plugin, store, tmp_path):
    root, cfg = store
    stub = plugin.stub()
    r = load(stub, "wf/none", tmp_path / "x", cfg)
    assert not r.success
    assert "artifact not found" in r.error and f"file://{root}/wf/none" in r.error
    r = stub.ListObjects(pb.ListObjectsRequest(artifact=artifact("wf/none", cfg)))
    assert "not found" in r.error
    with pytest.raises(grpc.RpcError) as e:
        stream(stub, "wf/none", cfg)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_stream_failure_never_sends_is_end(plugin, store, tmp_path):
    """A file that shrinks while being streamed: error in-band and non-OK status, no is_end."""
    root, cfg = store
    src = tmp_path / "big"
    src.write_bytes(os.urandom(64 * MiB))
    stub = plugin.stub()
    assert save(stub, src, "shrink/big", cfg).success
    it = stub.OpenStream(pb.OpenStreamRequest(artifact=artifact("shrink/big", cfg)))
    got = [next(it)]
    os.truncate(root / "shrink" / "big", 2 * MiB)
    with pytest.raises(grpc.RpcError) as e:
        for m in it:
            got.append(m)
    assert not any(m.is_end for m in got)
    assert any(m.error for m in got), "failure must also be reported in-band (Argo reads error text)"
    assert e.value.code() != grpc.StatusCode.OK


# --- hostile input --------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["../escape", "wf/../../etc/passwd", "/etc/passwd", "a//b", "a/./b", "bad\x00key", ".argo-partial/x"])
def test_hostile_keys_refused(plugin, store, tmp_path, key):
    root, cfg = store
    f = tmp_path / "f"
    f.write_bytes(b"x")
    stub = plugin.stub()
    r = save(stub, f, key, cfg)
    assert not r.success and "invalid artifact key" in r.error
    r = load(stub, key, tmp_path / "o", cfg)
    assert not r.success and "invalid artifact key" in r.error
    assert not (tmp_path / "o").exists()
    assert sorted(os.listdir(root)) in ([], [".argo-partial"])


def test_stored_key_crafted_to_escape_on_load(plugin, store, tmp_path):
    """A store whose listing yields a name that would climb out of the Load path."""
    root, cfg = store
    (root / "evil").mkdir()
    (root / "evil" / "ok.txt").write_bytes(b"fine")
    # a symlink planted in the store must not be followed out of the store either
    os.symlink("/etc", root / "evil" / "link")
    os.symlink("/etc/hostname", root / "evil" / "host")
    stub = plugin.stub()
    r = load(stub, "evil", tmp_path / "dest", cfg)
    assert r.success, r.error
    assert tree_digest(tmp_path / "dest") == {"ok.txt": hashlib.sha256(b"fine").hexdigest()}
    r = load(stub, "evil/link/hostname", tmp_path / "h", cfg)
    assert not r.success
    assert not (tmp_path / "h").exists()


def test_symlink_pointing_outside_is_refused(plugin, store, tmp_path):
    root, cfg = store
    d = tmp_path / "out"
    d.mkdir()
    (d / "ok.txt").write_bytes(b"ok")
    os.symlink("/var/run/secrets/kubernetes.io/serviceaccount/token", d / "token")
    r = save(plugin.stub(), d, "sym/out", cfg)
    assert not r.success
    assert "token" in r.error and "outside" in r.error
    assert not (root / "sym").exists()


def test_symlink_inside_is_followed(plugin, store, tmp_path):
    root, cfg = store
    d = tmp_path / "out"
    d.mkdir()
    (d / "real.txt").write_bytes(b"real")
    os.symlink("real.txt", d / "alias.txt")
    assert save(plugin.stub(), d, "sym2/out", cfg).success
    assert (root / "sym2" / "out" / "alias.txt").read_bytes() == b"real"


def test_non_utf8_file_name_is_refused_clearly(plugin, store, tmp_path):
    root, cfg = store
    d = tmp_path / "out"
    d.mkdir()
    with open(os.path.join(str(d).encode(), b"caf\xe9.txt"), "wb") as f:
        f.write(b"x")
    r = save(plugin.stub(), d, "enc/out", cfg)
    assert not r.success and "UTF-8" in r.error and "caf\\xe9" in r.error


def test_config_typo_names_the_field(plugin, store, tmp_path):
    root, cfg = store
    f = tmp_path / "f"
    f.write_bytes(b"x")
    r = save(plugin.stub(), f, "k", f"provider: file\nroot: {root}\nmultipart: {{partsize: 8Mi}}\n")
    assert not r.success and "multipart.partsize" in r.error and "did you mean 'partSize'" in r.error


def test_unreadable_source_file():
    """A step's output the plugin may not read (as in a pod where containers run as different
    users): the error names the file and says why. The plugin runs as an unprivileged user,
    since root reads everything."""
    import shutil
    import subprocess
    import tempfile
    import grpc as grpc_mod
    from harness import file_config, pb_grpc, plugin_binary, require_tool, wait_for_socket
    as_user = []
    if os.geteuid() == 0:
        require_tool("setpriv", "util-linux")
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    base = tempfile.mkdtemp(prefix="argo-plugin-unreadable-")
    try:
        os.chmod(base, 0o777)
        root = os.path.join(base, "store")
        out = os.path.join(base, "out")
        for d in (root, out):
            os.mkdir(d)
            os.chmod(d, 0o777)
        with open(os.path.join(out, "readable.txt"), "wb") as f:
            f.write(b"ok")
        secret = os.path.join(out, "secret.bin")
        with open(secret, "wb") as f:
            f.write(b"x")
        os.chmod(secret, 0)
        cfg = file_config(root)
        sock = os.path.join(base, "p.sock")
        proc = subprocess.Popen(as_user + [plugin_binary(), sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_socket(sock, proc)
            stub = pb_grpc.ArtifactServiceStub(grpc_mod.insecure_channel(f"unix://{sock}"))
            r = stub.Save(pb.SaveArtifactRequest(path=secret, output_artifact=artifact("u/file", cfg)))
            assert not r.success and "secret.bin" in r.error and "Permission denied" in r.error, r.error
            r = stub.Save(pb.SaveArtifactRequest(path=out, output_artifact=artifact("u/dir", cfg)))
            assert not r.success and "secret.bin" in r.error and "Permission denied" in r.error, r.error
            assert not os.path.exists(os.path.join(root, "u"))
            staging = os.path.join(root, ".argo-partial")
            assert not os.path.exists(staging) or not os.listdir(staging)
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_save_over_existing_keeps_old_on_failure(plugin, store, tmp_path):
    root, cfg = store
    f = tmp_path / "f"
    f.write_bytes(b"old")
    stub = plugin.stub()
    assert save(stub, f, "keep/x", cfg).success
    r = save(stub, tmp_path / "missing-source", "keep/x", cfg)
    assert not r.success
    assert (root / "keep" / "x").read_bytes() == b"old"


# --- crash safety ----------------------------------------------------------------------------

def test_kill_9_mid_save_leaves_no_partial_object(tmp_path, store):
    root, cfg = store
    src = tmp_path / "big"
    with open(src, "wb") as f:
        block = os.urandom(MiB)
        for _ in range(200):
            f.write(block)
    old = tmp_path / "old"
    old.write_bytes(b"previous version")
    p = Plugin(workdir=tmp_path / "p1").start()
    stub = p.stub()
    assert save(stub, old, "crash/x", cfg).success

    # SaveStream lets us stop exactly mid-transfer: 100 MiB of 200 sent, then kill -9.
    sent = []

    def frames():
        yield pb.SaveStreamArtifactRequest(output_artifact=artifact("crash/x", cfg))
        with open(src, "rb") as f:
            for i in range(100):
                sent.append(i)
                yield pb.SaveStreamArtifactRequest(chunk=f.read(MiB))
        time.sleep(30)

    fut = stub.SaveStream.future(frames())
    deadline = time.monotonic() + 30
    while len(sent) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    p.kill()
    fut.cancel()
    assert (root / "crash" / "x").read_bytes() == b"previous version"

    # and a kill in the middle of a plain Save of a 200 MiB file
    p2 = Plugin(workdir=tmp_path / "p2").start()
    fut = p2.stub().Save.future(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("crash/x", cfg)))
    staging = root / ".argo-partial"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (staging.exists() and any(staging.iterdir())):
        time.sleep(0.001)
    p2.kill()
    fut.cancel()
    assert (root / "crash" / "x").read_bytes() == b"previous version"
    p3 = Plugin(workdir=tmp_path / "p3").start()
    try:
        objs = p3.stub().ListObjects(pb.ListObjectsRequest(artifact=artifact("crash", cfg))).objects
        assert list(objs) == ["crash/x"]
        assert p3.stub().ListObjects(pb.ListObjectsRequest(artifact=artifact("", cfg))).objects == ["crash/x"]
    finally:
        p3.stop()


def test_directory_save_failure_leaves_nothing(plugin, store, tmp_path):
    root, cfg = store
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_bytes(b"a")
    os.symlink("/etc/passwd", d / "z-outside")
    r = save(plugin.stub(), d, "atomic/d", cfg)
    assert not r.success
    assert not (root / "atomic").exists()
    staging = root / ".argo-partial"
    assert not staging.exists() or not any(staging.iterdir())


def test_directory_save_over_an_existing_one_swaps_whole_trees(plugin, store, tmp_path):
    root, cfg = store
    stub = plugin.stub()
    v1 = tmp_path / "v1"
    (v1 / "sub").mkdir(parents=True)
    (v1 / "a.txt").write_bytes(b"a1")
    (v1 / "sub" / "old-only.txt").write_bytes(b"old")
    assert save(stub, v1, "merge/d", cfg).success
    v2 = tmp_path / "v2"
    (v2 / "sub").mkdir(parents=True)
    (v2 / "a.txt").write_bytes(b"a2")
    (v2 / "sub" / "new-only.txt").write_bytes(b"new")
    assert save(stub, v2, "merge/d", cfg).success
    got = {str(p.relative_to(root / "merge" / "d")): p.read_bytes() for p in (root / "merge" / "d").rglob("*") if p.is_file()}
    assert got == {"a.txt": b"a2", "sub/old-only.txt": b"old", "sub/new-only.txt": b"new"}
    # a failing Save over it changes nothing
    v3 = tmp_path / "v3"
    v3.mkdir()
    (v3 / "a.txt").write_bytes(b"a3")
    os.symlink("/etc/passwd", v3 / "leak")
    assert not save(stub, v3, "merge/d", cfg).success
    assert (root / "merge" / "d" / "a.txt").read_bytes() == b"a2"


def test_config_errors_never_echo_values(plugin, store, tmp_path):
    root, cfg = store
    (tmp_path / "f").write_bytes(b"x")
    bad = "endpoint: s3.amazonaws.com\nbucket: abc\naccessKeySecret: AKIAREALLYSECRET\nsecretKeySecret: wJalrXUtnSECRETVALUE\n"
    r = save(plugin.stub(), tmp_path / "f", "k", bad)
    assert not r.success and "accessKeySecret" in r.error
    assert "AKIAREALLYSECRET" not in r.error and "AKIAREALLYSECRET" not in plugin.log()
    r = save(plugin.stub(), tmp_path / "f", "k", "securityToken: 'unterminated SECRETTOKEN\nbucket: [")
    assert not r.success and "SECRETTOKEN" not in r.error and "SECRETTOKEN" not in plugin.log()
