#!/bin/sh
# Slim a virtual environment installed from a lock file, in an image's build stage:
#   slim-venv.sh VENV          test folders out; the identical copies of each shared library that wheels must carry
#                              (libtbb.so, libtbb.so.12, libtbb.so.12.20) made symlinks to one file
#   slim-venv.sh VENV serving  also pip and setuptools out, and the scipy subpackages that XGBoost never imports
#                              (it imports scipy.sparse and scipy.special at import time, nothing else, when
#                              scikit-learn is absent); the build then imports and runs what serving uses
set -eu
venv=$1
find "$venv/lib" -type d -name tests -path '*/site-packages/*' -prune -exec rm -rf {} +
"$venv/bin/python" - "$venv/lib" <<'PY'
import hashlib, os, pathlib, sys
groups: dict[str, list[pathlib.Path]] = {}
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.so*")):
    if path.is_file() and not path.is_symlink():
        groups.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), []).append(path)
for paths in groups.values():
    for copy in paths[:-1]:  # sorted: the last is the longest, fully versioned name
        copy.unlink()
        os.symlink(paths[-1].name, copy)
PY
if [ "${2:-}" = serving ]; then
  for scipy in "$venv"/lib/python3*/site-packages/scipy; do
    [ -d "$scipy" ] || continue
    for sub in cluster datasets differentiate fft fftpack integrate interpolate io linalg misc ndimage odr optimize \
               signal spatial stats; do
      rm -rf "${scipy:?}/$sub"
    done
  done
  "$venv/bin/python" -m pip uninstall --yes --quiet pip setuptools 2>/dev/null || true
fi
