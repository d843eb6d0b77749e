"""Independent references for silico's object-comparison statistics (evaluation/src/).

Point files are little-endian float64, row-major. Prints one `name index... value` line per
result, values with 17 significant digits.

  knn FIRST SECOND DIM K[,K...]          kNN-purity divergence (Eq. 2) with scikit-learn
  pca FIRST SECOND DIM COMPONENTS unit|raw  joint PCA scores with numpy's SVD
  kde POINTS BANDWIDTH                   Gaussian KDE on CellOrganizer's grid with scikit-learn
"""
import sys

import numpy as np
from sklearn.neighbors import KernelDensity, NearestNeighbors


def load(path, dim):
    return np.fromfile(path, dtype="<f8").reshape(-1, dim)


def knn(first, second, ks):
    pooled = np.vstack([first, second])
    from_first = np.arange(len(pooled)) < len(first)
    q = len(first) / len(pooled)
    for k in ks:
        # Without a query, kneighbors leaves each point out of its own neighbours.
        _, neighbours = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(pooled).kneighbors()
        p = from_first[neighbours].mean(axis=1)
        scores = p * np.log((p + 1e-7) / q) + (1 - p) * np.log((1 - p + 1e-7) / (1 - q))
        print("knn", k, repr(float(scores.mean())))


def pca(first, second, components, unit):
    pooled = np.vstack([first, second])
    if unit:
        pooled = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    centred = pooled - pooled.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    scores = centred @ vt[:components].T
    for i, row in enumerate(scores):
        for c, value in enumerate(row):
            print("score", i, c, repr(float(value)))


def matlab_sphere(n):
    theta = np.arange(-n, n + 1, 2) / n * np.pi
    phi = (np.arange(-n, n + 1, 2) / n * np.pi / 2)[:, None]
    cosphi = np.cos(phi)
    cosphi[0] = cosphi[-1] = 0
    sintheta = np.sin(theta)
    sintheta[0] = sintheta[-1] = 0
    x = cosphi * np.cos(theta)
    y = cosphi * sintheta
    z = np.sin(phi) * np.ones(n + 1)
    return np.stack([x.ravel(order="F"), y.ravel(order="F"), z.ravel(order="F")], axis=1)


def kde(points, bandwidth):
    directions = matlab_sphere(20)
    grid = np.vstack([directions * r for r in np.arange(1, 11) / 10])
    density = np.exp(KernelDensity(kernel="gaussian", bandwidth=bandwidth).fit(points).score_samples(grid))
    for g, value in enumerate(density):
        print("density", g, repr(float(value)))


def main():
    mode = sys.argv[1]
    if mode == "knn":
        dim = int(sys.argv[4])
        knn(load(sys.argv[2], dim), load(sys.argv[3], dim), [int(k) for k in sys.argv[5].split(",")])
    elif mode == "pca":
        dim = int(sys.argv[4])
        pca(load(sys.argv[2], dim), load(sys.argv[3], dim), int(sys.argv[5]), sys.argv[6] == "unit")
    elif mode == "kde":
        kde(load(sys.argv[2], 3), float(sys.argv[3]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
