"""Makes net.pt: a small 3D network written in PyTorch, compiled with torch.jit.script, for
silico's `torchscript` generator (examples/torchscript/registry.toml trains it).

    python make_net.py [OUT]      # default: net.pt beside this script

Any nn.Module works the same way if TorchScript can compile it: it takes one float32 tensor
(N, C_in, Z, Y, X) and returns one (N, C_out, Z, Y, X) of the same Z, Y, X. Its parameters are
what silico trains; its buffers (BatchNorm's running statistics) are saved and restored with
them; silico's checkpoints hold its state_dict(), under its own names.
"""

import sys
from pathlib import Path

import torch
from torch import nn


class ConvBnRelu3d(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Conv3d(c_in, c_out, 3, padding=1), nn.BatchNorm3d(c_out), nn.ReLU())


class SmallNet3d(nn.Module):
    """Two conv → BatchNorm → ReLU blocks and a 1×1×1 conv head, with a residual path from
    the input: one transmitted-light channel in, one fluorescence channel out."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.body = nn.Sequential(ConvBnRelu3d(1, channels), ConvBnRelu3d(channels, channels))
        self.head = nn.Conv3d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)) + x


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("net.pt")
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(SmallNet3d()), str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
