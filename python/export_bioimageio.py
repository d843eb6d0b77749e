"""The PyTorch part of `silico export --format bioimageio`: a silico generator's weights as the
BioImage Model Zoo's `pytorch_state_dict` and `torchscript` weights.

  export_bioimageio.py --callable FnetUNet --kwargs '{"depth": 3, "mult_chan": 8, ...}' \
      --weights generator.safetensors --input input.npy --output test_output.npy --out DIR

Loads silico's weights into the PyTorch twin (silico_reference.py, beside this script), writes
DIR/weights.pt (the twin's state dict) and DIR/weights.torchscript.pt (the twin traced on the
input), checks that the TorchScript gives silico's output from the z-scored input and that the
trace computes any other valid size as the twin does, and prints one JSON line: the PyTorch
version and the largest difference from silico's output.
"""

import argparse
import json
import sys

try:
    import numpy as np
    import torch
    from safetensors.torch import load_file
except ImportError as error:
    sys.exit(f"missing Python package: {error}")

import silico_reference


def twin(args):
    net = getattr(silico_reference, args.callable)(**json.loads(args.kwargs))
    missing, unexpected = net.load_state_dict(load_file(args.weights), strict=False)
    # silico keeps no BatchNorm batch counter; evaluation never reads it.
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"the weights do not fit {args.callable}: missing {missing}, unexpected {unexpected}")
    return net.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callable", required=True)
    parser.add_argument("--kwargs", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--input", required=True, help="the z-scored test input, (1, 1, Z, Y, X)")
    parser.add_argument("--output", required=True, help="silico's prediction of it")
    parser.add_argument("--step", type=int, required=True, help="the size step of every space axis")
    parser.add_argument("--out", required=True)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    torch.set_grad_enabled(False)
    net = twin(args)
    torch.save(net.state_dict(), f"{args.out}/weights.pt")

    example = torch.from_numpy(np.load(args.input))
    # Tracing, not scripting: the twins choose their layers by depth in Python (NetRecurse
    # stops at depth 0, R2UNet3d indexes its ModuleLists), which TorchScript cannot compile.
    # Every operation of these networks follows its input's size, so one trace serves all sizes.
    traced = torch.jit.trace(net, example, check_trace=False)
    traced.save(f"{args.out}/weights.torchscript.pt")
    traced = torch.jit.load(f"{args.out}/weights.torchscript.pt")

    difference = float((traced(example) - torch.from_numpy(np.load(args.output))).abs().max())
    if difference > args.tolerance:
        sys.exit(f"the TorchScript differs from silico's prediction by {difference:.2e} (tolerance {args.tolerance:.0e})")
    other = torch.randn(1, 1, *(n + args.step for n in example.shape[2:]))
    retraced = float((traced(other) - net(other)).abs().max())
    if retraced > args.tolerance:
        sys.exit(f"the trace does not generalise to size {tuple(other.shape[2:])}: off by {retraced:.2e}")
    print(json.dumps({"pytorch_version": torch.__version__.split("+")[0], "max_difference": difference}))


if __name__ == "__main__":
    main()
