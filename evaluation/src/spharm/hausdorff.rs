//! Symmetric Hausdorff distance between two point sets (CellOrganizer
//! `hausdorff_distance.m`: the larger of the two directed distances).

use super::sphere::Vec3;

/// `max(h(a, b), h(b, a))` with `h(a, b) = max_{p ∈ a} min_{q ∈ b} |p − q|`; 0 when either set
/// is empty.
pub(crate) fn symmetric_hausdorff(a: &[Vec3], b: &[Vec3]) -> f64 {
    directed_hausdorff(a, b).max(directed_hausdorff(b, a))
}

/// `h(from, to)`. The targets are binned in a uniform grid (about one per cell); each query
/// searches rings of cells outwards from its own until the ring's distance bound exceeds the
/// nearest target so far, or stops as soon as it finds a target within the largest distance
/// already seen, since then it cannot raise the maximum. Most queries end in their own cell.
fn directed_hausdorff(from: &[Vec3], to: &[Vec3]) -> f64 {
    if from.is_empty() || to.is_empty() {
        return 0.0;
    }
    let grid = Grid::new(to);
    let mut worst_squared = 0.0_f64;
    for p in from {
        worst_squared = worst_squared.max(grid.nearest_squared_above(p, worst_squared));
    }
    worst_squared.sqrt()
}

/// Points binned in a uniform grid of cubic cells, in compressed rows: the points of cell c are
/// `points[starts[c]..starts[c + 1]]`.
struct Grid {
    origin: Vec3,
    cell: f64,
    dims: [usize; 3],
    starts: Vec<usize>,
    points: Vec<Vec3>,
}

impl Grid {
    fn new(points: &[Vec3]) -> Self {
        let (low, high) = points.iter().fold(
            (Vec3::repeat(f64::INFINITY), Vec3::repeat(f64::NEG_INFINITY)),
            |(low, high), p| (low.inf(p), high.sup(p)),
        );
        let extent = high - low;
        let count = points.len() as f64;
        // About one point per cell of the bounding box; flat axes count as a few cells, so
        // that a flat set does not get more cells than points.
        let thinnest = extent.max() / count.cbrt();
        let volume: f64 = extent.iter().map(|e| e.max(thinnest)).product();
        let cell = (volume / count).cbrt().max(f64::MIN_POSITIVE);
        let dims = [0, 1, 2].map(|axis| (extent[axis] / cell) as usize + 1);
        let mut grid = Self {
            origin: low,
            cell,
            dims,
            starts: vec![0; dims.iter().product::<usize>() + 1],
            points: Vec::with_capacity(points.len()),
        };
        let cells: Vec<usize> = points.iter().map(|p| grid.flat(grid.cell_of(p))).collect();
        for &c in &cells {
            grid.starts[c + 1] += 1;
        }
        for c in 0..grid.starts.len() - 1 {
            grid.starts[c + 1] += grid.starts[c];
        }
        let mut fill = grid.starts.clone();
        grid.points.resize(points.len(), Vec3::zeros());
        for (p, &c) in points.iter().zip(&cells) {
            grid.points[fill[c]] = *p;
            fill[c] += 1;
        }
        grid
    }

    /// The cell holding `p`, clamped to the grid.
    fn cell_of(&self, p: &Vec3) -> [usize; 3] {
        [0, 1, 2].map(|axis| {
            let index = ((p[axis] - self.origin[axis]) / self.cell).floor();
            (index.max(0.0) as usize).min(self.dims[axis] - 1)
        })
    }

    fn flat(&self, [x, y, z]: [usize; 3]) -> usize {
        (z * self.dims[1] + y) * self.dims[0] + x
    }

