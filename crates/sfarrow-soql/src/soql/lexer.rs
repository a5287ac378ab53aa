//! SOQL tokens. Keywords are not tokens of their own: SOQL lets many of them double as names
//! (`FROM Group`, a field called `Order`), so the parser decides from context.

use super::error::SoqlError;
use chrono::NaiveDate;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    Ident(String),
    /// The value with escapes resolved, except `\%` and `\_`, which stay as backslash + char so
    /// that `LIKE` can tell a literal `%`/`_` from a wildcard.
    Str(String),
    /// Kept as written (sign, decimals, exponent).
    Number(String),
    Date(NaiveDate),
    /// Milliseconds since the epoch, UTC; the text is the token's source slice.
    DateTime(i64),
    LParen,
    RParen,
    Comma,
    Dot,
    Colon,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// Byte offsets into the source: `src[start..end]` is the token as written.
    pub start: usize,
    pub end: usize,
    /// 1-based; the column counts characters.
    pub row: usize,
    pub column: usize,
}

impl Token {
    pub fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.kind, TokenKind::Ident(name) if name.eq_ignore_ascii_case(keyword))
    }
}

pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, SoqlError> {
    let mut lexer = Lexer {
        src,
        pos: 0,
        row: 1,
        column: 1,
        tokens: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    row: usize,
    column: usize,
    tokens: Vec<Token>,
}

impl Lexer<'_> {
    fn run(&mut self) -> Result<(), SoqlError> {
        loop {
            while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                self.bump();
            }
            let (start, row, column) = (self.pos, self.row, self.column);
            let Some(c) = self.peek() else {
                self.push(TokenKind::Eof, start, row, column);
                return Ok(());
            };
            let kind = match c {
                'a'..='z' | 'A'..='Z' | '_' => {
                    self.eat_while(|c| c.is_ascii_alphanumeric() || c == '_');
                    TokenKind::Ident(self.src[start..self.pos].to_string())
                }
                '\'' => self.string()?,
                '0'..='9' => self.number_or_date()?,
                '+' | '-' if self.starts_number(1) => {
                    self.bump();
                    self.number(start)
                }
                '.' if self.starts_number(0) && !self.after_ident() => self.number(start),
                _ => self.punctuation(c)?,
            };
            self.push(kind, start, row, column);
        }
    }

    fn push(&mut self, kind: TokenKind, start: usize, row: usize, column: usize) {
        self.tokens.push(Token {
            kind,
            start,
            end: self.pos,
            row,
            column,
        });
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn byte_at(&self, offset: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + offset).copied()
    }

    fn digit_at(&self, offset: usize) -> bool {
        self.byte_at(offset).is_some_and(|b| b.is_ascii_digit())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.row += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn eat_while(&mut self, pred: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&pred) {
            self.bump();
        }
    }

    /// `digit` or `.digit` at `offset`: the start of a number.
    fn starts_number(&self, offset: usize) -> bool {
        self.digit_at(offset) || (self.byte_at(offset) == Some(b'.') && self.digit_at(offset + 1))
    }

    /// In `Account.Name` the dot is a path separator, never the start of `.5`.
    fn after_ident(&self) -> bool {
        matches!(
            self.tokens.last().map(|t| &t.kind),
            Some(TokenKind::Ident(_) | TokenKind::RParen)
        )
    }

    fn error_here(&self, what: &str) -> SoqlError {
        SoqlError::malformed(
            format!(
                "line {}:{} no viable alternative at character '{}'",
                self.row,
                self.column - 1,
                what
            ),
            self.row,
            self.column,
        )
    }

    fn punctuation(&mut self, c: char) -> Result<TokenKind, SoqlError> {
        let next = self.byte_at(1);
        let (kind, len) = match (c, next) {
            ('(', _) => (TokenKind::LParen, 1),
            (')', _) => (TokenKind::RParen, 1),
            (',', _) => (TokenKind::Comma, 1),
            ('.', _) => (TokenKind::Dot, 1),
            (':', _) => (TokenKind::Colon, 1),
            ('=', _) => (TokenKind::Eq, 1),
            ('!', Some(b'=')) => (TokenKind::Ne, 2),
            ('<', Some(b'>')) => (TokenKind::Ne, 2),
            ('<', Some(b'=')) => (TokenKind::Le, 2),
            ('<', _) => (TokenKind::Lt, 1),
            ('>', Some(b'=')) => (TokenKind::Ge, 2),
            ('>', _) => (TokenKind::Gt, 1),
            _ => return Err(self.error_here(&c.to_string())),
        };
        for _ in 0..len {
            self.bump();
        }
        Ok(kind)
    }

    fn string(&mut self) -> Result<TokenKind, SoqlError> {
        self.bump();
        let mut value = String::new();
        loop {
            let (row, column) = (self.row, self.column);
            match self.bump() {
                None => {
                    return Err(SoqlError::malformed(
                        format!(
                            "line {}:{} mismatched character '<EOF>' expecting '''",
                            self.row,
                            self.column - 1
                        ),
                        self.row,
                        self.column,
                    ))
                }
                Some('\'') => return Ok(TokenKind::Str(value)),
                Some('\\') => {
                    let escaped = self.bump();
                    match escaped {
                        Some('\'') => value.push('\''),
                        Some('"') => value.push('"'),
                        Some('\\') => value.push('\\'),
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some('t') => value.push('\t'),
                        Some('b') => value.push('\u{8}'),
                        Some('f') => value.push('\u{c}'),
                        Some(c @ ('%' | '_')) => {
                            value.push('\\');
                            value.push(c);
                        }
                        other => {
                            let seq: String = std::iter::once('\\').chain(other).collect();
                            return Err(SoqlError::malformed(
                                format!(
                                    "Invalid string literal '{value}{seq}'. Illegal character sequence '{seq}' in string literal."
                                ),
                                row,
                                column,
                            ));
                        }
                    }
                }
                Some(c) => value.push(c),
            }
        }
    }

    /// `text_start` includes a sign the caller has already consumed.
    fn number(&mut self, text_start: usize) -> TokenKind {
        self.eat_while(|c| c.is_ascii_digit());
        if self.byte_at(0) == Some(b'.') && self.digit_at(1) {
            self.bump();
            self.eat_while(|c| c.is_ascii_digit());
        }
        if matches!(self.byte_at(0), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.byte_at(1), Some(b'+' | b'-')));
            if self.digit_at(1 + sign) {
                for _ in 0..=sign {
                    self.bump();
                }
                self.eat_while(|c| c.is_ascii_digit());
            }
        }
        TokenKind::Number(self.src[text_start..self.pos].to_string())
    }

    fn is_date_ahead(&self) -> bool {
        (0..4).all(|i| self.digit_at(i))
            && self.byte_at(4) == Some(b'-')
            && self.digit_at(5)
            && self.digit_at(6)
            && self.byte_at(7) == Some(b'-')
            && self.digit_at(8)
            && self.digit_at(9)
    }

    fn number_or_date(&mut self) -> Result<TokenKind, SoqlError> {
        let (row, column, start) = (self.row, self.column, self.pos);
        if !self.is_date_ahead() {
            return Ok(self.number(start));
        }
        let year = self.digits(4);
        self.bump();
        let month = self.digits(2);
        self.bump();
        let day = self.digits(2);
        let invalid = |lexer: &Self| {
            SoqlError::invalid_literal(
                format!("invalid date: '{}'", &lexer.src[start..lexer.pos]),
                row,
                column,
            )
        };
        let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or_else(|| invalid(self))?;
        if self.byte_at(0) != Some(b'T') {
            return Ok(TokenKind::Date(date));
        }
        self.bump();
        let hour = self.two_digits_then(Some(b':'))?;
        let minute = self.two_digits_then(Some(b':'))?;
        let second = self.two_digits_then(None)?;
        let mut millis = 0;
        if self.byte_at(0) == Some(b'.') && self.digit_at(1) {
            self.bump();
            let mut scale = 100;
            while self.digit_at(0) {
                millis += self.digits(1) * scale;
                scale /= 10;
            }
        }
        let offset_seconds = self.zone_offset()?;
        let local = date
            .and_hms_milli_opt(hour, minute, second, millis)
            .ok_or_else(|| invalid(self))?;
        let utc_millis = local.and_utc().timestamp_millis() - i64::from(offset_seconds) * 1000;
        Ok(TokenKind::DateTime(utc_millis))
    }

    /// Reads `n` ASCII digits the caller has already checked are there.
    fn digits(&mut self, n: usize) -> u32 {
        let mut value = 0;
        for _ in 0..n {
            if let Some(d) = self.bump().and_then(|c| c.to_digit(10)) {
                value = value * 10 + d;
            }
        }
        value
    }

    fn two_digits_then(&mut self, separator: Option<u8>) -> Result<u32, SoqlError> {
        for i in 0..2 {
            if !self.digit_at(i) {
                return Err(self.unexpected_at(i));
            }
        }
        let value = self.digits(2);
        if let Some(sep) = separator {
            if self.byte_at(0) != Some(sep) {
                return Err(self.unexpected_at(0));
            }
            self.bump();
        }
        Ok(value)
    }

    /// `Z`, `+hh:mm`, `-hh:mm`, `+hhmm`: the offset east of UTC in seconds.
    fn zone_offset(&mut self) -> Result<i32, SoqlError> {
        let sign = match self.byte_at(0) {
            Some(b'Z' | b'z') => {
                self.bump();
                return Ok(0);
            }
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(self.unexpected_at(0)),
        };
        self.bump();
        let hours = self.two_digits_then(None)?;
        if self.byte_at(0) == Some(b':') {
            self.bump();
        }
        let minutes = self.two_digits_then(None)?;
        if hours > 23 || minutes > 59 {
            return Err(SoqlError::invalid_literal(
                "invalid time zone offset in datetime literal",
                self.row,
                self.column,
            ));
        }
        Ok(sign * (hours * 3600 + minutes * 60) as i32)
    }

    /// Moves to `offset` characters ahead and reports the character found there.
    fn unexpected_at(&mut self, offset: usize) -> SoqlError {
        for _ in 0..offset {
            self.bump();
        }
        match self.peek() {
            Some(c) => self.error_here(&c.to_string()),
            None => self.error_here("<EOF>"),
        }
    }
}

#[cfg(test)]
#[path = "lexer_tests.rs"]
mod tests;
