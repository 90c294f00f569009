#!/usr/bin/env bash
# The image's root filesystem, cut from Debian bookworm packages: only what the binary needs.
#
#   scripts/image/rootfs.sh BINARY OUT   # OUT/rootfs (the tree), OUT/contents.tsv (path, package),
#                                        # OUT/packages.tsv (package, version, files, bytes)
#   scripts/image/rootfs.sh --lock       # rewrite scripts/packages/runtime.lock from the archive
#
# How: mmdebstrap (extract variant: nothing is installed, no maintainer script runs, dpkg and apt
# stay outside) resolves the packages of scripts/packages/runtime.txt at the exact versions of
# runtime.lock, downloads them with apt (Release signatures checked) and extracts them into a
# staging root. From there only these are copied into OUT/rootfs:
#   - the shared libraries the binary links, followed through the libraries' own DT_NEEDED and
#     symbolic links (readelf; the program interpreter too);
#   - /etc/ssl/certs/ca-certificates.crt, concatenated from ca-certificates' certificates as its
#     update-ca-certificates would (that script needs a shell, which the image has none of);
#   - os-release and debian_version (base-files), and var/lib/dpkg/status.d/<package>, the control
#     data of every package with a file here, so image scanners see the Debian versions;
#   - each such package's copyright file;
#   - generated: /etc/passwd and /etc/group (root, nonroot 65532), /etc/nsswitch.conf, /tmp (1777);
#   - the binary at /usr/local/bin/argo-artifact-plugin, stripped (debug sections and symbol table:
#     -2.4 MiB compressed; nothing in the image reads them, the Swift backtracer is not in it).
# No shell, no package manager, no compiler: nothing that is not named above is copied.
#
# Environment:
#   IMAGE_MIRROR, IMAGE_SECURITY_MIRROR   Debian mirrors (default deb.debian.org)
#   IMAGE_SNAPSHOT=20250520T000000Z       use snapshot.debian.org at that time instead (a full pin
#                                          of the archive; that host must be reachable)
#   IMAGE_WORK                            staging directory (default OUT/stage; removed after)
set -euo pipefail
umask 022
export LC_ALL=C
repo=$(cd "$(dirname "$0")/../.." && pwd)
lists=$repo/scripts/packages
lock=$lists/runtime.lock
die() { echo "rootfs.sh: $*" >&2; exit 1; }
read_list() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$1"; }

suite=bookworm
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
aptopts=()
if [ -n "${IMAGE_SNAPSHOT:-}" ]; then
  main=http://snapshot.debian.org/archive/debian/$IMAGE_SNAPSHOT
  security=http://snapshot.debian.org/archive/debian-security/$IMAGE_SNAPSHOT
  aptopts+=(--aptopt='Acquire::Check-Valid-Until "false"')
