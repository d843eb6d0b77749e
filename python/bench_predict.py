"""Whole-image prediction in PyTorch, measured next to `silico predict` (scripts/bench-predict).

  bench_predict.py predict --method fnet|monai|whole --checkpoint RUN --input BF.tif --out P.tif [--threads N]
      [--device cpu|cuda] [--precision fp32|bf16|fp16] [--memory-format contiguous|channels-last]
      Loads the generator of a silico checkpoint into its PyTorch twin (silico_reference.py),
      z-scores the image as silico does, predicts it and writes P.tif; prints `P.tif  S s`, S
      being the seconds of the prediction alone (after loading, no warm-up).
        fnet   pytorch_fnet's piecewise prediction: the image zero-padded to multiples of 16,
               tiles of up to 32×512×512 overlapping by 16, each weighted by a separable
               triangular window (scipy's triang), the weighted sum over the summed weights.
        monai  MONAI's sliding_window_inference, roi 32×128×128, overlap 0.25, gaussian.
        whole  one forward of the whole image, padded to multiples of 16.
      --precision other than fp32 runs the forward passes under torch.autocast, and
      --memory-format channels-last stores weights and inputs channels-last-3d: PyTorch at the
      settings silico's default prediction uses.
  bench_predict.py shape [--padded] BF.tif
      Prints the image's shape as z,y,x; --padded: rounded up to multiples of 16.
  bench_predict.py measure --row ROW.json --volume V --method M --precision P --tiles T [--reference] -- CMD...
      Runs CMD as one child process; writes ROW.json with its peak resident memory
      (getrusage of the child), its wall time, the seconds it printed (the last `<number> s` it
      wrote), and the prediction it wrote (the `.tif` path on that line).
  bench_predict.py table ROW.json...
      Prints one line per row: seconds, peak MB, speed and memory ratio against the fnet-style
      row of the same volume (fnet / this: above 1 is faster, or smaller), and Pearson r against
      the row marked --reference. Exits 1 unless PyTorch's whole-image prediction and silico's
      untiled one agree to r > 0.9999 on every volume.
"""

import argparse
import itertools
import json
import re
import resource
import subprocess
import sys
import time
import tomllib
from pathlib import Path

# `measure` must stay small: a child's peak resident memory counts the launcher's at the fork,
# so only the subcommands that compute load numpy and torch.
if sys.argv[1:2] != ["measure"]:
    import numpy as np
    import tifffile
    import torch
    from safetensors.torch import load_file

    from silico_reference import build

MULTIPLE = 16
FNET_TILE = (32, 512, 512)
FNET_OVERLAP = 16
MONAI_ROI = (32, 128, 128)
MONAI_OVERLAP = 0.25
AGREEMENT = 0.9999
SECONDS = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*s\s*$")


def round_up(n):
    return (n + MULTIPLE - 1) // MULTIPLE * MULTIPLE


def load_generator(run):
    """The PyTorch twin of a silico run's (or checkpoint folder's) generator, in eval mode."""
    folder = Path(run) if (Path(run) / "checkpoint.json").exists() else Path(run) / "checkpoint"
    meta = json.loads((folder / "checkpoint.json").read_text())
    config = dict(tomllib.loads(meta["model_table"])["generator"])
    net = build(config.pop("component"), config).eval()
    missing, unexpected = net.load_state_dict(load_file(folder / "generator.safetensors"), strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"{folder}: weights do not fit the twin: missing {missing}, unexpected {unexpected}")
    return net


def z_scored(path):
    """The image as silico's loader prepares it: one channel, minus its mean, over its std."""
    image = np.squeeze(tifffile.imread(path)).astype(np.float64)
    if image.ndim != 3:
        sys.exit(f"{path}: expected one (Z, Y, X) channel, got shape {image.shape}")
    std = image.std()
    return ((image - image.mean()) / (std if std > 0 else 1.0)).astype(np.float32)


