//! OME-Zarr (NGFF) group metadata: where it lives in each Zarr version, the `multiscales`,
//! `omero`, `plate` and `well` objects silico reads, and the ones it writes.
//!
//! NGFF 0.4 keeps its objects at the top of a Zarr v2 group's `.zattrs`; NGFF 0.5 keeps them
//! under `attributes.ome` of a Zarr v3 group's `zarr.json`. Everything past that is the same
//! JSON, so both parse into one set of types.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::{ImagingError, Result};

/// The OME-Zarr (NGFF) version of a store, which fixes its Zarr version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NgffVersion {
    /// NGFF 0.4 on Zarr v2 (`.zgroup`, `.zattrs`, `.zarray`); also read: 0.1 to 0.3.
    V04,
    /// NGFF 0.5 on Zarr v3 (`zarr.json` with `attributes.ome`).
    V05,
}

impl fmt::Display for NgffVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NgffVersion::V04 => "0.4",
            NgffVersion::V05 => "0.5",
        })
    }
}

/// The NGFF attributes of one Zarr group and the version its layout implies.
#[derive(Debug, Clone)]
pub(crate) struct GroupAttributes {
    pub version: NgffVersion,
    /// The NGFF objects (`multiscales`, `omero`, `plate`, `well`, ...).
    pub ome: Map<String, Value>,
    /// The file they were read from, for error messages.
    pub file: std::path::PathBuf,
}

/// Reads the NGFF attributes of the group at `folder`, whichever Zarr version it is.
pub(crate) fn read_group_attributes(folder: &Path) -> Result<GroupAttributes> {
    if !folder.exists() {
        return Err(ImagingError::zarr(
            folder,
            "does not exist; name an OME-Zarr image folder (e.g. image.ome.zarr)",
        ));
    }
    if !folder.is_dir() {
        return Err(ImagingError::zarr(
            folder,
            "is a file, not an OME-Zarr folder",
        ));
    }
    let v3 = folder.join("zarr.json");
    if v3.is_file() {
        let document = read_json(&v3)?;
        if document.get("node_type").and_then(Value::as_str) == Some("array") {
            return Err(ImagingError::zarr(
                folder,
                "is a Zarr array, not an OME-Zarr image group; name the folder above it",
            ));
        }
        let ome = match document.get("attributes").and_then(|a| a.get("ome")) {
            Some(Value::Object(ome)) => ome.clone(),
            Some(_) => return Err(broken(&v3, "`attributes.ome` is not an object")),
            None => Map::new(),
        };
        return Ok(GroupAttributes {
            version: NgffVersion::V05,
            ome,
            file: v3,
        });
    }
    if folder.join(".zarray").is_file() {
        return Err(ImagingError::zarr(
            folder,
            "is a Zarr array, not an OME-Zarr image group; name the folder above it",
        ));
    }
    let v2 = folder.join(".zattrs");
    if v2.is_file() {
        let ome = match read_json(&v2)? {
            Value::Object(attributes) => attributes,
            _ => return Err(broken(&v2, "not a JSON object")),
        };
        return Ok(GroupAttributes {
            version: NgffVersion::V04,
            ome,
            file: v2,
        });
    }
    if folder.join(".zgroup").is_file() {
        return Ok(GroupAttributes {
            version: NgffVersion::V04,
            ome: Map::new(),
            file: v2,
        });
    }
    Err(ImagingError::zarr(
        folder,
        "is not a Zarr group (no zarr.json, .zattrs or .zgroup); name an OME-Zarr image folder",
    ))
}

fn read_json(file: &Path) -> Result<Value> {
    let text = std::fs::read(file).map_err(|e| ImagingError::io(file, "read", e))?;
    serde_json::from_slice(&text).map_err(|e| broken(file, &format!("not valid JSON: {e}")))
}

fn broken(file: &Path, detail: &str) -> ImagingError {
    ImagingError::zarr(
        file,
        format!("broken OME-Zarr metadata ({detail}); write the store again or repair the file"),
    )
}

/// One axis as NGFF names it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    pub name: String,
    pub unit: Option<String>,
}

/// One resolution level: its array's path in the group and its voxel size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Level {
    pub path: String,
    /// Voxel size in µm (z, y, x), or why it is unknown.
    pub voxel_um: std::result::Result<[f32; 3], String>,
}

/// What silico takes from an image group's first `multiscales` entry and its `omero` object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Multiscale {
    pub axes: Vec<Axis>,
    pub levels: Vec<Level>,
    /// `omero.channels[].label`, as many as listed (none without `omero`).
    pub channel_labels: Vec<String>,
}

