//! Salesforce record ids: 15 case-sensitive characters, or 18 with a case-folding checksum.
//! The first three characters are the object's key prefix.

const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn checksum(id15: &[u8]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (chunk, slot) in id15.chunks(5).zip(out.iter_mut()) {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_uppercase())
            .fold(0usize, |acc, (i, _)| acc | (1 << i));
        *slot = SUFFIX_ALPHABET[bits];
    }
    out
}

/// The canonical 18-character form of a 15- or 18-character id, or `None` if it is not an id.
/// An 18-character id whose suffix does not match is rejected, as Salesforce does (`MALFORMED_ID`).
pub fn normalize(id: &str) -> Option<String> {
    let b = id.as_bytes();
    if !(b.len() == 15 || b.len() == 18) || !b.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let mut id15: Vec<u8> = b[..15].to_vec();
    if b.len() == 18 {
        // The suffix records which of the first 15 characters are upper case, so an 18-character
        // id may arrive in any case: restore the case from it, then check it.
        for (chunk, code) in id15.chunks_mut(5).zip(&b[15..]) {
            let bits = SUFFIX_ALPHABET
                .iter()
                .position(|c| c.eq_ignore_ascii_case(code))?;
            for (i, c) in chunk.iter_mut().enumerate() {
                *c = if bits & (1 << i) != 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                };
            }
        }
    }
    let sum = checksum(&id15);
    if b.len() == 18 && !b[15..].eq_ignore_ascii_case(&sum) {
        return None;
    }
    id15.extend_from_slice(&sum);
    String::from_utf8(id15).ok()
}

/// An 18-character id from a key prefix and a sequence number: `prefix` + `pod` + 9 base-62
/// digits + checksum. Deterministic, so seeded orgs get the same ids run after run.
pub fn make(prefix: &str, pod: &str, sequence: u64) -> String {
    let mut digits = [b'0'; 9];
    let mut n = sequence;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    let mut id15 = Vec::with_capacity(15);
    id15.extend_from_slice(prefix.as_bytes());
    id15.extend_from_slice(pod.as_bytes());
    id15.extend_from_slice(&digits);
    id15.truncate(15);
    while id15.len() < 15 {
        id15.push(b'0');
    }
    let sum = checksum(&id15);
    id15.extend_from_slice(&sum);
    id15.into_iter().map(char::from).collect()
}

pub fn key_prefix(id: &str) -> &str {
    id.get(..3).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_id_checksum() {
        // A documented pair: 001RO0000035WQg -> 001RO0000035WQgYAM.
        assert_eq!(
            normalize("001RO0000035WQg").as_deref(),
            Some("001RO0000035WQgYAM")
        );
        assert_eq!(
            normalize("001RO0000035WQgyam").as_deref(),
            Some("001RO0000035WQgYAM")
        );
        assert_eq!(
            normalize("001ro0000035wqgyam").as_deref(),
            Some("001RO0000035WQgYAM")
        );
        assert_eq!(normalize("001RO0000035WQg!AM"), None);
        assert_eq!(normalize("001RO00000-5WQg"), None);
        assert_eq!(normalize("001"), None);
    }

    #[test]
    fn made_ids_are_valid_and_distinct() {
        let a = make("001", "Dn0", 1);
        let b = make("001", "Dn0", 62);
        assert_eq!(a.len(), 18);
        assert_ne!(a, b);
        assert_eq!(normalize(&a).as_deref(), Some(a.as_str()));
        assert_eq!(key_prefix(&a), "001");
    }
}
