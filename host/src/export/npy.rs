//! NumPy's `.npy` format (version 1.0) for little-endian f32 arrays: the test tensors of a
//! BioImage Model Zoo package.

/// The `.npy` file of a C-order f32 array of `shape`.
pub fn f32_array(shape: &[usize], data: &[f32]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "shape and data agree"
    );
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let dims = match dims.as_slice() {
        [one] => format!("{one},"),
        _ => dims.join(", "),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    // Magic, version and length take 10 bytes; the header ends in a newline and pads the whole
    // preamble to a multiple of 64 bytes, as NumPy writes it.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + 4 * data.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for value in data {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::f32_array;

    #[test]
    fn header_is_padded_to_64_bytes_and_data_follow_little_endian() {
        let bytes = f32_array(&[1, 2], &[1.0, -2.5]);
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }"));
        assert!(header.ends_with('\n'));
        assert_eq!(
            &bytes[10 + header_len..],
            [1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat()
        );
        let vector = f32_array(&[3], &[0.0; 3]);
        assert!(std::str::from_utf8(&vector[10..74])
            .unwrap()
            .contains("'shape': (3,)"));
    }
}
