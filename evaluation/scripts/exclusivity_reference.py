"""Organelle exclusivity (Sun et al. 2022, Section 2.3) in vectorized NumPy: the independent
reference that silico-evaluation's tests and benchmark compare against.

    exclusivity_reference.py DATA CHANNELS [--mask MASK] [--time REPEATS]

DATA holds C x V little-endian f32 values, channel-major (channel c's V voxels, then the next);
MASK, if given, V bytes (non-zero = the voxel counts). Prints one value per line:
`overall X`, `voxels N`, `organelle A X`, `highest_voxels A N`, `pairwise A B X` (NaN on the
diagonal and for channels never highest), and with --time, `seconds S`: the best of REPEATS
timed runs of the computation alone (the file is read beforehand).
"""

import argparse
import sys
import time

try:
    import numpy as np
except ImportError:
    sys.exit(f"numpy is not installed for {sys.executable}; install it (pip install numpy) or point SILICO_PYTHON at a Python that has it")


def exclusivity(values, inside):
    """values: (C, V) float32; inside: (V,) bool or None."""
    if inside is not None:
        values = values[:, inside]
    channels = values.shape[0]
    # argmax returns the first of tied maxima: ties go to the lowest channel.
    highest_channel = np.argmax(values, axis=0)
    ranked = np.partition(values, channels - 2, axis=0)
    second = ranked[channels - 2]
    highest = ranked[channels - 1].astype(np.float64)
    counts = np.bincount(highest_channel, minlength=channels)
    gap = np.bincount(highest_channel, weights=highest - second, minlength=channels)
    with np.errstate(invalid="ignore", divide="ignore"):
        organelle = gap / counts
        pairwise = np.empty((channels, channels))
        for b in range(channels):
            pairwise[:, b] = np.bincount(highest_channel, weights=highest - values[b], minlength=channels) / counts
    np.fill_diagonal(pairwise, np.nan)
    return gap.sum() / counts.sum(), counts, organelle, pairwise


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("channels", type=int)
    parser.add_argument("--mask")
    parser.add_argument("--time", type=int, default=0)
    args = parser.parse_args()
    values = np.fromfile(args.data, dtype="<f4").reshape(args.channels, -1)
    inside = None if args.mask is None else np.fromfile(args.mask, dtype=np.uint8) != 0
    overall, counts, organelle, pairwise = exclusivity(values, inside)
    best = float("inf")
    for _ in range(args.time):
        start = time.perf_counter()
        exclusivity(values, inside)
        best = min(best, time.perf_counter() - start)
    lines = [f"overall {float(overall)!r}", f"voxels {int(counts.sum())}"]
    for a in range(args.channels):
        lines.append(f"organelle {a} {float(organelle[a])!r}")
        lines.append(f"highest_voxels {a} {int(counts[a])}")
        for b in range(args.channels):
            lines.append(f"pairwise {a} {b} {float(pairwise[a, b])!r}")
    if args.time:
        lines.append(f"seconds {best!r}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
