#!/usr/bin/env bash
# Copy a torch wheel into docker/wheelhouse/ for the training image build.
#
# For machines whose pip sees a local CPU torch wheel while the index's default torch is the
# multi-GB CUDA build (CI): the training image then gets the CPU wheel. Real users leave the
# wheelhouse empty and the image gets torch from their index (CUDA on Linux x86-64).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=docker/wheelhouse
version=${TORCH_VERSION:-2.13.0}
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3

if compgen -G "$dest/torch-$version*.whl" >/dev/null; then
    echo "wheelhouse: $(basename "$dest"/torch-"$version"*.whl) already present"
    exit 0
fi
"$python" -m pip download -q "torch==$version" --no-deps --only-binary=:all: -d "$dest" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
wheel=$(compgen -G "$dest/torch-$version*.whl" | head -n1) \
    || { echo "wheelhouse: pip could not download torch==$version" >&2; exit 1; }
echo "wheelhouse: $(basename "$wheel") ($(du -m "$wheel" | cut -f1) MB)"
