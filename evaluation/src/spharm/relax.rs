//! Area-equalising relaxation of a spherical parameterization that never folds a face: the
//! role of Brechbühler et al.'s constrained optimisation (CellOrganizer's
//! `EqualAreaParametricMeshNewtonMethod`), done as a projected Gauss–Seidel descent.
//!
//! Each quad f should cover the share of the sphere that it has of the surface,
//! `t_f = 4π A_f / A`. Its four corner triangles `(p_{k−1}, p_k, p_{k+1})` then each cover
//! `τ_f = t_f / 2` when the quad is a spherical parallelogram, and any of them turns negative
//! exactly when the quad stops being convex. The energy is a sum over corner triangles of
//! `τ_f (ρ + 1/ρ − 2) + w τ_f (|e₁|² + |e₂|²) / (2 |e₁ × e₂|) − w τ_f`, with ρ the triangle's
//! area over `τ_f` and e₁, e₂ the chords of its two legs. The area part is zero exactly at equal
//! area and a barrier that grows without bound as a corner flattens or a quad collapses; the
//! small shape part (w = 0.1) is zero for square corners. Area alone leaves a vast family of
//! equal-area maps, among which the descent wandered to a different one for every pose of the
//! object; the shape part picks the squarest, as Brechbühler minimises angle distortion subject
//! to equal area.
//!
//! Vertices are visited in turn; each steps down the analytic gradient of its energy in the
//! tangent plane, projected back onto the sphere, and keeps the step only if its energy
//! drops, so a map with every quad convex stays so. A vertex next to a folded quad (infinite
//! energy) instead steps to reduce the folded corner triangles' negative area, which unfolds an
//! initial map that has a few folds. The step length adapts per vertex.

use super::sphere::{triangle_area, triangle_area_gradient, Vec3};

/// When to stop relaxing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RelaxationLimits {
    pub max_sweeps: usize,
    /// Stop once a sweep lowers the energy by less than this fraction.
    pub relative_decrease: f64,
    /// Stop once the energy per steradian (about the mean squared relative area error) is
    /// below this.
    pub energy_per_steradian: f64,
}

/// The corner triangle at corner `k` of quad `q`, as vertex indices with `q[k]` first.
fn corner_triangle(q: &[usize; 4], k: usize) -> [usize; 3] {
    [q[k % 4], q[(k + 1) % 4], q[(k + 3) % 4]]
}

/// Weight of the corner-shape term against the area term.
const SHAPE_WEIGHT: f64 = 0.1;

/// A corner triangle seen from one of its vertices `v`: the other two corners in
/// counter-clockwise order from `v`, and the triangle's target area `τ_f`.
#[derive(Clone, Copy, Debug)]
struct Incident {
    next: usize,
    previous: usize,
    target: f64,
}

/// The corner triangles around each vertex, in compressed rows: those of vertex v are
/// `incident[offsets[v]..offsets[v + 1]]`. One flat array instead of a `Vec` per vertex keeps
/// the sweeps' memory accesses local.
struct Around {
    offsets: Vec<usize>,
    incident: Vec<Incident>,
}

impl Around {
    fn new(points: usize, faces: &[[usize; 4]], targets: &[f64]) -> Self {
        let mut counts = vec![0; points + 1];
        for face in faces {
            for &v in face {
                // Each vertex of a quad is in three of its four corner triangles.
                counts[v + 1] += 3;
            }
        }
        for v in 0..points {
            counts[v + 1] += counts[v];
        }
        let offsets = counts.clone();
        let mut fill = counts;
        let placeholder = Incident {
            next: 0,
            previous: 0,
            target: 0.0,
        };
        let mut incident = vec![placeholder; offsets[points]];
        for (face, &quad_target) in faces.iter().zip(targets) {
            let target = quad_target / 2.0;
            for k in 0..4 {
                let [a, b, c] = corner_triangle(face, k);
                for [v, next, previous] in [[a, b, c], [b, c, a], [c, a, b]] {
                    incident[fill[v]] = Incident {
                        next,
                        previous,
                        target,
                    };
                    fill[v] += 1;
                }
            }
        }
        Self { offsets, incident }
    }

    fn of(&self, v: usize) -> &[Incident] {
        &self.incident[self.offsets[v]..self.offsets[v + 1]]
    }
}

