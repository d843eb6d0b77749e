# Sourced by the project's scripts: installs libtorch (the torch==2.13.0 wheel that tch 0.26
# expects) and the Python reference libraries into a cache outside the clone once, and links
# `.libtorch` to it for tch's build (see .cargo/config.toml).
# Set SILICO_CACHE to move the cache (default: ~/.cache/silico). Sourced, so it sets no shell
# options of its caller.
SILICO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SILICO_CACHE="${SILICO_CACHE:-$HOME/.cache/silico}"
SILICO_VENV="$SILICO_CACHE/torch-2.13.0"
# Everything the project installs with pip, pinned; a change here reinstalls.
SILICO_PY_REQUIREMENTS="torch==2.13.0 numpy==2.4.6 tifffile==2026.3.3 safetensors==0.8.0 scipy==1.17.1 scikit-image==0.26.0 scikit-learn==1.9.1 monai==1.6.1"

if [ ! -f "$SILICO_VENV/.ready" ] || [ "$(cat "$SILICO_VENV/.ready")" != "$SILICO_PY_REQUIREMENTS" ]; then
  echo "silico: installing Python torch 2.13.0 and reference libraries into $SILICO_VENV (once; several GB)" >&2
  mkdir -p "$SILICO_CACHE"
  [ -x "$SILICO_VENV/bin/python" ] || python3 -m venv "$SILICO_VENV"
  # shellcheck disable=SC2086
  "$SILICO_VENV/bin/pip" install --quiet --disable-pip-version-check $SILICO_PY_REQUIREMENTS
  echo "$SILICO_PY_REQUIREMENTS" > "$SILICO_VENV/.ready.tmp" && mv "$SILICO_VENV/.ready.tmp" "$SILICO_VENV/.ready"
fi

# .cargo/config.toml points tch at this link.
SILICO_TORCH_DIR="$("$SILICO_VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
if [ "$(readlink "$SILICO_ROOT/.libtorch" 2>/dev/null)" != "$SILICO_TORCH_DIR" ]; then
  ln -sfn "$SILICO_TORCH_DIR" "$SILICO_ROOT/.libtorch"
fi

export PATH="$SILICO_VENV/bin:$PATH"
export SILICO_PYTHON="$SILICO_VENV/bin/python"
