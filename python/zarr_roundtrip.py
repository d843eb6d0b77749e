"""OME-Zarr written and read by the Python reference libraries, for silico's round-trip tests
(imaging/tests/ome_zarr.rs).

Runs under either of scripts/env.sh's Zarr venvs: $SILICO_ZARR2_PYTHON (zarr 2, ome-zarr 0.11,
iohub: NGFF 0.4) or $SILICO_ZARR3_PYTHON (zarr 3, ome-zarr 0.18: NGFF 0.5).

  read STORE OUT_PREFIX         ome_zarr.reader: prints JSON (levels' shapes, scales, axes,
                                channel names); writes level 0 as OUT_PREFIX.f32 (raw <f4, C-order)
  write VERSION STORE OUT.f32   ome-zarr write_image (NGFF 0.4: uint16, 0.5: float32) of a
                                (2, 8, 24, 20) image; writes the array as OUT.f32
  plate STORE OUT_PREFIX        iohub HCS plate, wells A/1 and B/2, one field each, 2 channels,
                                uint8, a scale transform; writes field i as OUT_PREFIX{i}.f32
"""

import json
import sys

import numpy as np

SHAPE = (2, 8, 24, 20)
VOXEL = {"z": 0.29, "y": 0.108, "x": 0.108}
CHANNELS = ["bright-field", "DNA"]


def test_image(dtype, seed):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, np.iinfo(dtype).max, size=SHAPE, dtype=dtype)
    return rng.normal(size=SHAPE).astype(dtype)


def dump(array, path):
    np.ascontiguousarray(np.asarray(array), dtype="<f4").tofile(path)


def read(store, out_prefix):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    nodes = list(Reader(parse_url(store))())
    image = nodes[0]
    meta = image.metadata
    levels = [np.asarray(level) for level in image.data]
    dump(levels[0], out_prefix + ".f32")
    if len(levels) > 1:
        dump(levels[1], out_prefix + "_1.f32")
    scales = [
        next(t["scale"] for t in transforms if t["type"] == "scale")
        for transforms in meta["coordinateTransformations"]
    ]
    print(
        json.dumps(
            {
                "shapes": [list(level.shape) for level in levels],
                "dtype": str(levels[0].dtype),
                "scales": scales,
                "axes": meta["axes"],
                "channel_names": meta.get("channel_names", []),
            }
        )
    )


def write(version, store, out):
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    window = {"min": 0.0, "max": 1.0, "start": 0.0, "end": 1.0}
    omero = {
        "channels": [
            {"label": name, "color": "FFFFFF", "window": window} for name in CHANNELS
        ]
    }
    if version == "0.4":
        data = test_image(np.uint16, 4)
        root = zarr.group(store=parse_url(store, mode="w").store)
        axes = [{"name": "c", "type": "channel"}] + [
            {"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"
        ]
        scale = [1.0, VOXEL["z"], VOXEL["y"], VOXEL["x"]]
        write_image(
            data,
            root,
            scaler=None,
            axes=axes,
            coordinate_transformations=[[{"type": "scale", "scale": scale}]],
            storage_options={"chunks": (1, 4, 8, 8)},
        )
        root.attrs["omero"] = omero
    else:
        from ome_zarr.format import FormatV05

        data = test_image(np.float32, 5)
        root = zarr.open_group(store, mode="w", zarr_format=3)
        write_image(
            data,
            root,
            fmt=FormatV05(),
            axes="czyx",
            scale=VOXEL,
            axes_units={a: "micrometer" for a in "zyx"},
            scale_factors=[2],
            storage_options={"chunks": (1, 4, 8, 8)},
            omero=omero,
        )
    dump(data, out)


def plate(store, out_prefix):
    from iohub.ngff import open_ome_zarr
    from iohub.ngff.models import TransformationMeta

    scale = TransformationMeta(type="scale", scale=[1.0, 1.0, 0.5, 0.2, 0.2])
    with open_ome_zarr(store, layout="hcs", mode="w-", channel_names=CHANNELS) as hcs:
        for i, (row, column) in enumerate([("A", "1"), ("B", "2")]):
            data = test_image(np.uint8, 10 + i)[np.newaxis]
            position = hcs.create_position(row, column, "0")
            position.create_image("0", data, chunks=(1, 1, 4, 8, 8), transform=[scale])
            dump(data[0], f"{out_prefix}{i}.f32")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"read": read, "write": write, "plate": plate}[command](*args)
