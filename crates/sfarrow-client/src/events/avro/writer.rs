//! The binary encoding written: zig-zag varints, lengths before bytes, blocks before arrays.

pub fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

pub fn write_int(out: &mut Vec<u8>, v: i32) {
    write_long(out, i64::from(v));
}

pub fn write_bool(out: &mut Vec<u8>, v: bool) {
    out.push(u8::from(v));
}

pub fn write_float(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn write_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn write_bytes(out: &mut Vec<u8>, v: &[u8]) {
    write_long(out, v.len() as i64);
    out.extend_from_slice(v);
}

pub fn write_str(out: &mut Vec<u8>, v: &str) {
    write_bytes(out, v.as_bytes());
}

/// An array of strings in one block, as Salesforce writes the header's lists.
pub fn write_strings<S: AsRef<str>>(out: &mut Vec<u8>, items: &[S]) {
    if !items.is_empty() {
        write_long(out, items.len() as i64);
        for s in items {
            write_str(out, s.as_ref());
        }
    }
    out.push(0);
}
