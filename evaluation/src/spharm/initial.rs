//! Brechbühler et al.'s (1995) initial spherical parameterization of a genus-0 mesh, with an
//! equal-area correction of the latitudes.
//!
//! - Latitude θ: the discrete harmonic function (uniform edge weights) with θ = 0 at the north
//!   pole vertex and θ = π at the south pole vertex. By the discrete maximum principle every
//!   other vertex has a neighbour with larger θ, so the steepest-ascent path from the north pole
//!   reaches the south pole.
//! - Longitude φ: that path is the date line. φ is harmonic on the mesh cut along it (the poles
//!   left out), jumping by 2π across the cut: an edge from a date-line vertex to a neighbour on
//!   its west side (between its predecessor and successor, counter-clockwise seen from outside)
//!   wants the neighbour's φ 2π above the vertex's.
//! - Brechbühler's optimisation then makes the map equal-area. Most of the initial map's area
//!   error is a global one in latitude (harmonic θ grows with distance, area with cos θ), so
//!   the latitudes are first remapped monotonically so that the surface area above each vertex
//!   matches the area of the spherical cap above it: `θ' = arccos(1 − 2 A(θ) / A_total)`. The
//!   relaxation in [`super::relax`] removes what remains.
//!
//! Both linear systems are solved by Jacobi-preconditioned conjugate gradients.

use std::f64::consts::{PI, TAU};

use super::sphere::{from_angles, Vec3};

/// What goes wrong with the initial map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InitialError {
    /// The steepest-ascent path stalled (a numerically flat latitude).
    DateLine { at: usize },
}

/// The latitudes and longitudes of every vertex, poles at `north` and `south`.
pub(crate) struct Angles {
    pub colatitude: Vec<f64>,
    pub longitude: Vec<f64>,
}

impl Angles {
    pub(crate) fn points(&self) -> Vec<Vec3> {
        self.colatitude
            .iter()
            .zip(&self.longitude)
            .map(|(&theta, &phi)| from_angles(theta, phi))
            .collect()
    }
}

/// Brechbühler's latitude and longitude for the mesh given by its counter-clockwise
/// `neighbours` rings.
pub(crate) fn harmonic_angles(
    neighbours: &[Vec<usize>],
    north: usize,
    south: usize,
) -> Result<Angles, InitialError> {
    let colatitude = harmonic_latitude(neighbours, north, south);
    let date_line = steepest_path(neighbours, &colatitude, north, south)?;
    let longitude = harmonic_longitude(neighbours, &date_line, north, south);
    Ok(Angles {
        colatitude,
        longitude,
    })
}

/// The latitudes remapped so that the vertex area above each vertex (in latitude order, the
/// vertex's own area counted half) matches the cap area above its new latitude.
pub(crate) fn equal_area_latitudes(
    colatitude: &[f64],
    vertex_areas: &[f64],
    north: usize,
    south: usize,
) -> Vec<f64> {
    let mut order: Vec<usize> = (0..colatitude.len()).collect();
    order.sort_by(|&a, &b| colatitude[a].total_cmp(&colatitude[b]));
    let total: f64 = vertex_areas.iter().sum();
    let mut remapped = vec![0.0; colatitude.len()];
    let mut above = 0.0;
    for v in order {
        let fraction = (above + vertex_areas[v] / 2.0) / total;
        remapped[v] = (1.0 - 2.0 * fraction).clamp(-1.0, 1.0).acos();
        above += vertex_areas[v];
    }
    remapped[north] = 0.0;
    remapped[south] = PI;
    remapped
}

fn harmonic_latitude(neighbours: &[Vec<usize>], north: usize, south: usize) -> Vec<f64> {
    let is_pole = |v: usize| v == north || v == south;
    let degree: Vec<f64> = neighbours.iter().map(|ring| ring.len() as f64).collect();
    let mut rhs = vec![0.0; neighbours.len()];
    for (v, ring) in neighbours.iter().enumerate() {
        if !is_pole(v) && ring.contains(&south) {
            rhs[v] = PI;
        }
    }
    let mut colatitude = solve_laplacian(neighbours, &degree, &is_pole, &rhs);
    colatitude[north] = 0.0;
    colatitude[south] = PI;
    colatitude
}

/// The date line: from the north pole, always to the neighbour of largest latitude.
fn steepest_path(
    neighbours: &[Vec<usize>],
    colatitude: &[f64],
    north: usize,
    south: usize,
) -> Result<Vec<usize>, InitialError> {
    let mut path = vec![north];
    let mut current = north;
    while current != south {
        let next = *neighbours[current]
            .iter()
            .max_by(|&&a, &&b| colatitude[a].total_cmp(&colatitude[b]))
            .expect("mesh vertices have neighbours");
        if colatitude[next] <= colatitude[current] {
            return Err(InitialError::DateLine { at: current });
        }
        path.push(next);
        current = next;
    }
    Ok(path)
}

