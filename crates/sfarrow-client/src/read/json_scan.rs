//! The JSON tokens of a REST query page, read in place. A page is a few MB of records whose
//! strings are mostly short and free of escapes: `memchr` finds each string's end, the string
//! is borrowed from the page, and nothing is allocated unless it holds an escape.

use crate::client::{Error, Result};
use std::borrow::Cow;

/// A cursor over a page already checked to be UTF-8.
pub struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    pub fn new(text: &'a str) -> Self {
        Scan { text, at: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    pub fn syntax(&self, what: &str) -> Error {
        Error::protocol(format!(
            "query page is not valid JSON: {what} at byte {}",
            self.at
        ))
    }

    /// The next byte that is not whitespace, not consumed.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.bytes().get(self.at) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(c);
            }
            self.at += 1;
        }
        None
    }

    #[inline]
    pub fn eat(&mut self, c: u8) -> Result<()> {
        if self.eat_if(c) {
            Ok(())
        } else {
            Err(self.syntax(&format!("expected `{}`", c as char)))
        }
    }

    #[inline]
    pub fn eat_if(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.at += usize::from(hit);
        hit
    }

    /// After a member of an object or array: `true` for a comma, `false` for `close`.
    #[inline]
    pub fn more(&mut self, close: u8) -> Result<bool> {
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.at += 1;
                Ok(false)
            }
            _ => Err(self.syntax(&format!("expected `,` or `{}`", close as char))),
        }
    }

    /// Consumes `"key":` when the next key is exactly `key` as written (no escapes).
    #[inline]
    pub fn key_is(&mut self, key: &str) -> Result<bool> {
        if self.peek() != Some(b'"') {
            return Ok(false);
        }
        let start = self.at + 1;
        let end = start + key.len();
        let hit = self.bytes().get(start..end) == Some(key.as_bytes())
            && self.bytes().get(end) == Some(&b'"');
        if hit {
            self.at = end + 1;
            self.eat(b':')?;
        }
        Ok(hit)
    }

    /// A key and its colon.
    pub fn key(&mut self) -> Result<Cow<'a, str>> {
        let key = self.string()?;
        self.eat(b':')?;
        Ok(key)
    }

    /// A string, borrowed from the page unless it holds escapes.
    #[inline]
    pub fn string(&mut self) -> Result<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.at;
        let (end, escaped) = self.string_end()?;
        if !escaped {
            return Ok(Cow::Borrowed(&self.text[start..end]));
        }
        // Escapes are rare: serde_json decodes them, quotes included.
        serde_json::from_str(&self.text[start - 1..=end])
            .map(Cow::Owned)
            .map_err(|e| self.syntax(&format!("bad escape in string ({e})")))
    }

    /// From inside a string to just past its closing quote: where the quote is, and whether
    /// the string holds escapes.
    #[inline]
    fn string_end(&mut self) -> Result<(usize, bool)> {
        let bytes = self.bytes();
        let mut escaped = false;
        loop {
            let rest = bytes.get(self.at..).unwrap_or_default();
            match memchr::memchr2(b'"', b'\\', rest) {
                Some(i) if rest[i] == b'"' => {
                    self.at += i + 1;
                    return Ok((self.at - 1, escaped));
                }
                Some(i) => {
                    self.at += i + 2;
                    escaped = true;
                }
                None => {
                    self.at = bytes.len();
                    return Err(self.syntax("unterminated string"));
                }
            }
        }
    }

    /// `true`, `false` or `null`.
    #[inline]
    pub fn literal(&mut self, word: &str) -> Result<()> {
        self.peek();
        if self.bytes()[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.syntax(&format!("expected `{word}`")))
        }
    }

    /// A number, as written.
    #[inline]
    pub fn number(&mut self) -> Result<&'a str> {
        self.peek();
        let start = self.at;
        let len = self.bytes()[start..]
            .iter()
            .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(self.text.len() - start);
        let n = &self.text[start..start + len];
        if !is_json_number(n.as_bytes()) {
            return Err(self.syntax(&format!("bad number {n:?}")));
        }
        self.at += len;
        Ok(n)
    }

    /// Skips one value of any shape; returns its text.
    pub fn skip_value(&mut self) -> Result<&'a str> {
        self.peek();
        let start = self.at;
        // The brackets open, innermost in the low bit (1 for an object): nesting is checked,
        // not just counted, without allocating for every record's `attributes`.
        let mut open = Nesting::default();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    self.string_end()?;
                }
                Some(b'{') => {
                    self.at += 1;
                    if !self.eat_if(b'}') {
                        open.push(b'}').ok_or_else(|| self.syntax(TOO_DEEP))?;
                        self.skip_key()?;
                        continue;
                    }
                }
                Some(b'[') => {
                    self.at += 1;
                    if !self.eat_if(b']') {
                        open.push(b']').ok_or_else(|| self.syntax(TOO_DEEP))?;
                        continue;
                    }
                }
                Some(b't') => self.literal("true")?,
                Some(b'f') => self.literal("false")?,
                Some(b'n') => self.literal("null")?,
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                _ => return Err(self.syntax("expected a value")),
            }
            loop {
                let Some(close) = open.last() else {
                    return Ok(&self.text[start..self.at]);
                };
                if self.more(close)? {
                    if close == b'}' {
                        self.skip_key()?;
                    }
                    break;
                }
                open.pop();
            }
        }
    }

    fn skip_key(&mut self) -> Result<()> {
        self.eat(b'"')?;
        self.string_end()?;
        self.eat(b':')
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.syntax("trailing characters")),
        }
    }
}

