"""Compare silico's SPHARM with aicsshparam on the same star-shaped objects.

The objects come from the Rust bench, which also times silico and writes its numbers:

    cargo run --release -p silico-evaluation --example spharm_bench -- --dump /tmp/spharm_objects
    ~/.cache/silico/aicsshparam-venv/bin/python python/compare_aicsshparam.py /tmp/spharm_objects

aicsshparam (AllenCell/aics-shparam) lives in its own virtual environment, as it pins VTK and
pyshtools:

    python3 -m venv ~/.cache/silico/aicsshparam-venv
    ~/.cache/silico/aicsshparam-venv/bin/pip install aicsshparam

For each object, `shparam.get_shcoeffs` runs at the degree silico used for it (no 2D alignment,
so the frame stays the image's), `--repeats` times (default 3): its time is the median, like
silico's, so that one-off costs of a first call (imports, FFT plans per grid size) are left
out; the first calls' mean is printed too. The process CPU time over the wall time of those
calls shows how many threads aicsshparam kept busy (scripts/bench-spharm limits BLAS, OpenMP
and VTK to one thread; silico's fit uses one). Its expansion is evaluated exactly at Fibonacci points on
the sphere (4 per voxel-surface vertex, like silico's dense measure). The Hausdorff distance is
taken against the same surface silico measures: the voxel-face surface's corners, face centres
and edge midpoints (1 µm isotropic voxels, so voxels = µm). aicsshparam is radial
(star-shaped objects only), hence the ellipsoids.
"""

import argparse
import csv
import pathlib
import time

import numpy as np
import pyshtools
from aicsshparam import shparam
from scipy.spatial import cKDTree
from vtk.util import numpy_support

from voxel_surface import voxel_surface


def fibonacci_directions(count):
    index = np.arange(count) + 0.5
    colatitude = np.arccos(1 - 2 * index / count)
    longitude = (np.pi * (1 + 5**0.5) * index) % (2 * np.pi)
    return colatitude, longitude


def reconstruct(coeffs_dict, lmax, count):
    """aicsshparam's surface r(colatitude, lon) at `count` Fibonacci directions, as (x, y, z)
    about its centroid (lon = π + atan2(y, x) in aicsshparam)."""
    cilm = np.zeros((2, lmax + 1, lmax + 1))
    for key, value in coeffs_dict.items():
        body = key[len("shcoeffs_L"):]
        degree, rest = body.split("M")
        order, kind = int(rest[:-1]), rest[-1]
        cilm[0 if kind == "C" else 1, int(degree), order] = value
    colatitude, longitude = fibonacci_directions(count)
    radius = pyshtools.expand.MakeGridPoint(
        cilm, 90.0 - np.degrees(colatitude), np.degrees(longitude)
    )
    azimuth = longitude - np.pi
    return np.stack(
        [
            radius * np.sin(colatitude) * np.cos(azimuth),
            radius * np.sin(colatitude) * np.sin(azimuth),
            radius * np.cos(colatitude),
        ],
        axis=1,
    )


def hausdorff(a, b):
    return max(cKDTree(b).query(a)[0].max(), cKDTree(a).query(b)[0].max())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=pathlib.Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats needs at least 1")
    with open(args.folder / "objects.tsv") as table:
        rows = list(csv.DictReader(table, delimiter="\t"))
    print(
        "object\tdegree\tsilico_ms\taics_ms\taics_first_ms\tsilico_hd_um\taics_hd_um"
        "\taics_hd_vs_own_mesh_um"
    )
    results = []
    wall_s, cpu_s = 0.0, 0.0
    for row in rows:
        image = np.load(args.folder / f"object_{row['object']}.npy")
        image = np.pad(image, 1)
        lmax = int(row["degree"])
        times = []
        for _ in range(args.repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            (coeffs, _grid_rec), (_image, mesh, _grid, transform) = shparam.get_shcoeffs(
                image=image, lmax=lmax, alignment_2d=False
            )
            times.append(time.perf_counter() - start)
            wall_s += times[-1]
            cpu_s += time.process_time() - start_cpu
        aics_ms = 1e3 * float(np.median(times))
        first_ms = 1e3 * times[0]
        surface, corner_count = voxel_surface(image)
        surface -= np.asarray(transform)
        reconstruction = reconstruct(coeffs, lmax, 4 * corner_count)
        own_mesh = numpy_support.vtk_to_numpy(mesh.GetPoints().GetData())
        aics_hd = hausdorff(surface, reconstruction)
        own_hd = hausdorff(own_mesh, reconstruction)
        results.append(
            (float(row["ms"]), aics_ms, first_ms, float(row["hausdorff_um"]), aics_hd)
        )
        print(
            f"{row['object']}\t{lmax}\t{float(row['ms']):.1f}\t{aics_ms:.1f}\t{first_ms:.1f}\t"
            f"{float(row['hausdorff_um']):.3f}\t{aics_hd:.3f}\t{own_hd:.3f}"
        )
    values = np.array(results)
    silico_ms, aics_ms = values[:, 0].mean(), values[:, 1].mean()
    print(
        f"silico:      {silico_ms:.1f} ms/object (median of repeats, 1 thread), Hausdorff mean "
        f"{values[:, 3].mean():.3f} max {values[:, 3].max():.3f} µm"
    )
    print(
        f"aicsshparam: {aics_ms:.1f} ms/object (median of {args.repeats}; first calls "
        f"{values[:, 2].mean():.1f}; CPU/wall {cpu_s / wall_s:.2f}), Hausdorff mean "
        f"{values[:, 4].mean():.3f} max {values[:, 4].max():.3f} µm"
    )
    print(f"silico / aicsshparam time: {silico_ms / aics_ms:.2f}")


if __name__ == "__main__":
    main()
