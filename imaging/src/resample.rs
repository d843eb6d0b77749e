//! Resampling a volume to another voxel size by separable linear interpolation.
//!
//! pytorch_fnet resizes the Allen images from 0.108 µm to 0.29 µm in x/y so that voxels are
//! isotropic (`Resizer((1, 0.37241, 0.37241))` in release_1); this is that step for any target.

use crate::volume::Volume;

/// Resamples every channel so its voxel size is as close to `target_um` (z, y, x) as whole
/// voxel counts allow; the returned volume's `voxel_um` is the exact new size.
pub fn resample_to_voxel(volume: &Volume, target_um: [f32; 3]) -> Volume {
    let [_, z, y, x] = volume.shape;
    let sizes_in = [z, y, x];
    let sizes_out: [usize; 3] = std::array::from_fn(|axis| {
        let length = sizes_in[axis] as f64 * volume.voxel_um[axis] as f64;
        ((length / target_um[axis] as f64).round() as usize).max(1)
    });
    resample_to_shape(volume, sizes_out)
}

/// Resamples every channel to `zyx` voxels over the same field of view (e.g. a prediction made
/// at a model's voxel size, back onto its input's grid); `voxel_um` follows.
pub fn resample_to_shape(volume: &Volume, zyx: [usize; 3]) -> Volume {
    let [c, z, y, x] = volume.shape;
    let sizes_in = [z, y, x];
    if zyx == sizes_in {
        return volume.clone();
    }
    let voxel_out: [f32; 3] = std::array::from_fn(|axis| {
        (sizes_in[axis] as f64 * volume.voxel_um[axis] as f64 / zyx[axis] as f64) as f32
    });
    let mut data = Vec::with_capacity(c * zyx.iter().product::<usize>());
    for ch in 0..c {
        let mut current = volume.channel_data(ch).to_vec();
        let mut shape = sizes_in;
        for axis in 0..3 {
            current = resample_axis(&current, shape, axis, zyx[axis]);
            shape[axis] = zyx[axis];
        }
        data.extend_from_slice(&current);
    }
    Volume {
        data,
        shape: [c, zyx[0], zyx[1], zyx[2]],
        voxel_um: voxel_out,
        voxel_known: volume.voxel_known,
        channel_names: volume.channel_names.clone(),
    }
}

/// Linear interpolation along one axis of a (Z, Y, X) array, pixel centres aligned.
fn resample_axis(data: &[f32], shape: [usize; 3], axis: usize, new_len: usize) -> Vec<f32> {
    let old_len = shape[axis];
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let scale = old_len as f64 / new_len as f64;
    let taps: Vec<(usize, usize, f32)> = (0..new_len)
        .map(|i| {
            let src = ((i as f64 + 0.5) * scale - 0.5).clamp(0.0, (old_len - 1) as f64);
            let i0 = src.floor() as usize;
            let i1 = (i0 + 1).min(old_len - 1);
            (i0, i1, (src - i0 as f64) as f32)
        })
        .collect();
    let mut out = vec![0f32; outer * new_len * inner];
    for o in 0..outer {
        let src_base = o * old_len * inner;
        let dst_base = o * new_len * inner;
        for (i, &(i0, i1, w)) in taps.iter().enumerate() {
            let a = &data[src_base + i0 * inner..src_base + (i0 + 1) * inner];
            let b = &data[src_base + i1 * inner..src_base + (i1 + 1) * inner];
            let dst = &mut out[dst_base + i * inner..dst_base + (i + 1) * inner];
            for ((d, &va), &vb) in dst.iter_mut().zip(a).zip(b) {
                *d = va + (vb - va) * w;
            }
        }
    }
    out
}