const TOO_DEEP: &str = "values nested over 128 deep";

/// A stack of open brackets, one bit each (serde_json stops at the same depth).
#[derive(Default)]
struct Nesting {
    objects: u128,
    depth: u32,
}

impl Nesting {
    fn push(&mut self, close: u8) -> Option<()> {
        (self.depth < 128).then(|| {
            self.objects = (self.objects << 1) | u128::from(close == b'}');
            self.depth += 1;
        })
    }

    fn last(&self) -> Option<u8> {
        (self.depth > 0).then_some(if self.objects & 1 == 1 { b'}' } else { b']' })
    }

    fn pop(&mut self) {
        self.objects >>= 1;
        self.depth = self.depth.saturating_sub(1);
    }
}

/// `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_json_number(n: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = usize::from(n.first() == Some(&b'-'));
    match digits(&n[i..]) {
        0 => return false,
        d if d > 1 && n[i] == b'0' => return false,
        d => i += d,
    }
    if n.get(i) == Some(&b'.') {
        match digits(&n[i + 1..]) {
            0 => return false,
            d => i += 1 + d,
        }
    }
    if matches!(n.get(i), Some(b'e' | b'E')) {
        i += 1;
        i += usize::from(matches!(n.get(i), Some(b'+' | b'-')));
        match digits(&n[i..]) {
            0 => return false,
            d => i += d,
        }
    }
    i == n.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_borrowed_or_unescaped() {
        let mut s = Scan::new(r#" "plain" "a\"b\\c\/d\n\u00e9\ud83d\ude00" "#);
        assert!(matches!(s.string().unwrap(), Cow::Borrowed("plain")));
        assert_eq!(s.string().unwrap(), "a\"b\\c/d\né😀");
        s.end().unwrap();
        for bad in [r#""\x""#, r#""\ud83d""#, r#""\u12""#, r#""open"#, r#""\é""#] {
            assert!(Scan::new(bad).string().is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_follow_the_grammar() {
        for good in ["0", "-0", "12", "1.5", "-1.5E+7", "2e-3", "139000000.0"] {
            assert!(is_json_number(good.as_bytes()), "{good}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1-2", "1.5.5"] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn skips_nested_values_and_checks_their_brackets() {
        let text = r#"{"a":[1,{"b":"}]\"","c":null},true],"d":{}} , "next""#;
        let mut s = Scan::new(text);
        assert_eq!(s.skip_value().unwrap(), &text[..text.find(" ,").unwrap()]);
        assert!(s.more(b']').unwrap());
        assert_eq!(s.string().unwrap(), "next");
        for bad in ["{]", "[1,]", r#"{"a" 1}"#, "[1 2]", "{\"a\":1", "nul"] {
            assert!(Scan::new(bad).skip_value().is_err(), "{bad}");
        }
        let deep = |n: usize| "[".repeat(n) + "0" + &"]".repeat(n);
        assert!(Scan::new(&deep(128)).skip_value().is_ok());
        let e = Scan::new(&deep(129)).skip_value().unwrap_err();
        assert!(e.to_string().contains("nested"), "{e}");
    }

    #[test]
    fn keys_match_only_as_written() {
        let mut s = Scan::new(r#"{"Name":1,"Na\u006de":2}"#);
        s.eat(b'{').unwrap();
        assert!(!s.key_is("Nam").unwrap() && s.key_is("Name").unwrap());
        assert_eq!(s.number().unwrap(), "1");
        assert!(s.more(b'}').unwrap());
        assert!(
            !s.key_is("Name").unwrap(),
            "an escaped key takes the slow path"
        );
        assert_eq!(s.key().unwrap(), "Name");
    }
}
