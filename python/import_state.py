"""Converts a PyTorch state dict saved with ``torch.save`` into safetensors, for ``silico import``.

  python python/import_state.py model.pt state.safetensors

Takes ``torch.save(net.state_dict(), ...)``, or a checkpoint dict holding the state dict under
``state_dict``, ``model_state_dict`` or ``nn_state`` (pytorch_fnet's ``model.p``). The file is
read with ``weights_only=True``, so no code in it runs. Names are kept as saved: ``silico
import`` strips wrapper prefixes (``module.``) and drops bookkeeping buffers
(``num_batches_tracked``) itself, and ``silico import --weights model.pt`` runs this script.
"""

import sys

import torch
from safetensors.torch import save_file

STATE_KEYS = ("state_dict", "model_state_dict", "nn_state")


def state_dict(saved):
    if isinstance(saved, dict):
        for key in STATE_KEYS:
            if isinstance(saved.get(key), dict):
                return saved[key]
    return saved


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, out = sys.argv[1:]
    try:
        saved = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        sys.exit(f"torch.load(weights_only=True) cannot read it ({first_line}); save net.state_dict(), not the module")
    state = state_dict(saved)
    if not isinstance(state, dict) or not state:
        sys.exit(f"not a state dict: expected tensors by name, or a dict holding them under {', '.join(STATE_KEYS)}")
    stray = next((name for name, value in state.items() if not isinstance(value, torch.Tensor)), None)
    if stray is not None:
        sys.exit(f"`{stray}` is a {type(state[stray]).__name__}, not a tensor: not a state dict")
    # clone: safetensors refuses tensors that share storage (tied weights).
    save_file({name: value.detach().contiguous().clone() for name, value in state.items()}, out)


if __name__ == "__main__":
    main()
