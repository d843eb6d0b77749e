# Sourced by the project's scripts: installs libtorch (the torch==2.13.0 wheel that tch 0.26
# expects) and the Python reference libraries into a cache outside the clone once, and links
# `.libtorch` to it for tch's build (see .cargo/config.toml).
# Set SILICO_CACHE to move the cache (default: ~/.cache/silico). Sourced, so it sets no shell
# options of its caller.
SILICO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SILICO_CACHE="${SILICO_CACHE:-$HOME/.cache/silico}"
SILICO_VENV="$SILICO_CACHE/torch-2.13.0"
# Everything the project installs with pip, pinned; a change here reinstalls.
SILICO_PY_REQUIREMENTS="torch==2.13.0 numpy==2.4.6 tifffile==2026.3.3 safetensors==0.8.0 scipy==1.17.1 scikit-image==0.26.0 scikit-learn==1.9.1 monai==1.6.1 bioimageio.core==0.11.0 tensorboard==2.21.0 pydantic==2.13.5 trimesh==5.2.0 meshio==5.3.5"
# OME-Zarr's Python readers and writers pin incompatible zarr versions (iohub 0.2 needs zarr 2,
# ome-zarr's NGFF 0.5 needs zarr 3), so each gets a small venv of its own (no torch).
SILICO_ZARR2_REQUIREMENTS="numpy==2.4.6 zarr==2.18.7 ome-zarr==0.11.1 iohub==0.2.3.post1 tifffile==2025.5.10"
SILICO_ZARR3_REQUIREMENTS="numpy==2.4.6 zarr==3.1.6 ome-zarr==0.18.0"

# silico_venv DIR REQUIREMENTS: creates DIR with exactly REQUIREMENTS installed, once.
silico_venv() {
  if [ ! -f "$1/.ready" ] || [ "$(cat "$1/.ready")" != "$2" ]; then
    echo "silico: installing $2 into $1 (once)" >&2
    mkdir -p "$SILICO_CACHE"
    [ -x "$1/bin/python" ] || python3 -m venv "$1"
    # shellcheck disable=SC2086
    "$1/bin/pip" install --quiet --disable-pip-version-check $2
    echo "$2" > "$1/.ready.tmp" && mv "$1/.ready.tmp" "$1/.ready"
  fi
}
silico_venv "$SILICO_VENV" "$SILICO_PY_REQUIREMENTS"
silico_venv "$SILICO_CACHE/zarr2" "$SILICO_ZARR2_REQUIREMENTS"
silico_venv "$SILICO_CACHE/zarr3" "$SILICO_ZARR3_REQUIREMENTS"

# .cargo/config.toml points tch at this link.
SILICO_TORCH_DIR="$("$SILICO_VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
if [ "$(readlink "$SILICO_ROOT/.libtorch" 2>/dev/null)" != "$SILICO_TORCH_DIR" ]; then
  ln -sfn "$SILICO_TORCH_DIR" "$SILICO_ROOT/.libtorch"
fi

export PATH="$SILICO_VENV/bin:$PATH"
export SILICO_PYTHON="$SILICO_VENV/bin/python"
export SILICO_ZARR2_PYTHON="$SILICO_CACHE/zarr2/bin/python"
export SILICO_ZARR3_PYTHON="$SILICO_CACHE/zarr3/bin/python"
