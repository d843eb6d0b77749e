//! Removes the few folds that the discrete rearrangement can leave where the areas change
//! quickly, then widens the quads it left squeezed below [`MIN_AREA_RATIO`] of their share:
//! each vertex of such a quad steps along the gradient of how far its corner triangles fall
//! short, on the sphere, keeping a step only if that drops (and, while widening, only if it
//! turns no triangle over). Nothing else moves, so the map stays the fixed function of the
//! surface that [`super::parameterize`] made it. The area relaxation that used to follow
//! evened the areas further (on the reconstruction test's bent tube, quads at 0.80–1.38 of
//! their share against 0.50–1.85 here) but did not lower `scripts/bench-spharm`'s mean
//! Hausdorff distance (0.744 against 0.740 µm) and took a quarter more time.

use super::sphere::{quad_area, quad_is_convex, Vec3};

/// Widening stops once every quad covers at least this share of its target area.
const MIN_AREA_RATIO: f64 = 0.5;

/// A corner triangle counts as turned over below this share of its quad's target triple
/// product (about the quad's area), so that degenerate corners are lifted too.
const DEGENERATE: f64 = 1e-6;

/// Moves vertices of folded quads of `points` until no quad is folded, then vertices of quads
/// under [`MIN_AREA_RATIO`] of their `targets` until none is, in at most `max_sweeps` sweeps
/// in all; returns the sweeps done.
pub(crate) fn unfold(
    points: &mut [Vec3],
    faces: &[[usize; 4]],
    targets: &[f64],
    max_sweeps: usize,
) -> usize {
    let corners = Corners::new(points.len(), faces, targets);
    let unfolding = sweeps(points, faces, targets, &corners, Phase::Unfold, max_sweeps);
    let widening = sweeps(
        points,
        faces,
        targets,
        &corners,
        Phase::Widen,
        max_sweeps - unfolding,
    );
    unfolding + widening
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    /// Folded quads, until none is left: a step too long for now is retried shorter in the
    /// next sweep.
    Unfold,
    /// Squeezed quads, until none is left or no vertex can move: some may stay squeezed.
    Widen,
}

impl Phase {
    /// The corner triangles' margins, as shares of their quads' targets.
    fn margin(self) -> f64 {
        match self {
            Self::Unfold => DEGENERATE,
            Self::Widen => MIN_AREA_RATIO,
        }
    }

    fn works_on(self, points: &[Vec3], q: &[usize; 4], target: f64) -> bool {
        match self {
            Self::Unfold => !quad_is_convex(points, q),
            Self::Widen => quad_area(points, q) < MIN_AREA_RATIO * target,
        }
    }
}

/// Sweeps over the vertices of the quads that `phase` works on, until none is left,
/// `max_sweeps`, or (widening) no vertex moves; returns the sweeps done.
fn sweeps(
    points: &mut [Vec3],
    faces: &[[usize; 4]],
    targets: &[f64],
    corners: &Corners,
    phase: Phase,
    max_sweeps: usize,
) -> usize {
    let margin = phase.margin();
    let mut step = vec![1.0_f64; points.len()];
    for sweep in 0..max_sweeps {
        let mut picked: Vec<usize> = faces
            .iter()
            .zip(targets)
            .filter(|(q, t)| phase.works_on(points, q, **t))
            .flat_map(|(q, _)| q)
            .copied()
            .collect();
        if picked.is_empty() {
            return sweep;
        }
        picked.sort_unstable();
        picked.dedup();
        let mut moved = false;
        for v in picked {
            let here = points[v];
            let before = corners.shortfall(points, v, &here, margin);
            let gradient = before.gradient();
            let tangent = gradient - here * gradient.dot(&here);
            if tangent.norm_squared() == 0.0 {
                continue;
            }
            for _ in 0..4 {
                let trial = (here - tangent * step[v]).normalize();
                if corners
                    .shortfall(points, v, &trial, margin)
                    .improves_on(&before)
                {
                    points[v] = trial;
                    step[v] = (step[v] * 1.5).min(4.0);
                    moved = true;
                    break;
                }
                step[v] *= 0.3;
            }
        }
        if !moved && phase == Phase::Widen {
            return sweep;
        }
    }
    max_sweeps
}

/// The corner triangles `(v, next, previous)` of every quad around each vertex v, in
/// compressed rows: a quad's corner triangle at corner k is `(p_k, p_{k+1}, p_{k−1})`, and is
/// turned over exactly when the quad is not convex there.
struct Corners {
    offsets: Vec<usize>,
    /// The other two corners and the target area of the quad.
    others: Vec<([usize; 2], f64)>,
}

impl Corners {
    fn new(points: usize, faces: &[[usize; 4]], targets: &[f64]) -> Self {
        let mut rows: Vec<Vec<([usize; 2], f64)>> = vec![Vec::new(); points];
        for (q, &target) in faces.iter().zip(targets) {
            for k in 0..4 {
                let [a, b, c] = [q[k], q[(k + 1) % 4], q[(k + 3) % 4]];
                rows[a].push(([b, c], target));
                rows[b].push(([c, a], target));
                rows[c].push(([a, b], target));
            }
        }
        let mut offsets = vec![0];
        let mut others = Vec::new();
        for row in rows {
            others.extend(row);
            offsets.push(others.len());
        }
        Self { offsets, others }
    }

    /// With v at `a`: how far v's corner triangles are turned over or degenerate,
    /// `Σ (d − a·(b × c))` over those with a triple product under `d` = [`DEGENERATE`] times
    /// their quad's target (the same sum with `margin` in place of [`DEGENERATE`] for
    /// squeezed), each with its gradient in `a`. Triples that are positive but within
    /// rounding of 0 do not count as turned over, so widening kept them and left quads that
    /// [`quad_is_convex`] finds folded.
    fn shortfall(&self, points: &[Vec3], v: usize, a: &Vec3, margin: f64) -> Shortfall {
        let mut shortfall = Shortfall::default();
        for ([b, c], target) in &self.others[self.offsets[v]..self.offsets[v + 1]] {
            let normal = points[*b].cross(&points[*c]);
            let triple = a.dot(&normal);
            // A corner triangle of a parallelogram covers half its quad, so its triple product
            // (twice its area, for small triangles) is about the quad's area.
            let degenerate = DEGENERATE * target;
            if triple < degenerate {
                shortfall.turned += degenerate - triple;
                shortfall.turned_gradient -= normal;
            }
            let margin = margin * target;
            if triple < margin {
                shortfall.squeezed += margin - triple;
                shortfall.squeezed_gradient -= normal;
            }
        }
        shortfall
    }
}

#[derive(Default)]
struct Shortfall {
    turned: f64,
    turned_gradient: Vec3,
    squeezed: f64,
    squeezed_gradient: Vec3,
}

impl Shortfall {
    /// The direction to improve: unturn first, then widen.
    fn gradient(&self) -> Vec3 {
        if self.turned > 0.0 {
            self.turned_gradient
        } else {
            self.squeezed_gradient
        }
    }

    /// Whether `self` improves on `before`: less turned over, or as little (none, when
    /// nothing was) and less squeezed, so that widening never turns a triangle over.
    fn improves_on(&self, before: &Self) -> bool {
        if before.turned > 0.0 {
            self.turned < before.turned
        } else {
            self.turned == 0.0 && self.squeezed < before.squeezed
        }
    }
}
