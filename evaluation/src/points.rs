//! Point sets in a few dimensions and the errors of the object-comparison statistics
//! ([`crate::knn_divergence`], [`crate::permutation`], [`crate::pca`], [`crate::spatial`]).

use std::fmt;

/// `len()` points of `dim()` coordinates each, stored row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Points {
    dim: usize,
    coords: Vec<f64>,
}

impl Points {
    /// Points from row-major coordinates: point `i` is `coords[i * dim..(i + 1) * dim]`.
    pub fn new(dim: usize, coords: Vec<f64>) -> Result<Self, StatsError> {
        if dim == 0 {
            return Err(StatsError::ZeroDimension);
        }
        if !coords.len().is_multiple_of(dim) {
            return Err(StatsError::RaggedCoordinates {
                len: coords.len(),
                dim,
            });
        }
        if let Some(at) = coords.iter().position(|v| !v.is_finite()) {
            return Err(StatsError::NonFinite { point: at / dim });
        }
        Ok(Self { dim, coords })
    }

    /// Points from rows, which must all have the same length `dim`.
    pub fn from_rows(dim: usize, rows: &[Vec<f64>]) -> Result<Self, StatsError> {
        if let Some(row) = rows.iter().find(|row| row.len() != dim) {
            return Err(StatsError::DimensionMismatch {
                expected: dim,
                got: row.len(),
            });
        }
        Self::new(dim, rows.concat())
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.coords.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.coords.is_empty()
    }

    pub fn point(&self, i: usize) -> &[f64] {
        &self.coords[i * self.dim..(i + 1) * self.dim]
    }

    /// All coordinates, row by row.
    pub fn coords(&self) -> &[f64] {
        &self.coords
    }

    /// The points at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let coords = indices
            .iter()
            .flat_map(|&i| self.point(i).iter().copied())
            .collect();
        Self {
            dim: self.dim,
            coords,
        }
    }

    /// Both sets in one, `self` first; both must have the same dimension.
    pub(crate) fn pooled_with(&self, other: &Self) -> Result<Self, StatsError> {
        if other.dim != self.dim {
            return Err(StatsError::DimensionMismatch {
                expected: self.dim,
                got: other.dim,
            });
        }
        let mut coords = Vec::with_capacity(self.coords.len() + other.coords.len());
        coords.extend_from_slice(&self.coords);
        coords.extend_from_slice(&other.coords);
        Ok(Self {
            dim: self.dim,
            coords,
        })
    }
}

/// Why a statistic could not be computed.
#[derive(Clone, Debug, PartialEq)]
pub enum StatsError {
    ZeroDimension,
    RaggedCoordinates {
        len: usize,
        dim: usize,
    },
    NonFinite {
        point: usize,
    },
    DimensionMismatch {
        expected: usize,
        got: usize,
    },
    /// A set that must contain points is empty (`which` names it).
    EmptySet {
        which: &'static str,
    },
    /// k must be at least 1.
    ZeroNeighbours,
    /// Excluding the point itself, the pooled set must still have k other points.
    TooFewPointsForK {
        points: usize,
        k: usize,
    },
    /// The permutation null splits the real set into two halves, each needing a point.
    TooFewRealPoints {
        points: usize,
        needed: usize,
    },
    ZeroPermutations,
    /// A statistic returned another number of values under the null than for the observation.
    StatisticCount {
        observed: usize,
        null: usize,
    },
    /// PCA components must be between 1 and the data's rank bound.
    ComponentCount {
        requested: usize,
        available: usize,
    },
    /// Per-row normalisation of an all-zero descriptor.
    ZeroRow {
        row: usize,
    },
    NonPositiveBandwidth {
        bandwidth: f64,
    },
    /// One value per point is needed (e.g. shape PC1 per position).
    LengthMismatch {
        points: usize,
        values: usize,
    },
    /// A least-squares fit needs more points than parameters.
    TooFewPointsForFit {
        points: usize,
        needed: usize,
    },
    /// The regressed values do not vary, so R² is undefined.
    ConstantResponse,
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroDimension => write!(f, "points need at least one coordinate"),
            Self::RaggedCoordinates { len, dim } => {
                write!(f, "{len} coordinates do not split into points of {dim}")
            }
            Self::NonFinite { point } => write!(f, "point {point} has a NaN or infinite coordinate"),
            Self::DimensionMismatch { expected, got } => {
                write!(f, "expected points of dimension {expected}, got {got}")
            }
            Self::EmptySet { which } => write!(f, "the {which} set has no points"),
            Self::ZeroNeighbours => write!(f, "the number of neighbours k must be at least 1"),
            Self::TooFewPointsForK { points, k } => write!(
                f,
                "{points} pooled points are fewer than k + 1 = {} (k = {k} neighbours besides the point)",
                k + 1
            ),
            Self::TooFewRealPoints { points, needed } => write!(
                f,
                "the permutation test needs at least {needed} real points, got {points}"
            ),
            Self::ZeroPermutations => write!(f, "the permutation test needs at least one permutation"),
            Self::StatisticCount { observed, null } => write!(
                f,
                "the statistic gave {observed} values for the observation but {null} under the null"
            ),
            Self::ComponentCount {
                requested,
                available,
            } => write!(
                f,
                "asked for {requested} principal components, but only 1..={available} are available"
            ),
            Self::ZeroRow { row } => write!(f, "row {row} is all zeros and cannot be scaled to unit length"),
            Self::NonPositiveBandwidth { bandwidth } => {
                write!(f, "the kernel bandwidth must be positive, got {bandwidth}")
            }
            Self::LengthMismatch { points, values } => {
                write!(f, "{points} points but {values} values")
            }
            Self::TooFewPointsForFit { points, needed } => {
                write!(f, "the regression needs at least {needed} points, got {points}")
            }
            Self::ConstantResponse => write!(f, "the regressed values are constant, so R² is undefined"),
        }
    }
}

impl std::error::Error for StatsError {}
