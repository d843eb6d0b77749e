//! Cell and nucleus layout of a field of view: a colony of touching, domed epithelial cells.
//!
//! Cells are a multiplicatively weighted Voronoi tessellation of jittered hexagonal seeds in x/y
//! (curved, wavy boundaries from a smooth warp field), extruded from the glass up to a domed
//! apical surface. Seeds extend past the field, so border cells are cut as in real images. Each
//! cell holds one ellipsoidal nucleus with a slightly irregular outline, kept off its membrane.

use super::grid::Grid;
use super::recipe::Recipe;
use crate::filter::gaussian_blur;
use crate::rng::Rng;

/// Geometry of one cell.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Label in the cell and nucleus masks (1-based).
    pub id: u16,
    /// Nucleus centre in µm (z, y, x).
    pub nucleus_center: [f64; 3],
    /// Nucleus semi-axes in µm (z, major, minor) and the major axis' angle in the x/y plane.
    pub nucleus_radii: [f64; 3],
    pub nucleus_angle: f64,
    /// Direction (x/y angle) from the nucleus towards the Golgi and centrosome.
    pub polarity: f64,
    /// Dominant stress-fibre orientation.
    pub fibre_angle: f64,
    /// Whether the cell lies entirely inside the field.
    pub complete: bool,
    /// Typical distance from the nucleus centre to the membrane, µm.
    pub radius_um: f64,
}

/// Labels of a field: 0 is background.
pub struct Layout {
    pub grid: Grid,
    pub cell: Vec<u16>,
    pub nucleus: Vec<u16>,
    pub membrane: Vec<bool>,
    /// Per (y, x) column: one past the highest cell voxel, 0 where no cell.
    pub top: Vec<usize>,
    pub cells: Vec<Cell>,
}

impl Layout {
    /// Nucleus-normalized radius of a point: 1 on the (smooth) ellipsoid surface.
    pub fn nucleus_rho(cell: &Cell, p: [f64; 3]) -> f64 {
        let d = [
            p[0] - cell.nucleus_center[0],
            p[1] - cell.nucleus_center[1],
            p[2] - cell.nucleus_center[2],
        ];
        let (s, c) = cell.nucleus_angle.sin_cos();
        let major = d[1] * s + d[2] * c;
        let minor = d[1] * c - d[2] * s;
        ((d[0] / cell.nucleus_radii[0]).powi(2)
            + (major / cell.nucleus_radii[1]).powi(2)
            + (minor / cell.nucleus_radii[2]).powi(2))
        .sqrt()
    }
}

