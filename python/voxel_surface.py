"""The surface of a binary voxel object as silico measures Hausdorff distances against it.

Shared by python/compare_aicsshparam.py and the `silico shape` tests.
"""

import numpy as np


def voxel_surface(image):
    """Corners, face centres and edge midpoints of the faces between object and background,
    as (x, y, z) with voxel centres at integer indices, and how many of them are corners."""
    padded = np.pad(image.astype(bool), 1)
    points = []
    for axis in range(3):
        for step in (1, -1):
            neighbour = np.roll(padded, -step, axis=axis)
            faces = np.argwhere(padded & ~neighbour).astype(float) - 1.0
            offset = np.zeros(3)
            offset[axis] = 0.5 * step
            centres = faces + offset
            others = [a for a in range(3) if a != axis]
            for du in (-0.5, 0.0, 0.5):
                for dv in (-0.5, 0.0, 0.5):
                    shift = np.zeros(3)
                    shift[others[0]] = du
                    shift[others[1]] = dv
                    points.append(centres + shift)
    zyx = np.unique(np.round(np.concatenate(points) * 2).astype(np.int64), axis=0) / 2.0
    corners = np.all(np.abs(zyx - np.round(zyx)) == 0.5, axis=1)
    return zyx[:, ::-1], int(corners.sum())
