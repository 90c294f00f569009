#!/usr/bin/env bash
# Installs what building, running and testing need, skipping what is already there.
#   scripts/install-deps.sh build   # C libraries for `swift build` (make build / make run)
#   scripts/install-deps.sh test    # + test tools: curl, h2load, Ceph RGW, Go + grpc-go, Python packages
set -euo pipefail
level=${1:-build}

apt_build=(pkg-config libnghttp2-dev libcurl4-openssl-dev libssl-dev curl python3-pip)
apt_test=(nghttp2-client ceph-mon ceph-osd radosgw ceph-common golang-go golang-google-grpc-dev procps)
pip_build=(grpcio grpcio-tools)
pip_test=(pytest h2 boto3)

want_apt=("${apt_build[@]}")
want_pip=("${pip_build[@]}")
if [ "$level" = test ]; then want_apt+=("${apt_test[@]}"); want_pip+=("${pip_test[@]}"); fi

missing=()
for p in "${want_apt[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

py=${PYTHON:-python3}
need_pip=()
for p in "${want_pip[@]}"; do
  mod=${p//-/_}; [ "$p" = grpcio ] && mod=grpc; [ "$p" = grpcio-tools ] && mod=grpc_tools
  "$py" -c "import $mod" 2>/dev/null || need_pip+=("$p")
done
if [ ${#need_pip[@]} -gt 0 ]; then
  echo "installing Python packages: ${need_pip[*]}" >&2
  "$py" -m pip install -q "${need_pip[@]}" 2>&1 | grep -v "WARNING: Running pip as the 'root' user" || true
fi