    /// The squared distance from `p` to its nearest point, or any squared distance at most
    /// `enough` once a point that near is found.
    fn nearest_squared_above(&self, p: &Vec3, enough: f64) -> f64 {
        let centre = self.cell_of(p);
        let nearest_in = |x: usize, y: usize, z: usize| {
            let c = self.flat([x, y, z]);
            self.points[self.starts[c]..self.starts[c + 1]]
                .iter()
                .map(|q| (q - p).norm_squared())
                .fold(f64::INFINITY, f64::min)
        };
        let mut best = f64::INFINITY;
        for ring in 0.. {
            // The cells `ring` steps from the centre (Chebyshev distance): the nearer ones
            // were searched before.
            let low = centre.map(|c| c.saturating_sub(ring));
            let high = [0, 1, 2].map(|axis| (centre[axis] + ring).min(self.dims[axis] - 1));
            for z in low[2]..=high[2] {
                for y in low[1]..=high[1] {
                    if z.abs_diff(centre[2]) == ring || y.abs_diff(centre[1]) == ring {
                        for x in low[0]..=high[0] {
                            best = best.min(nearest_in(x, y, z));
                        }
                    } else {
                        if centre[0] >= ring {
                            best = best.min(nearest_in(centre[0] - ring, y, z));
                        }
                        if centre[0] + ring < self.dims[0] {
                            best = best.min(nearest_in(centre[0] + ring, y, z));
                        }
                    }
                }
            }
            if best <= enough {
                return best;
            }
            // Every point not yet seen lies in a cell more than `ring` steps away, so at least
            // `ring` cell widths from p.
            let bound = ring as f64 * self.cell;
            let covered = (0..3).all(|axis| low[axis] == 0 && high[axis] == self.dims[axis] - 1);
            if best <= bound * bound || covered {
                return best;
            }
        }
        unreachable!("the rings grow until they cover the grid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force(a: &[Vec3], b: &[Vec3]) -> f64 {
        let directed = |from: &[Vec3], to: &[Vec3]| {
            from.iter()
                .map(|p| {
                    to.iter()
                        .map(|q| (p - q).norm())
                        .fold(f64::INFINITY, f64::min)
                })
                .fold(0.0, f64::max)
        };
        directed(a, b).max(directed(b, a))
    }

    #[test]
    fn matches_brute_force() {
        let a: Vec<Vec3> = (0..50)
            .map(|i| {
                let t = i as f64 * 0.37;
                Vec3::new(t.sin() * 3.0, (2.0 * t).cos(), t * 0.1)
            })
            .collect();
        let b: Vec<Vec3> = (0..40)
            .map(|i| {
                let t = i as f64 * 0.51 + 0.2;
                Vec3::new(t.cos() * 2.5, t.sin(), (t * 0.3).sin())
            })
            .collect();
        assert!((symmetric_hausdorff(&a, &b) - brute_force(&a, &b)).abs() < 1e-12);
    }

    /// Surfaces of uneven density, a flat set, a far outlier and repeated points: the grid
    /// search still finds every nearest point that matters.
    #[test]
    fn matches_brute_force_on_uneven_and_flat_sets() {
        let spiral = |count: usize, radius: f64, squash: f64| -> Vec<Vec3> {
            (0..count)
                .map(|i| {
                    let h = -1.0 + 2.0 * (i as f64 + 0.5) / count as f64;
                    let phi = i as f64 * 2.399_963;
                    let r = (1.0 - h * h).sqrt();
                    Vec3::new(r * phi.cos(), r * phi.sin() * 0.6, h * squash) * radius
                })
                .collect()
        };
        let mut sphere = spiral(900, 5.0, 1.0);
        let mut ellipsoid = spiral(300, 5.3, 0.8);
        assert!(
            (symmetric_hausdorff(&sphere, &ellipsoid) - brute_force(&sphere, &ellipsoid)).abs()
                < 1e-12
        );
        let flat: Vec<Vec3> = spiral(400, 4.0, 0.0);
        assert!((symmetric_hausdorff(&flat, &sphere) - brute_force(&flat, &sphere)).abs() < 1e-12);
        sphere.push(Vec3::new(40.0, -3.0, 2.0));
        ellipsoid.extend_from_slice(&ellipsoid.clone());
        assert!(
            (symmetric_hausdorff(&ellipsoid, &sphere) - brute_force(&ellipsoid, &sphere)).abs()
                < 1e-12
        );
        let single = [Vec3::new(1.0, 2.0, 3.0)];
        assert!((symmetric_hausdorff(&single, &flat) - brute_force(&single, &flat)).abs() < 1e-12);
    }
}
