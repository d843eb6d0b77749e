//! An object's SPHARM fit in the image frame: its reconstructed surface as a triangle mesh
//! (written as PLY), its voxel surface, and its unaligned descriptor.

use silico_evaluation::spharm::SpharmFit;
use std::collections::HashMap;

/// Where the fit's box lies in the image: the fit's frame and the box's offset.
pub struct ImageFrame {
    /// Rows: the aligned axes in the box's (x, y, z).
    rotation: [[f64; 3]; 3],
    centre_um: [f64; 3],
    /// The image position (x, y, z in µm, voxel centres at index × voxel size) of the box's
    /// outer corner, where the fit's box coordinates are 0.
    box_corner_um: [f64; 3],
}

impl ImageFrame {
    /// `box_min` (z, y, x) is the box's first voxel in the image, `voxel_um` (z, y, x).
    pub fn new(fit: &SpharmFit, box_min: [usize; 3], voxel_um: [f64; 3]) -> Self {
        Self {
            rotation: fit.frame_rotation,
            centre_um: fit.frame_centre_um,
            box_corner_um: std::array::from_fn(|axis| {
                (box_min[2 - axis] as f64 - 0.5) * voxel_um[2 - axis]
            }),
        }
    }

    /// A vector of the aligned frame in the image's axes (no translation).
    fn rotate_back(&self, v: [f64; 3]) -> [f64; 3] {
        std::array::from_fn(|i| (0..3).map(|r| self.rotation[r][i] * v[r]).sum())
    }

    /// A point of the aligned frame in the image frame.
    fn place(&self, p: [f64; 3]) -> [f64; 3] {
        let v = self.rotate_back(p);
        std::array::from_fn(|i| v[i] + self.centre_um[i] + self.box_corner_um[i])
    }

    /// `fit`'s descriptor with each (x, y, z) triple turned back to the image's axes: it
    /// changes as the object turns (the parameterization's pose on the sphere still follows
    /// the object), while the aligned one does not.
    pub fn unaligned_descriptor(&self, fit: &SpharmFit, unit_length: bool) -> Vec<f64> {
        fit.descriptor(unit_length)
            .chunks_exact(3)
            .flat_map(|xyz| self.rotate_back([xyz[0], xyz[1], xyz[2]]))
            .collect()
    }

    /// The surface the fit approximates, in the image frame: the corners, edge midpoints and
    /// centres of the faces of its (topology-repaired) voxels.
    pub fn voxel_surface(&self, fit: &SpharmFit) -> Vec<[f64; 3]> {
        let mean = |points: &[usize]| -> [f64; 3] {
            std::array::from_fn(|axis| {
                points
                    .iter()
                    .map(|&v| fit.vertices_um[v][axis])
                    .sum::<f64>()
                    / points.len() as f64
            })
        };
        let mut surface: Vec<[f64; 3]> = fit.vertices_um.clone();
        surface.extend(fit.faces.iter().map(|face| mean(face)));
        surface.extend(
            unique_edges(&fit.faces)
                .into_iter()
                .map(|(from, to)| mean(&[from, to])),
        );
        surface.into_iter().map(|p| self.place(p)).collect()
    }

    /// The reconstruction as triangles: each quad of the fit's mesh split at its edge
    /// midpoints and centre into four, each of those into two triangles, the new points taken
    /// on the parameter sphere (normalised) and mapped through the fit; wound outwards.
    pub fn reconstruction(&self, fit: &SpharmFit) -> TriangleMesh {
        let normalized = |p: [f64; 3]| {
            let norm = p.iter().map(|v| v * v).sum::<f64>().sqrt();
            p.map(|v| v / norm)
        };
        let mean = |points: &[usize]| -> [f64; 3] {
            normalized(std::array::from_fn(|axis| {
                points.iter().map(|&v| fit.sphere_points[v][axis]).sum()
            }))
        };
        let mut directions = fit.sphere_points.clone();
        let mut midpoint: HashMap<(usize, usize), usize> = HashMap::new();
        for (from, to) in unique_edges(&fit.faces) {
            midpoint.insert((from, to), directions.len());
            directions.push(mean(&[from, to]));
        }
        let mut triangles = Vec::with_capacity(8 * fit.faces.len());
        for face in &fit.faces {
            let centre = directions.len();
            directions.push(mean(face));
            let edge = |i: usize| {
                let (a, b) = (face[i], face[(i + 1) % 4]);
                midpoint[&(a.min(b), a.max(b))]
            };
            let [v0, v1, v2, v3] = *face;
            let (m01, m12, m23, m30) = (edge(0), edge(1), edge(2), edge(3));
            // Counter-clockwise as the quad itself.
            for [a, b, c, d] in [
                [v0, m01, centre, m30],
                [m01, v1, m12, centre],
                [centre, m12, v2, m23],
                [m30, centre, m23, v3],
            ] {
                triangles.push([a, b, c]);
                triangles.push([a, c, d]);
            }
        }
        let vertices: Vec<[f64; 3]> = fit
            .reconstruct(&directions)
            .into_iter()
            .map(|p| self.place(p))
            .collect();
        let mut mesh = TriangleMesh {
            vertices,
            triangles,
        };
        // The sphere's quads wind outwards; a reflection in the frame turns them inwards.
        if mesh.signed_volume() < 0.0 {
            mesh.triangles.iter_mut().for_each(|t| t.swap(1, 2));
        }
        mesh
    }
}

