//! Organelle exclusivity (Sun et al. 2022, Section 2.3 and Fig. 4; Table 1 reports it).
//!
//! Separate models predict each organelle from the same bright-field image, so nothing stops two
//! of them from predicting high intensity at the same voxel. Exclusivity measures how distinct
//! the predictions are. For every voxel take the highest and the second-highest predicted value
//! over the C structures:
//!
//! - **overall** exclusivity: the mean over all voxels of (highest − second highest);
//! - **organelle** exclusivity of A: the same mean over the voxels where A is highest;
//! - **pairwise** exclusivity of the directed pair (A, B): the mean, over the voxels where A is
//!   highest, of (value of A − value of B). It is not symmetric. The diagonal (A, A) is NaN: an
//!   organelle is not compared with itself.
//!
//! Ties for the highest value go to the lowest channel index (the tied voxel then has a gap of
//! 0). A mean over no voxels (an organelle that is never highest) is NaN. Means are over all
//! voxels of all images given (running sums and counts in f64), not means of per-image means, so
//! large and small images weigh by their voxels. An optional mask restricts every mean to the
//! voxels inside it (e.g. inside cells).
//!
//! [`Exclusivity`] streams: it takes one image at a time and keeps only the sums, so a test set
//! never has to fit in memory. Each image is read once from memory, split into contiguous
//! ranges that the current rayon pool (the process's, sized by `--threads`) sums in parallel.
//! The number of ranges, not the pool, fixes the result, so any pool gives the same bits. Two
//! kernels sum a range: `avx2`, 8 voxels per instruction, where the
//! CPU has AVX2 (x86-64 since 2013), and `portable` elsewhere; the tests run both. The
//! `exclusivity_bench` example measures the one this CPU runs against a streaming read and
//! NumPy.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod portable;

use rayon::prelude::*;
use std::{fmt, ops::Range};

/// Ranges start at multiples of this many voxels, so threads share no cache line.
const RANGE_ALIGN: usize = 4096;
/// Below this many voxels per range, splitting costs more than it saves.
const MIN_VOXELS_PER_RANGE: usize = 1 << 17;

/// Which voxels of an image count: `true` or non-zero means inside.
#[derive(Clone, Copy, Debug)]
pub enum Mask<'a> {
    Bool(&'a [bool]),
    Byte(&'a [u8]),
}

impl<'a> Mask<'a> {
    fn len(&self) -> usize {
        self.bytes().len()
    }

    /// One byte per voxel, non-zero inside.
    fn bytes(&self) -> &'a [u8] {
        match *self {
            // SAFETY: a bool is one byte holding 0 or 1.
            Mask::Bool(m) => unsafe { std::slice::from_raw_parts(m.as_ptr().cast(), m.len()) },
            Mask::Byte(m) => m,
        }
    }

    fn is_inside(&self, voxel: usize) -> bool {
        self.bytes()[voxel] != 0
    }
}

/// Why an image was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExclusivityError {
    /// Exclusivity compares structures, so it needs at least two.
    TooFewChannels {
        channels: usize,
    },
    /// An image has another number of channels than the accumulator was made for.
    ChannelCount {
        expected: usize,
        got: usize,
    },
    /// Channels of one image must have the same number of voxels.
    ChannelLength {
        channel: usize,
        len: usize,
        expected: usize,
    },
    MaskLength {
        len: usize,
        expected: usize,
    },
    /// A NaN or infinite value at a voxel that counts; the ranking would be meaningless.
    NonFinite {
        channel: usize,
        voxel: usize,
    },
}

impl fmt::Display for ExclusivityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExclusivityError::TooFewChannels { channels } => write!(
                f,
                "exclusivity compares structures and needs at least 2 channels, got {channels}"
            ),
            ExclusivityError::ChannelCount { expected, got } => write!(
                f,
                "expected {expected} channels (as in the first image), got {got}"
            ),
            ExclusivityError::ChannelLength {
                channel,
                len,
                expected,
            } => write!(
                f,
                "channel {channel} has {len} voxels but channel 0 has {expected}"
            ),
            ExclusivityError::MaskLength { len, expected } => write!(
                f,
                "the mask has {len} voxels but the channels have {expected}"
            ),
            ExclusivityError::NonFinite { channel, voxel } => write!(
                f,
                "channel {channel} has a NaN or infinite value at voxel {voxel}"
            ),
        }
    }
}