pub fn layout(recipe: &Recipe, rng: &mut Rng) -> Layout {
    let grid = Grid {
        shape: recipe.shape,
        voxel_um: recipe.voxel_um.map(|v| v as f64),
    };
    let [nz, ny, nx] = grid.shape;
    let height_um = ny as f64 * grid.voxel_um[1];
    let width_um = nx as f64 * grid.voxel_um[2];
    let spacing = (height_um * width_um / (recipe.cells as f64 * 0.866)).sqrt();

    // Jittered hexagonal seeds covering the field plus a margin, with size weights.
    let mut seeds: Vec<([f64; 2], f64)> = Vec::new();
    let row_step = spacing * 0.866;
    let rows = (height_um / row_step).ceil() as i64 + 2;
    let cols = (width_um / spacing).ceil() as i64 + 2;
    let (oy, ox) = (rng.range(0.0, row_step), rng.range(0.0, spacing));
    for j in -1..rows {
        for i in -1..cols {
            let y = j as f64 * row_step + oy + rng.range(-0.2, 0.2) * spacing;
            let x = (i as f64 + if j % 2 == 0 { 0.0 } else { 0.5 }) * spacing
                + ox
                + rng.range(-0.2, 0.2) * spacing;
            seeds.push(([y, x], rng.range(0.88, 1.12)));
        }
    }

    // Smooth warp of the boundaries: blurred white noise, about 0.5 µm.
    let warp_sigma = [0.0, 1.8 / grid.voxel_um[1], 1.8 / grid.voxel_um[2]];
    let mut warp = Vec::new();
    for _ in 0..2 {
        let white: Vec<f32> = (0..ny * nx).map(|_| rng.normal() as f32).collect();
        let mut field = gaussian_blur(&white, [1, ny, nx], warp_sigma);
        let std = (field.iter().map(|v| (v * v) as f64).sum::<f64>() / field.len() as f64)
            .sqrt()
            .max(1e-9);
        field.iter_mut().for_each(|v| *v *= (0.6 / std) as f32);
        warp.push(field);
    }

    let mut column_seed = vec![0usize; ny * nx];
    let mut column_dist = vec![0f64; ny * nx];
    for y in 0..ny {
        for x in 0..nx {
            let c = y * nx + x;
            let p = [
                (y as f64 + 0.5) * grid.voxel_um[1] + warp[0][c] as f64,
                (x as f64 + 0.5) * grid.voxel_um[2] + warp[1][c] as f64,
            ];
            let (best, dist) = seeds
                .iter()
                .enumerate()
                .map(|(k, (s, w))| {
                    (
                        k,
                        ((p[0] - s[0]).powi(2) + (p[1] - s[1]).powi(2)).sqrt() / w,
                    )
                })
                .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
            column_seed[c] = best;
            column_dist[c] = dist;
        }
    }
    // Consecutive ids in order of first appearance.
    let mut seed_id = vec![0u16; seeds.len()];
    let mut order = Vec::new();
    for &s in &column_seed {
        if seed_id[s] == 0 {
            order.push(s);
            seed_id[s] = order.len() as u16;
        }
    }

    let glass = recipe.glass_um;
    let mut cells = Vec::with_capacity(order.len());
    let mut cell_height = Vec::with_capacity(order.len());
    for (k, &s) in order.iter().enumerate() {
        let h = rng.range(recipe.cell_height_um[0], recipe.cell_height_um[1]);
        let [sy, sx] = seeds[s].0;
        let major = 0.29 * spacing * seeds[s].1 * rng.range(0.92, 1.08);
        let minor = major * rng.range(0.75, 0.95);
        let center_z = glass + 0.45 * h;
        let rz = (0.3 * h).min(center_z - glass - 0.6).max(0.8);
        cells.push(Cell {
            id: (k + 1) as u16,
            nucleus_center: [
                center_z,
                sy + rng.range(-0.3, 0.3),
                sx + rng.range(-0.3, 0.3),
            ],
            nucleus_radii: [rz, major, minor],
            nucleus_angle: rng.range(0.0, std::f64::consts::PI),
            polarity: rng.range(0.0, std::f64::consts::TAU),
            fibre_angle: rng.range(0.0, std::f64::consts::PI),
            complete: true,
            radius_um: 0.5 * spacing * seeds[s].1,
        });
        cell_height.push(h);
    }

    // Extrude: domed apical surface, higher at the cell centre.
    let mut cell = vec![0u16; grid.len()];
    let mut top = vec![0usize; ny * nx];
    for y in 0..ny {
        for x in 0..nx {
            let c = y * nx + x;
            let id = seed_id[column_seed[c]];
            let k = id as usize - 1;
            let r = column_dist[c] / (0.62 * spacing);
            let h = cell_height[k] * (1.0 - 0.35 * r * r).max(0.45);
            let z0 = (glass / grid.voxel_um[0]).round() as usize;
            let z1 = (((glass + h) / grid.voxel_um[0]).round() as usize).min(nz);
            for z in z0..z1 {
                cell[grid.index(z, y, x)] = id;
            }
            top[c] = z1;
            if y == 0 || x == 0 || y == ny - 1 || x == nx - 1 {
                cells[k].complete = false;
            }
        }
    }

    let membrane = membrane_of(&grid, &cell);

    // Nuclei: irregular ellipsoids, at least two voxels inside the lateral membrane.
    let mut nucleus = vec![0u16; grid.len()];
    let phases: Vec<[f64; 4]> = cells
        .iter()
        .map(|_| std::array::from_fn(|_| rng.range(0.0, std::f64::consts::TAU)))
        .collect();
    for (k, c) in cells.iter().enumerate() {
        let r = c.nucleus_radii[1] * 1.2;
        let lo = [
            c.nucleus_center[0] - c.nucleus_radii[0] * 1.2,
            c.nucleus_center[1] - r,
            c.nucleus_center[2] - r,
        ];
        let hi = [
            c.nucleus_center[0] + c.nucleus_radii[0] * 1.2,
            c.nucleus_center[1] + r,
            c.nucleus_center[2] + r,
        ];
        let ph = phases[k];
        grid.box_voxels(lo, hi, |i, p| {
            if cell[i] != c.id || membrane[i] {
                return;
            }
            let psi = (p[1] - c.nucleus_center[1]).atan2(p[2] - c.nucleus_center[2]);
            let theta = ((p[0] - c.nucleus_center[0]) / c.nucleus_radii[0]).clamp(-1.0, 1.0);
            let wobble = 1.0
                + 0.06 * (3.0 * psi + ph[0]).cos()
                + 0.04 * (2.0 * psi + ph[1]).cos()
                + 0.03 * (2.0 * theta + ph[2]).sin();
            if Layout::nucleus_rho(c, p) > wobble {
                return;
            }
            let [z, y, x] = grid.coords(i);
            let margin = 2;
            let inside = y >= margin && x >= margin && y + margin < ny && x + margin < nx && {
                let same = |yy: usize, xx: usize| cell[grid.index(z, yy, xx)] == c.id;
                same(y - margin, x)
                    && same(y + margin, x)
                    && same(y, x - margin)
                    && same(y, x + margin)
            };
            if inside || (y < margin || x < margin || y + margin >= ny || x + margin >= nx) {
                nucleus[i] = c.id;
            }
        });
    }
    Layout {
        grid,
        cell,
        nucleus,
        membrane,
        top,
        cells,
    }
}

/// Voxels of a label whose 6-neighbourhood (inside the grid) holds another label.
pub fn membrane_of(grid: &Grid, labels: &[u16]) -> Vec<bool> {
    let mut out = vec![false; grid.len()];
    for i in 0..grid.len() {
        let l = labels[i];
        if l == 0 {
            continue;
        }
        let mut edge = false;
        grid.neighbours6(i, |j| edge |= labels[j] != l);
        out[i] = edge;
    }
    out
}
