#!/usr/bin/env bash
# make image: the OCI image of the plugin, with no container daemon and no registry.
#
#   scripts/image/build.sh BINARY     # BINARY: the release build with --static-swift-stdlib
#
# The root filesystem comes from scripts/image/rootfs.sh (Debian packages at the versions of
# scripts/packages/runtime.lock); it becomes one layer, written as a tar with sorted names,
# owner 0:0 and no mtime later than SOURCE_DATE_EPOCH. umoci adds it to a fresh OCI layout and
# writes the config: ENTRYPOINT /usr/local/bin/argo-artifact-plugin, USER 65532:65532, the OCI
# labels (version, revision, source), created = SOURCE_DATE_EPOCH. The layout is packed, again
# sorted and with fixed times, into build/argo-artifact-plugin-VERSION.oci.tar, whose absolute
# path is the last line printed: `skopeo copy oci-archive:PATH docker://REGISTRY/NAME:TAG`
# pushes it as it is.
#
# SOURCE_DATE_EPOCH defaults to the commit time of HEAD, so two builds of one commit give the
# same image digest. The name, tag, version and source URL come from plugin.yaml.
set -euo pipefail
export LC_ALL=C TZ=UTC
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
die() { echo "image: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 BINARY"
binary=$(realpath "$1")
for tool in umoci tar; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps.sh image installs it)"
done

field() { sed -n "s/^$1: *\([^ #]*\).*/\1/p" plugin.yaml | head -n1; }
image=$(field image) version=$(field version) source=$(field source)
[ -n "$image" ] && [ -n "$version" ] && [ -n "$source" ] || die "plugin.yaml needs image, version and source"
tag=${image##*:}
[ "$tag" = "$version" ] || die "plugin.yaml: the image tag ($tag) is not the version ($version)"
said=$("$binary" version) || die "$binary version failed"
[ "$said" = "argo-artifact-plugin $version" ] || die "the binary says '$said', plugin.yaml says version $version"

revision=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || revision="$revision-dirty"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

out=$repo/build/image
archive=$repo/build/argo-artifact-plugin-$version.oci.tar
rm -rf "$out" "$archive"
mkdir -p "$out"
scripts/image/rootfs.sh "$binary" "$out"

# tar_sorted DIR OUT.tar: DIR's entries (not DIR itself), sorted, 0:0, mtimes clamped.
tar_sorted() {
  local names
  mapfile -t names < <(cd "$1" && ls -A | sort)
  tar -C "$1" --sort=name --format=gnu --owner=0 --group=0 --numeric-owner \
      --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime -cf "$2" "${names[@]}"
}
tar_sorted "$out/rootfs" "$out/layer.tar"

layout=$out/oci
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci raw add-layer --image "$layout:$tag" --history.created="$created" \
  --history.created_by="scripts/image/rootfs.sh: Debian $(sed -n 's/^VERSION_CODENAME=//p' "$out/rootfs/usr/lib/os-release") packages of scripts/packages/runtime.lock, and the plugin" \
  "$out/layer.tar"
umoci config --image "$layout:$tag" --no-history --created="$created" --author="argo-artifact-plugin" \
  --os=linux --architecture=amd64 \
  --config.entrypoint=/usr/local/bin/argo-artifact-plugin --config.user=65532:65532 --config.workingdir=/ \
  --config.env=PATH=/usr/local/bin \
  --config.label=org.opencontainers.image.title=argo-artifact-plugin \
  --config.label=org.opencontainers.image.version="$version" \
  --config.label=org.opencontainers.image.revision="$revision" \
  --config.label=org.opencontainers.image.source="$source" \
  --config.label=org.opencontainers.image.created="$created"
umoci gc --layout "$layout"
tar_sorted "$layout" "$archive"

# What was built: the manifest's digest (what a registry reports after the push) and sizes.
mapfile -t manifests < <(grep -o '"digest":"sha256:[0-9a-f]*"' "$layout/index.json" | cut -d'"' -f4)
[ ${#manifests[@]} -eq 1 ] || die "expected one manifest in $layout/index.json, found ${#manifests[@]}"
manifest=${manifests[0]}
blob() { echo "$layout/blobs/sha256/${1#sha256:}"; }
compressed=$(grep -o '"size":[0-9]*' "$(blob "$manifest")" | awk -F: '{s += $2} END {print s}')
{
  echo "image      $image"
  echo "digest     $manifest"
  echo "revision   $revision (created $created)"
  echo "compressed $compressed bytes (config + layer, as pushed)"
  echo "layer      $(stat -c %s "$out/layer.tar") bytes uncompressed, $(wc -l <"$out/contents.tsv") files"
} | tee "$out/summary.txt"
echo "$manifest" >"$out/digest"
echo "push with: skopeo copy oci-archive:$archive docker://${image%:*}:$tag"
echo "$archive"
