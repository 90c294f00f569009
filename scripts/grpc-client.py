#!/usr/bin/env python3
"""Call the plugin over gRPC like Argo does (Python grpcio), from the command line.

  grpc-client.py --socket run/plugin.sock --root run/data save ./file.txt demo/file.txt
  grpc-client.py --socket run/plugin.sock --root run/data stream demo/file.txt > copy.txt
  grpc-client.py --socket run/plugin.sock --config "$(cat my-s3.yaml)" list demo
Commands: capabilities, save PATH KEY, save-stream PATH KEY, load KEY PATH, stream KEY,
list KEY, is-directory KEY, delete KEY."""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "integration"))
import grpc  # noqa: E402
from harness import artifact, pb, pb_grpc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--root", help="file store root (shorthand for --config 'provider: file\\nroot: ROOT')")
    ap.add_argument("--config", help="plugin.configuration text (YAML)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("command")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    config = a.config or (f"provider: file\nroot: {os.path.abspath(a.root)}\n" if a.root else None)
    if config is None and a.command != "capabilities":
        ap.error("give --root or --config")
    stub = pb_grpc.ArtifactServiceStub(grpc.insecure_channel(f"unix://{os.path.abspath(a.socket)}"))
    c, args = a.command, a.args
    if c == "capabilities":
        print(stub.GetCapabilities(pb.GetCapabilitiesRequest(), timeout=a.timeout))
    elif c == "save":
        r = stub.Save(pb.SaveArtifactRequest(path=os.path.abspath(args[0]), output_artifact=artifact(args[1], config)), timeout=a.timeout)
        print(r)
        return 0 if r.success else 1
    elif c == "save-stream":
        def frames():
            yield pb.SaveStreamArtifactRequest(output_artifact=artifact(args[1], config))
            with open(args[0], "rb") as f:
                for chunk in iter(lambda: f.read(2 << 20), b""):
                    yield pb.SaveStreamArtifactRequest(chunk=chunk)
        r = stub.SaveStream(frames(), timeout=a.timeout)
        print(r)
        return 0 if r.success else 1
    elif c == "load":
        r = stub.Load(pb.LoadArtifactRequest(input_artifact=artifact(args[0], config), path=os.path.abspath(args[1])), timeout=a.timeout)
        print(r)
        return 0 if r.success else 1
    elif c == "stream":
        complete = False
        for m in stub.OpenStream(pb.OpenStreamRequest(artifact=artifact(args[0], config)), timeout=a.timeout):
            if m.error:
                print(f"stream failed: {m.error}", file=sys.stderr)
                return 1
            if m.is_end:
                complete = True
                break
            sys.stdout.buffer.write(m.data)
        sys.stdout.buffer.flush()
        if not complete:
            print("stream ended without is_end: incomplete", file=sys.stderr)
            return 1
    elif c == "list":
        print(stub.ListObjects(pb.ListObjectsRequest(artifact=artifact(args[0], config)), timeout=a.timeout))
    elif c == "is-directory":
        print(stub.IsDirectory(pb.IsDirectoryRequest(artifact=artifact(args[0], config)), timeout=a.timeout))
    elif c == "delete":
        r = stub.Delete(pb.DeleteArtifactRequest(artifact=artifact(args[0], config)), timeout=a.timeout)
        print(r)
        return 0 if r.success else 1
    else:
        ap.error(f"unknown command {c}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except grpc.RpcError as e:
        print(f"gRPC error {e.code().name}: {e.details()}", file=sys.stderr)
        sys.exit(2)
