#!/usr/bin/env bash
# Installs what building, running, testing and benchmarking need, skipping what is there.
#   scripts/install-deps.sh build    # Debian: C libraries for `swift build` (make build / make run)
#   scripts/install-deps.sh image    # Debian: the tools `make image` and its tests use (no daemon)
#   scripts/install-deps.sh test     # build + image + Debian test tools + the project venv from Tests/requirements.txt
#   scripts/install-deps.sh python   # only the project venv (created, or refreshed when the file changed)
#   scripts/install-deps.sh packages LEVEL   # print the Debian packages LEVEL installs, one a line
#
# Python packages never go into a system interpreter: they go into the project venv
# (VENV, default .venv), made from PYTHON (default python3) without system site-packages, so
# an import that Tests/requirements.txt does not declare fails here as on a fresh machine.
# This script and the lists it reads are the one place the project's Debian packages are named;
# CI (.ci/run) calls `test`. Lists shared with the Dockerfile live in scripts/packages/*.txt (one
# package a line, `#` comments); Tests/integration/test_packages.py fails when the two drift.
set -euo pipefail
cd "$(dirname "$0")/.."
level=${1:-build}

# The lists name, at the time of writing (test_packages.py fails when this line and the lists
# differ, so it can be searched for a package and trusted):
#   build.txt, rootfs.txt, image.txt: pkg-config libnghttp2-dev libcurl4-openssl-dev libssl-dev libisal-dev libargon2-dev mmdebstrap binutils umoci skopeo runc
# A list from scripts/packages/, without comments and blank lines.
read_list() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "scripts/packages/$1.txt"; }

# Build: the C libraries behind Sources/C* (scripts/packages/build.txt, also the Dockerfile's build
# stage), and curl for `make run`'s hints.
mapfile -t apt_build < <(read_list build)
apt_build+=(curl)
# Image: mmdebstrap and binutils for the runtime root (rootfs.txt, also the Dockerfile's rootfs
# stage), umoci, skopeo and runc for the OCI image (image.txt).
mapfile -t apt_image < <(read_list rootfs; read_list image)
# Tests and benchmarks:
#   nghttp2-client      h2load and nghttp (HTTP/2 load and raw checks)
#   ceph-*, radosgw     Ceph RGW, the real S3 server (scripts/testbed/start-rgw.sh)
#   golang-*, protobuf-compiler
#                       grpc-go 1.33 (Argo's client library), built offline in GOPATH mode
#                       by scripts/go/build.sh with protoc and protoc-gen-go
#   golang-github-minio-minio-go-v7-dev
#                       minio-go v7, the library of Argo's own S3 driver (a bench peer)
#   python3-venv        venv for a Debian python3 (PYTHON=/usr/bin/python3)
#   procps, util-linux  ps/pgrep, setpriv (a test drops root)
#   linux-perf          profiles in `make bench`
#   strace              where the plugin does file I/O (test_io_placement.py)
apt_test=(nghttp2-client ceph-mon ceph-osd radosgw ceph-common
          golang-go golang-google-grpc-dev golang-goprotobuf-dev protobuf-compiler
          golang-github-minio-minio-go-v7-dev
          python3-venv procps util-linux linux-perf strace)

install_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The project venv, filled from Tests/requirements.txt; rebuilt from scratch when the file is
# newer than the last install (so a removed pin really goes away).
install_venv() {
  local venv=${VENV:-.venv} base=${PYTHON:-python3} req=Tests/requirements.txt
  local stamp="$venv/.requirements-installed"
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then return 0; fi
  echo "creating the project venv $venv from $req (base interpreter: $base)" >&2
  rm -rf "$venv"
  "$base" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$req"
  cp "$req" "$stamp"
}

apt_for() {
  case "$1" in
    build) echo "${apt_build[@]}" ;;
    image) echo "${apt_image[@]}" ;;
    test) echo "${apt_build[@]}" "${apt_image[@]}" "${apt_test[@]}" ;;
    python) ;;
    *) echo "usage: $0 build|image|test|python | packages LEVEL" >&2; exit 2 ;;
  esac
}

case "$level" in
  packages) pkgs=$(apt_for "${2:-}"); for p in $pkgs; do echo "$p"; done ;;
  python) install_venv ;;
  build|image) install_apt $(apt_for "$level") ;;
  test) install_apt $(apt_for test); install_venv ;;
  *) apt_for "$level" ;;
esac
