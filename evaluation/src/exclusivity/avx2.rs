//! The exclusivity pass with AVX2 intrinsics, 8 voxels (one vector per channel) at a time.
//!
//! Each channel's 8 values are read once from memory and ranked with vector max, min and
//! compare (strict `>`, so ties keep the lower channel). Every voxel then adds its row of X
//! (every channel's value, the gap and 1) to the sums of its highest channel A, in one of two
//! ways:
//!
//! - a block whose counted voxels all have the same highest channel, as almost everywhere in
//!   smooth predictions, adds each column of X to a running vector sum of A: one vector add per
//!   column, nothing per voxel;
//! - a mixed block (i.i.d. random predictions, the worst case, are all mixed) is transposed, so
//!   that each voxel's row of X is in vectors, and each voxel adds its row to the sums of A in a
//!   table of its own lane. Per-lane tables keep neighbouring voxels with the same highest
//!   channel from waiting on each other's stores; voxels outside the mask go to a discarded row.
//!
//! A run of same-channel blocks ends in the table the same way, transposed. Sums are f32 for at
//! most [`FLUSH`] voxels (each f32 lane adds at most `FLUSH / 8` values), then the lanes are
//! added into the f64 [`Sums`]. A non-finite flush comes from a NaN or infinite value at a
//! counted voxel, reported as such, or from finite values too large to sum in f32; those
//! voxels are then summed again by the portable kernel in f64.

use super::{first_non_finite, portable, ExclusivityError, Mask, Sums};
use std::arch::x86_64::*;
use std::ops::Range;

const LANES: usize = 8;
/// Voxels between flushes of the f32 sums into the f64 sums.
const FLUSH: usize = 1024;

/// Whether this CPU can run [`add_range`].
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx2")
}

/// Adds `voxels` of every channel to `sums`.
///
/// # Safety
///
/// The CPU must support AVX2 ([`available`]), and every channel and the mask must cover
/// `voxels`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn add_range(
    channels: &[&[f32]],
    mask: Option<Mask<'_>>,
    voxels: Range<usize>,
    sums: &mut Sums,
) -> Result<(), ExclusivityError> {
    let mut work = Workspace::new(channels.len());
    let starts: Vec<*const f32> = channels.iter().map(|values| values.as_ptr()).collect();
    let bytes = mask.map(|m| m.bytes());
    let mut flush_start = voxels.start;
    while flush_start < voxels.end {
        let flush_end = (flush_start + FLUSH).min(voxels.end);
        let mut voxel = flush_start;
        while voxel + LANES <= flush_end {
            let inside = match bytes {
                Some(bytes) => inside_bits(bytes[voxel..voxel + LANES].as_ptr()),
                None => 0xFF,
            };
            work.add_block(&starts, voxel, inside);
            voxel += LANES;
        }
        if voxel < flush_end {
            let lanes = flush_end - voxel;
            let inside = (0..lanes)
                .filter(|&lane| bytes.is_none_or(|bytes| bytes[voxel + lane] != 0))
                .fold(0, |bits, lane| bits | 1 << lane);
            let padded = work.pad(channels, voxel..flush_end);
            work.add_block(&padded, 0, inside);
        }
        if !work.flush_into(sums) {
            let flushed = flush_start..flush_end;
            if let Some(error) = first_non_finite(channels, mask, flushed.clone()) {
                return Err(error);
            }
            portable::add_range(channels, mask, flushed, sums)?;
        }
        flush_start = flush_end;
    }
    Ok(())
}

/// Sums and scratch of one thread.
struct Workspace {
    channels: usize,
    /// Vectors of 8 columns of X: ⌈(C + 2) / 8⌉.
    groups: usize,
    /// Channel index c in every lane, at `c`.
    channel_index: Vec<__m256>,
    /// The block's columns of X, `groups * 8` vectors: channels, gap, 1, then zeros.
    columns: Vec<__m256>,
    /// Per lane, C + 1 rows (the last one discarded) of `groups * 8` sums.
    lane_sums: Vec<f32>,
    /// Where lane i's rows start in `lane_sums`.
    lane_start: __m256i,
    /// The current run of same-channel blocks: its channel and its column sums (as `columns`).
    run_channel: Option<usize>,
    run: Vec<__m256>,
    /// A ragged last block, zero-padded: C × 8.
    padded: Vec<f32>,
    /// One flush's sums in f64 (C rows as in `lane_sums`), checked before any is added to the
    /// sums.
    staged: Vec<f64>,
}

