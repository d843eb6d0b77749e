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

use super::sphere::{is_small, quad_area, small_solid_angle, solid_angle, Vec3};

/// When to stop relaxing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RelaxationLimits {
    pub max_sweeps: usize,
    /// Stop once a sweep lowers the energy by less than this fraction.
    pub relative_decrease: f64,
    /// Stop once the energy per steradian (about the mean squared relative area error) is
    /// below this.
    pub energy_per_steradian: f64,
    /// The `relative_decrease` stop waits until every quad's area is within this factor of its
    /// target, both ways, or the sweeps gain ten times less: a slow sweep with a few quads
    /// still squeezed (a bent tube's, at 0.49 of their share) is not convergence, but tiny
    /// objects may never get every quad within the factor.
    pub area_ratio: f64,
}

/// Whether every quad's area is within `ratio` of its target, both ways.
fn areas_within(points: &[Vec3], faces: &[[usize; 4]], targets: &[f64], ratio: f64) -> bool {
    faces.iter().zip(targets).all(|(q, &target)| {
        let area = quad_area(points, q);
        area * ratio >= target && area <= target * ratio
    })
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
    metric: ReferenceMetric,
}

/// The reference corner's legs `r₁ = next − v`, `r₂ = previous − v` on the smoothed surface,
/// as the weights of the conformal (MIPS) energy `(α|e₁|² − 2β e₁·e₂ + γ|e₂|²) / |e₁ × e₂|`:
/// `α = |r₂|² / |r₁ × r₂|`, `β = r₁·r₂ / |r₁ × r₂|`, `γ = |r₁|² / |r₁ × r₂|`. It is twice the
/// MIPS energy `‖J‖² / det J` of the map J from the reference triangle to the sphere
/// triangle, the same from each of the triangle's corners, and 2 exactly when J is a
/// similarity.
#[derive(Clone, Copy, Debug)]
struct ReferenceMetric {
    alpha: f64,
    beta: f64,
    gamma: f64,
}

impl ReferenceMetric {
    fn of(v: &Vec3, next: &Vec3, previous: &Vec3) -> Self {
        let (r1, r2) = (next - v, previous - v);
        let area = r1.cross(&r2).norm();
        if area <= f64::EPSILON * (r1.norm_squared() + r2.norm_squared()) {
            // A degenerate reference corner: ask for a right angle between equal legs.
            return Self::SQUARE;
        }
        Self {
            alpha: r2.norm_squared() / area,
            beta: r1.dot(&r2) / area,
            gamma: r1.norm_squared() / area,
        }
    }

    const SQUARE: Self = Self {
        alpha: 1.0,
        beta: 0.0,
        gamma: 1.0,
    };
}

/// The corner triangles around each vertex, in compressed rows: those of vertex v are
/// `incident[offsets[v]..offsets[v + 1]]`. One flat array instead of a `Vec` per vertex keeps
/// the sweeps' memory accesses local.
struct Around {
    offsets: Vec<usize>,
    incident: Vec<Incident>,
}

