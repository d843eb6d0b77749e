//! glibc's allocation policy, which is process-wide: training and prediction's memory probes
//! need opposite ones, and retraining runs both in one process. Each policy therefore sets
//! every tunable it depends on, so that none depends on which ran before.

/// How glibc serves and returns large blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocationPolicy {
    /// Keep the memory a training step frees for the next step to reuse. glibc's default
    /// serves blocks above an adaptive threshold (at most 32 MiB) with fresh mmaps and returns
    /// them on free, so every step faulted its large activations back in page by page, each
    /// page zeroed by the kernel: a third of a paper-size Pix2Pix step's CPU time went to
    /// `clear_page`. Every block comes from the heap, trimmed only past 1 GiB free at its top.
    /// The price is peak memory: blocks freed between steps are held and fragment. Measured
    /// on 2 cores (fp32): paper Pix2Pix steps 5.7 → 4.2 s at a peak of 3.2 GB against 2.5 GB
    /// (PyTorch: 5.6 s at 2.7 GB); see the closing note of issue 13 for the other models.
    ReuseFreedMemory,
    /// Map every buffer of 128 KiB or more on its own and unmap it when freed, so that a
    /// forward pass's resident peak is its own. By default glibc raises that threshold as large
    /// buffers are freed and serves them from a heap that fragments, so the same pass peaked
    /// 30 % higher on its third run than on its first.
    MapLargeBuffers,
}

impl AllocationPolicy {
    /// Makes this the process's policy.
    pub fn apply(self) {
        // glibc's defaults: at most 65 536 mappings, trim past 128 KiB free at the heap's top.
        // Without mappings the threshold does nothing; it is still set (to glibc's maximum) so
        // that each policy fixes all three.
        let (max_mappings, mmap_threshold, trim_threshold) = match self {
            Self::ReuseFreedMemory => (0, 32 << 20, 1 << 30),
            Self::MapLargeBuffers => (65536, 128 << 10, 128 << 10),
        };
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes allocator tunables; a rejected value leaves the default.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, max_mappings);
            libc::mallopt(libc::M_MMAP_THRESHOLD, mmap_threshold);
            libc::mallopt(libc::M_TRIM_THRESHOLD, trim_threshold);
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        let _ = (max_mappings, mmap_threshold, trim_threshold);
    }
}