impl Workspace {
    fn new(channels: usize) -> Self {
        let groups = (channels + 2).div_ceil(LANES);
        let row_len = groups * LANES;
        let lane_len = (channels + 1) * row_len;
        let mut columns = vec![splat(0.0); groups * LANES];
        columns[channels + 1] = splat(1.0);
        let lane_start: [i32; LANES] = std::array::from_fn(|lane| (lane * lane_len) as i32);
        Workspace {
            channels,
            groups,
            channel_index: (0..channels).map(|c| splat(c as f32)).collect(),
            columns,
            lane_sums: vec![0.0; LANES * lane_len],
            // SAFETY: an __m256i is 8 i32 lanes; transmuting needs no CPU feature.
            lane_start: unsafe { std::mem::transmute::<[i32; LANES], __m256i>(lane_start) },
            run_channel: None,
            run: vec![splat(0.0); groups * LANES],
            padded: vec![0.0; channels * LANES],
            staged: vec![0.0; channels * row_len],
        }
    }

    /// Copies a ragged block into zero-padded lanes; returns where each channel's copy starts.
    fn pad(&mut self, channels: &[&[f32]], voxels: Range<usize>) -> Vec<*const f32> {
        self.padded.fill(0.0);
        for (padded, values) in self.padded.chunks_exact_mut(LANES).zip(channels) {
            padded[..voxels.len()].copy_from_slice(&values[voxels.clone()]);
        }
        self.padded
            .chunks_exact(LANES)
            .map(<[f32]>::as_ptr)
            .collect()
    }

    /// Adds the 8 voxels at `offset` of every channel (`starts`), counting the lanes set in
    /// `inside`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn add_block(&mut self, starts: &[*const f32], offset: usize, inside: u32) {
        if inside == 0 {
            return;
        }
        let c = self.channels;
        // Rank. max and min carry the highest and second highest from channel to channel in
        // one instruction each; the compare only decides the highest channel.
        let mut highest = _mm256_loadu_ps(starts[0].add(offset));
        self.columns[0] = highest;
        let mut second = splat(f32::NEG_INFINITY);
        let mut highest_channel = splat(0.0);
        for ((start, column), index) in starts[1..c]
            .iter()
            .zip(&mut self.columns[1..c])
            .zip(&self.channel_index[1..c])
        {
            let values = _mm256_loadu_ps(start.add(offset));
            *column = values;
            let above = _mm256_cmp_ps::<_CMP_GT_OQ>(values, highest);
            second = _mm256_max_ps(_mm256_min_ps(values, highest), second);
            highest = _mm256_max_ps(values, highest);
            highest_channel = _mm256_blendv_ps(highest_channel, *index, above);
        }
        self.columns[c] = _mm256_sub_ps(highest, second);