/// Where the axes silico uses sit among an image array's dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AxisLayout {
    pub t: Option<usize>,
    pub c: Option<usize>,
    /// Index of z; y and x follow it.
    pub z: usize,
}

impl AxisLayout {
    pub fn dimensions(&self) -> usize {
        self.z + 3
    }
}

#[derive(Deserialize)]
struct MultiscaleJson {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    axes: Option<Vec<AxisJson>>,
    datasets: Vec<DatasetJson>,
    #[serde(default, rename = "coordinateTransformations")]
    transforms: Option<Vec<TransformJson>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AxisJson {
    /// NGFF 0.3 lists axis names only.
    Name(String),
    Full {
        name: String,
        #[serde(default)]
        unit: Option<String>,
    },
}

#[derive(Deserialize)]
struct DatasetJson {
    path: String,
    #[serde(default, rename = "coordinateTransformations")]
    transforms: Option<Vec<TransformJson>>,
}

#[derive(Deserialize)]
struct TransformJson {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    scale: Option<Vec<f64>>,
}

#[derive(Deserialize)]
struct OmeroJson {
    #[serde(default)]
    channels: Vec<OmeroChannelJson>,
}

#[derive(Deserialize)]
struct OmeroChannelJson {
    #[serde(default)]
    label: Option<String>,
}

impl GroupAttributes {
    /// The image metadata, or one line saying why this group is not an image silico reads.
    pub fn multiscale(&self) -> Result<Multiscale> {
        let Some(multiscales) = self.ome.get("multiscales") else {
            let what = if self.ome.contains_key("plate") {
                "is an HCS plate, not an image; name one field (e.g. plate.zarr/A/1/0)"
            } else if self.ome.contains_key("well") {
                "is an HCS well, not an image; name one field (e.g. A/1/0)"
            } else {
                "has no OME-Zarr `multiscales` metadata; it is not an OME-Zarr image"
            };
            return Err(ImagingError::zarr(&self.file, what));
        };
        let mut entries: Vec<MultiscaleJson> = serde_json::from_value(multiscales.clone())
            .map_err(|e| broken(&self.file, &format!("`multiscales`: {e}")))?;
        if entries.is_empty() {
            return Err(broken(&self.file, "`multiscales` is empty"));
        }
        let entry = entries.swap_remove(0);
        let axes: Vec<Axis> = match entry.axes {
            Some(axes) => axes
                .into_iter()
                .map(|a| match a {
                    AxisJson::Name(name) => Axis { name, unit: None },
                    AxisJson::Full { name, unit } => Axis { name, unit },
                })
                .collect(),
            // NGFF 0.1 and 0.2 fix the axes to (t, c, z, y, x).
            None if matches!(entry.version.as_deref(), Some("0.1" | "0.2")) => {
                ["t", "c", "z", "y", "x"]
                    .iter()
                    .map(|n| Axis {
                        name: n.to_string(),
                        unit: None,
                    })
                    .collect()
            }
            None => return Err(broken(&self.file, "`multiscales[0]` has no `axes`")),
        };
        if entry.datasets.is_empty() {
            return Err(broken(&self.file, "`multiscales[0].datasets` is empty"));
        }
        let global = match &entry.transforms {
            Some(transforms) => Some(scale_of(transforms, axes.len(), &self.file)?),
            None => None,
        };
        let levels = entry
            .datasets
            .iter()
            .map(|dataset| {
                let own = match &dataset.transforms {
                    Some(transforms) => scale_of(transforms, axes.len(), &self.file)?,
                    None => None,
                };
                let scale = match (own, global.clone()) {
                    (Some(own), Some(Some(global))) => {
                        Some(own.iter().zip(&global).map(|(a, b)| a * b).collect())
                    }
                    (own, _) => own,
                };
                Ok(Level {
                    path: dataset.path.clone(),
                    voxel_um: voxel_um(&axes, scale.as_deref()),
                })
            })
            .collect::<Result<Vec<Level>>>()?;
        let channel_labels = match self.ome.get("omero") {
            None => Vec::new(),
            Some(omero) => {
                let omero: OmeroJson = serde_json::from_value(omero.clone())
                    .map_err(|e| broken(&self.file, &format!("`omero`: {e}")))?;
                omero
                    .channels
                    .into_iter()
                    .map(|c| c.label.unwrap_or_default())
                    .collect()
            }
        };
        Ok(Multiscale {
            axes,
            levels,
            channel_labels,
        })
    }
}

/// The product of the `scale` transforms in `transforms` (`None` where there is none), each
/// checked to have one positive factor per axis.
fn scale_of(transforms: &[TransformJson], axes: usize, file: &Path) -> Result<Option<Vec<f64>>> {
    let mut total: Option<Vec<f64>> = None;
    for transform in transforms {
        match transform.kind.as_str() {
            "scale" => {
                let Some(scale) = &transform.scale else {
                    // A scale stored in a separate array (`path`): not read.
                    return Ok(None);
                };
                if scale.len() != axes {
                    return Err(broken(
                        file,
                        &format!("a scale has {} factors for {axes} axes", scale.len()),
                    ));
                }
                total = Some(match total {
                    Some(t) => t.iter().zip(scale).map(|(a, b)| a * b).collect(),
                    None => scale.clone(),
                });
            }
            "identity" => total = total.or_else(|| Some(vec![1.0; axes])),
            _ => {}
        }
    }
    Ok(total)
}

/// Voxel size in µm of the last three axes from their units and scale, or why it is unknown.
fn voxel_um(axes: &[Axis], scale: Option<&[f64]>) -> std::result::Result<[f32; 3], String> {
    let scale = scale.ok_or("the level has no scale transform")?;
    let spatial = &axes[axes.len().saturating_sub(3)..];
    let mut out = [0f32; 3];
    for (i, axis) in spatial.iter().enumerate() {
        let unit = axis
            .unit
            .as_deref()
            .ok_or_else(|| format!("axis {} has no unit", axis.name))?;
        let factor = unit_to_um(unit)
            .ok_or_else(|| format!("axis {} has unit \"{unit}\", not a length", axis.name))?;
        let size = scale[axes.len() - 3 + i] * factor;
        if !(size.is_finite() && size > 0.0) {
            return Err(format!("axis {} has scale {size}", axis.name));
        }
        out[i] = size as f32;
    }
    Ok(out)
}

/// The length units NGFF allows (UDUNITS-2 names), and common abbreviations, in µm.
pub(crate) fn unit_to_um(unit: &str) -> Option<f64> {
    let um = match unit.trim().to_ascii_lowercase().as_str() {
        "yoctometer" => 1e-18,
        "zeptometer" => 1e-15,
        "attometer" => 1e-12,
        "femtometer" => 1e-9,
        "picometer" | "pm" => 1e-6,
        "angstrom" | "å" => 1e-4,
        "nanometer" | "nanometre" | "nm" => 1e-3,
        "micrometer" | "micrometre" | "micron" | "um" | "µm" | "μm" => 1.0,
        "millimeter" | "millimetre" | "mm" => 1e3,
        "centimeter" | "centimetre" | "cm" => 1e4,
        "decimeter" | "dm" => 1e5,
        "meter" | "metre" | "m" => 1e6,
        "hectometer" => 1e8,
        "kilometer" | "km" => 1e9,
        "inch" => 25_400.0,
        "foot" => 304_800.0,
        "yard" => 914_400.0,
        "mile" => 1.609_344e9,
        _ => return None,
    };
    Some(um)
}

/// Finds the (t, c, z, y, x) axes silico reads, or one line naming the file and the axes found.
pub(crate) fn axis_layout(axes: &[Axis], file: &Path) -> Result<AxisLayout> {
    // Case-insensitive: iohub writes T, C, Z, Y, X.
    let lower: Vec<String> = axes.iter().map(|a| a.name.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let layout = match lower.as_slice() {
        ["z", "y", "x"] => Some(AxisLayout {
            t: None,
            c: None,
            z: 0,
        }),
        ["c", "z", "y", "x"] => Some(AxisLayout {
            t: None,
            c: Some(0),
            z: 1,
        }),
        ["t", "z", "y", "x"] => Some(AxisLayout {
            t: Some(0),
            c: None,
            z: 1,
        }),
        ["t", "c", "z", "y", "x"] => Some(AxisLayout {
            t: Some(0),
            c: Some(1),
            z: 2,
        }),
        _ => None,
    };
    layout.ok_or_else(|| {
        ImagingError::zarr(
            file,
            format!(
                "axes [{}] are not supported; silico reads (t,) (c,) z, y, x images (a 2D image needs a z axis of size 1)",
                axes.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

/// One field of view of an HCS plate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    /// Row name, e.g. "A".
    pub row: String,
    /// Column name, e.g. "1".
    pub column: String,
    /// The field's image path within its well, e.g. "0".
    pub field: String,
    /// The field's image group, e.g. `plate.zarr/A/1/0`; opens with `OmeZarrImage::open`.
    pub path: std::path::PathBuf,
}

#[derive(Deserialize)]
struct PlateJson {
    #[serde(default)]
    rows: Vec<NameJson>,
    #[serde(default)]
    columns: Vec<NameJson>,
    wells: Vec<PlateWellJson>,
}

#[derive(Deserialize)]
struct NameJson {
    name: String,
}

#[derive(Deserialize)]
struct PlateWellJson {
    path: String,
    #[serde(default, rename = "rowIndex")]
    row_index: Option<usize>,
    #[serde(default, rename = "columnIndex")]
    column_index: Option<usize>,
}

#[derive(Deserialize)]
struct WellJson {
    images: Vec<WellImageJson>,
}

#[derive(Deserialize)]
struct WellImageJson {
    path: String,
}

/// Every field of every well of the HCS plate at `plate`, in the plate's well order.
pub fn plate_fields(plate: &Path) -> Result<Vec<FieldRef>> {
    let attributes = read_group_attributes(plate)?;
    let Some(value) = attributes.ome.get("plate") else {
        return Err(ImagingError::zarr(
            &attributes.file,
            "has no OME-Zarr `plate` metadata; it is not an HCS plate",
        ));
    };
    let parsed: PlateJson = serde_json::from_value(value.clone())
        .map_err(|e| broken(&attributes.file, &format!("`plate`: {e}")))?;
    let mut fields = Vec::new();
    for well in &parsed.wells {
        let mut parts = well.path.split('/');
        let (row_part, column_part) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let name = |names: &[NameJson], index: Option<usize>, fallback: &str| {
            index
                .and_then(|i| names.get(i))
                .map_or(fallback.to_string(), |n| n.name.clone())
        };
        let row = name(&parsed.rows, well.row_index, row_part);
        let column = name(&parsed.columns, well.column_index, column_part);
        let well_folder = plate.join(&well.path);
        let well_attributes = read_group_attributes(&well_folder)?;
        let Some(well_value) = well_attributes.ome.get("well") else {
            return Err(ImagingError::zarr(
                &well_attributes.file,
                "has no OME-Zarr `well` metadata although the plate lists it",
            ));
        };
        let well_parsed: WellJson = serde_json::from_value(well_value.clone())
            .map_err(|e| broken(&well_attributes.file, &format!("`well`: {e}")))?;
        for image in well_parsed.images {
            fields.push(FieldRef {
                row: row.clone(),
                column: column.clone(),
                path: well_folder.join(&image.path),
                field: image.path,
            });
        }
    }
    Ok(fields)
}

/// What [`group_attributes_json`] describes: one image and its pyramid.
pub(crate) struct ImageDescription<'a> {
    pub name: &'a str,
    pub voxel_um: [f32; 3],
    pub channel_names: &'a [String],
    /// Per channel (min, max) of level 0, for viewers' contrast windows.
    pub channel_ranges: &'a [(f32, f32)],
    /// Level paths, finest first; level `l` is 2^l coarser in y and x.
    pub level_paths: &'a [String],
}

/// The NGFF objects (`multiscales`, `omero`) of an image written with axes (c, z, y, x).
pub(crate) fn image_attributes(version: NgffVersion, image: &ImageDescription<'_>) -> Value {
    let axes = json!([
        {"name": "c", "type": "channel"},
        {"name": "z", "type": "space", "unit": "micrometer"},
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"},
    ]);
    let [vz, vy, vx] = image.voxel_um.map(f64::from);
    let datasets: Vec<Value> = image
        .level_paths
        .iter()
        .enumerate()
        .map(|(level, path)| {
            let factor = f64::from(1u32 << level);
            let mut transforms = vec![json!({"type": "scale", "scale": [1.0, vz, vy * factor, vx * factor]})];
            if level > 0 {
                // A pooled voxel's centre lies half a coarse voxel minus half a fine one in.
                let shift = (factor - 1.0) / 2.0;
                transforms.push(json!({"type": "translation", "translation": [0.0, 0.0, vy * shift, vx * shift]}));
            }
            json!({"path": path, "coordinateTransformations": transforms})
        })
        .collect();
    let mut multiscale = json!({
        "name": image.name,
        "axes": axes,
        "datasets": datasets,
        "type": "mean",
    });
    if version == NgffVersion::V04 {
        multiscale["version"] = json!("0.4");
    }
    let channels: Vec<Value> = image
        .channel_names
        .iter()
        .zip(image.channel_ranges)
        .map(|(label, &(min, max))| {
            json!({
                "label": label,
                "active": true,
                "color": "FFFFFF",
                "window": {"min": min, "max": max, "start": min, "end": max},
            })
        })
        .collect();
    let mut omero = json!({"channels": channels});
    if version == NgffVersion::V04 {
        omero["version"] = json!("0.4");
    }
    json!({"multiscales": [multiscale], "omero": omero})
}

/// The group metadata files (name, JSON) of an image group holding `attributes`.
pub(crate) fn group_files(version: NgffVersion, attributes: Value) -> Vec<(&'static str, Value)> {
    match version {
        NgffVersion::V04 => vec![
            (".zgroup", json!({"zarr_format": 2})),
            (".zattrs", attributes),
        ],
        NgffVersion::V05 => {
            let mut ome = attributes;
            ome["version"] = json!("0.5");
            vec![(
                "zarr.json",
                json!({"zarr_format": 3, "node_type": "group", "attributes": {"ome": ome}}),
            )]
        }
    }
}

/// The metadata file (name, JSON) of a float32 (c, z, y, x) array.
pub(crate) fn array_file(
    version: NgffVersion,
    shape: [usize; 4],
    chunks: [usize; 4],
) -> (&'static str, Value) {
    match version {
        NgffVersion::V04 => (
            ".zarray",
            json!({
                "zarr_format": 2,
                "shape": shape,
                "chunks": chunks,
                "dtype": "<f4",
                "compressor": {"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 1, "blocksize": 0},
                "fill_value": 0.0,
                "order": "C",
                "filters": null,
                "dimension_separator": "/",
            }),
        ),
        NgffVersion::V05 => (
            "zarr.json",
            json!({
                "zarr_format": 3,
                "node_type": "array",
                "shape": shape,
                "data_type": "float32",
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
                "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                "fill_value": 0.0,
                "codecs": [
                    {"name": "bytes", "configuration": {"endian": "little"}},
                    {"name": "zstd", "configuration": {"level": 3, "checksum": false}},
                ],
                "dimension_names": ["c", "z", "y", "x"],
                "attributes": {},
            }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(ome: Value) -> GroupAttributes {
        GroupAttributes {
            version: NgffVersion::V04,
            ome: ome.as_object().unwrap().clone(),
            file: "img.zarr/.zattrs".into(),
        }
    }

    #[test]
    fn global_and_dataset_scales_compose_and_units_convert() {
        let group = attributes(json!({"multiscales": [{
            "axes": [{"name": "c"}, {"name": "z", "unit": "nanometer"}, {"name": "y", "unit": "millimeter"}, {"name": "x", "unit": "micrometer"}],
            "datasets": [
                {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 290, 0.000108, 0.108]}]},
                {"path": "1", "coordinateTransformations": [{"type": "scale", "scale": [1, 290, 0.000216, 0.216]}]},
            ],
            "coordinateTransformations": [{"type": "scale", "scale": [1, 2, 1, 1]}],
        }]}));
        let image = group.multiscale().unwrap();
        assert_eq!(image.levels[0].voxel_um, Ok([0.58, 0.108, 0.108]));
        assert_eq!(image.levels[1].voxel_um, Ok([0.58, 0.216, 0.216]));
        assert_eq!(image.levels[1].path, "1");
    }

    #[test]
    fn a_missing_unit_or_scale_leaves_the_voxel_size_unknown() {
        let no_unit = attributes(json!({"multiscales": [{
            "axes": ["z", "y", "x"],
            "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1]}]}],
        }]}));
        let reason = no_unit.multiscale().unwrap().levels[0].voxel_um.clone();
        assert_eq!(reason, Err("axis z has no unit".to_string()));
        let no_scale = attributes(json!({"multiscales": [{
            "axes": [{"name": "z", "unit": "micrometer"}, {"name": "y", "unit": "micrometer"}, {"name": "x", "unit": "micrometer"}],
            "datasets": [{"path": "0"}],
        }]}));
        let reason = no_scale.multiscale().unwrap().levels[0].voxel_um.clone();
        assert_eq!(reason, Err("the level has no scale transform".to_string()));
    }

    #[test]
    fn only_zyx_optionally_after_t_and_c_is_accepted() {
        let axes = |names: &[&str]| -> Vec<Axis> {
            names
                .iter()
                .map(|n| Axis {
                    name: n.to_string(),
                    unit: None,
                })
                .collect()
        };
        let file = Path::new("img.zarr/.zattrs");
        assert_eq!(
            axis_layout(&axes(&["t", "c", "z", "y", "x"]), file).unwrap(),
            AxisLayout {
                t: Some(0),
                c: Some(1),
                z: 2
            }
        );
        let error = axis_layout(&axes(&["c", "y", "x"]), file)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "img.zarr/.zattrs: axes [c, y, x] are not supported; silico reads (t,) (c,) z, y, x images (a 2D image needs a z axis of size 1)"
        );
    }
}