/// Every edge of the quads once, as (lower, higher) vertex index, in first-seen order.
fn unique_edges(faces: &[[usize; 4]]) -> Vec<(usize, usize)> {
    let mut seen = std::collections::HashSet::new();
    faces
        .iter()
        .flat_map(|face| (0..4).map(move |i| (face[i], face[(i + 1) % 4])))
        .map(|(a, b)| (a.min(b), a.max(b)))
        .filter(|edge| seen.insert(*edge))
        .collect()
}

/// A closed triangle mesh in µm.
pub struct TriangleMesh {
    pub vertices: Vec<[f64; 3]>,
    pub triangles: Vec<[usize; 3]>,
}

impl TriangleMesh {
    /// The volume enclosed, positive when the triangles wind outwards.
    fn signed_volume(&self) -> f64 {
        self.triangles
            .iter()
            .map(|&[a, b, c]| {
                let [p, q, r] = [a, b, c].map(|v| self.vertices[v]);
                let cross = [
                    q[1] * r[2] - q[2] * r[1],
                    q[2] * r[0] - q[0] * r[2],
                    q[0] * r[1] - q[1] * r[0],
                ];
                (0..3).map(|i| p[i] * cross[i]).sum::<f64>() / 6.0
            })
            .sum()
    }

    /// Binary little-endian PLY: double x, y, z per vertex, a list of int indices per face.
    pub fn ply(&self, comment: &str) -> Vec<u8> {
        let header = format!(
            "ply\nformat binary_little_endian 1.0\ncomment {comment}\nelement vertex {}\n\
             property double x\nproperty double y\nproperty double z\nelement face {}\n\
             property list uchar int vertex_indices\nend_header\n",
            self.vertices.len(),
            self.triangles.len()
        );
        let mut bytes = header.into_bytes();
        bytes.reserve(24 * self.vertices.len() + 13 * self.triangles.len());
        for p in &self.vertices {
            p.iter()
                .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        }
        for triangle in &self.triangles {
            bytes.push(3);
            for &v in triangle {
                let index = i32::try_from(v).expect("meshes have fewer than 2³¹ vertices");
                bytes.extend_from_slice(&index.to_le_bytes());
            }
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use silico_evaluation::spharm::{spharm, BinaryObject, SpharmSettings};

    fn fit(shape: [usize; 3], voxel_um: [f64; 3]) -> SpharmFit {
        let object = BinaryObject::from_fn(shape, voxel_um, |_, _, _| true).unwrap();
        let settings = SpharmSettings {
            degree: 4,
            ..SpharmSettings::default()
        };
        spharm(&object, &settings).unwrap()
    }

    #[test]
    fn the_voxel_surface_lands_on_the_box_faces_in_the_image() {
        let voxel_um = [2.0, 0.5, 0.25];
        let fit = fit([2, 3, 4], voxel_um);
        let frame = ImageFrame::new(&fit, [10, 20, 30], voxel_um);
        let surface = frame.voxel_surface(&fit);
        // Voxel (z, y, x) is centred at (x, y, z) · size; the box spans half a voxel beyond.
        let low = [29.5 * 0.25, 19.5 * 0.5, 9.5 * 2.0];
        let high = [33.5 * 0.25, 22.5 * 0.5, 11.5 * 2.0];
        for axis in 0..3 {
            let values = surface.iter().map(|p| p[axis]);
            let (min, max) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
            assert!((min - low[axis]).abs() < 1e-9, "axis {axis}: {min}");
            assert!((max - high[axis]).abs() < 1e-9, "axis {axis}: {max}");
        }
        // Every point of the half-voxel lattice on the box's faces, once.
        assert_eq!(surface.len(), 5 * 7 * 9 - 3 * 5 * 7);
    }

    #[test]
    fn the_reconstruction_is_closed_and_winds_outwards() {
        let voxel_um = [1.0, 1.0, 1.0];
        let fit = fit([3, 3, 3], voxel_um);
        let mesh = ImageFrame::new(&fit, [0, 0, 0], voxel_um).reconstruction(&fit);
        assert_eq!(mesh.triangles.len(), 8 * fit.faces.len());
        let mut edges = HashMap::new();
        for t in &mesh.triangles {
            for i in 0..3 {
                *edges.entry((t[i], t[(i + 1) % 3])).or_insert(0) += 1;
            }
        }
        // Each directed edge once and its reverse once: closed, consistently wound.
        assert!(edges
            .iter()
            .all(|(&(a, b), &n)| n == 1 && edges.get(&(b, a)) == Some(&1)));
        // About the cube's 27 µm³.
        let volume = mesh.signed_volume();
        assert!((20.0..32.0).contains(&volume), "{volume}");
    }
}