        let inside_lanes = lane_mask(inside);
        let first_lane = _mm256_set1_epi32(inside.trailing_zeros() as i32);
        let first_channel = _mm256_permutevar8x32_ps(highest_channel, first_lane);
        let same = _mm256_cmp_ps::<_CMP_EQ_OQ>(highest_channel, first_channel);
        if _mm256_movemask_ps(same) as u32 & inside == inside {
            let channel = _mm_cvtss_f32(_mm256_castps256_ps128(first_channel)) as usize;
            if self.run_channel != Some(channel) {
                self.end_run();
                self.run_channel = Some(channel);
            }
            for (sum, column) in self.run.iter_mut().zip(&self.columns) {
                *sum = _mm256_add_ps(*sum, _mm256_and_ps(*column, inside_lanes));
            }
        } else {
            // Outside voxels go to the discarded row C.
            let row = _mm256_blendv_ps(splat(c as f32), highest_channel, inside_lanes);
            let at = _mm256_add_epi32(
                _mm256_mullo_epi32(
                    _mm256_cvttps_epi32(row),
                    _mm256_set1_epi32((self.groups * LANES) as i32),
                ),
                self.lane_start,
            );
            add_transposed(&mut self.lane_sums, &self.columns, at);
        }
    }

    /// Adds the current run's sums, transposed, to its channel's rows of every lane.
    #[target_feature(enable = "avx2")]
    unsafe fn end_run(&mut self) {
        let Some(channel) = self.run_channel.take() else {
            return;
        };
        let at = _mm256_add_epi32(
            _mm256_set1_epi32((channel * self.groups * LANES) as i32),
            self.lane_start,
        );
        add_transposed(&mut self.lane_sums, &self.run, at);
        self.run.fill(splat(0.0));
    }

    /// Adds every sum to `sums` in f64 and empties the workspace. Returns false, leaving `sums`
    /// as it was, if any sum is not finite.
    #[target_feature(enable = "avx2")]
    unsafe fn flush_into(&mut self, sums: &mut Sums) -> bool {
        self.end_run();
        let c = self.channels;
        let row_len = self.groups * LANES;
        let lane_len = (c + 1) * row_len;
        // Row a of every lane, added in f64 four columns at a time.
        for (a, staged) in self.staged.chunks_exact_mut(row_len).enumerate() {
            for (quad, staged) in staged.chunks_exact_mut(4).enumerate() {
                let mut sum = _mm256_setzero_pd();
                for lane in 0..LANES {
                    let at = lane * lane_len + a * row_len + quad * 4;
                    let values = _mm_loadu_ps(self.lane_sums[at..at + 4].as_ptr());
                    sum = _mm256_add_pd(sum, _mm256_cvtps_pd(values));
                }
                _mm256_storeu_pd(staged.as_mut_ptr(), sum);
            }
        }
        self.lane_sums.fill(0.0);
        if !self.staged.iter().all(|v| v.is_finite()) {
            return false;
        }
        for (a, row) in self.staged.chunks_exact(row_len).enumerate() {
            sums.value[a * c..(a + 1) * c]
                .iter_mut()
                .zip(&row[..c])
                .for_each(|(sum, v)| *sum += v);
            sums.gap[a] += row[c];
            // A count of at most FLUSH voxels: exact in f32 and f64.
            sums.highest_voxels[a] += row[c + 1] as u64;
        }
        true
    }
}

/// Transposes `columns` (`groups * 8` vectors) group by group and adds lane i's row at
/// `at[i]` in `lane_sums`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn add_transposed(lane_sums: &mut [f32], columns: &[__m256], at: __m256i) {
    let mut at_lane = [0i32; LANES];
    _mm256_storeu_si256(at_lane.as_mut_ptr().cast(), at);
    let sums = lane_sums.as_mut_ptr();
    for (group, columns) in columns.chunks_exact(LANES).enumerate() {
        for (row, &at) in transpose(columns).iter().zip(&at_lane) {
            let sum = sums.add(at as usize + group * LANES);
            _mm256_storeu_ps(sum, _mm256_add_ps(_mm256_loadu_ps(sum), *row));
        }
    }
}

fn splat(value: f32) -> __m256 {
    // SAFETY: an __m256 is 8 f32 lanes; transmuting needs no CPU feature.
    unsafe { std::mem::transmute::<[f32; LANES], __m256>([value; LANES]) }
}

/// Bit `lane` set where the mask byte of voxel `lane` is non-zero.
#[target_feature(enable = "avx2")]
unsafe fn inside_bits(mask: *const u8) -> u32 {
    let bytes = _mm_loadl_epi64(mask as *const __m128i);
    let outside = _mm_cmpeq_epi8(bytes, _mm_setzero_si128());
    !(_mm_movemask_epi8(outside) as u32) & 0xFF
}

/// All-ones in the lanes whose bit is set.
#[target_feature(enable = "avx2")]
unsafe fn lane_mask(bits: u32) -> __m256 {
    let lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    let set = _mm256_and_si256(_mm256_set1_epi32(bits as i32), lane_bits);
    _mm256_castsi256_ps(_mm256_cmpeq_epi32(set, lane_bits))
}

/// 8 × 8 transpose: vector i of the result holds lane i of every input vector.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn transpose(r: &[__m256]) -> [__m256; LANES] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ]
}
