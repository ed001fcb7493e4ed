#!/usr/bin/env bash
# .ci/libvirt-corpus.sh - libvirt's own domain XML test corpus (tests/qemuxmlconfdata, or
# tests/qemuxml2argvdata in releases before 10.x), taken from Debian's libvirt source package with
# apt-get source and cached, so it is fetched once per machine. Never committed.
#
# Prints the cache directory holding the *.xml files. Idempotent: a rerun with the cache present
# prints it and does nothing else. Needs root (deb-src lines, apt-get update) the first time.
# Override the cache with AUTOGLM_CI_CACHE (default /var/cache/autoglm-ci).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
CACHE=${AUTOGLM_CI_CACHE:-/var/cache/autoglm-ci}
SRC_LIST=/etc/apt/sources.list.d/autoglm-ci-deb-src.sources
log() { echo "[libvirt-corpus] $*" >&2; }

version=$(dpkg-query -W -f='${source:Version}' libvirt-daemon 2>/dev/null || true)
[ -n "$version" ] || version=$(dpkg-query -W -f='${source:Version}' libvirt0 2>/dev/null || echo current)
dest="$CACHE/libvirt-tests-$version"
if [ -e "$dest/.complete" ]; then echo "$dest"; exit 0; fi

# deb-src lines for the suites the machine already uses (deb822 .sources or one-line sources.list)
if ! apt-get source --print-uris libvirt >/dev/null 2>&1; then
    if [ ! -e "$SRC_LIST" ]; then
        if [ -r /etc/apt/sources.list.d/debian.sources ]; then
            sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$SRC_LIST"
        else
            grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
                | sed 's/^deb /deb-src /' >"${SRC_LIST%.sources}.list"
        fi
        log "added deb-src lines ($SRC_LIST)"
    fi
    apt-get -q update -o DPkg::Lock::Timeout=600 >&2
fi

work=$(mktemp -d /tmp/autoglm-libvirt-src.XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get -q source --download-only "libvirt=$version" >&2 2>&1 || apt-get -q source --download-only libvirt >&2)
orig=$(ls "$work"/libvirt_*.orig.tar.* | head -n 1)
log "extracting tests/qemuxml*data from $(basename "$orig")"
tar -C "$work" -xf "$orig" --wildcards --no-anchored '*/tests/qemuxml*data/*.xml'
found=$(find "$work" -type d \( -name qemuxmlconfdata -o -name qemuxml2argvdata \) | head -n 1)
[ -n "$found" ] || { log "no qemuxmlconfdata/qemuxml2argvdata in $orig"; exit 1; }
mkdir -p "$CACHE"
rm -rf "$dest.tmp"
mv "$found" "$dest.tmp"
echo "$(basename "$found") from $(basename "$orig")" >"$dest.tmp/.complete"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
log "$(find "$dest" -name '*.xml' | wc -l) files in $dest"
echo "$dest"
