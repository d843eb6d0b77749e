//! Generative models of the twelve structures of Sun et al. (2022), drawn as voxel densities
//! in [0, 1] inside a [`Layout`], plus instance labels for the object-like ones.
//!
//! Rules kept throughout: objects of one structure never touch each other (a one-voxel gap, so
//! connected components recover them), and the membrane-bound organelles (Golgi, mitochondria,
//! ER) claim their voxels exclusively: they are placed first, in that order, and nothing else is
//! drawn where they are.

use super::cells::{Cell, Layout};
use super::grid::{add_scaled, norm, normalize, sub, Grid};
use super::recipe::Recipe;
use super::Structure;
use crate::filter::gaussian_blur;
use crate::rng::Rng;

/// Exclusive owners of a voxel.
const FREE: u8 = 0;
const GOLGI: u8 = 1;
const MITO: u8 = 2;
const ER: u8 = 3;

/// Everything drawn in one field.
pub struct Scene {
    pub layout: Layout,
    /// One density per structure, indexed by `Structure as usize`.
    pub density: Vec<Vec<f32>>,
    pub nucleoli: Vec<u16>,
    pub mitochondria: Vec<u16>,
    pub golgi: Vec<u16>,
    pub desmosomes: Vec<u16>,
    /// For each nucleolus id (index id - 1), the nucleus it was placed in.
    pub nucleolus_parent: Vec<u16>,
    /// For each object id of mitochondria / Golgi / desmosomes, its cell.
    pub mitochondrion_cell: Vec<u16>,
    pub golgi_cell: Vec<u16>,
    pub desmosome_cell: Vec<u16>,
}

impl Scene {
    pub fn density(&self, s: Structure) -> &[f32] {
        &self.density[s as usize]
    }
}

/// Unit-variance band-limited noise with correlation length `scale_um`.
fn smooth_noise(grid: &Grid, scale_um: f64, rng: &mut Rng) -> Vec<f32> {
    let white: Vec<f32> = (0..grid.len()).map(|_| rng.normal() as f32).collect();
    let sigma = std::array::from_fn(|a| scale_um / grid.voxel_um[a]);
    let mut field = gaussian_blur(&white, grid.shape, sigma);
    let std = (field.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / field.len() as f64)
        .sqrt()
        .max(1e-12);
    field.iter_mut().for_each(|v| *v /= std as f32);
    field
}

fn range_usize(rng: &mut Rng, r: [usize; 2]) -> usize {
    r[0] + rng.below(r[1] - r[0] + 1)
}

/// A random cytoplasm point of `cell` (not nucleus, not membrane), if one is found quickly.
fn cytoplasm_point(l: &Layout, cell: &Cell, rng: &mut Rng) -> Option<[f64; 3]> {
    let g = &l.grid;
    for _ in 0..60 {
        let r = cell.radius_um * 1.3;
        let p = [
            rng.range(0.0, g.shape[0] as f64 * g.voxel_um[0]),
            cell.nucleus_center[1] + rng.range(-r, r),
            cell.nucleus_center[2] + rng.range(-r, r),
        ];
        if let Some(v) = g.voxel_at(p) {
            let i = g.index(v[0], v[1], v[2]);
            if l.cell[i] == cell.id && l.nucleus[i] == 0 && !l.membrane[i] {
                return Some(p);
            }
        }
    }
    None
}

