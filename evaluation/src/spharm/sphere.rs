//! Geometry on the unit sphere: signed areas of geodesic triangles and quads, the fold test,
//! and CellOrganizer's spiral sampling.

use nalgebra::Vector3;

pub(crate) type Vec3 = Vector3<f64>;

/// Signed solid angle of the geodesic triangle `a, b, c` (unit vectors): positive when the
/// corners run counter-clockwise seen from outside. Van Oosterom & Strackee (1983):
/// `tan(Ω / 2) = a·(b×c) / (1 + a·b + b·c + c·a)`, exact for every triangle smaller than a
/// hemisphere and free of the cancellation that L'Huilier's formula has for small ones.
pub(crate) fn triangle_area(a: &Vec3, b: &Vec3, c: &Vec3) -> f64 {
    let triple = a.dot(&b.cross(c));
    let denominator = 1.0 + a.dot(b) + b.dot(c) + c.dot(a);
    solid_angle(triple, denominator)
}

/// `2 atan2(triple, denominator)`: the solid angle of Van Oosterom & Strackee's formula, by
/// [`small_solid_angle`] where that is exact.
fn solid_angle(triple: f64, denominator: f64) -> f64 {
    if is_small(triple, denominator) {
        small_solid_angle(triple, denominator)
    } else {
        2.0 * triple.atan2(denominator)
    }
}

/// Whether [`small_solid_angle`] is exact: `|triple| ≤ denominator / 16`.
fn is_small(triple: f64, denominator: f64) -> bool {
    denominator > 0.0 && triple.abs() <= denominator / 16.0
}

/// `2 atan2(triple, denominator)` for the small triangles of [`is_small`], which are nearly
/// all of a mesh's triangles on the sphere: the odd Taylor series of atan to the 11th power is
/// exact to rounding there (the first term left out is below 2⁻⁵¹ relative), several times
/// faster than libm's `atan2`, and vectorises. Meaningless outside that range.
fn small_solid_angle(triple: f64, denominator: f64) -> f64 {
    let t = triple / denominator;
    let t2 = t * t;
    let t4 = t2 * t2;
    // 1 − t²/3 + t⁴/5 − t⁶/7 + t⁸/9 − t¹⁰/11, in Estrin's form to keep the chain short.
    let series = (1.0 - t2 * (1.0 / 3.0))
        + t4 * ((1.0 / 5.0 - t2 * (1.0 / 7.0)) + t4 * (1.0 / 9.0 - t2 * (1.0 / 11.0)));
    2.0 * t * series
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The series branch of [`solid_angle`] agrees with `atan2` to rounding, on both sides of
    /// its switch-over.
    #[test]
    fn solid_angle_matches_atan2() {
        for i in -1000..=1000 {
            let ratio = i as f64 * 0.08 / 1000.0;
            for denominator in [1e-3, 0.7, 3.9] {
                let triple = ratio * denominator;
                let exact = 2.0 * triple.atan2(denominator);
                let fast = solid_angle(triple, denominator);
                assert!(
                    (fast - exact).abs() <= 4.0 * f64::EPSILON * exact.abs(),
                    "{triple} / {denominator}: {fast} vs {exact}"
                );
            }
        }
        assert_eq!(solid_angle(1.0, -1.0), 2.0 * 1.0_f64.atan2(-1.0));
    }
}