/// Vertex `v`'s energy: over its corner triangles `(v, b, c)`, `τ (ρ + 1/ρ − 2)` plus
/// `w τ ((|e₁|² + |e₂|²) / (2 |e₁ × e₂|) − 1)` for the chords `e₁ = b − v`, `e₂ = c − v`
/// (0 for a right angle between equal legs, growing with shear and stretch). Infinite when a
/// triangle's area is not positive; with `gradient`, also the energy's gradient in `v` (as a
/// free 3-vector), left unfinished when infinite.
fn local_energy(
    points: &[Vec3],
    v: usize,
    around: &[Incident],
    gradient: Option<&mut Vec3>,
) -> f64 {
    let a = points[v];
    let mut energy = 0.0;
    let mut sum = Vec3::zeros();
    let want_gradient = gradient.is_some();
    for t in around {
        let (b, c) = (points[t.next], points[t.previous]);
        let area = triangle_area(&a, &b, &c);
        if area <= 0.0 {
            return f64::INFINITY;
        }
        let ratio = area / t.target;
        let (e1, e2) = (b - a, c - a);
        let normal = e1.cross(&e2);
        let length = normal.norm();
        if length == 0.0 {
            return f64::INFINITY;
        }
        let squares = e1.norm_squared() + e2.norm_squared();
        let weight = SHAPE_WEIGHT * t.target;
        energy +=
            t.target * (ratio + ratio.recip() - 2.0) + weight * (squares / (2.0 * length) - 1.0);
        if want_gradient {
            // d/dA of τ (ρ + 1/ρ − 2) is 1 − 1/ρ²; ∂|n|/∂e₁ = e₂ × n̂ and ∂|n|/∂e₂ = n̂ × e₁, and
            // v moves both chords' tails.
            let unit = normal / length;
            let pull = squares / (2.0 * length * length);
            let d_e1 = e1 / length - e2.cross(&unit) * pull;
            let d_e2 = e2 / length - unit.cross(&e1) * pull;
            sum += triangle_area_gradient(&a, &b, &c) * (1.0 - ratio.powi(-2))
                - (d_e1 + d_e2) * weight;
        }
    }
    if let Some(gradient) = gradient {
        *gradient = sum;
    }
    energy
}

/// Relaxes `points` towards quad areas `targets` within `limits`; returns the sweeps done.
pub(crate) fn relax_areas(
    points: &mut [Vec3],
    faces: &[[usize; 4]],
    targets: &[f64],
    limits: RelaxationLimits,
) -> usize {
    let around = Around::new(points.len(), faces, targets);
    let area = |points: &[Vec3], v: usize, t: &Incident| {
        triangle_area(&points[v], &points[t.next], &points[t.previous])
    };
    let local_fold = |points: &[Vec3], v: usize| -> f64 {
        around
            .of(v)
            .iter()
            .map(|t| (-area(points, v, t)).max(0.0))
            .sum()
    };
    let total_energy = |points: &[Vec3]| {
        (0..points.len())
            .map(|v| local_energy(points, v, around.of(v), None))
            .sum::<f64>()
            / 3.0
    };
    let sphere_area = 4.0 * std::f64::consts::PI;
    let mut energy = total_energy(points);
    let mut step = vec![0.25_f64; points.len()];
    for sweep in 0..limits.max_sweeps {
        let mut decrease = 0.0;
        for v in 0..points.len() {
            let incident = around.of(v);
            let mut gradient = Vec3::zeros();
            let before = local_energy(points, v, incident, Some(&mut gradient));
            let unfolding = !before.is_finite();
            let objective = |points: &[Vec3]| {
                if unfolding {
                    local_fold(points, v)
                } else {
                    local_energy(points, v, incident, None)
                }
            };
            let here = points[v];
            let start = if unfolding {
                gradient = incident.iter().filter(|t| area(points, v, t) < 0.0).fold(
                    Vec3::zeros(),
                    |sum, t| {
                        sum - triangle_area_gradient(&here, &points[t.next], &points[t.previous])
                    },
                );
                local_fold(points, v)
            } else {
                before
            };
            let tangent = gradient - here * gradient.dot(&here);
            if tangent.norm_squared() == 0.0 {
                continue;
            }
            let mut accepted = false;
            for _ in 0..4 {
                points[v] = (here - tangent * step[v]).normalize();
                let after = objective(points);
                if after < start {
                    if !unfolding {
                        decrease += before - after;
                    }
                    step[v] = (step[v] * 1.5).min(4.0);
                    accepted = true;
                    break;
                }
                step[v] *= 0.3;
            }
            if !accepted {
                points[v] = here;
            }
        }
        let folded = !energy.is_finite();
        energy = if folded {
            total_energy(points)
        } else {
            energy - decrease / 3.0
        };
        if !folded
            && (decrease / 3.0 <= limits.relative_decrease * energy
                || energy <= limits.energy_per_steradian * sphere_area)
        {
            return sweep + 1;
        }
    }
    limits.max_sweeps
}