impl std::error::Error for ExclusivityError {}

/// One image's own overall exclusivity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageExclusivity {
    /// Mean of (highest − second highest) over this image's counted voxels; NaN if none.
    pub overall: f64,
    /// Voxels counted (inside the mask, if any).
    pub voxels: u64,
}

/// The three measures over every voxel of every image taken in so far.
#[derive(Clone, Debug, PartialEq)]
pub struct ExclusivitySummary {
    pub overall: f64,
    /// Voxels counted over all images.
    pub voxels: u64,
    /// Per channel: organelle exclusivity (NaN where the channel is never highest).
    pub organelle: Vec<f64>,
    /// Per channel: voxels where it is highest.
    pub highest_voxels: Vec<u64>,
    /// `pairwise[a][b]`: directed pairwise exclusivity of (a, b); NaN on the diagonal and in the
    /// rows of channels that are never highest.
    pub pairwise: Vec<Vec<f64>>,
}

/// Running sums, per channel A over the voxels where A is highest.
#[derive(Clone, Debug, PartialEq)]
struct Sums {
    channels: usize,
    highest_voxels: Vec<u64>,
    /// Σ (highest − second highest).
    gap: Vec<f64>,
    /// Row A, column B: Σ value of B (on the diagonal, A's own values).
    value: Vec<f64>,
}

impl Sums {
    fn new(channels: usize) -> Self {
        Sums {
            channels,
            highest_voxels: vec![0; channels],
            gap: vec![0.0; channels],
            value: vec![0.0; channels * channels],
        }
    }

    fn merge(&mut self, other: &Sums) {
        let add =
            |into: &mut [f64], from: &[f64]| into.iter_mut().zip(from).for_each(|(a, b)| *a += b);
        self.highest_voxels
            .iter_mut()
            .zip(&other.highest_voxels)
            .for_each(|(a, b)| *a += b);
        add(&mut self.gap, &other.gap);
        add(&mut self.value, &other.value);
    }

    fn voxels(&self) -> u64 {
        self.highest_voxels.iter().sum()
    }

    fn overall(&self) -> f64 {
        self.gap.iter().sum::<f64>() / self.voxels() as f64
    }

    fn summary(&self) -> ExclusivitySummary {
        let c = self.channels;
        let organelle = (0..c)
            .map(|a| self.gap[a] / self.highest_voxels[a] as f64)
            .collect();
        let pairwise = (0..c)
            .map(|a| {
                (0..c)
                    .map(|b| {
                        if a == b {
                            f64::NAN
                        } else {
                            (self.value[a * c + a] - self.value[a * c + b])
                                / self.highest_voxels[a] as f64
                        }
                    })
                    .collect()
            })
            .collect();
        ExclusivitySummary {
            overall: self.overall(),
            voxels: self.voxels(),
            organelle,
            highest_voxels: self.highest_voxels.clone(),
            pairwise,
        }
    }
}

/// Streaming exclusivity over images of C channels (one per structure).
#[derive(Clone, Debug)]
pub struct Exclusivity {
    channels: usize,
    /// How many ranges each image is split into (fewer for small images).
    ranges: usize,
    kernel: Kernel,
    images: u64,
    sums: Sums,
}

impl Exclusivity {
    /// An accumulator for images of `channels` structures (at least 2) that splits each image
    /// into one range per core (as many as there are cores, whatever pool sums them, so that the
    /// sums of a machine do not change with `--threads`).
    pub fn new(channels: usize) -> Result<Self, ExclusivityError> {
        if channels < 2 {
            return Err(ExclusivityError::TooFewChannels { channels });
        }
        Ok(Exclusivity {
            channels,
            ranges: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: Kernel::fastest(),
            images: 0,
            sums: Sums::new(channels),
        })
    }