fn harmonic_longitude(
    neighbours: &[Vec<usize>],
    date_line: &[usize],
    north: usize,
    south: usize,
) -> Vec<f64> {
    let is_pole = |v: usize| v == north || v == south;
    let degree: Vec<f64> = neighbours
        .iter()
        .map(|ring| ring.iter().filter(|&&u| !is_pole(u)).count() as f64)
        .collect();
    let mut rhs = vec![0.0; neighbours.len()];
    for window in date_line.windows(3) {
        let [before, vertex, after] = [window[0], window[1], window[2]];
        let ring = &neighbours[vertex];
        let start = ring
            .iter()
            .position(|&u| u == before)
            .expect("consecutive date-line vertices are neighbours");
        for &west in ring[start + 1..].iter().chain(&ring[..start]) {
            if west == after {
                break;
            }
            if !is_pole(west) {
                rhs[west] += TAU;
                rhs[vertex] -= TAU;
            }
        }
    }
    solve_laplacian(neighbours, &degree, &is_pole, &rhs)
}

/// Relative residual at which [`solve_laplacian`] stops. The initial map only seeds the
/// relaxation; the steepest-ascent date line needs each latitude above one neighbour's, which
/// residuals this small cannot undo.
const CG_TOLERANCE: f64 = 1e-8;

/// Solves `degree_v x_v − Σ_{u ∈ ring(v), u not fixed} x_u = rhs_v` for the vertices that are
/// not `fixed` (their x is 0) by Jacobi-preconditioned conjugate gradients. A singular but
/// consistent system (the longitude's, defined up to a constant) converges as well.
///
/// The free neighbours of the free vertices are gathered once into compressed rows, so that
/// each of the few hundred iterations is a plain sparse product and one fused pass over the
/// vectors.
fn solve_laplacian(
    neighbours: &[Vec<usize>],
    degree: &[f64],
    fixed: &impl Fn(usize) -> bool,
    rhs: &[f64],
) -> Vec<f64> {
    let n = neighbours.len();
    let mut offsets = Vec::with_capacity(n + 1);
    let mut columns = Vec::new();
    offsets.push(0);
    for (v, ring) in neighbours.iter().enumerate() {
        if !fixed(v) {
            columns.extend(ring.iter().copied().filter(|&u| !fixed(u)));
        }
        offsets.push(columns.len());
    }
    let diagonal: Vec<f64> = (0..n)
        .map(|v| if fixed(v) { 0.0 } else { degree[v] })
        .collect();
    let apply = |x: &[f64], out: &mut [f64]| {
        for (v, out) in out.iter_mut().enumerate() {
            let off_diagonal: f64 = columns[offsets[v]..offsets[v + 1]]
                .iter()
                .map(|&u| x[u])
                .sum();
            *out = diagonal[v] * x[v] - off_diagonal;
        }
    };
    let inverse_diagonal: Vec<f64> = diagonal
        .iter()
        .map(|&d| if d == 0.0 { 0.0 } else { d.recip() })
        .collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut x = vec![0.0; n];
    let mut residual: Vec<f64> = (0..n)
        .map(|v| if fixed(v) { 0.0 } else { rhs[v] })
        .collect();
    let rhs_norm = dot(&residual, &residual).sqrt();
    if rhs_norm == 0.0 {
        return x;
    }
    let mut preconditioned: Vec<f64> = residual
        .iter()
        .zip(&inverse_diagonal)
        .map(|(r, d)| r * d)
        .collect();
    let mut direction = preconditioned.clone();
    let mut rho = dot(&residual, &preconditioned);
    let mut product = vec![0.0; n];
    for _ in 0..20 * n + 100 {
        apply(&direction, &mut product);
        let curvature = dot(&direction, &product);
        if curvature <= 0.0 {
            break;
        }
        let step = rho / curvature;
        let mut residual_squared = 0.0;
        let mut rho_next = 0.0;
        for v in 0..n {
            x[v] += step * direction[v];
            residual[v] -= step * product[v];
            preconditioned[v] = residual[v] * inverse_diagonal[v];
            residual_squared += residual[v] * residual[v];
            rho_next += residual[v] * preconditioned[v];
        }
        if residual_squared.sqrt() <= CG_TOLERANCE * rhs_norm {
            break;
        }
        let beta = rho_next / rho;
        rho = rho_next;
        for (d, &z) in direction.iter_mut().zip(&preconditioned) {
            *d = z + beta * *d;
        }
    }
    x
}