def padded(image):
    """Zero padding (the mean of a z-scored image) at the far end of each axis, to multiples of 16."""
    return np.pad(image, [(0, round_up(n) - n) for n in image.shape])


def forward(net, block):
    x = torch.from_numpy(np.ascontiguousarray(block))[None, None].to(DEVICE)
    with torch.autocast(DEVICE.type, dtype=AUTOCAST, enabled=AUTOCAST is not None):
        out = net(x.contiguous(memory_format=LAYOUT))
    return out[0, 0].float().cpu().numpy()


def tile_starts(size, tile, overlap):
    """Origins along one axis every tile − overlap, the last moved back flush with the end."""
    starts = list(range(0, size - tile + 1, tile - overlap))
    if starts[-1] != size - tile:
        starts.append(size - tile)
    return starts


def triangular(n):
    """scipy.signal.windows.triang(n): positive everywhere, highest at the centre."""
    k = np.arange(n, dtype=np.float64)
    half = n if n % 2 == 0 else n + 1
    return 1.0 - np.abs(2 * k + 1 - n) / half


def predict_fnet(net, image):
    source = padded(image)
    tile = [min(t, n) for t, n in zip(FNET_TILE, source.shape)]
    window = np.einsum("i,j,k->ijk", *(triangular(t) for t in tile)).astype(np.float32)
    total = np.zeros(source.shape, np.float32)
    weight = np.zeros(source.shape, np.float32)
    origins = [tile_starts(n, t, FNET_OVERLAP) for n, t in zip(source.shape, tile)]
    for z, y, x in itertools.product(*origins):
        where = (slice(z, z + tile[0]), slice(y, y + tile[1]), slice(x, x + tile[2]))
        total[where] += forward(net, source[where]) * window
        weight[where] += window
    out = total / weight
    return out[tuple(slice(0, n) for n in image.shape)]


def predict_monai(net, image):
    from monai.inferers import sliding_window_inference

    x = torch.from_numpy(image)[None, None].to(DEVICE)
    out = sliding_window_inference(x, MONAI_ROI, 1, net, overlap=MONAI_OVERLAP, mode="gaussian")
    return out[0, 0].cpu().numpy()


def predict_whole(net, image):
    out = forward(net, padded(image))
    return out[tuple(slice(0, n) for n in image.shape)]


def predict(args):
    global DEVICE, AUTOCAST, LAYOUT
    torch.set_num_threads(args.threads)
    DEVICE = torch.device(args.device)
    AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]
    LAYOUT = torch.channels_last_3d if args.memory_format == "channels-last" else torch.contiguous_format
    net = load_generator(args.checkpoint).to(DEVICE, memory_format=LAYOUT)
    image = z_scored(args.input)
    method = {"fnet": predict_fnet, "monai": predict_monai, "whole": predict_whole}[args.method]
    if args.method == "monai":
        import monai.inferers  # noqa: F401 (loaded before the clock starts)
    started = time.perf_counter()
    with torch.no_grad():
        out = method(net, image)
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
    seconds = time.perf_counter() - started
    tifffile.imwrite(args.out, np.ascontiguousarray(out, dtype=np.float32))
    print(f"{args.out}  {seconds:.3f} s")


def shape(args):
    sides = np.squeeze(tifffile.imread(args.image)).shape
    print(",".join(str(round_up(n) if args.padded else n) for n in sides))


