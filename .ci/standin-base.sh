#!/usr/bin/env bash
# Build a stand-in for the official Python base image (python:3.12-slim-bookworm) from Debian packages, for
# machines that can reach a Debian mirror and PyPI but no image registry. Used by `make images` when the
# official base cannot be had; say so loudly, because the stand-in is Debian's Python 3.11, not python.org's 3.12.
#
#   .ci/standin-base.sh TAG        e.g. treeport-base:standin
#
# The Debian mirror is the one this machine's apt is configured with (read at run time from
# /etc/apt/sources.list and /etc/apt/sources.list.d/); the machine's CA bundle is copied in so that pip inside
# `docker build` trusts the same certificates as pip here. Needs root (mmdebstrap) and a running Docker engine.
set -euo pipefail

tag=${1:?usage: $0 TAG}
suite=${STANDIN_SUITE:-bookworm}
ca_bundle=${STANDIN_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

# The first configured mirror that serves $suite (one-line and deb822 formats), security archives excluded.
mirror=$(
  {
    cat /etc/apt/sources.list 2>/dev/null || true
    for f in /etc/apt/sources.list.d/*.list; do [ -f "$f" ] && cat "$f"; done
  } | awk -v s="$suite" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /:\/\//) { if ($(i + 1) == s) print $i; break } }'
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
      { uris = ""; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); uris = $i }
          if ($i ~ /^Suites:/) { n = split($i, w, /[ \t]+/); for (j = 2; j <= n; j++) if (w[j] == s) ok = 1 }
        }
        if (ok && uris != "") { split(uris, u, /[ \t]+/); print u[1] } }' "$f"
  done
)
mirror=$(printf '%s\n' "$mirror" | grep -v -- '-security' | head -n 1 || true)
if [ -z "$mirror" ]; then
  echo "standin-base: no Debian mirror for '$suite' in this machine's apt sources" >&2
  exit 1
fi
command -v mmdebstrap >/dev/null || { echo "standin-base: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
[ -r "$ca_bundle" ] || { echo "standin-base: no CA bundle at $ca_bundle" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "standin-base: building $tag from Debian $suite packages (the configured mirror), not the official image"
# No documentation, manual pages or locales: like the slim official image, the base holds the interpreter and what it
# links (Debian's minbase keeps apt and perl-base, which the official slim image has too).
mmdebstrap --quiet --variant=minbase --mode=root \
  --include=python3,python3-venv,python-is-python3,ca-certificates \
  --customize-hook="copy-in $ca_bundle /etc/ssl/certs" \
  --customize-hook='rm -rf "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/usr/share/locale/* "$1"/var/cache/apt/*' \
  "$suite" "$work/base.tar" "deb $mirror $suite main"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "stand-in for python:3.12-slim-bookworm: Debian $suite python3 via mmdebstrap" \
  "$work/base.tar" "$tag" >/dev/null
docker image inspect --format "standin-base: $tag is {{.Size}} bytes" "$tag"
