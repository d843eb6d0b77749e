"""Converts a model trained with pytorch_fnet into weights silico imports.

  python python/import_fnet.py saved_models/nucleoli/model.p nucleoli.safetensors
  target/release/silico import --weights nucleoli.safetensors --model unet --structure nucleoli --out runs/fnet-nucleoli
  target/release/silico predict --checkpoint runs/fnet-nucleoli --input image.tif --out predictions

pytorch_fnet saves ``model.p`` with ``torch.save`` as a dict whose ``nn_state`` holds the
state dict of ``fnet_nn_3d_params.Net``. silico's ``unet3d`` uses the same names; only
BatchNorm's ``num_batches_tracked`` counters are dropped. The registry model must have the same
``depth`` and ``mult_chan`` (pytorch_fnet's defaults, 4 and 32, are the ``unet`` model's).
"""

import sys

import torch
from safetensors.torch import save_file


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    saved = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
    state = saved["nn_state"] if isinstance(saved, dict) and "nn_state" in saved else saved
    # DataParallel prefixes every name with "module.".
    state = {k.removeprefix("module."): v.contiguous() for k, v in state.items() if not k.endswith("num_batches_tracked")}
    save_file(state, sys.argv[2])
    print(f"wrote {len(state)} tensors to {sys.argv[2]}")


if __name__ == "__main__":
    main()