    /// Splits each image into at most `threads` ranges (at least one), summed by the current
    /// rayon pool; the result depends on this number only.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.ranges = threads.max(1);
        self
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Images taken in so far.
    pub fn images(&self) -> u64 {
        self.images
    }

    /// Takes in one image: `channels[c]` holds structure c's prediction, every channel the same
    /// voxels in the same order. Returns the image's own overall exclusivity. A refused image
    /// leaves the running sums unchanged.
    pub fn update(
        &mut self,
        channels: &[&[f32]],
        mask: Option<Mask<'_>>,
    ) -> Result<ImageExclusivity, ExclusivityError> {
        if channels.len() != self.channels {
            return Err(ExclusivityError::ChannelCount {
                expected: self.channels,
                got: channels.len(),
            });
        }
        let voxels = channels[0].len();
        if let Some((channel, other)) = channels
            .iter()
            .enumerate()
            .find(|(_, other)| other.len() != voxels)
        {
            return Err(ExclusivityError::ChannelLength {
                channel,
                len: other.len(),
                expected: voxels,
            });
        }
        if let Some(mask) = mask {
            if mask.len() != voxels {
                return Err(ExclusivityError::MaskLength {
                    len: mask.len(),
                    expected: voxels,
                });
            }
        }
        let image = self.image_sums(channels, mask)?;
        self.sums.merge(&image);
        self.images += 1;
        Ok(ImageExclusivity {
            overall: image.overall(),
            voxels: image.voxels(),
        })
    }

    /// The measures over every image taken in so far (NaN where no voxel counted).
    pub fn summary(&self) -> ExclusivitySummary {
        self.sums.summary()
    }

    /// One image's sums, its voxels split into contiguous whole-chunk ranges, merged in voxel
    /// order so that a given range count always gives the same result.
    fn image_sums(
        &self,
        channels: &[&[f32]],
        mask: Option<Mask<'_>>,
    ) -> Result<Sums, ExclusivityError> {
        let voxels = channels[0].len();
        let count = self.ranges.min(voxels / MIN_VOXELS_PER_RANGE).max(1);
        let per_range = voxels.div_ceil(count).div_ceil(RANGE_ALIGN) * RANGE_ALIGN;
        let ranges: Vec<Range<usize>> = (0..count)
            .map(|r| r * per_range..((r + 1) * per_range).min(voxels))
            .filter(|range| !range.is_empty())
            .collect();
        let kernel = self.kernel;
        let parts: Vec<Result<Sums, ExclusivityError>> = if ranges.len() <= 1 {
            vec![kernel.range_sums(channels, mask, 0..voxels)]
        } else {
            ranges
                .into_par_iter()
                .map(|range| kernel.range_sums(channels, mask, range))
                .collect()
        };
        let mut total = Sums::new(self.channels);
        for part in parts {
            total.merge(&part?);
        }
        Ok(total)
    }
}

/// How a range of voxels is summed; the kernels agree up to f32 rounding of partial sums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Kernel {
    fn fastest() -> Self {
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            return Kernel::Avx2;
        }
        Kernel::Portable
    }

    /// The sums of `voxels`, which every channel and the mask cover.
    fn range_sums(
        self,
        channels: &[&[f32]],
        mask: Option<Mask<'_>>,
        voxels: Range<usize>,
    ) -> Result<Sums, ExclusivityError> {
        let mut sums = Sums::new(channels.len());
        match self {
            Kernel::Portable => portable::add_range(channels, mask, voxels, &mut sums)?,
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `fastest` picks this kernel only where the CPU has AVX2, and `update`
            // checked that every channel and the mask have the same length.
            Kernel::Avx2 => unsafe { avx2::add_range(channels, mask, voxels, &mut sums)? },
        }
        Ok(sums)
    }
}