def measure(args):
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        sys.exit("measure: no command after --")
    started = time.perf_counter()
    child = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    sys.stdout.write(child.stdout)
    if child.returncode != 0:
        sys.exit(f"measure: {' '.join(command)} exited with {child.returncode}")
    # The child's line naming its prediction: `PATH.tif[ ...][  SECONDS s]`.
    lines = [line for line in child.stdout.splitlines() if ".tif" in line]
    if not lines:
        sys.exit(f"measure: {' '.join(command)} named no .tif prediction")
    line = lines[-1]
    printed = SECONDS.search(line)
    row = {
        "volume": args.volume,
        "method": args.method,
        "precision": args.precision,
        "tiles": args.tiles,
        "reference": args.reference,
        "prediction": line[: line.index(".tif") + len(".tif")],
        "seconds": float(printed.group(1)) if printed else wall,
        "seconds_are_wall": printed is None,
        "wall_seconds": wall,
        "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    Path(args.row).write_text(json.dumps(row, indent=1))


def pearson(a, b):
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    a -= a.mean()
    b -= b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def read_prediction(path):
    return np.squeeze(tifffile.imread(path))


def table(args):
    rows = [json.loads(Path(p).read_text()) for p in args.rows]
    volumes = list(dict.fromkeys(r["volume"] for r in rows))
    header = f"{'volume':<12} {'method':<22} {'precision':<9} {'tiles':<26} {'seconds':>9} {'peak MB':>8} {'speed×':>7} {'memory×':>8} {'r vs silico fp32':>17}"
    print(header)
    print("-" * len(header))
    failures = []
    for volume in volumes:
        own = [r for r in rows if r["volume"] == volume]
        fnet = next((r for r in own if r["method"].startswith("fnet")), None)
        reference = next((r for r in own if r["reference"]), None)
        if fnet is None or reference is None:
            sys.exit(f"table: volume {volume} needs an fnet-style row and a --reference row")
        truth = read_prediction(reference["prediction"])
        predictions = {}
        for r in own:
            predictions[r["method"], r["tiles"]] = prediction = read_prediction(r["prediction"])
            if prediction.shape != truth.shape:
                sys.exit(f"table: {r['prediction']} has shape {prediction.shape}, the reference {truth.shape}")
            r_value = pearson(prediction, truth)
            seconds = f"{r['seconds']:.2f}{'*' if r['seconds_are_wall'] else ' '}"
            print(
                f"{volume:<12} {r['method']:<22} {r['precision']:<9} {r['tiles']:<26} {seconds:>9} {r['peak_mb']:>8.0f}"
                f" {fnet['seconds'] / r['seconds']:>7.2f} {fnet['peak_mb'] / r['peak_mb']:>8.2f} {r_value:>17.6f}"
            )
        torch_whole = predictions.get(("PyTorch whole image", "whole"))
        silico_whole = predictions.get(("silico predict", "whole"))
        if torch_whole is not None and silico_whole is not None:
            agreement = pearson(torch_whole, silico_whole)
            verdict = "ok" if agreement > AGREEMENT else "FAILED"
            print(f"{volume:<12} twins: r(PyTorch whole, silico fp32 whole) = {agreement:.9f} (> {AGREEMENT}: {verdict})")
            if agreement <= AGREEMENT:
                failures.append(volume)
    if any(r["seconds_are_wall"] for r in rows):
        print("* the process's wall time (loading and writing included): it printed no prediction seconds")
    if failures:
        sys.exit(f"PyTorch and silico disagree on {', '.join(failures)}: the weights or the twin do not match")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="subcommand", required=True)
    p = sub.add_parser("predict")
    p.add_argument("--method", choices=["fnet", "monai", "whole"], required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--memory-format", choices=["contiguous", "channels-last"], default="contiguous")
    p = sub.add_parser("shape")
    p.add_argument("--padded", action="store_true")
    p.add_argument("image")
    p = sub.add_parser("measure")
    for flag in ["--row", "--volume", "--method", "--precision", "--tiles"]:
        p.add_argument(flag, required=True)
    p.add_argument("--reference", action="store_true")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p = sub.add_parser("table")
    p.add_argument("rows", nargs="+")
    args = parser.parse_args()
    {"predict": predict, "shape": shape, "measure": measure, "table": table}[args.subcommand](args)


if __name__ == "__main__":
    main()
