"""Checks silico's networks against their PyTorch twins (silico_reference.py).

  check_pytorch.py random-weights --component unet3d --config '{"depth": 2}' --seed 5 --out W.safetensors
      PyTorch-initialised weights (and randomised BatchNorm statistics) for silico to import.
  check_pytorch.py compare-tensors --component patchgan3d --config '{...}' --weights W.safetensors \
        --tensors T.safetensors [--tolerance 1e-4]
      Runs the twin in eval mode on the tensor `input` of T and compares with its tensor `output`
      (what silico computed), for networks that do not map an image to an image.
  check_pytorch.py compare --component unet3d --config '{...}' --weights W.safetensors \
        --input brightfield.tif --prediction silico_prediction.tif [--tolerance 1e-4]
      Runs the twin in eval mode on the input, prepared as silico prepares it (z-score of the
      whole image, zero padding up to multiples of 16), and prints the largest absolute
      difference from silico's prediction; exits 1 above the tolerance.
"""

import argparse
import json
import sys

import numpy as np
import tifffile
import torch
from safetensors.torch import load_file, save_file

from silico_reference import build, silico_state


def twin(args):
    return build(args.component, json.loads(args.config)).eval()


def random_weights(args):
    torch.manual_seed(args.seed)
    net = twin(args)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("running_mean"):
                tensor.normal_(0.0, 0.1)
            elif name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
    save_file(silico_state(net), args.out)


def compare(args):
    net = twin(args)
    missing, unexpected = net.load_state_dict(load_file(args.weights), strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"weights do not fit the twin: missing {missing}, unexpected {unexpected}")
    image = tifffile.imread(args.input).astype(np.float64)
    image = ((image - image.mean()) / image.std()).astype(np.float32)
    size = image.shape
    padded = [(n + 15) // 16 * 16 for n in size]
    x = np.zeros(padded, np.float32)
    x[: size[0], : size[1], : size[2]] = image
    with torch.no_grad():
        out = net(torch.from_numpy(x)[None, None])[0, 0].numpy()[: size[0], : size[1], : size[2]]
    silico = tifffile.imread(args.prediction).astype(np.float32)
    difference = float(np.abs(out - silico).max())
    print(f"max abs difference {difference:.3e} over {out.size} voxels (values span {out.min():.3f} .. {out.max():.3f})")
    if difference > args.tolerance:
        sys.exit(1)


def compare_tensors(args):
    net = twin(args)
    net.load_state_dict(load_file(args.weights), strict=True)
    tensors = load_file(args.tensors)
    with torch.no_grad():
        out = net(tensors["input"])
    difference = float((out - tensors["output"]).abs().max())
    print(f"max abs difference {difference:.3e} over {out.numel()} values of shape {tuple(out.shape)}")
    if difference > args.tolerance:
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ["random-weights", "compare", "compare-tensors"]:
        p = sub.add_parser(name)
        p.add_argument("--component", required=True)
        p.add_argument("--config", default="{}")
    sub.choices["random-weights"].add_argument("--seed", type=int, default=0)
    sub.choices["random-weights"].add_argument("--out", required=True)
    for flag in ["--weights", "--input", "--prediction"]:
        sub.choices["compare"].add_argument(flag, required=True)
    sub.choices["compare"].add_argument("--tolerance", type=float, default=1e-4)
    for flag in ["--weights", "--tensors"]:
        sub.choices["compare-tensors"].add_argument(flag, required=True)
    sub.choices["compare-tensors"].add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    {"random-weights": random_weights, "compare": compare, "compare-tensors": compare_tensors}[args.command](args)


if __name__ == "__main__":
    main()
