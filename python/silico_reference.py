"""PyTorch twins of silico's network plugins, parameter for parameter and name for name.

- ``FnetUNet``: pytorch_fnet's ``fnet_nn_3d_params.Net`` (Ounkomol et al. 2018), the layout of
  ``plugins/unet3d``; its state dict is pytorch_fnet's, so a model trained with pytorch_fnet
  loads into silico (``silico import --weights model.p``, through ``import_state.py``).
- ``R2UNet3d``: ``plugins/r2unet3d`` (the Vox2Vox-RU generator).
- ``PatchGan3d``: ``plugins/patchgan3d``.

Used by the equivalence check (``check_pytorch.py``) and the benchmark (``bench_train.py``).
"""

import torch
import torch.nn.functional as F
from torch import nn


class SubNet2Conv(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.conv1 = nn.Conv3d(n_in, n_out, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm3d(n_out)
        self.conv2 = nn.Conv3d(n_out, n_out, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm3d(n_out)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class NetRecurse(nn.Module):
    def __init__(self, n_in, mult_chan, depth):
        super().__init__()
        self.depth = depth
        n_out = n_in * mult_chan
        self.sub_2conv_more = SubNet2Conv(n_in, n_out)
        if depth > 0:
            self.sub_2conv_less = SubNet2Conv(2 * n_out, n_out)
            self.conv_down = nn.Conv3d(n_out, n_out, 2, stride=2)
            self.bn0 = nn.BatchNorm3d(n_out)
            self.convt = nn.ConvTranspose3d(2 * n_out, n_out, kernel_size=2, stride=2)
            self.bn1 = nn.BatchNorm3d(n_out)
            self.sub_u = NetRecurse(n_out, 2, depth - 1)

    def forward(self, x):
        more = self.sub_2conv_more(x)
        if self.depth == 0:
            return more
        deeper = self.sub_u(F.relu(self.bn0(self.conv_down(more))))
        up = F.relu(self.bn1(self.convt(deeper)))
        return self.sub_2conv_less(torch.cat((more, up), 1))


class FnetUNet(nn.Module):
    def __init__(self, depth=4, mult_chan=32, in_channels=1, out_channels=1):
        super().__init__()
        self.net_recurse = NetRecurse(in_channels, mult_chan, depth)
        self.conv_out = nn.Conv3d(mult_chan * in_channels, out_channels, kernel_size=3, padding=1)

    def forward(self, x):
        return self.conv_out(self.net_recurse(x))


def norm3d(kind, channels):
    if kind == "batch":
        return nn.BatchNorm3d(channels)
    if kind == "instance":
        return nn.InstanceNorm3d(channels)
    return nn.Identity()


class RecurrentLayer(nn.Module):
    def __init__(self, channels, t, norm):
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, 3, padding=1)
        self.norm = norm3d(norm, channels)
        self.t = t

    def forward(self, x):
        out = F.relu(self.norm(self.conv(x)))
        for _ in range(self.t):
            out = F.relu(self.norm(self.conv(x + out)))
        return out


class Rrcu(nn.Module):
    def __init__(self, c_in, c_out, t, norm):
        super().__init__()
        self.conv1x1 = nn.Conv3d(c_in, c_out, 1)
        self.rec1 = RecurrentLayer(c_out, t, norm)
        self.rec2 = RecurrentLayer(c_out, t, norm)

    def forward(self, x):
        x = self.conv1x1(x)
        return x + self.rec2(self.rec1(x))


class UpConv(nn.Module):
    def __init__(self, c_in, c_out, norm):
        super().__init__()
        self.conv = nn.Conv3d(c_in, c_out, 3, padding=1)
        self.norm = norm3d(norm, c_out)

    def forward(self, x):
        return F.relu(self.norm(self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))))


class R2UNet3d(nn.Module):
    def __init__(self, base_channels=16, depth=3, t=2, norm="batch", in_channels=1, out_channels=1):
        super().__init__()
        width = [base_channels << level for level in range(depth + 1)]
        self.encoders = nn.ModuleList(
            Rrcu(in_channels if level == 0 else width[level - 1], width[level], t, norm) for level in range(depth + 1)
        )
        self.ups = nn.ModuleList(UpConv(width[level + 1], width[level], norm) for level in range(depth))
        self.decoders = nn.ModuleList(Rrcu(2 * width[level], width[level], t, norm) for level in range(depth))
        self.head = nn.Conv3d(width[0], out_channels, 1)

    def forward(self, x):
        skips = []
        for level, encoder in enumerate(self.encoders):
            if level > 0:
                x = F.max_pool3d(x, 2)
            x = encoder(x)
            skips.append(x)
        skips.pop()
        for level in reversed(range(len(self.ups))):
            x = self.decoders[level](torch.cat((skips.pop(), self.ups[level](x)), 1))
        return self.head(x)


class PatchGan3d(nn.Module):
    def __init__(self, base_channels=64, layers=4, norm="instance", in_channels=2, out_channels=1):
        super().__init__()
        blocks, c_in = [], in_channels
        for i in range(layers):
            c_out = base_channels << i
            block = nn.Module()
            block.conv = nn.Conv3d(c_in, c_out, 4, stride=2, padding=1)
            block.norm = norm3d("none" if i == 0 else norm, c_out)
            blocks.append(block)
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv3d(c_in, out_channels, 4, padding=1)

    def forward(self, x):
        for block in self.blocks:
            x = F.leaky_relu(block.norm(block.conv(x)), 0.2)
        return self.head(F.pad(x, (1, 0, 1, 0, 1, 0)))


def build(component, config):
    """The twin of a registry component table (without its ``component`` key)."""
    nets = {"unet3d": FnetUNet, "r2unet3d": R2UNet3d, "patchgan3d": PatchGan3d}
    return nets[component](**config)


def silico_state(module):
    """A state dict as silico names it: without BatchNorm's ``num_batches_tracked``."""
    return {k: v.contiguous() for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
