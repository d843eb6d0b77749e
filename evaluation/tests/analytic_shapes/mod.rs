//! Analytic shapes as predicates on body coordinates (x, y, z in voxels from the shape's
//! centre), shared by the SPHARM tests here and the `silico shape` tests (`tests/shape.rs`).

pub fn ellipsoid(semi_axes: [f64; 3]) -> impl Fn([f64; 3]) -> bool {
    move |p| (0..3).map(|i| (p[i] / semi_axes[i]).powi(2)).sum::<f64>() <= 1.0
}

/// A tube of radius `tube` around the arc of radius `major` in the xy plane from angle 0 to
/// `sweep`, with round ends: a C shape, not star-shaped for sweeps well above π.
pub fn bent_tube(major: f64, tube: f64, sweep: f64) -> impl Fn([f64; 3]) -> bool {
    move |[x, y, z]| {
        let angle = y.atan2(x).rem_euclid(std::f64::consts::TAU);
        let distance = if angle <= sweep {
            ((x.hypot(y) - major).powi(2) + z * z).sqrt()
        } else {
            let end = |a: f64| {
                ((x - major * a.cos()).powi(2) + (y - major * a.sin()).powi(2) + z * z).sqrt()
            };
            end(0.0).min(end(sweep))
        };
        distance <= tube
    }
}
