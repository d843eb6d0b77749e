//! Symmetric Hausdorff distance between two point sets (CellOrganizer
//! `hausdorff_distance.m`: the larger of the two directed distances).

use super::sphere::Vec3;

/// `max(h(a, b), h(b, a))` with `h(a, b) = max_{p ∈ a} min_{q ∈ b} |p − q|`; 0 when either set
/// is empty.
pub(crate) fn symmetric_hausdorff(a: &[Vec3], b: &[Vec3]) -> f64 {
    directed_hausdorff(a, b).max(directed_hausdorff(b, a))
}

/// `h(from, to)`. The targets are sorted by x, and each search walks outwards from the query's
/// x until the x gap alone exceeds the best distance so far, so it stays far below
/// `|from| · |to|` distance evaluations for surfaces.
fn directed_hausdorff(from: &[Vec3], to: &[Vec3]) -> f64 {
    if from.is_empty() || to.is_empty() {
        return 0.0;
    }
    let mut sorted: Vec<Vec3> = to.to_vec();
    sorted.sort_by(|p, q| p.x.total_cmp(&q.x));
    let mut worst_squared = 0.0_f64;
    for p in from {
        let start = sorted.partition_point(|q| q.x < p.x);
        let mut best_squared = f64::INFINITY;
        for q in &sorted[start..] {
            let gap = q.x - p.x;
            if gap * gap >= best_squared {
                break;
            }
            best_squared = best_squared.min((q - p).norm_squared());
        }
        for q in sorted[..start].iter().rev() {
            let gap = p.x - q.x;
            if gap * gap >= best_squared {
                break;
            }
            best_squared = best_squared.min((q - p).norm_squared());
        }
        worst_squared = worst_squared.max(best_squared);
    }
    worst_squared.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let directed = |from: &[Vec3], to: &[Vec3]| {
            from.iter()
                .map(|p| {
                    to.iter()
                        .map(|q| (p - q).norm())
                        .fold(f64::INFINITY, f64::min)
                })
                .fold(0.0, f64::max)
        };
        let expected = directed(&a, &b).max(directed(&b, &a));
        assert!((symmetric_hausdorff(&a, &b) - expected).abs() < 1e-12);
    }
}