/// The first NaN or infinite value at a counted voxel of `voxels`, if any.
fn first_non_finite(
    channels: &[&[f32]],
    mask: Option<Mask<'_>>,
    voxels: Range<usize>,
) -> Option<ExclusivityError> {
    voxels
        .filter(|&voxel| mask.is_none_or(|m| m.is_inside(voxel)))
        .find_map(|voxel| {
            let channel = channels
                .iter()
                .position(|values| !values[voxel].is_finite())?;
            Some(ExclusivityError::NonFinite { channel, voxel })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal up to the rounding of the AVX2 kernel's f32 partial sums (at most 128 values per
    /// lane), or both NaN. Exact inputs (small integers) are compared exactly where it matters.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * (1.0 + b.abs()) || (a.is_nan() && b.is_nan())
    }

    /// Every kernel this CPU can run.
    fn kernels() -> Vec<Kernel> {
        let mut kernels = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            kernels.push(Kernel::Avx2);
        }
        kernels
    }

    fn accumulator(channels: usize, kernel: Kernel, threads: usize) -> Exclusivity {
        Exclusivity {
            kernel,
            ..Exclusivity::new(channels).unwrap().with_threads(threads)
        }
    }

    /// The summary, checked to be the same from every kernel.
    fn summary_of(channels: &[Vec<f32>], mask: Option<Mask<'_>>) -> ExclusivitySummary {
        let slices: Vec<&[f32]> = channels.iter().map(Vec::as_slice).collect();
        let summaries: Vec<ExclusivitySummary> = kernels()
            .into_iter()
            .map(|kernel| {
                let mut exclusivity = accumulator(channels.len(), kernel, 1);
                exclusivity.update(&slices, mask).unwrap();
                exclusivity.summary()
            })
            .collect();
        for other in &summaries[1..] {
            assert_summaries_agree(other, &summaries[0]);
        }
        summaries[0].clone()
    }

    /// A deterministic stream of uniform values in [0, 1) (SplitMix64).
    fn uniform(seed: u64, n: usize) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect()
    }

    /// The definitions, voxel by voxel, straight from Section 2.3.
    fn direct(channels: &[Vec<f32>], inside: &[bool]) -> ExclusivitySummary {
        let c = channels.len();
        let mut gap = vec![0.0; c];
        let mut count = vec![0u64; c];
        let mut pair = vec![vec![0.0; c]; c];
        for voxel in (0..channels[0].len()).filter(|&v| inside[v]) {
            let values: Vec<f64> = channels.iter().map(|ch| ch[voxel] as f64).collect();
            let mut top = 0;
            for (i, &v) in values.iter().enumerate() {
                if v > values[top] {
                    top = i;
                }
            }
            let next = (0..c)
                .filter(|&i| i != top)
                .map(|i| values[i])
                .fold(f64::NEG_INFINITY, f64::max);
            gap[top] += values[top] - next;
            count[top] += 1;
            for b in 0..c {
                pair[top][b] += values[top] - values[b];
            }
        }
        let total: u64 = count.iter().sum();
        ExclusivitySummary {
            overall: gap.iter().sum::<f64>() / total as f64,
            voxels: total,
            organelle: (0..c).map(|a| gap[a] / count[a] as f64).collect(),
            highest_voxels: count.clone(),
            pairwise: (0..c)
                .map(|a| {
                    (0..c)
                        .map(|b| {
                            if a == b {
                                f64::NAN
                            } else {
                                pair[a][b] / count[a] as f64
                            }
                        })
                        .collect()
                })
                .collect(),
        }
    }

    fn assert_summaries_agree(got: &ExclusivitySummary, want: &ExclusivitySummary) {
        assert!(
            close(got.overall, want.overall),
            "{} != {}",
            got.overall,
            want.overall
        );
        assert_eq!(got.voxels, want.voxels);
        assert_eq!(got.highest_voxels, want.highest_voxels);
        for (g, w) in got.organelle.iter().zip(&want.organelle) {
            assert!(close(*g, *w), "{g} != {w}");
        }
        for (grow, wrow) in got.pairwise.iter().zip(&want.pairwise) {
            for (g, w) in grow.iter().zip(wrow) {
                assert!(close(*g, *w), "{g} != {w}");
            }
        }
    }

    #[test]
    fn constant_gap_between_two_channels() {
        // A is 0.75 above B everywhere: every measure is 0.75 and B is never highest.
        let b = uniform(1, 5000);
        let a: Vec<f32> = b.iter().map(|v| v + 0.75).collect();
        let s = summary_of(&[a, b], None);
        assert!((s.overall - 0.75).abs() < 1e-6);
        assert!((s.organelle[0] - 0.75).abs() < 1e-6);
        assert!((s.pairwise[0][1] - 0.75).abs() < 1e-6);
        assert_eq!(s.highest_voxels, vec![5000, 0]);
        assert_eq!(s.voxels, 5000);
        assert!(s.organelle[1].is_nan() && s.pairwise[1][0].is_nan());
        assert!(s.pairwise[0][0].is_nan() && s.pairwise[1][1].is_nan());
    }

    #[test]
    fn a_channel_that_is_never_highest() {
        // A and B alternate being highest at gaps 2 and 1; C stays far below both.
        let a = vec![3.0, 1.0, 3.0, 1.0];
        let b = vec![1.0, 2.0, 1.0, 2.0];
        let c = vec![-5.0; 4];
        let s = summary_of(&[a, b, c], None);
        assert_eq!(s.highest_voxels, vec![2, 2, 0]);
        assert_eq!(s.overall, 1.5);
        assert_eq!(s.organelle[..2], [2.0, 1.0]);
        assert!(s.organelle[2].is_nan());
        assert_eq!(s.pairwise[0][1..], [2.0, 8.0]);
        assert_eq!(s.pairwise[1][0], 1.0);
        assert_eq!(s.pairwise[1][2], 7.0);
        assert!(s.pairwise[2].iter().all(|v| v.is_nan()));
    }

    #[test]
    fn ties_go_to_the_lowest_channel_with_a_gap_of_zero() {
        // Voxel 0: B and C tie for highest → B; voxel 1: all three tie → A.
        let a = vec![0.0, 4.0];
        let b = vec![2.0, 4.0];
        let c = vec![2.0, 4.0];
        let s = summary_of(&[a, b, c], None);
        assert_eq!(s.highest_voxels, vec![1, 1, 0]);
        assert_eq!(s.overall, 0.0);
        assert_eq!(s.organelle[..2], [0.0, 0.0]);
        assert_eq!(s.pairwise[1][0], 2.0);
        assert_eq!(s.pairwise[1][2], 0.0);
        assert_eq!(s.pairwise[0][1..], [0.0, 0.0]);
    }

    #[test]
    fn pairwise_is_directed() {
        // Voxels 0-1: A highest (A−B = 1, 3); voxel 2: B highest (B−A = 10).
        let a = vec![2.0, 5.0, 0.0];
        let b = vec![1.0, 2.0, 10.0];
        let s = summary_of(&[a, b], None);
        assert_eq!(s.pairwise[0][1], 2.0);
        assert_eq!(s.pairwise[1][0], 10.0);
        assert_eq!(s.organelle, vec![2.0, 10.0]);
        assert_eq!(s.overall, 14.0 / 3.0);
    }

    #[test]
    fn masks_restrict_every_mean() {
        let a = vec![2.0, 5.0, 0.0, 9.0];
        let b = vec![1.0, 2.0, 10.0, f32::NAN];
        let inside = [true, false, true, false];
        let bytes = [1u8, 0, 255, 0];
        for mask in [Mask::Bool(&inside), Mask::Byte(&bytes)] {
            // The NaN lies outside the mask, so it does not matter.
            let s = summary_of(&[a.clone(), b.clone()], Some(mask));
            assert_eq!(s.voxels, 2);
            assert_eq!(s.overall, 5.5);
            assert_eq!(s.pairwise[0][1], 1.0);
            assert_eq!(s.pairwise[1][0], 10.0);
        }
        let empty = [false; 4];
        let s = summary_of(&[a, b], Some(Mask::Bool(&empty)));
        assert_eq!(s.voxels, 0);
        assert!(s.overall.is_nan());
    }

    #[test]
    fn streaming_two_images_equals_one_concatenated_image() {
        let channels = 4;
        let first: Vec<Vec<f32>> = (0..channels).map(|c| uniform(10 + c, 3001)).collect();
        let second: Vec<Vec<f32>> = (0..channels).map(|c| uniform(20 + c, 777)).collect();
        let mut streamed = Exclusivity::new(channels as usize).unwrap();
        let slices = |image: &[Vec<f32>]| -> Vec<Vec<f32>> { image.to_vec() };
        for image in [slices(&first), slices(&second)] {
            let refs: Vec<&[f32]> = image.iter().map(Vec::as_slice).collect();
            streamed.update(&refs, None).unwrap();
        }
        let joined: Vec<Vec<f32>> = first
            .iter()
            .zip(&second)
            .map(|(a, b)| [a.as_slice(), b.as_slice()].concat())
            .collect();
        assert_eq!(streamed.images(), 2);
        assert_summaries_agree(&streamed.summary(), &summary_of(&joined, None));
    }

    #[test]
    fn means_are_over_voxels_not_over_images() {
        // Image 1: one voxel with gap 1; image 2: three voxels with gap 3 → (1 + 9) / 4.
        let mut e = Exclusivity::new(2).unwrap();
        let one = e.update(&[&[1.0], &[0.0]], None).unwrap();
        assert_eq!(
            one,
            ImageExclusivity {
                overall: 1.0,
                voxels: 1
            }
        );
        e.update(&[&[3.0; 3], &[0.0; 3]], None).unwrap();
        assert_eq!(e.summary().overall, 2.5);
    }

    #[test]
    fn agrees_with_the_definition_on_random_data_across_chunks_and_threads() {
        // Enough voxels for several threads and a ragged last chunk; quantized values make ties.
        let voxels = 3 * MIN_VOXELS_PER_RANGE + 517;
        let channels: Vec<Vec<f32>> = (0..5)
            .map(|c| {
                uniform(c, voxels)
                    .iter()
                    .map(|v| (v * 16.0).floor())
                    .collect()
            })
            .collect();
        let inside: Vec<bool> = uniform(99, voxels).iter().map(|v| *v < 0.7).collect();
        // Values outside the mask do not count, not even a NaN.
        let mut channels = channels;
        for voxel in (0..voxels).filter(|&v| !inside[v]).step_by(97) {
            channels[voxel % 5][voxel] = f32::NAN;
        }
        let want = direct(&channels, &inside);
        let slices: Vec<&[f32]> = channels.iter().map(Vec::as_slice).collect();
        for kernel in kernels() {
            for threads in [1, 2, 3, 8] {
                let mut e = accumulator(5, kernel, threads);
                e.update(&slices, Some(Mask::Bool(&inside))).unwrap();
                assert_summaries_agree(&e.summary(), &want);
            }
        }
    }

    #[test]
    fn agrees_with_the_definition_for_many_channels() {
        // 17 channels and their gap and count take more than two vectors per voxel.
        let voxels = 20_005;
        let channels: Vec<Vec<f32>> = (0..17)
            .map(|c| {
                uniform(40 + c, voxels)
                    .iter()
                    .map(|v| (v * 8.0).floor())
                    .collect()
            })
            .collect();
        let inside: Vec<bool> = uniform(41, voxels).iter().map(|v| *v < 0.8).collect();
        let want = direct(&channels, &inside);
        assert_summaries_agree(&summary_of(&channels, Some(Mask::Bool(&inside))), &want);
    }

    #[test]
    fn agrees_with_the_definition_on_runs_of_one_highest_channel() {
        // Smooth predictions: runs of 1 to 60 voxels share their highest channel (raised by
        // 2), so blocks are mostly of one channel, with mixed ones where runs change.
        let (channels, voxels) = (4, 2 * MIN_VOXELS_PER_RANGE + 333);
        let lengths = uniform(7, voxels);
        let mut values: Vec<Vec<f32>> = (0..channels).map(|c| uniform(30 + c, voxels)).collect();
        let (mut voxel, mut run) = (0, 0);
        while voxel < voxels {
            let end = (voxel + 1 + (lengths[run] * 60.0) as usize).min(voxels);
            values[run % channels as usize][voxel..end]
                .iter_mut()
                .for_each(|v| *v += 2.0);
            (voxel, run) = (end, run + 1);
        }
        let inside: Vec<bool> = (0..voxels).map(|v| (v / 1000) % 7 != 3).collect();
        for mask in [None, Some(Mask::Bool(&inside))] {
            let all = vec![true; voxels];
            let want = direct(&values, mask.map_or(&all, |_| &inside));
            let slices: Vec<&[f32]> = values.iter().map(Vec::as_slice).collect();
            for kernel in kernels() {
                for threads in [1, 2] {
                    let mut e = accumulator(channels as usize, kernel, threads);
                    e.update(&slices, mask).unwrap();
                    assert_summaries_agree(&e.summary(), &want);
                }
            }
        }
    }

    #[test]
    fn values_too_large_to_sum_in_f32_are_summed_in_f64() {
        // Sums of these values overflow f32 after two voxels but not f64.
        let a: Vec<f32> = uniform(5, 3000)
            .iter()
            .map(|v| 3e38 * (0.5 + v / 2.0))
            .collect();
        let b: Vec<f32> = uniform(6, 3000).iter().map(|v| 1e38 * v).collect();
        let want = direct(&[a.clone(), b.clone()], &[true; 3000]);
        assert!(want.overall > 1e37 && want.overall.is_finite());
        assert_summaries_agree(&summary_of(&[a, b], None), &want);
    }

    #[test]
    fn names_the_first_non_finite_value_in_a_large_image() {
        let voxels = 2 * MIN_VOXELS_PER_RANGE + 11;
        let mut channels: Vec<Vec<f32>> = (0..3).map(|c| uniform(c, voxels)).collect();
        channels[2][150_001] = f32::NAN;
        channels[1][200_000] = f32::NEG_INFINITY;
        let slices: Vec<&[f32]> = channels.iter().map(Vec::as_slice).collect();
        for kernel in kernels() {
            for threads in [1, 2] {
                let mut e = accumulator(3, kernel, threads);
                assert_eq!(
                    e.update(&slices, None).unwrap_err(),
                    ExclusivityError::NonFinite {
                        channel: 2,
                        voxel: 150_001
                    },
                    "{kernel:?}, {threads} thread(s)"
                );
                assert_eq!(e.summary().voxels, 0);
            }
        }
    }

    #[test]
    fn refuses_inconsistent_images_without_changing_the_sums() {
        assert_eq!(
            Exclusivity::new(1).unwrap_err().to_string(),
            "exclusivity compares structures and needs at least 2 channels, got 1"
        );
        let mut e = Exclusivity::new(2).unwrap();
        let err = |e: &mut Exclusivity, channels: &[&[f32]], mask| {
            e.update(channels, mask).unwrap_err().to_string()
        };
        assert_eq!(
            err(&mut e, &[&[1.0]], None),
            "expected 2 channels (as in the first image), got 1"
        );
        assert_eq!(
            err(&mut e, &[&[1.0, 2.0], &[1.0]], None),
            "channel 1 has 1 voxels but channel 0 has 2"
        );
        assert_eq!(
            err(&mut e, &[&[1.0], &[1.0]], Some(Mask::Byte(&[1, 1]))),
            "the mask has 2 voxels but the channels have 1"
        );
        assert_eq!(
            err(&mut e, &[&[1.0, 1.0], &[0.0, f32::INFINITY]], None),
            "channel 1 has a NaN or infinite value at voxel 1"
        );
        assert_eq!(e.images(), 0);
        assert_eq!(e.summary().voxels, 0);
    }
}
