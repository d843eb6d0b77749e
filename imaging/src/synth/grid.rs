//! Voxel-grid geometry shared by the generators: index arithmetic and µm conversions.

/// A (Z, Y, X) voxel grid with its voxel size.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    pub shape: [usize; 3],
    pub voxel_um: [f64; 3],
}

impl Grid {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    #[inline]
    pub fn index(&self, z: usize, y: usize, x: usize) -> usize {
        (z * self.shape[1] + y) * self.shape[2] + x
    }

    /// (z, y, x) of a flat index.
    #[inline]
    pub fn coords(&self, i: usize) -> [usize; 3] {
        let x = i % self.shape[2];
        let y = (i / self.shape[2]) % self.shape[1];
        [i / (self.shape[1] * self.shape[2]), y, x]
    }

    /// Centre of a voxel in µm.
    #[inline]
    pub fn center_um(&self, v: [usize; 3]) -> [f64; 3] {
        std::array::from_fn(|a| (v[a] as f64 + 0.5) * self.voxel_um[a])
    }

    /// The voxel containing a point in µm, if inside the grid.
    #[inline]
    pub fn voxel_at(&self, p: [f64; 3]) -> Option<[usize; 3]> {
        let mut v = [0usize; 3];
        for a in 0..3 {
            let f = p[a] / self.voxel_um[a];
            if !(f >= 0.0 && f < self.shape[a] as f64) {
                return None;
            }
            v[a] = f as usize;
        }
        Some(v)
    }

    /// Flat indices of voxels whose centres lie within the box [lo, hi] (µm), clipped.
    pub fn box_voxels(&self, lo: [f64; 3], hi: [f64; 3], mut visit: impl FnMut(usize, [f64; 3])) {
        let mut range = [(0usize, 0usize); 3];
        for a in 0..3 {
            let start = ((lo[a] / self.voxel_um[a]) - 0.5).ceil().max(0.0) as usize;
            let end = (((hi[a] / self.voxel_um[a]) - 0.5).floor() + 1.0)
                .clamp(0.0, self.shape[a] as f64) as usize;
            range[a] = (start, end);
        }
        for z in range[0].0..range[0].1 {
            for y in range[1].0..range[1].1 {
                for x in range[2].0..range[2].1 {
                    visit(self.index(z, y, x), self.center_um([z, y, x]));
                }
            }
        }
    }

    /// Flat indices of the 6-connected neighbours of voxel `i`.
    pub fn neighbours6(&self, i: usize, mut visit: impl FnMut(usize)) {
        let [z, y, x] = self.coords(i);
        let [nz, ny, nx] = self.shape;
        if z > 0 {
            visit(i - ny * nx)
        }
        if z + 1 < nz {
            visit(i + ny * nx)
        }
        if y > 0 {
            visit(i - nx)
        }
        if y + 1 < ny {
            visit(i + nx)
        }
        if x > 0 {
            visit(i - 1)
        }
        if x + 1 < nx {
            visit(i + 1)
        }
    }
}

pub fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub fn add_scaled(a: [f64; 3], d: [f64; 3], s: f64) -> [f64; 3] {
    [a[0] + d[0] * s, a[1] + d[1] * s, a[2] + d[2] * s]
}

pub fn norm(a: [f64; 3]) -> f64 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

pub fn normalize(a: [f64; 3]) -> [f64; 3] {
    let n = norm(a).max(1e-12);
    [a[0] / n, a[1] / n, a[2] / n]
}
