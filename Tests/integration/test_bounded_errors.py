"""Errors that echo hostile input fit in a few KiB and still name the field and the reason,
through gRPC (success=false texts and statuses) and the log: Argo's client receives at most
4 MiB a message, and a user deserves the reason, not "received message larger than max"."""
import grpc

from harness import artifact, file_config, pb

LIMIT = 4096


def test_configuration_values_and_keys_are_cut(plugin, store, tmp_path):
    root, cfg = store
    stub = plugin.stub()
    (tmp_path / "f").write_bytes(b"x")
    huge_root = "provider: file\nroot: " + "a" * (3 << 20) + "\n"
    r = stub.Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", huge_root)))
    assert not r.success
    assert len(r.error.encode()) <= LIMIT, len(r.error)
    assert "root" in r.error and "must be an absolute path" in r.error and "bytes, cut)" in r.error

    r = stub.Load(pb.LoadArtifactRequest(path=str(tmp_path / "out"), input_artifact=artifact("d/" * (1 << 20), cfg)))
    assert not r.success and len(r.error.encode()) <= LIMIT
    assert "longer than 1024 bytes" in r.error

    huge_name = pb.Artifact(name="n" * (2 << 20), plugin=pb.PluginArtifact(name="t", configuration=cfg, key="../x"))
    r = stub.Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=huge_name))
    assert not r.success and len(r.error.encode()) <= LIMIT and "'..' segment" in r.error

    # Streams fail with a status whose message is bounded too.
    try:
        list(stub.OpenStream(pb.OpenStreamRequest(artifact=artifact("k", huge_root))))
        raise AssertionError("OpenStream must fail")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len(e.details().encode()) <= LIMIT and "root" in e.details()

    # The log holds bounded lines.
    longest = max(len(line.encode()) for line in plugin.log().splitlines())
    assert longest <= LIMIT + 64, longest
