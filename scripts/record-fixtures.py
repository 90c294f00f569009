#!/usr/bin/env python3
"""Records Tests/Fixtures/file-store-session.json: every RPC of the artifact service, called by a
real grpcio client against the real plugin binary, with the exact request and response bytes
that crossed the socket. `swift test` replays the session over HTTP/2 and compares.

Paths inside the messages are fixed (BASE below) so that the replay can recreate them."""
import base64
import hashlib
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "integration"))
import grpc  # noqa: E402
from harness import REPO, Plugin, pb  # noqa: E402

BASE = "/tmp/argo-artifact-plugin-fixtures"
ROOT = f"{BASE}/store"
CONFIG = f"provider: file\nroot: {ROOT}\n"
OUT = REPO / "Tests" / "Fixtures" / "file-store-session.json"

# Source files, recreated by the replay: small ones inline, big ones as a repeated pattern.
SETUP = [
    {"path": f"{BASE}/src/hello.txt", "text": "hello from an Argo step\n"},
    {"path": f"{BASE}/src/dir/a/b.txt", "text": "nested file\n"},
    {"path": f"{BASE}/src/dir/c.txt", "text": "top file\n"},
    {"path": f"{BASE}/src/dir/empty/", "dir": True},
    {"path": f"{BASE}/src/big.bin", "repeat": "0123456789abcdef", "size": 1049583},
]