else
  main=${IMAGE_MIRROR:-http://deb.debian.org/debian}
  security=${IMAGE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
fi
sources=("deb [signed-by=$keyring] $main $suite main"
         "deb [signed-by=$keyring] $main $suite-updates main"
         "deb [signed-by=$keyring] $security $suite-security main")

# fetch STAGE PACKAGE...: the packages (and the dependencies apt adds) extracted into STAGE, their
# .deb files left in STAGE/var/cache/apt/archives.
fetch() {
  local stage=$1; shift
  local log=$stage.mmdebstrap.log
  rm -rf "$stage"
  # chrootless + extract: mmdebstrap runs nothing inside the root and needs no mount, so it works
  # unprivileged in a container build too (its warning about chrootless as root is for variants
  # that run maintainer scripts).
  if ! mmdebstrap --mode=chrootless --variant=extract --skip=cleanup/apt/cache --skip=check/signed-by \
       "${aptopts[@]}" --include="$(IFS=,; echo "$*")" "$suite" "$stage" "${sources[@]}" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "mmdebstrap failed (log: $log). If a pinned version is no longer on the mirror, Debian has \
moved on: run \`make image-lock\` and commit scripts/packages/runtime.lock (or set IMAGE_SNAPSHOT)."
  fi
}

# name=version of every .deb fetched into STAGE, sorted.
fetched() {
  local deb
  for deb in "$1"/var/cache/apt/archives/*.deb; do
    dpkg-deb -f "$deb" Package Version | awk -F': ' '/^Package/{p=$2} /^Version/{v=$2} END{print p "=" v}'
  done | sort
}

if [ "${1:-}" = "--lock" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mapfile -t wanted < <(read_list "$lists/runtime.txt")
  fetch "$work/stage" "${wanted[@]}"
  {
    echo "# Exact versions of the runtime packages (runtime.txt) and every dependency apt adds, as"
    echo "# resolved from $main ($suite, $suite-updates, $suite-security) on $(date -u +%Y-%m-%d)."
    echo "# Written by \`make image-lock\` (scripts/image/rootfs.sh --lock); \`make image\` fetches exactly these."
    fetched "$work/stage"
  } >"$lock"
  echo "$lock:" >&2
  grep -v '^#' "$lock" >&2
  exit 0
fi

[ $# -eq 2 ] || die "usage: $0 BINARY OUT | --lock"
binary=$1 out=$2
[ -x "$binary" ] || die "no binary at $binary"
[ -f "$lock" ] || die "no $lock: run \`make image-lock\`"
: "${SOURCE_DATE_EPOCH:?rootfs.sh: SOURCE_DATE_EPOCH must be set (the commit time; scripts/image/build.sh sets it)}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=${IMAGE_WORK:-$out/stage}
root=$out/rootfs

# Every name of runtime.txt must be pinned, or the lock is stale.
mapfile -t pinned < <(read_list "$lock")
declare -A pinned_name
for p in "${pinned[@]}"; do pinned_name[${p%%=*}]=1; done
for name in $(read_list "$lists/runtime.txt"); do
  [ -n "${pinned_name[$name]:-}" ] || die "$name (runtime.txt) is not in runtime.lock: run \`make image-lock\`"
done
fetch "$stage" "${pinned[@]}"
# apt added nothing unpinned (a dependency that appeared would make the build drift).
if ! diff <(printf '%s\n' "${pinned[@]}" | sort) <(fetched "$stage") >"$out/lock.diff"; then
  cat "$out/lock.diff" >&2
  die "the packages fetched differ from runtime.lock (above: < lock, > fetched): run \`make image-lock\`"
fi
rm -f "$out/lock.diff"

# Which package ships each path (paths as in the root, without the leading ./).
declare -A owner version debfile
for deb in "$stage"/var/cache/apt/archives/*.deb; do
  pkg=$(dpkg-deb -f "$deb" Package)
  version[$pkg]=$(dpkg-deb -f "$deb" Version)
  debfile[$pkg]=$deb
  while IFS= read -r path; do
    path=${path#./}
    [ -n "$path" ] && [ "${path%/}" = "$path" ] && owner[$path]=$pkg
  done < <(dpkg-deb --fsys-tarfile "$deb" | tar -t)
done

declare -A keep         # path in the root -> 1
# norm PATH: PATH without ./, ../ or doubled slashes (textual, never through the host's links).
norm() { local p; p=$(realpath -m -s "/$1"); echo "${p#/}"; }
# follow PATH: keep PATH and every link on the way to its file, and set $file to that file's path
# (a variable, not output: keep must be filled in this shell, not in a command substitution's).
follow() {
  local p hops=0 t
  p=$(norm "$1")
  while [ -L "$stage/$p" ]; do
    keep[$p]=1
    t=$(readlink "$stage/$p")
    if [ "${t#/}" != "$t" ]; then p=$(norm "$t"); else p=$(norm "$(dirname "$p")/$t"); fi
    hops=$((hops + 1)); [ $hops -lt 40 ] || die "link loop at $1"
  done
  [ -f "$stage/$p" ] || die "$1 leads to $p, which no runtime package ships"
  keep[$p]=1
  file=$p
}
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
interpreter() { readelf -l "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p'; }
libdirs=(lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib usr/lib)

# The binary's shared libraries, breadth first through theirs.
queue=()
interp=$(interpreter "$binary")
[ -n "$interp" ] || die "$binary has no program interpreter (not a dynamic executable?)"
follow "$interp"
queue+=("$file")
for so in $(needed "$binary"); do queue+=("@$so"); done
declare -A seen
while [ ${#queue[@]} -gt 0 ]; do
  item=${queue[0]}; queue=("${queue[@]:1}")
  if [ "${item#@}" != "$item" ]; then       # a soname to look up in the library directories
    so=${item#@} found=
    for d in "${libdirs[@]}"; do
      if [ -e "$stage/$d/$so" ] || [ -L "$stage/$d/$so" ]; then follow "$d/$so"; found=$file; break; fi
    done
    [ -n "$found" ] || die "no runtime package ships $so (needed by the binary or its libraries): add its package to scripts/packages/runtime.txt"
    item=$found
  fi
  [ -z "${seen[$item]:-}" ] || continue
  seen[$item]=1
  for so in $(needed "$stage/$item"); do queue+=("@$so"); done
done

# Data files from packages.
compgen -G "$stage/usr/share/ca-certificates/*/*.crt" >/dev/null || die "ca-certificates shipped no certificates"
for f in usr/lib/os-release etc/os-release etc/debian_version; do follow "$f"; done

rm -rf "$root"
mkdir -p "$root"
for p in "${!keep[@]}"; do printf '%s\n' "$p"; done | sort >"$out/keep.list"
(cd "$stage" && xargs -d '\n' cp -a --parents -t "$root" <"$out/keep.list")

# Packages with a file in the root; their control data and copyright go in too.
declare -A kept
while IFS= read -r p; do
  [ -n "${owner[$p]:-}" ] || die "$p is in no package (a link made by a maintainer script?)"
  kept[${owner[$p]}]=1
done <"$out/keep.list"
kept[ca-certificates]=1

# The CA bundle, in update-ca-certificates' order (its configuration lists the certificates sorted).
mkdir -p "$root/etc/ssl/certs"
for f in $(cd "$stage/usr/share/ca-certificates" && ls -1 */*.crt | sort); do
  sed -e '$a\' "$stage/usr/share/ca-certificates/$f"
done >"$root/etc/ssl/certs/ca-certificates.crt"

mkdir -p "$root/var/lib/dpkg/status.d"
for pkg in "${!kept[@]}"; do
  dpkg-deb -f "${debfile[$pkg]}" >"$root/var/lib/dpkg/status.d/$pkg"
  src=$stage/usr/share/doc/$pkg/copyright
  [ -f "$src" ] || die "$pkg ships no copyright file"
  mkdir -p "$root/usr/share/doc/$pkg"
  cp -L "$src" "$root/usr/share/doc/$pkg/copyright"     # -L: some doc directories link to a sibling's
done

# Generated files.
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
mkdir -p "$root/tmp"
chmod 1777 "$root/tmp"
mkdir -p "$root/usr/local/bin"
# Besides the symbols and debug sections: Swift's per-module IR hash (.swift_modhash, for debuggers)
# and the linker's build id, which hashes it. Yams' IR comes out in one of several equivalent forms
# across clean builds (same machine code, another module hash: seen comparing two clean builds of
# one commit), and with them the image would not be reproducible.
strip --strip-all --remove-section=.swift_modhash --remove-section=.note.gnu.build-id \
  -o "$root/usr/local/bin/argo-artifact-plugin" "$binary"
chmod 0755 "$root/usr/local/bin/argo-artifact-plugin"

# Every path of the root, with the package it came from (generated files: "-", the binary:
# "argo-artifact-plugin"), and the sizes per package.
(cd "$root" && find . -mindepth 1 ! -type d | sed 's|^\./||' | sort) | while IFS= read -r p; do
  case "$p" in
    usr/local/bin/argo-artifact-plugin) pkg=argo-artifact-plugin ;;
    etc/ssl/certs/ca-certificates.crt) pkg=ca-certificates ;;
    var/lib/dpkg/status.d/*) pkg=${p#var/lib/dpkg/status.d/} ;;
    usr/share/doc/*/copyright) pkg=${p#usr/share/doc/}; pkg=${pkg%/copyright} ;;
    *) pkg=${owner[$p]:--} ;;
  esac
  printf '%s\t%s\t%s\n' "$p" "$pkg" "$(stat -c %s "$root/$p")"
done >"$out/contents.tsv"
awk -F'\t' 'BEGIN{OFS="\t"} {n[$2]++; b[$2]+=$3} END{for (p in n) print p, n[p], b[p]}' "$out/contents.tsv" | sort |
  while IFS=$'\t' read -r pkg files bytes; do
    printf '%s\t%s\t%s\t%s\n' "$pkg" "${version[$pkg]:--}" "$files" "$bytes"
  done >"$out/packages.tsv"

[ -n "${IMAGE_WORK:-}" ] || rm -rf "$stage"
rm -f "$out/keep.list" "$stage.mmdebstrap.log"
