//! Percent-encoding for URLs and form bodies: one implementation for the client (query
//! strings, OAuth redirects) and the emulator (parsing them).

/// Encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes and `+` (a space in forms); a stray `%` stays as it is.
pub fn decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                let hex = std::str::from_utf8(&s[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=x+y` -> [("a", "1"), ("b", "x y")]
pub fn pairs(s: &[u8]) -> Vec<(String, String)> {
    s.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |&b| b == b'=');
            (
                decode(it.next().unwrap_or(b"")),
                decode(it.next().unwrap_or(b"")),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(decode(encode("a b/ü&=").as_bytes()), "a b/ü&=");
        assert_eq!(
            pairs(b"code=aPrx%2Fab%3D&state=x+y"),
            vec![
                ("code".into(), "aPrx/ab=".into()),
                ("state".into(), "x y".into())
            ]
        );
        assert_eq!(decode(b"100%"), "100%");
    }
}
