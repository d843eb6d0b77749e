//! Geometry on the unit sphere: signed areas of geodesic triangles and quads (and their
//! gradients, for the area relaxation), the fold test, and CellOrganizer's spiral sampling.

use nalgebra::Vector3;

pub(crate) type Vec3 = Vector3<f64>;

/// Signed solid angle of the geodesic triangle `a, b, c` (unit vectors): positive when the
/// corners run counter-clockwise seen from outside. Van Oosterom & Strackee (1983):
/// `tan(Ω / 2) = a·(b×c) / (1 + a·b + b·c + c·a)`, exact for every triangle smaller than a
/// hemisphere and free of the cancellation that L'Huilier's formula has for small ones.
pub(crate) fn triangle_area(a: &Vec3, b: &Vec3, c: &Vec3) -> f64 {
    let triple = a.dot(&b.cross(c));
    let denominator = 1.0 + a.dot(b) + b.dot(c) + c.dot(a);
    2.0 * triple.atan2(denominator)
}

/// Gradient of [`triangle_area`] with respect to its first corner `a` (as a free 3-vector; the
/// caller projects it on the tangent plane). The area is cyclic in its corners, so the gradient
/// for `b` is `triangle_area_gradient(b, c, a)`.
pub(crate) fn triangle_area_gradient(a: &Vec3, b: &Vec3, c: &Vec3) -> Vec3 {
    let triple = a.dot(&b.cross(c));
    let denominator = 1.0 + a.dot(b) + b.dot(c) + c.dot(a);
    let scale = 2.0 / (triple * triple + denominator * denominator);
    (b.cross(c) * denominator - (b + c) * triple) * scale
}

/// Signed area of the geodesic quad `q` (corners counter-clockwise from outside), split along
/// its 0–2 diagonal. For a convex quad both diagonals give the same area.
pub(crate) fn quad_area(points: &[Vec3], q: &[usize; 4]) -> f64 {
    let [a, b, c, d] = q.map(|v| &points[v]);
    triangle_area(a, b, c) + triangle_area(a, c, d)
}

/// Whether the quad is strictly convex and counter-clockwise on the sphere: every corner turns
/// left (`p_{i-1} · (p_i × p_{i+1}) > 0`). A quad that fails is folded or degenerate.
pub(crate) fn quad_is_convex(points: &[Vec3], q: &[usize; 4]) -> bool {
    (0..4).all(|i| {
        let previous = &points[q[(i + 3) % 4]];
        let corner = &points[q[i]];
        let next = &points[q[(i + 1) % 4]];
        previous.dot(&corner.cross(next)) > 0.0
    })
}

/// `count` nearly evenly spread unit vectors on a generalized spiral from the south to the
/// north pole (Saff & Kuijlaars 1997), as CellOrganizer's `SpiralSampleSphere`.
pub(crate) fn spiral_points(count: usize) -> Vec<Vec3> {
    let mut points = Vec::with_capacity(count);
    let mut longitude = 0.0_f64;
    for k in 0..count {
        let height = if count == 1 {
            0.0
        } else {
            -1.0 + 2.0 * k as f64 / (count - 1) as f64
        };
        let ring_radius = (1.0 - height * height).max(0.0).sqrt();
        if k == 0 || k + 1 == count {
            longitude = 0.0;
        } else {
            longitude = (longitude + 3.6 / (count as f64 * (1.0 - height * height)).sqrt())
                % std::f64::consts::TAU;
        }
        points.push(Vec3::new(
            ring_radius * longitude.cos(),
            ring_radius * longitude.sin(),
            height,
        ));
    }
    points
}

/// `(sin θ cos φ, sin θ sin φ, cos θ)`: the point at colatitude θ and longitude φ.
pub(crate) fn from_angles(colatitude: f64, longitude: f64) -> Vec3 {
    let (sin_theta, cos_theta) = colatitude.sin_cos();
    let (sin_phi, cos_phi) = longitude.sin_cos();
    Vec3::new(sin_theta * cos_phi, sin_theta * sin_phi, cos_theta)
}
