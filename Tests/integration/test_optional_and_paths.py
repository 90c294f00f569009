"""Argo's input rules as the executor applies them around a plugin: a missing optional input does
not fail the step; paths are absolute."""
import gzip
import os
import tarfile

import grpc
import pytest

from harness import MiB, artifact, pattern_file, pb


def optional_artifact(key, cfg, optional=True):
    a = artifact(key, cfg)
    a.optional = optional
    return a


def executor_load(stub, art, art_path):
    """Argo v4.1's executor (workflow/executor/executor.go, loadArtifact), rewritten: Load into
    `<path>.tmp`; a plugin error fails the step (Argo's plugin client makes every error plain
    text, so its optional-and-NotFound skip never matches); then unarchiveArtifact: isTarball
    (open, gzip header, first tar entry) untars, anything else is renamed into place."""
    tmp = art_path + ".tmp"
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    r = stub.Load(pb.LoadArtifactRequest(input_artifact=art, path=tmp))
    if not r.success:
        raise RuntimeError(f"artifact {art.name} failed to load: plugin load failed: {r.error}")
    if is_tarball(tmp):
        with tarfile.open(tmp, "r:gz") as t:
            t.extractall(art_path + ".tmpdir", filter="data")
        os.remove(tmp)
        entries = os.listdir(art_path + ".tmpdir")
        os.rename(os.path.join(art_path + ".tmpdir", entries[0]) if len(entries) == 1 else art_path + ".tmpdir", art_path)
    else:
        os.rename(tmp, art_path)


def is_tarball(path):
    fd = os.open(path, os.O_RDONLY)   # a missing path raises here and fails the step: os.Open
    if os.path.isdir(path):           # Go opens a directory; gzip's first read fails (EISDIR)
        os.close(fd)
        return False
    f = os.fdopen(fd, "rb")
    try:
        with gzip.GzipFile(fileobj=f) as g, tarfile.open(fileobj=g, mode="r|") as t:
            return t.next() is not None
    except (OSError, EOFError, tarfile.TarError):
        return False       # a directory (EISDIR), an empty or a plain file: renamed
    finally:
        f.close()


def test_missing_optional_input_leaves_an_empty_directory_and_the_step_goes_on(plugin, store, tmp_path):
    root, cfg = store
    stub = plugin.stub()
    target = str(tmp_path / "argo" / "inputs" / "artifacts" / "maybe")
    executor_load(stub, optional_artifact("wf/never-written", cfg), target)
    assert os.path.isdir(target) and os.listdir(target) == []
    assert "optional and not found" in plugin.log()


def test_present_optional_and_missing_required_behave_as_without_the_flag(plugin, store, tmp_path):
    root, cfg = store
    stub = plugin.stub()
    src = pattern_file(tmp_path / "in.bin", MiB)
    assert stub.Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("wf/there", cfg))).success
    target = str(tmp_path / "inputs" / "there")
    executor_load(stub, optional_artifact("wf/there", cfg), target)
    assert open(target, "rb").read() == src.read_bytes()
    with pytest.raises(RuntimeError, match="artifact not found"):
        executor_load(stub, optional_artifact("wf/missing", cfg, optional=False), str(tmp_path / "inputs" / "req"))
    assert not os.path.exists(str(tmp_path / "inputs" / "req.tmp"))


def test_optional_does_not_hide_missing_keys_from_streams_and_listings(plugin, store):
    root, cfg = store
    stub = plugin.stub()
    with pytest.raises(grpc.RpcError) as e:
        list(stub.OpenStream(pb.OpenStreamRequest(artifact=optional_artifact("wf/none", cfg))))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    r = stub.ListObjects(pb.ListObjectsRequest(artifact=optional_artifact("wf/none", cfg)))
    assert "not found" in r.error


def test_relative_paths_are_refused_and_nothing_lands_in_the_working_directory(plugin, store, tmp_path):
    root, cfg = store
    stub = plugin.stub()
    src = pattern_file(tmp_path / "in.bin", 1000)
    assert stub.Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("wf/x", cfg))).success
    before = sorted(os.listdir(plugin.dir))
    r = stub.Load(pb.LoadArtifactRequest(input_artifact=artifact("wf/x", cfg), path="tmp/kept/out"))
    assert not r.success and "must be absolute" in r.error and "tmp/kept/out" in r.error
    r = stub.Save(pb.SaveArtifactRequest(output_artifact=artifact("wf/y", cfg), path="in.bin"))
    assert not r.success and "must be absolute" in r.error
    assert sorted(os.listdir(plugin.dir)) == before
    assert not (root / "wf" / "y").exists()