/// Voxels within `radius` µm of the polyline through `points`.
fn tube_voxels(g: &Grid, points: &[[f64; 3]], radius: f64) -> Vec<usize> {
    let mut out = Vec::new();
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let lo = std::array::from_fn(|k| a[k].min(b[k]) - radius);
        let hi = std::array::from_fn(|k| a[k].max(b[k]) + radius);
        let ab = sub(b, a);
        let len2 = (ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2]).max(1e-12);
        g.box_voxels(lo, hi, |i, p| {
            let ap = sub(p, a);
            let t = ((ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / len2).clamp(0.0, 1.0);
            if norm(sub(p, add_scaled(a, ab, t))) <= radius {
                out.push(i);
            }
        });
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether `voxels` can become a new object: all in `cell`'s cytoplasm, unclaimed, and not
/// touching another claimed voxel.
fn fits(l: &Layout, owner: &[u8], cell: u16, voxels: &[usize]) -> bool {
    !voxels.is_empty()
        && voxels.iter().all(|&i| {
            let mut clear =
                l.cell[i] == cell && l.nucleus[i] == 0 && !l.membrane[i] && owner[i] == FREE;
            if clear {
                l.grid.neighbours6(i, |j| clear &= owner[j] == FREE);
            }
            clear
        })
}

pub fn draw(layout: Layout, recipe: &Recipe, rng: &mut Rng) -> Scene {
    let g = layout.grid;
    let n = g.len();
    let min_radius = 0.55 * g.voxel_um[1].max(g.voxel_um[2]);
    let mut density = vec![vec![0f32; n]; Structure::ALL.len()];
    let mut owner = vec![FREE; n];
    let l = &layout;

    // Cell membrane and nuclear envelope: the boundary shells of the labels.
    let envelope = super::cells::membrane_of(&g, &l.nucleus);
    for i in 0..n {
        if l.membrane[i] {
            density[Structure::CellMembrane as usize][i] = 1.0;
        }
        if envelope[i] {
            density[Structure::NuclearEnvelope as usize][i] = 1.0;
        }
    }

    // Nucleoli: a few irregular blobs well inside each nucleus, apart from each other.
    let mut nucleoli = vec![0u16; n];
    let mut nucleolus_parent = Vec::new();
    for c in &l.cells {
        let count = range_usize(rng, recipe.nucleoli.count);
        let mut placed = 0;
        for _ in 0..count * 25 {
            if placed == count {
                break;
            }
            let r = rng
                .range(recipe.nucleoli.radius_um[0], recipe.nucleoli.radius_um[1])
                .max(min_radius);
            let radii = [
                r * rng.range(0.75, 1.0),
                r * rng.range(0.85, 1.15),
                r * rng.range(0.85, 1.15),
            ];
            let dir = rng.unit_vector();
            let reach = rng.range(0.0, 0.6);
            let center: [f64; 3] = std::array::from_fn(|a| {
                c.nucleus_center[a] + dir[a] * reach * (c.nucleus_radii[a.min(2)] - r).max(0.0)
            });
            let lo = std::array::from_fn(|a| center[a] - radii[a]);
            let hi = std::array::from_fn(|a| center[a] + radii[a]);
            let mut voxels = Vec::new();
            g.box_voxels(lo, hi, |i, p| {
                let q: f64 = (0..3)
                    .map(|a| ((p[a] - center[a]) / radii[a]).powi(2))
                    .sum();
                if q <= 1.0 {
                    voxels.push(i);
                }
            });
            let ok = !voxels.is_empty()
                && voxels.iter().all(|&i| {
                    let mut clear = l.nucleus[i] == c.id && !envelope[i] && nucleoli[i] == 0;
                    g.neighbours6(i, |j| {
                        clear &= nucleoli[j] == 0 && l.nucleus[j] == c.id && !envelope[j]
                    });
                    clear
                });
            if ok {
                nucleolus_parent.push(c.id);
                let id = nucleolus_parent.len() as u16;
                for &i in &voxels {
                    nucleoli[i] = id;
                    density[Structure::Nucleoli as usize][i] = rng.range(0.75, 1.0) as f32;
                }
                placed += 1;
            }
        }
    }

    // DNA: textured nucleoplasm with peripheral heterochromatin, excluded from nucleoli.
    let texture = smooth_noise(&g, 0.35, rng);
    for i in 0..n {
        if l.nucleus[i] != 0 && nucleoli[i] == 0 && !envelope[i] {
            let mut rim = false;
            g.neighbours6(i, |j| rim |= envelope[j]);
            let v = 0.55 + 0.2 * texture[i] + if rim { 0.25 } else { 0.0 };
            density[Structure::Dna as usize][i] = v.clamp(0.15, 1.0);
        }
    }

    // Golgi: a compact ribbon of curved cisternal stacks hugging the nucleus on the cell's
    // polarity side, slightly apical.
    let mut golgi = vec![0u16; n];
    let mut golgi_cell = Vec::new();
    for c in &l.cells {
        let pieces = range_usize(rng, recipe.golgi.pieces);
        let arc = rng
            .range(recipe.golgi.arc_degrees[0], recipe.golgi.arc_degrees[1])
            .to_radians();
        let gap = 0.12;
        let piece_arc = (arc - gap * (pieces - 1) as f64) / pieces as f64;
        let z_lo = c.nucleus_center[0] - 0.1 * c.nucleus_radii[0];
        let z_hi = c.nucleus_center[0] + 0.75 * c.nucleus_radii[0];
        let reach = c.nucleus_radii[1] + 0.4 + recipe.golgi.thickness_um + 0.5;
        for piece in 0..pieces {
            let start = c.polarity - arc / 2.0 + piece as f64 * (piece_arc + gap);
            let inner = 0.35 + rng.range(0.0, 0.25);
            let thickness = recipe.golgi.thickness_um * rng.range(0.8, 1.2);
            let lo = [
                z_lo,
                c.nucleus_center[1] - reach,
                c.nucleus_center[2] - reach,
            ];
            let hi = [
                z_hi,
                c.nucleus_center[1] + reach,
                c.nucleus_center[2] + reach,
            ];
            let mut voxels = Vec::new();
            g.box_voxels(lo, hi, |i, p| {
                let dy = p[1] - c.nucleus_center[1];
                let dx = p[2] - c.nucleus_center[2];
                let angle = (dy.atan2(dx) - start).rem_euclid(std::f64::consts::TAU);
                if angle > piece_arc {
                    return;
                }
                let rho = Layout::nucleus_rho(c, p);
                let surface_distance = (rho - 1.0) * norm(sub(p, c.nucleus_center)) / rho.max(1e-9);
                if surface_distance >= inner && surface_distance <= inner + thickness {
                    voxels.push(i);
                }
            });
            voxels.retain(|&i| l.cell[i] == c.id && l.nucleus[i] == 0 && !l.membrane[i]);
            if fits(l, &owner, c.id, &voxels) {
                golgi_cell.push(c.id);
                let id = golgi_cell.len() as u16;
                for &i in &voxels {
                    owner[i] = GOLGI;
                    golgi[i] = id;
                    density[Structure::Golgi as usize][i] = rng.range(0.7, 1.0) as f32;
                }
            }
        }
    }

    // Mitochondria: persistent random-walk tubes, some branched, spread through the cytoplasm.
    let mut mitochondria = vec![0u16; n];
    let mut mitochondrion_cell = Vec::new();
    let m = &recipe.mitochondria;
    let radius = m.radius_um.max(min_radius);
    for c in &l.cells {
        let mut placed = 0;
        for _ in 0..m.per_cell * 6 {
            if placed == m.per_cell {
                break;
            }
            let Some(start) = cytoplasm_point(l, c, rng) else {
                continue;
            };
            let length = rng.range(m.length_um[0], m.length_um[1]);
            let mut dir = rng.unit_vector();
            dir[0] *= 0.3;
            let mut points = vec![start];
            let step = 0.25;
            let mut p = start;
            let steps = (length / step).ceil() as usize;
            for _ in 0..steps {
                dir = normalize([
                    dir[0] * 0.6 + rng.normal() * 0.05,
                    dir[1] + rng.normal() * 0.15,
                    dir[2] + rng.normal() * 0.15,
                ]);
                p = add_scaled(p, dir, step);
                points.push(p);
            }
            let mut voxels = tube_voxels(&g, &points, radius);
            if rng.uniform() < m.branch_probability && points.len() > 4 {
                let from = points[points.len() / 2];
                let side = normalize([rng.normal() * 0.2, rng.normal(), rng.normal()]);
                let branch: Vec<[f64; 3]> = (0..5)
                    .map(|k| add_scaled(from, side, k as f64 * 0.25))
                    .collect();
                voxels.extend(tube_voxels(&g, &branch, radius));
                voxels.sort_unstable();
                voxels.dedup();
            }
            if fits(l, &owner, c.id, &voxels) {
                mitochondrion_cell.push(c.id);
                let id = mitochondrion_cell.len() as u16;
                for &i in &voxels {
                    owner[i] = MITO;
                    mitochondria[i] = id;
                    density[Structure::Mitochondria as usize][i] = 1.0;
                }
                placed += 1;
            }
        }
    }

    // ER: a reticular network where two smooth random fields both cross zero (tubules), denser
    // and sheet-like around the nucleus; never on other organelles or the envelope.
    let er = &recipe.endoplasmic_reticulum;
    let a = smooth_noise(&g, er.mesh_um, rng);
    let b = smooth_noise(&g, er.mesh_um, rng);
    for i in 0..n {
        if l.cell[i] == 0 || l.nucleus[i] != 0 || l.membrane[i] || owner[i] != FREE {
            continue;
        }
        let [z, y, x] = g.coords(i);
        let c = &l.cells[l.cell[i] as usize - 1];
        let rho = Layout::nucleus_rho(c, g.center_um([z, y, x]));
        let perinuclear = (2.2 - rho).clamp(0.0, 1.0) as f32;
        let width = er.tubule_width as f32 * (1.0 + perinuclear);
        let tubule = a[i].abs() < width && b[i].abs() < 2.5 * width;
        let sheet = perinuclear > 0.5 && a[i].abs() < 0.5 * width;
        if tubule || sheet {
            owner[i] = ER;
            density[Structure::EndoplasmicReticulum as usize][i] = 0.6 + 0.4 * perinuclear;
        }
    }

    // Tight junctions (apical belt) and desmosomes (puncta below it) on cell-cell contacts.
    let belt = (recipe.tight_junctions.belt_um / g.voxel_um[0]).ceil() as usize;
    let mut contacts: Vec<Vec<usize>> = vec![Vec::new(); l.cells.len()];
    for i in (0..n).filter(|&i| l.membrane[i]) {
        let [z, y, x] = g.coords(i);
        let own = l.cell[i];
        let mut lateral_contact = false;
        for (dy, dx) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
            let (yy, xx) = (y as i64 + dy, x as i64 + dx);
            if yy >= 0 && xx >= 0 && (yy as usize) < g.shape[1] && (xx as usize) < g.shape[2] {
                let other = l.cell[g.index(z, yy as usize, xx as usize)];
                lateral_contact |= other != 0 && other != own;
            }
        }
        if !lateral_contact {
            continue;
        }
        let top = l.top[y * g.shape[2] + x];
        if z + belt >= top {
            density[Structure::TightJunctions as usize][i] = 1.0;
        } else if z + belt + 2 < top && (z as f64 + 0.5) * g.voxel_um[0] > recipe.glass_um + 0.6 {
            contacts[own as usize - 1].push(i);
        }
    }
    let mut desmosomes = vec![0u16; n];
    let mut desmosome_cell = Vec::new();
    let mut centers: Vec<[f64; 3]> = Vec::new();
    let d = &recipe.desmosomes;
    for c in &l.cells {
        let candidates = &contacts[c.id as usize - 1];
        if candidates.is_empty() {
            continue;
        }
        let mut placed = 0;
        for _ in 0..d.per_cell * 8 {
            if placed == d.per_cell {
                break;
            }
            let center = g.center_um(g.coords(candidates[rng.below(candidates.len())]));
            if centers
                .iter()
                .any(|q| norm(sub(*q, center)) < d.min_spacing_um)
            {
                continue;
            }
            let r = d.radius_um.max(min_radius);
            let radii = [r * 0.8, r, r];
            let mut voxels = Vec::new();
            g.box_voxels(
                std::array::from_fn(|a| center[a] - radii[a]),
                std::array::from_fn(|a| center[a] + radii[a]),
                |i, p| {
                    let q: f64 = (0..3)
                        .map(|a| ((p[a] - center[a]) / radii[a]).powi(2))
                        .sum();
                    if q <= 1.0 && l.cell[i] != 0 && l.nucleus[i] == 0 && owner[i] == FREE {
                        voxels.push(i);
                    }
                },
            );
            if voxels.is_empty() {
                continue;
            }
            centers.push(center);
            desmosome_cell.push(c.id);
            let id = desmosome_cell.len() as u16;
            for &i in &voxels {
                desmosomes[i] = id;
                density[Structure::Desmosomes as usize][i] = 1.0;
            }
            placed += 1;
        }
    }

    // Microtubules: persistent walks radiating from a centrosome beside the Golgi, sliding
    // around the nucleus and ending at the membrane.
    let mt = &recipe.microtubules;
    let step = 0.5 * g.voxel_um[1].min(g.voxel_um[2]);
    for c in &l.cells {
        let (ps, pc) = c.polarity.sin_cos();
        let centrosome = [
            c.nucleus_center[0] + 0.4 * c.nucleus_radii[0],
            c.nucleus_center[1] + ps * (c.nucleus_radii[1] + 0.5),
            c.nucleus_center[2] + pc * (c.nucleus_radii[1] + 0.5),
        ];
        for _ in 0..mt.per_cell {
            let mut dir = rng.unit_vector();
            dir[0] *= 0.35;
            dir = normalize(dir);
            let mut p = centrosome;
            let max_steps = (4.0 * c.radius_um / step) as usize;
            for _ in 0..max_steps {
                dir = normalize(add_scaled(
                    dir,
                    [rng.normal() * 0.3, rng.normal(), rng.normal()],
                    mt.wander * step.sqrt(),
                ));
                let next = add_scaled(p, dir, step);
                let Some(v) = g.voxel_at(next) else { break };
                let i = g.index(v[0], v[1], v[2]);
                if l.cell[i] != c.id || l.membrane[i] {
                    break;
                }
                if l.nucleus[i] != 0 {
                    // Slide along the nuclear surface: drop the inward component.
                    let outward = normalize(sub(p, c.nucleus_center));
                    let inward = dir[0] * outward[0] + dir[1] * outward[1] + dir[2] * outward[2];
                    dir = normalize(add_scaled(dir, outward, -inward + 0.2));
                    continue;
                }
                p = next;
                if owner[i] == FREE {
                    let v = &mut density[Structure::Microtubules as usize][i];
                    *v = (*v + 0.5).min(1.0);
                }
            }
        }
    }

    // Actin filaments: the cortex under the membrane plus a few straight cytoplasmic filaments.
    let af = &recipe.actin_filaments;
    let cortex_steps = (af.cortex_um / g.voxel_um[1]).round().max(1.0) as usize;
    let mut depth = vec![u8::MAX; n];
    let mut frontier: Vec<usize> = (0..n).filter(|&i| l.membrane[i]).collect();
    frontier.iter().for_each(|&i| depth[i] = 0);
    for d in 1..=cortex_steps {
        let mut next = Vec::new();
        for &i in &frontier {
            g.neighbours6(i, |j| {
                if depth[j] == u8::MAX && l.cell[j] == l.cell[i] && l.cell[j] != 0 {
                    depth[j] = d as u8;
                    next.push(j);
                }
            });
        }
        frontier = next;
    }
    let fibres = smooth_noise(&g, 0.3, rng);
    for i in 0..n {
        if depth[i] >= 1
            && depth[i] as usize <= cortex_steps
            && l.nucleus[i] == 0
            && owner[i] == FREE
        {
            density[Structure::ActinFilaments as usize][i] =
                (0.55 + 0.3 * fibres[i]).clamp(0.1, 1.0);
        }
    }
    for c in &l.cells {
        for _ in 0..af.filaments_per_cell {
            let Some(start) = cytoplasm_point(l, c, rng) else {
                continue;
            };
            let mut dir = rng.unit_vector();
            dir[0] *= 0.2;
            let dir = normalize(dir);
            let length = rng.range(1.5, 4.0);
            for k in 0..(length / step) as usize {
                let Some(v) = g.voxel_at(add_scaled(start, dir, k as f64 * step)) else {
                    break;
                };
                let i = g.index(v[0], v[1], v[2]);
                if l.cell[i] != c.id || l.nucleus[i] != 0 {
                    break;
                }
                if owner[i] == FREE {
                    density[Structure::ActinFilaments as usize][i] = 0.8;
                }
            }
        }
    }

    // Actomyosin bundles: thick basal stress fibres, roughly parallel within a cell, with the
    // periodic puncta of myosin minifilaments.
    let am = &recipe.actomyosin_bundles;
    let bundle_radius = am.radius_um.max(min_radius);
    for c in &l.cells {
        let count = range_usize(rng, am.per_cell);
        for _ in 0..count {
            let angle = c.fibre_angle + rng.normal() * 0.2;
            let dir = [0.0, angle.sin(), angle.cos()];
            let offset = rng.range(-0.7, 0.7) * c.radius_um;
            let normal = [0.0, angle.cos(), -angle.sin()];
            let z = recipe.glass_um + rng.range(0.3, 0.9);
            let mid = add_scaled(
                [z, c.nucleus_center[1], c.nucleus_center[2]],
                normal,
                offset,
            );
            let half = 1.2 * c.radius_um;
            let ends = [add_scaled(mid, dir, -half), add_scaled(mid, dir, half)];
            let phase = rng.range(0.0, am.period_um);
            for i in tube_voxels(&g, &ends, bundle_radius) {
                if l.cell[i] != c.id || l.membrane[i] || l.nucleus[i] != 0 || owner[i] != FREE {
                    continue;
                }
                let p = g.center_um(g.coords(i));
                let s = (p[1] - mid[1]) * dir[1] + (p[2] - mid[2]) * dir[2] + phase;
                let striation = (std::f64::consts::PI * s / am.period_um).cos().powi(2);
                let v = &mut density[Structure::ActomyosinBundles as usize][i];
                *v = v.max((0.35 + 0.65 * striation) as f32);
            }
        }
    }

    Scene {
        layout,
        density,
        nucleoli,
        mitochondria,
        golgi,
        desmosomes,
        nucleolus_parent,
        mitochondrion_cell,
        golgi_cell,
        desmosome_cell,
    }
}