impl Around {
    fn new(points: usize, faces: &[[usize; 4]], targets: &[f64], reference: &[Vec3]) -> Self {
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
            metric: ReferenceMetric::SQUARE,
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
                        metric: ReferenceMetric::of(
                            &reference[v],
                            &reference[next],
                            &reference[previous],
                        ),
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

/// Corner triangles per [`Group`], evaluated side by side (two SSE2 vectors of f64).
const LANES: usize = 4;

type Lanes = [f64; LANES];

/// Four of vertex v's corner triangles `(v, b, c)`, one per lane, with everything that does
/// not depend on v's position worked out once per visit of v, so that each trial position
/// costs two dot products, one cross product, two divisions and a square root per triangle.
/// With `a` for v's position, `a·(b×c)` is the triple product, `(b − a) × (c − a) =
/// b×c + a×(b − c)` the chords' cross product and `|b − a|² + |c − a|² = |b|² + |c|² −
/// 2 a·(b + c) + 2|a|²`. Every operation then runs on whole lanes, which the compiler turns
/// into vector instructions, divisions and square roots included.
#[derive(Clone, Copy, Debug, Default)]
struct Group {
    cross: [Lanes; 3],
    sum: [Lanes; 3],
    difference: [Lanes; 3],
    dot: Lanes,
    /// The conformal numerator `Q(a) = α|b − a|² − 2β (b − a)·(c − a) + γ|c − a|²` is
    /// `q₀ − 2 a·q + q_a |a|²` with `q₀ = α|b|² − 2β b·c + γ|c|²`, `q = αb + γc − β(b + c)`,
    /// `q_a = α + γ − 2β`.
    metric_constant: Lanes,
    metric_linear: [Lanes; 3],
    metric_quadratic: Lanes,
    /// `τ²`, `w τ / 2` and `−(2 + w) τ`: a triangle's energy is
    /// `A + τ²/A + (w τ / 2) (|e₁|² + |e₂|²) / |n| − (2 + w) τ`.
    target_squared: Lanes,
    half_shape_weight: Lanes,
    offset: Lanes,
    /// 1 for a triangle, 0 for a lane that repeats the last triangle to fill the group.
    weight: Lanes,
}

/// A [`Group`] evaluated with v at one position.
struct Evaluated {
    triple: Lanes,
    denominator: Lanes,
    area: Lanes,
    normal: [Lanes; 3],
    length: Lanes,
    squares: Lanes,
}

impl Group {
    fn set(&mut self, lane: usize, b: &Vec3, c: &Vec3, t: &Incident, weight: f64) {
        let target = t.target;
        let ReferenceMetric { alpha, beta, gamma } = t.metric;
        let (cross, sum, difference) = (b.cross(c), b + c, b - c);
        let linear = b * alpha + c * gamma - sum * beta;
        for axis in 0..3 {
            self.cross[axis][lane] = cross[axis];
            self.sum[axis][lane] = sum[axis];
            self.difference[axis][lane] = difference[axis];
            self.metric_linear[axis][lane] = linear[axis];
        }
        self.dot[lane] = b.dot(c);
        self.metric_constant[lane] =
            alpha * b.norm_squared() - 2.0 * beta * b.dot(c) + gamma * c.norm_squared();
        self.metric_quadratic[lane] = alpha + gamma - 2.0 * beta;
        self.target_squared[lane] = target * target;
        self.half_shape_weight[lane] = 0.5 * SHAPE_WEIGHT * target;
        self.offset[lane] = -(2.0 + SHAPE_WEIGHT) * target;
        self.weight[lane] = weight;
    }

    /// The triple products, denominators and areas with v at `a`.
    fn areas(&self, a: &Vec3) -> (Lanes, Lanes, Lanes) {
        let [cx, cy, cz] = &self.cross;
        let [sx, sy, sz] = &self.sum;
        let mut triple = [0.0; LANES];
        let mut denominator = [0.0; LANES];
        let mut area = [0.0; LANES];
        for l in 0..LANES {
            triple[l] = a.x * cx[l] + a.y * cy[l] + a.z * cz[l];
            denominator[l] = 1.0 + self.dot[l] + (a.x * sx[l] + a.y * sy[l] + a.z * sz[l]);
            area[l] = small_solid_angle(triple[l], denominator[l]);
        }
        for l in 0..LANES {
            if !is_small(triple[l], denominator[l]) {
                area[l] = solid_angle(triple[l], denominator[l]);
            }
        }
        (triple, denominator, area)
    }

    fn evaluate(&self, a: &Vec3, a_squared: f64) -> Evaluated {
        let (triple, denominator, area) = self.areas(a);
        let [cx, cy, cz] = &self.cross;
        let [dx, dy, dz] = &self.difference;
        let [qx, qy, qz] = &self.metric_linear;
        let mut normal = [[0.0; LANES]; 3];
        let mut length = [0.0; LANES];
        let mut squares = [0.0; LANES];
        for l in 0..LANES {
            normal[0][l] = cx[l] + (a.y * dz[l] - a.z * dy[l]);
            normal[1][l] = cy[l] + (a.z * dx[l] - a.x * dz[l]);
            normal[2][l] = cz[l] + (a.x * dy[l] - a.y * dx[l]);
            length[l] = (normal[0][l] * normal[0][l]
                + normal[1][l] * normal[1][l]
                + normal[2][l] * normal[2][l])
                .sqrt();
            squares[l] = self.metric_constant[l] - 2.0 * (a.x * qx[l] + a.y * qy[l] + a.z * qz[l])
                + self.metric_quadratic[l] * a_squared;
        }
        Evaluated {
            triple,
            denominator,
            area,
            normal,
            length,
            squares,
        }
    }
}

impl Evaluated {
    /// Whether every triangle has a positive area and non-degenerate chords (else the
    /// energy is infinite).
    fn is_valid(&self) -> bool {
        let mut valid = true;
        for l in 0..LANES {
            valid &= self.area[l] > 0.0 && self.length[l] != 0.0;
        }
        valid
    }

    /// `1 / (A |n|)`: one division for both reciprocals.
    fn reciprocal(&self) -> Lanes {
        std::array::from_fn(|l| 1.0 / (self.area[l] * self.length[l]))
    }
}

/// Gradient in v's position of triangle areas, from their triple products and denominators.
fn area_gradient(group: &Group, triple: &Lanes, denominator: &Lanes) -> [Lanes; 3] {
    let scale: Lanes =
        std::array::from_fn(|l| 2.0 / (triple[l] * triple[l] + denominator[l] * denominator[l]));
    std::array::from_fn(|axis| {
        std::array::from_fn(|l| {
            (group.cross[axis][l] * denominator[l] - group.sum[axis][l] * triple[l]) * scale[l]
        })
    })
}

/// The sum of the four lanes.
fn lane_sum(lanes: &Lanes) -> f64 {
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

/// Vertex v's corner triangles, as [`Group`]s.
#[derive(Default)]
struct Star {
    groups: Vec<Group>,
}

impl Star {
    /// Vertex v's corner triangles, `incident`, with the current positions of their other
    /// corners; the last group is filled up with copies of the last triangle.
    fn gather(&mut self, points: &[Vec3], incident: &[Incident]) {
        let groups = incident.len().div_ceil(LANES);
        self.groups.resize(groups, Group::default());
        for (i, t) in incident.iter().enumerate() {
            let (b, c) = (&points[t.next], &points[t.previous]);
            self.groups[i / LANES].set(i % LANES, b, c, t, 1.0);
        }
        if let Some(t) = incident.last() {
            let (b, c) = (&points[t.next], &points[t.previous]);
            for i in incident.len()..groups * LANES {
                self.groups[i / LANES].set(i % LANES, b, c, t, 0.0);
            }
        }
    }

    /// Vertex v's energy at position `a`, over its corner triangles `(v, b, c)`:
    /// `τ (ρ + 1/ρ − 2)` plus `w τ ((|e₁|² + |e₂|²) / (2 |e₁ × e₂|) − 1)` for the chords
    /// `e₁ = b − a`, `e₂ = c − a` (0 for a right angle between equal legs, growing with shear
    /// and stretch). Infinite when a triangle's area is not positive.
    fn energy(&self, a: &Vec3) -> f64 {
        let a_squared = a.norm_squared();
        let mut energy = [0.0; LANES];
        for group in &self.groups {
            let e = group.evaluate(a, a_squared);
            if !e.is_valid() {
                return f64::INFINITY;
            }
            let reciprocal = e.reciprocal();
            for l in 0..LANES {
                energy[l] += group.weight[l]
                    * (e.area[l]
                        + group.target_squared[l] * reciprocal[l] * e.length[l]
                        + group.half_shape_weight[l] * e.squares[l] * reciprocal[l] * e.area[l]
                        + group.offset[l]);
            }
        }
        lane_sum(&energy)
    }

    /// [`Star::energy`] and, when finite, its gradient in `a` (as a free 3-vector).
    fn energy_and_gradient(&self, a: &Vec3) -> (f64, Vec3) {
        let a_squared = a.norm_squared();
        let mut energy = [0.0; LANES];
        let mut gradient = [[0.0; LANES]; 3];
        for group in &self.groups {
            let e = group.evaluate(a, a_squared);
            if !e.is_valid() {
                return (f64::INFINITY, Vec3::zeros());
            }
            let reciprocal = e.reciprocal();
            let area_gradient = area_gradient(group, &e.triple, &e.denominator);
            for l in 0..LANES {
                let (inverse_area, inverse_length) =
                    (reciprocal[l] * e.length[l], reciprocal[l] * e.area[l]);
                energy[l] += group.weight[l]
                    * (e.area[l]
                        + group.target_squared[l] * inverse_area
                        + group.half_shape_weight[l] * e.squares[l] * inverse_length
                        + group.offset[l]);
                // d/dA of τ (ρ + 1/ρ − 2) is 1 − 1/ρ². With ∂|n|/∂e₁ = e₂ × n̂ and
                // ∂|n|/∂e₂ = n̂ × e₁, and v moving both chords' tails, the shape part's
                // gradient is −w τ ((e₁ + e₂) / |n| + (|e₁|² + |e₂|²) / (2 |n|²) (b − c) × n̂).
                let area_factor =
                    group.weight[l] * (1.0 - group.target_squared[l] * inverse_area * inverse_area);
                let shape_factor = group.weight[l] * 2.0 * group.half_shape_weight[l];
                let unit = [0, 1, 2].map(|axis| e.normal[axis][l] * inverse_length);
                let pull = 0.5 * e.squares[l] * inverse_length * inverse_length;
                let d = [0, 1, 2].map(|axis| group.difference[axis][l]);
                let turn = [
                    d[1] * unit[2] - d[2] * unit[1],
                    d[2] * unit[0] - d[0] * unit[2],
                    d[0] * unit[1] - d[1] * unit[0],
                ];
                for axis in 0..3 {
                    let chords = (group.metric_linear[axis][l]
                        - group.metric_quadratic[l] * a[axis])
                        * inverse_length
                        + turn[axis] * pull;
                    gradient[axis][l] +=
                        area_gradient[axis][l] * area_factor - chords * shape_factor;
                }
            }
        }
        (
            lane_sum(&energy),
            Vec3::new(
                lane_sum(&gradient[0]),
                lane_sum(&gradient[1]),
                lane_sum(&gradient[2]),
            ),
        )
    }

    /// How much of v's corner triangles is folded with v at `a`: the sum of their negative
    /// areas, negated.
    fn fold(&self, a: &Vec3) -> f64 {
        self.groups
            .iter()
            .map(|group| {
                let (_, _, area) = group.areas(a);
                (0..LANES)
                    .map(|l| group.weight[l] * (-area[l]).max(0.0))
                    .sum::<f64>()
            })
            .sum()
    }

    /// [`Star::fold`] and its gradient in `a`.
    fn fold_and_gradient(&self, a: &Vec3) -> (f64, Vec3) {
        let mut gradient = Vec3::zeros();
        for group in &self.groups {
            let (triple, denominator, area) = group.areas(a);
            let area_gradient = area_gradient(group, &triple, &denominator);
            for l in 0..LANES {
                if area[l] < 0.0 && group.weight[l] > 0.0 {
                    gradient -= Vec3::new(
                        area_gradient[0][l],
                        area_gradient[1][l],
                        area_gradient[2][l],
                    );
                }
            }
        }
        (self.fold(a), gradient)
    }
}

/// Relaxes `points` towards quad areas `targets` within `limits`; returns the sweeps done.
pub(crate) fn relax_areas(
    points: &mut [Vec3],
    faces: &[[usize; 4]],
    targets: &[f64],
    reference: &[Vec3],
    limits: RelaxationLimits,
) -> usize {
    let around = Around::new(points.len(), faces, targets, reference);
    let mut star = Star::default();
    let total_energy = |points: &[Vec3], star: &mut Star| {
        (0..points.len())
            .map(|v| {
                star.gather(points, around.of(v));
                star.energy(&points[v])
            })
            .sum::<f64>()
            / 3.0
    };
    let sphere_area = 4.0 * std::f64::consts::PI;
    let mut energy = total_energy(points, &mut star);
    let mut step = vec![0.25_f64; points.len()];
    for sweep in 0..limits.max_sweeps {
        let mut decrease = 0.0;
        for v in 0..points.len() {
            star.gather(points, around.of(v));
            let here = points[v];
            let (before, mut gradient) = star.energy_and_gradient(&here);
            let unfolding = !before.is_finite();
            let start = if unfolding {
                let (fold, fold_gradient) = star.fold_and_gradient(&here);
                gradient = fold_gradient;
                fold
            } else {
                before
            };
            let tangent = gradient - here * gradient.dot(&here);
            if tangent.norm_squared() == 0.0 {
                continue;
            }
            for _ in 0..4 {
                let trial = (here - tangent * step[v]).normalize();
                let after = if unfolding {
                    star.fold(&trial)
                } else {
                    star.energy(&trial)
                };
                if after < start {
                    if !unfolding {
                        decrease += before - after;
                    }
                    points[v] = trial;
                    step[v] = (step[v] * 1.5).min(4.0);
                    break;
                }
                step[v] *= 0.3;
            }
        }
        let folded = !energy.is_finite();
        energy = if folded {
            total_energy(points, &mut star)
        } else {
            energy - decrease / 3.0
        };
        if !folded
            && (energy <= limits.energy_per_steradian * sphere_area
                || (decrease / 3.0 <= limits.relative_decrease * energy
                    && (decrease / 3.0 <= 0.1 * limits.relative_decrease * energy
                        || areas_within(points, faces, targets, limits.area_ratio))))
        {
            return sweep + 1;
        }
    }
    limits.max_sweeps
}