def materialize():
    shutil.rmtree(BASE, ignore_errors=True)
    for f in SETUP:
        if f.get("dir"):
            os.makedirs(f["path"], exist_ok=True)
            continue
        os.makedirs(os.path.dirname(f["path"]), exist_ok=True)
        if "text" in f:
            data = f["text"].encode()
        else:
            pat = f["repeat"].encode()
            data = (pat * (f["size"] // len(pat) + 1))[: f["size"]]
        with open(f["path"], "wb") as fh:
            fh.write(data)
    os.makedirs(ROOT, exist_ok=True)


def art(key, config=CONFIG, name="art"):
    return pb.Artifact(name=name, plugin=pb.PluginArtifact(name="fixtures", configuration=config, key=key))


def tree_digest(path):
    """sha256 of every file under path (or of the file), for checking Load results."""
    if os.path.isfile(path):
        return {"": hashlib.sha256(open(path, "rb").read()).hexdigest()}
    out = {}
    for d, dirs, files in os.walk(path):
        for n in files:
            p = os.path.join(d, n)
            out[os.path.relpath(p, path)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
        for n in dirs:
            p = os.path.join(d, n)
            if not os.listdir(p):
                out[os.path.relpath(p, path) + "/"] = ""
    return out


def main():
    materialize()
    plugin = Plugin().start()
    ch = plugin.channel()
    big = open(f"{BASE}/src/big.bin", "rb").read()

    steps = [
        ("capabilities", "GetCapabilities", "unary", [pb.GetCapabilitiesRequest()], None),
        ("save_file", "Save", "unary", [pb.SaveArtifactRequest(path=f"{BASE}/src/hello.txt", output_artifact=art("wf/pod/hello.txt"))], None),
        ("save_dir", "Save", "unary", [pb.SaveArtifactRequest(path=f"{BASE}/src/dir", output_artifact=art("wf/pod/dir"))], None),
        ("save_stream", "SaveStream", "client_stream",
         [pb.SaveStreamArtifactRequest(output_artifact=art("wf/pod/streamed.bin")),
          pb.SaveStreamArtifactRequest(chunk=big[: 600000]),
          pb.SaveStreamArtifactRequest(chunk=big[600000:])], None),
        ("list_dir", "ListObjects", "unary", [pb.ListObjectsRequest(artifact=art("wf/pod/dir"))], None),
        ("list_prefix", "ListObjects", "unary", [pb.ListObjectsRequest(artifact=art("wf/"))], None),
        ("is_directory_dir", "IsDirectory", "unary", [pb.IsDirectoryRequest(artifact=art("wf/pod/dir"))], None),
        ("is_directory_file", "IsDirectory", "unary", [pb.IsDirectoryRequest(artifact=art("wf/pod/hello.txt"))], None),
        ("load_file", "Load", "unary", [pb.LoadArtifactRequest(input_artifact=art("wf/pod/hello.txt"), path=f"{BASE}/out/hello.txt")], f"{BASE}/out/hello.txt"),
        ("load_dir", "Load", "unary", [pb.LoadArtifactRequest(input_artifact=art("wf/pod/dir"), path=f"{BASE}/out/dir")], f"{BASE}/out/dir"),
        ("load_streamed", "Load", "unary", [pb.LoadArtifactRequest(input_artifact=art("wf/pod/streamed.bin"), path=f"{BASE}/out/streamed.bin")], f"{BASE}/out/streamed.bin"),
        ("open_stream_file", "OpenStream", "server_stream", [pb.OpenStreamRequest(artifact=art("wf/pod/streamed.bin"))], None),
        ("open_stream_dir", "OpenStream", "server_stream", [pb.OpenStreamRequest(artifact=art("wf/pod/dir"))], None),
        ("open_stream_missing", "OpenStream", "server_stream", [pb.OpenStreamRequest(artifact=art("wf/pod/missing"))], None),
        ("load_missing", "Load", "unary", [pb.LoadArtifactRequest(input_artifact=art("wf/pod/missing"), path=f"{BASE}/out/missing")], None),
        ("hostile_key", "Load", "unary", [pb.LoadArtifactRequest(input_artifact=art("wf/../../etc/passwd"), path=f"{BASE}/out/x")], None),
        ("config_typo", "Save", "unary",
         [pb.SaveArtifactRequest(path=f"{BASE}/src/hello.txt", output_artifact=art("wf/x", config=f"provider: file\nrooot: {ROOT}\n"))], None),
        ("delete_dir", "Delete", "unary", [pb.DeleteArtifactRequest(artifact=art("wf/pod/dir"))], None),
        ("delete_again", "Delete", "unary", [pb.DeleteArtifactRequest(artifact=art("wf/pod/dir"))], None),
        ("list_deleted", "ListObjects", "unary", [pb.ListObjectsRequest(artifact=art("wf/pod/dir"))], None),
        ("unknown_method", "NoSuchMethod", "unary", [pb.GetCapabilitiesRequest()], None),
    ]

    recorded = []
    ident = lambda b: b  # noqa: E731  (raw bytes in and out: what crossed the wire)
    for name, method, shape, requests, output in steps:
        path = f"/artifact.ArtifactService/{method}"
        raw_requests = [r.SerializeToString() for r in requests]
        responses, status, details = [], 0, ""
        try:
            if shape == "unary":
                responses = [ch.unary_unary(path, request_serializer=ident, response_deserializer=ident)(raw_requests[0], timeout=30)]
            elif shape == "server_stream":
                # Messages before a failure status are kept: an error text arrives in-band first.
                for m in ch.unary_stream(path, request_serializer=ident, response_deserializer=ident)(raw_requests[0], timeout=30):
                    responses.append(m)
            else:
                responses = [ch.stream_unary(path, request_serializer=ident, response_deserializer=ident)(iter(raw_requests), timeout=30)]
        except grpc.RpcError as e:
            status, details = e.code().value[0], e.details()
        step = {
            "name": name, "path": path, "shape": shape,
            "requests": [base64.b64encode(r).decode() for r in raw_requests],
            "responses": [base64.b64encode(r).decode() for r in responses],
            "status": status, "message": details,
        }
        if name == "open_stream_dir":
            step["compare"] = "tar"   # member mtimes differ between runs; compare names and contents
        if output:
            step["output"] = {"path": output, "digest": tree_digest(output)}
        recorded.append(step)
        print(f"{name:22s} {method:16s} status={status} responses={len(responses)}")

    plugin.stop()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"base": BASE, "config": CONFIG, "setup": SETUP, "steps": recorded}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
