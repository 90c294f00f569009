#!/usr/bin/env bash
# Build scripts/go/bin/grpcgo-client: a grpc-go client for the plugin, used by
# Tests/integration/test_grpc_go.py to talk to the plugin the way Argo does; and
# scripts/go/bin/argo-s3-driver: the minio-go v7 calls of Argo's own S3 driver, a bench peer
# (golang-github-minio-minio-go-v7-dev).
#
# Offline, GOPATH mode, against Debian's packaged Go libraries:
#   golang-go (go 1.19), golang-google-grpc-dev (grpc 1.33),
#   golang-goprotobuf-dev / protoc-gen-go-1-3 (protoc-gen-go 1.3.x), protobuf-compiler.
# Go stubs are generated from proto/artifact.proto on every build into the
# project-local GOPATH (scripts/go/gopath/src/artifact, import path "artifact").
#
# Everything this script writes lives under two git-ignored directories:
#   scripts/go/gopath/   generated stubs + Go build cache
#   scripts/go/bin/      the client binary
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
LOCAL_GOPATH="$HERE/gopath"
BIN_DIR="$HERE/bin"
PROTO_DIR="$REPO/proto"
OUT="$BIN_DIR/grpcgo-client"

for tool in go protoc protoc-gen-go; do
    command -v "$tool" >/dev/null 2>&1 || { echo "build.sh: '$tool' not found in PATH" >&2; exit 127; }
done

export GO111MODULE=off
export GOPATH="/usr/share/gocode:$LOCAL_GOPATH"
export GOPROXY=off
export GOFLAGS=
export GOCACHE="$LOCAL_GOPATH/.cache/go-build"
export CGO_ENABLED=0

mkdir -p "$LOCAL_GOPATH/src" "$BIN_DIR" "$GOCACHE"

# 1. Stubs: messages + ArtifactService client (protoc-gen-go 1.3.x "plugins=grpc").
#    Generated into a temp dir, then moved into place, so a failed run leaves no half file.
STAGE="$(mktemp -d "$LOCAL_GOPATH/.gen.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
if ! protoc -I"$PROTO_DIR" --go_out=plugins=grpc:"$STAGE" "$PROTO_DIR/artifact.proto" 2>"$STAGE/protoc.err"; then
    cat "$STAGE/protoc.err" >&2
    echo "build.sh: protoc --go_out=plugins=grpc failed (this client needs protoc-gen-go 1.3.x/1.4.x, which still has the grpc plugin)" >&2
    exit 1
fi
grep -q 'func NewArtifactServiceClient' "$STAGE/artifact.pb.go" || {
    echo "build.sh: generated artifact.pb.go has no ArtifactService client (protoc-gen-go ignored plugins=grpc?)" >&2
    exit 1
}
mkdir -p "$LOCAL_GOPATH/src/artifact"
mv -f "$STAGE/artifact.pb.go" "$LOCAL_GOPATH/src/artifact/artifact.pb.go"

# 2. The client (main package outside GOPATH; its imports resolve through GOPATH).
cd "$HERE/src/grpcgo-client"
go vet . >&2
go build -o "$OUT.tmp" .
mv -f "$OUT.tmp" "$OUT"

cd "$HERE/src/argo-s3-driver"
go vet . >&2
go build -o "$BIN_DIR/argo-s3-driver.tmp" .
mv -f "$BIN_DIR/argo-s3-driver.tmp" "$BIN_DIR/argo-s3-driver"
echo "$OUT"
