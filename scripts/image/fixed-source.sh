#!/usr/bin/env bash
# Copies the checkout's files (tracked and new, as they are in the working tree) to DEST, leaving
# DEST/.build-release-static in place. The image's binary is built there, at one fixed path
# whatever the checkout's: Swift 6.3.1 puts the length of a source file's absolute path into some
# trap calls, which -file-prefix-map does not rewrite (and SwiftPM resolves symlinks), so two
# checkouts of one commit at different paths gave binaries 6 bytes apart.
set -euo pipefail
dest=${1:?usage: fixed-source.sh DEST}
cd "$(dirname "$0")/../.."
repo=$(pwd -P)
mkdir -p "$dest"
dest=$(cd "$dest" && pwd -P)
# DEST is emptied below: refuse the checkout itself, anything holding it, and a directory with
# files that this script did not make (no marker).
case "$repo/" in "$dest"/*) echo "fixed-source: IMAGE_SRC $dest holds the checkout $repo; pick another" >&2; exit 2 ;; esac
marker=.argo-artifact-plugin-image-src
if [ -n "$(ls -A "$dest")" ] && [ ! -e "$dest/$marker" ]; then
  echo "fixed-source: IMAGE_SRC $dest has files this script did not put there; pick an empty or new directory" >&2
  exit 2
fi
find "$dest" -mindepth 1 -maxdepth 1 ! -name .build-release-static ! -name "$marker" -exec rm -rf {} +
touch "$dest/$marker"
# Files deleted in the working tree but still tracked are skipped (--ignore-failed-read).
git ls-files -z --cached --others --exclude-standard \
    | tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null \
    | tar -C "$dest" -xf -
