//! The closed quad mesh of a voxel set's surface (SPHARM-MAT `gen_surf_data`, used by
//! CellOrganizer): vertices on voxel corners, one quad per voxel face between the object and
//! the background, wound counter-clockwise seen from outside.

use std::collections::HashMap;

use super::sphere::Vec3;
use super::topology::VoxelGrid;

/// A quad mesh. Vertex coordinates are (x, y, z) in µm, a right-handed frame.
#[derive(Clone, Debug)]
pub(crate) struct QuadMesh {
    pub vertices: Vec<Vec3>,
    pub faces: Vec<[usize; 4]>,
}

/// Why a mesh is not a closed 2-manifold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ManifoldDefect {
    /// A directed edge used twice or without its reverse.
    Edge { from: usize, to: usize },
    /// A vertex whose faces form more than one fan.
    Vertex { vertex: usize },
}

impl QuadMesh {
    /// The surface of the filled voxels of `grid` (whose border must be background), with the
    /// voxel size (z, y, x) in µm; the origin is the grid's first corner.
    pub(crate) fn from_voxels(grid: &VoxelGrid, voxel_size_um: [f64; 3]) -> Self {
        let [nz, ny, nx] = grid.dims;
        let corner_dims = [nz + 1, ny + 1, nx + 1];
        let mut corner_ids: HashMap<usize, usize> = HashMap::new();
        let mut vertices = Vec::new();
        let mut faces = Vec::new();
        let mut vertex = |z: usize, y: usize, x: usize| -> usize {
            let key = (z * corner_dims[1] + y) * corner_dims[2] + x;
            *corner_ids.entry(key).or_insert_with(|| {
                vertices.push(Vec3::new(
                    x as f64 * voxel_size_um[2],
                    y as f64 * voxel_size_um[1],
                    z as f64 * voxel_size_um[0],
                ));
                vertices.len() - 1
            })
        };
        for z in 1..nz - 1 {
            for y in 1..ny - 1 {
                for x in 1..nx - 1 {
                    if !grid.get(z, y, x) {
                        continue;
                    }
                    // Counter-clockwise about the outward normal: for +x the (y, z) square in
                    // the order (0,0) (1,0) (1,1) (0,1), as y × z = x; likewise z × x = y and
                    // x × y = z. The opposite faces take the reverse order.
                    if !grid.get(z, y, x + 1) {
                        faces.push([
                            vertex(z, y, x + 1),
                            vertex(z, y + 1, x + 1),
                            vertex(z + 1, y + 1, x + 1),
                            vertex(z + 1, y, x + 1),
                        ]);
                    }
                    if !grid.get(z, y, x - 1) {
                        faces.push([
                            vertex(z + 1, y, x),
                            vertex(z + 1, y + 1, x),
                            vertex(z, y + 1, x),
                            vertex(z, y, x),
                        ]);
                    }
                    if !grid.get(z, y + 1, x) {
                        faces.push([
                            vertex(z, y + 1, x),
                            vertex(z + 1, y + 1, x),
                            vertex(z + 1, y + 1, x + 1),
                            vertex(z, y + 1, x + 1),
                        ]);
                    }
                    if !grid.get(z, y - 1, x) {
                        faces.push([
                            vertex(z, y, x + 1),
                            vertex(z + 1, y, x + 1),
                            vertex(z + 1, y, x),
                            vertex(z, y, x),
                        ]);
                    }
                    if !grid.get(z + 1, y, x) {
                        faces.push([
                            vertex(z + 1, y, x),
                            vertex(z + 1, y, x + 1),
                            vertex(z + 1, y + 1, x + 1),
                            vertex(z + 1, y + 1, x),
                        ]);
                    }
                    if !grid.get(z - 1, y, x) {
                        faces.push([
                            vertex(z, y + 1, x),
                            vertex(z, y + 1, x + 1),
                            vertex(z, y, x + 1),
                            vertex(z, y, x),
                        ]);
                    }
                }
            }
        }
        Self { vertices, faces }
    }

    /// The vertices ordered by position, x first, then y, then z, each rounded to
    /// `resolution`: `order[i]` is the vertex that becomes vertex i. The voxel scan numbers the
    /// same surface differently in every pose, and the parameterization's sweeps and ties
    /// follow the numbering; once the mesh is aligned, this order is the same in every pose.
    pub(crate) fn canonical_order(&self, resolution: f64) -> Vec<usize> {
        let key = |v: usize| self.vertices[v].map(|c| (c / resolution).round() as i64);
        let mut order: Vec<usize> = (0..self.vertices.len()).collect();
        order.sort_by_key(|&v| {
            let k = key(v);
            (k.x, k.y, k.z)
        });
        order
    }

    /// The mesh with vertex `order[i]` as vertex i, each face starting at its lowest vertex
    /// (the winding kept) and the faces sorted.
    pub(crate) fn renumbered(&self, order: &[usize]) -> Self {
        let mut new_index = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        let mut faces: Vec<[usize; 4]> = self
            .faces
            .iter()
            .map(|face| {
                let renamed = face.map(|v| new_index[v]);
                let first = (0..4).min_by_key(|&k| renamed[k]).expect("four corners");
                std::array::from_fn(|k| renamed[(first + k) % 4])
            })
            .collect();
        faces.sort_unstable();
        Self {
            vertices: order.iter().map(|&v| self.vertices[v]).collect(),
            faces,
        }
    }

