//! TensorBoard event files: the scalars of a training run, readable by `tensorboard --logdir`.
//!
//! An event file is a sequence of TFRecords (length, masked CRC-32C of the length, an `Event`
//! protobuf, masked CRC-32C of the data); the few protobuf fields needed are encoded here by
//! hand. Each iteration's record is written straight to the file, so a killed run keeps its
//! events. A resumed run starts a new file with a `SessionLog` START event at its first step,
//! which makes TensorBoard drop the events a killed run wrote after its last checkpoint, as
//! `losses.csv` drops those rows.

use anyhow::{Context, Result};
use std::{
    fs::File,
    io::Write,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

/// The folder of a run's event files.
pub const TENSORBOARD_DIR: &str = "tensorboard";

/// Appends scalar events to one event file.
pub struct EventWriter {
    path: PathBuf,
    file: File,
}

impl EventWriter {
    /// Creates a new event file in `dir` for steps after `resumed_after` (0 for a new run). Its
    /// name sorts after the folder's other event files, as TensorBoard reads them in name order.
    pub fn create(dir: &Path, resumed_after: u64) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let seconds = now.max(latest_event_file_seconds(dir).map_or(0, |s| s + 1));
        let path = dir.join(format!(
            "events.out.tfevents.{seconds:010}.{}.{}.silico",
            hostname(),
            std::process::id()
        ));
        let file =
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = Self { path, file };
        writer.write_event(&event(
            wall_time(),
            0,
            Payload::FileVersion("brain.Event:2"),
        ))?;
        if resumed_after > 0 {
            writer.write_event(&event(
                wall_time(),
                resumed_after + 1,
                Payload::SessionStart,
            ))?;
        }
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one event holding `scalars` (tag, value) at `step`.
    pub fn scalars(&mut self, step: u64, scalars: &[(&str, f64)]) -> Result<()> {
        self.write_event(&event(wall_time(), step, Payload::Scalars(scalars)))
    }

    fn write_event(&mut self, data: &[u8]) -> Result<()> {
        self.file
            .write_all(&record(data))
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// The largest `<seconds>` of the `events.out.tfevents.<seconds>.…` files in `dir`.
fn latest_event_file_seconds(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("events.out.tfevents.")?
                .split('.')
                .next()?
                .parse()
                .ok()
        })
        .max()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| {
            name.trim()
                .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

enum Payload<'a> {
    FileVersion(&'a str),
    /// `SessionLog { status: START }`: the run (re)starts at this event's step.
    SessionStart,
    Scalars(&'a [(&'a str, f64)]),
}

/// An `Event` protobuf: wall_time (1, double), step (2, int64), then file_version (3, string),
/// summary (5, `Summary { repeated Value value = 1 }`, `Value { tag = 1, simple_value = 2 }`)
/// or session_log (7, `SessionLog { status = 1 }`).
fn event(wall_time: f64, step: u64, payload: Payload) -> Vec<u8> {
    let mut out = Vec::new();
    key(&mut out, 1, FIXED64);
    out.extend_from_slice(&wall_time.to_le_bytes());
    key(&mut out, 2, VARINT);
    varint(&mut out, step);
    match payload {
        Payload::FileVersion(version) => length_delimited(&mut out, 3, version.as_bytes()),
        Payload::SessionStart => {
            const START: u64 = 1;
            let mut session_log = Vec::new();
            key(&mut session_log, 1, VARINT);
            varint(&mut session_log, START);
            length_delimited(&mut out, 7, &session_log);
        }
        Payload::Scalars(scalars) => {
            let mut summary = Vec::new();
            for (tag, value) in scalars {
                let mut encoded = Vec::new();
                length_delimited(&mut encoded, 1, tag.as_bytes());
                key(&mut encoded, 2, FIXED32);
                encoded.extend_from_slice(&(*value as f32).to_le_bytes());
                length_delimited(&mut summary, 1, &encoded);
            }
            length_delimited(&mut out, 5, &summary);
        }
    }
    out
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

fn key(out: &mut Vec<u8>, field: u64, wire_type: u8) {
    varint(out, field << 3 | u64::from(wire_type));
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn length_delimited(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    key(out, field, LENGTH_DELIMITED);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A TFRecord: u64 length (little-endian), its masked CRC, the data, the data's masked CRC.
fn record(data: &[u8]) -> Vec<u8> {
    let length = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&length);
    out.extend_from_slice(&masked_crc(&length).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// TFRecord's masked CRC: rotated and offset, so that CRCs of CRCs stay well distributed.
fn masked_crc(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), a byte at a time from a table.
fn crc32c(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &byte| {
        CRC32C_TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8)
    })
}

const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_published_check_values() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        // RFC 3720 (iSCSI), appendix B.4.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        let descending: Vec<u8> = (0..32).rev().collect();
        assert_eq!(crc32c(&descending), 0x113F_DB5C);
    }

    #[test]
    fn masked_crc_matches_tensorboard_s() {
        // tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c(b"123456789")
        assert_eq!(masked_crc(b"123456789"), 0xC78A_B0E5);
    }

    #[test]
    fn varints_take_seven_bits_a_byte() {
        let encode = |value| {
            let mut out = Vec::new();
            varint(&mut out, value);
            out
        };
        assert_eq!(encode(0), [0]);
        assert_eq!(encode(127), [127]);
        assert_eq!(encode(300), [0xac, 0x02]);
        assert_eq!(encode(u64::MAX).len(), 10);
    }

    #[test]
    fn a_scalar_event_encodes_field_by_field() {
        let encoded = event(1.5, 300, Payload::Scalars(&[("mse", 0.25)]));
        let mut expected = vec![0x09];
        expected.extend_from_slice(&1.5f64.to_le_bytes());
        expected.extend_from_slice(&[0x10, 0xac, 0x02]);
        // summary (5) { value (1) { tag (1) "mse", simple_value (2) 0.25f } }
        expected.extend_from_slice(&[0x2a, 12, 0x0a, 10, 0x0a, 3, b'm', b's', b'e', 0x15]);
        expected.extend_from_slice(&0.25f32.to_le_bytes());
        assert_eq!(encoded, expected);
    }

    #[test]
    fn the_first_event_names_the_file_version() {
        let encoded = event(0.0, 0, Payload::FileVersion("brain.Event:2"));
        assert_eq!(&encoded[9..11], [0x10, 0]);
        assert_eq!(&encoded[11..13], [0x1a, 13]);
        assert_eq!(&encoded[13..], b"brain.Event:2");
        let start = event(0.0, 7, Payload::SessionStart);
        assert_eq!(&start[9..], [0x10, 7, 0x3a, 2, 0x08, 1]);
    }

    #[test]
    fn a_record_frames_its_data_with_checked_lengths() {
        let framed = record(b"abc");
        assert_eq!(framed.len(), 8 + 4 + 3 + 4);
        assert_eq!(&framed[..8], 3u64.to_le_bytes());
        assert_eq!(
            &framed[8..12],
            masked_crc(&3u64.to_le_bytes()).to_le_bytes()
        );
        assert_eq!(&framed[12..15], b"abc");
        assert_eq!(&framed[15..], masked_crc(b"abc").to_le_bytes());
    }

    #[test]
    fn a_new_file_sorts_after_the_folder_s_others() {
        let dir = tempfile::tempdir().unwrap();
        let first = EventWriter::create(dir.path(), 0).unwrap();
        let second = EventWriter::create(dir.path(), 3).unwrap();
        assert!(second.path() > first.path());
        let bytes = std::fs::read(second.path()).unwrap();
        let length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let data = &bytes[12..12 + length];
        assert_eq!(
            bytes[12 + length..16 + length],
            masked_crc(data).to_le_bytes()
        );
        assert!(data.ends_with(b"brain.Event:2"));
        let start = &bytes[16 + length..];
        assert_eq!(start.len(), 16 + 15, "then one SessionLog START event");
        assert_eq!(&start[12 + 9..12 + 15], [0x10, 4, 0x3a, 2, 0x08, 1]);
    }
}