    /// `V − E + F`, with E the distinct undirected edges: 2 for a sphere, 0 for a torus.
    pub(crate) fn euler_characteristic(&self) -> i64 {
        let mut edges: Vec<(usize, usize)> = self
            .faces
            .iter()
            .flat_map(|f| (0..4).map(move |i| (f[i].min(f[(i + 1) % 4]), f[i].max(f[(i + 1) % 4]))))
            .collect();
        edges.sort_unstable();
        edges.dedup();
        self.vertices.len() as i64 - edges.len() as i64 + self.faces.len() as i64
    }

    /// Each vertex's edge neighbours in counter-clockwise order about the outward normal, or
    /// the first defect that keeps the mesh from being a closed oriented 2-manifold.
    ///
    /// Around vertex v, a face `(…, p, v, n, …)` spans the angle from edge v→n counter-clockwise
    /// to edge v→p, so following `n ↦ p` face by face walks the fan.
    pub(crate) fn neighbours_counter_clockwise(&self) -> Result<Vec<Vec<usize>>, ManifoldDefect> {
        // Each vertex's turns `(next, previous)`, one per incident face, in compressed rows.
        let mut starts = vec![0; self.vertices.len() + 1];
        for face in &self.faces {
            for &v in face {
                starts[v + 1] += 1;
            }
        }
        for v in 0..self.vertices.len() {
            starts[v + 1] += starts[v];
        }
        let mut fill = starts.clone();
        let mut turns = vec![(0, 0); starts[self.vertices.len()]];
        for face in &self.faces {
            for i in 0..4 {
                let (previous, v, next) = (face[(i + 3) % 4], face[i], face[(i + 1) % 4]);
                turns[fill[v]] = (next, previous);
                fill[v] += 1;
            }
        }
        let turns_of = |v: usize| &turns[starts[v]..starts[v + 1]];
        // Every directed edge v→n once, and its reverse n→v once.
        for v in 0..self.vertices.len() {
            for &(to, _) in turns_of(v) {
                let once = |from: usize, to: usize| {
                    turns_of(from).iter().filter(|(n, _)| *n == to).count() == 1
                };
                if !once(v, to) || !once(to, v) {
                    return Err(ManifoldDefect::Edge { from: v, to });
                }
            }
        }
        (0..self.vertices.len())
            .map(|vertex| {
                let turn = turns_of(vertex);
                let Some(&(start, _)) = turn.first() else {
                    return Err(ManifoldDefect::Vertex { vertex });
                };
                let mut ring = vec![start];
                let mut current = start;
                loop {
                    let next = turn
                        .iter()
                        .find(|(from, _)| *from == current)
                        .map(|(_, to)| *to)
                        .ok_or(ManifoldDefect::Vertex { vertex })?;
                    if next == start {
                        break;
                    }
                    ring.push(next);
                    current = next;
                }
                if ring.len() == turn.len() {
                    Ok(ring)
                } else {
                    Err(ManifoldDefect::Vertex { vertex })
                }
            })
            .collect()
    }

    /// Surface area of each face with the vertices at `positions` (a planar quad: half the norm
    /// of its diagonals' cross product).
    pub(crate) fn face_areas_at(&self, positions: &[Vec3]) -> Vec<f64> {
        self.faces
            .iter()
            .map(|f| {
                let [a, b, c, d] = f.map(|v| positions[v]);
                0.5 * (c - a).cross(&(d - b)).norm()
            })
            .collect()
    }

    /// Taubin's (1995) λ|μ smoothing: `pairs` of a shrinking (λ = 0.5) and an inflating
    /// (μ = −0.53) Laplacian step, a low-pass filter that removes the voxel staircase without
    /// the shrinkage of plain Laplacian smoothing.
    pub(crate) fn taubin_smoothed_vertices(
        &self,
        neighbours: &[Vec<usize>],
        pairs: usize,
    ) -> Vec<Vec3> {
        let mut positions = self.vertices.clone();
        for _ in 0..pairs {
            positions = laplacian_step(&positions, neighbours, 0.5);
            positions = laplacian_step(&positions, neighbours, -0.53);
        }
        positions
    }

    /// The surface that the voxel faces approximate, for the equal-area targets, the moments
    /// and the conformal term's reference: the vertices after `iterations` steps of Laplacian
    /// smoothing, each halfway to its neighbours' mean. A voxel face's own area overstates an
    /// oblique surface by up to √3 (the staircase), and by how much depends on the object's
    /// orientation, which made the parameterization, and so the descriptor,
    /// orientation-dependent.
    pub(crate) fn smoothed_vertices(
        &self,
        neighbours: &[Vec<usize>],
        iterations: usize,
    ) -> Vec<Vec3> {
        let mut positions = self.vertices.clone();
        for _ in 0..iterations {
            positions = laplacian_step(&positions, neighbours, 0.5);
        }
        positions
    }

    /// A quarter of each incident face's area per vertex: the weights of area-weighted means.
    pub(crate) fn vertex_areas(&self, face_areas: &[f64]) -> Vec<f64> {
        let mut areas = vec![0.0; self.vertices.len()];
        for (face, area) in self.faces.iter().zip(face_areas) {
            for &v in face {
                areas[v] += area / 4.0;
            }
        }
        areas
    }

    /// The mesh with every face's winding reversed (outward stays outward after a reflection
    /// of the coordinates).
    pub(crate) fn reverse_winding(&mut self) {
        for face in &mut self.faces {
            face.reverse();
        }
    }
}

/// Each vertex moved `factor` of the way to the mean of its neighbours.
fn laplacian_step(positions: &[Vec3], neighbours: &[Vec<usize>], factor: f64) -> Vec<Vec3> {
    positions
        .iter()
        .zip(neighbours)
        .map(|(p, ring)| {
            let mean = ring.iter().map(|&u| positions[u]).sum::<Vec3>() / ring.len() as f64;
            p + (mean - p) * factor
        })
        .collect()
}
