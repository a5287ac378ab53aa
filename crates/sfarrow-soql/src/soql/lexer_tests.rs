use super::*;
use crate::soql::error::SoqlErrorKind;

fn kinds(src: &str) -> Vec<TokenKind> {
    tokenize(src).unwrap().into_iter().map(|t| t.kind).collect()
}

fn one(src: &str) -> TokenKind {
    let mut tokens = kinds(src);
    assert_eq!(tokens.len(), 2, "{src}: {tokens:?}");
    assert_eq!(tokens.pop(), Some(TokenKind::Eof));
    tokens.pop().unwrap()
}

fn ident(s: &str) -> TokenKind {
    TokenKind::Ident(s.to_string())
}

fn num(s: &str) -> TokenKind {
    TokenKind::Number(s.to_string())
}

fn string(s: &str) -> TokenKind {
    TokenKind::Str(s.to_string())
}

fn millis(src: &str) -> i64 {
    match one(src) {
        TokenKind::DateTime(ms) => ms,
        other => panic!("{src}: {other:?}"),
    }
}

#[test]
fn punctuation_and_identifiers() {
    use TokenKind::*;
    assert_eq!(
        kinds("a.b_1 ( ) , = != <> < <= > >= :"),
        vec![
            ident("a"),
            Dot,
            ident("b_1"),
            LParen,
            RParen,
            Comma,
            Eq,
            Ne,
            Ne,
            Lt,
            Le,
            Gt,
            Ge,
            Colon,
            Eof
        ]
    );
    assert_eq!(
        kinds("x>=1"),
        vec![ident("x"), Ge, num("1"), Eof],
        "no spaces needed"
    );
    assert_eq!(kinds("  \n\t "), vec![Eof]);
}

#[test]
fn numbers() {
    for text in [
        "0", "42", "-5", "+5", "10.5", "-0.25", "1e10", "1.5E-3", "2e+4", ".5", "-.5",
    ] {
        assert_eq!(one(text), num(text), "{text}");
    }
    // An `e` without digits after it is not an exponent.
    assert_eq!(kinds("1e"), vec![num("1"), ident("e"), TokenKind::Eof]);
    assert_eq!(
        kinds("LAST_N_DAYS:30"),
        vec![
            ident("LAST_N_DAYS"),
            TokenKind::Colon,
            num("30"),
            TokenKind::Eof
        ]
    );
    assert_eq!(
        kinds("a.b"),
        vec![ident("a"), TokenKind::Dot, ident("b"), TokenKind::Eof]
    );
}

#[test]
fn string_escapes() {
    assert_eq!(one("'plain'"), string("plain"));
    assert_eq!(one("''"), string(""));
    assert_eq!(one(r"'it\'s'"), string("it's"));
    assert_eq!(one(r"'a\\b'"), string("a\\b"));
    assert_eq!(one(r"'\n\r\t\b\f'"), string("\n\r\t\u{8}\u{c}"));
    assert_eq!(one(r#"'say \"hi\"'"#), string("say \"hi\""));
    assert_eq!(one(r"'100\%'"), string(r"100\%"), "LIKE escapes are kept");
    assert_eq!(one(r"'a\_b'"), string(r"a\_b"));
    assert_eq!(one("'héllo wörld'"), string("héllo wörld"));
    assert_eq!(one("'two\nlines'"), string("two\nlines"));
}

#[test]
fn string_errors() {
    let err = tokenize(r"SELECT 'a\q'").unwrap_err();
    assert_eq!(err.kind, SoqlErrorKind::Malformed);
    assert_eq!((err.row, err.column), (1, 10));
    assert!(err.message.contains(r"'\q'"), "{}", err.message);

    let err = tokenize("x = 'open").unwrap_err();
    assert_eq!(
        err.message,
        "line 1:9 mismatched character '<EOF>' expecting '''"
    );
    assert_eq!((err.row, err.column), (1, 10));

    assert!(tokenize("'ends in backslash\\").is_err());
}

#[test]
fn dates() {
    assert_eq!(
        one("2024-01-31"),
        TokenKind::Date(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap())
    );
    let err = tokenize("2024-02-30").unwrap_err();
    assert_eq!(err.kind, SoqlErrorKind::InvalidLiteral);
    assert!(tokenize("2023-13-01").is_err());
    assert!(tokenize("2024-02-29").is_ok(), "leap day");
    // Not quite a date: a number followed by a negative number.
    assert_eq!(
        kinds("2024-1"),
        vec![num("2024"), num("-1"), TokenKind::Eof]
    );
}

#[test]
fn datetimes_convert_to_utc_millis() {
    // 2024-01-31T10:00:00Z
    let base = 1_706_695_200_000;
    assert_eq!(millis("2024-01-31T10:00:00Z"), base);
    assert_eq!(millis("2024-01-31T10:00:00z"), base);
    assert_eq!(millis("2024-01-31T10:00:00.000Z"), base);
    assert_eq!(millis("2024-01-31T10:00:00.123Z"), base + 123);
    assert_eq!(millis("2024-01-31T10:00:00.5Z"), base + 500);
    assert_eq!(millis("2024-01-31T10:00:00.1239Z"), base + 123);
    assert_eq!(millis("2024-01-31T12:00:00+02:00"), base);
    assert_eq!(millis("2024-01-31T12:00:00+0200"), base);
    assert_eq!(millis("2024-01-31T05:30:00-04:30"), base);
    assert_eq!(millis("2024-01-31T05:30:00-0430"), base);
    assert_eq!(millis("1970-01-01T00:00:00Z"), 0);
    assert_eq!(millis("1969-12-31T23:59:59.999Z"), -1);
    // Crosses midnight backwards into the previous day.
    assert_eq!(millis("2024-02-01T01:00:00+05:00"), base + 10 * 3_600_000);
}

#[test]
fn datetime_errors() {
    for bad in [
        "2024-01-31T10:00:00",
        "2024-01-31T10:00Z",
        "2024-01-31T1:00:00Z",
        "2024-01-31T10:00:00+2:00",
        "2024-01-31T10:00:00+02:0",
        "2024-01-31T10:00:00 Z",
        "2024-01-31T",
    ] {
        let err = tokenize(bad).unwrap_err();
        assert_eq!(err.kind, SoqlErrorKind::Malformed, "{bad}");
    }
    for bad in [
        "2024-01-31T24:00:00Z",
        "2024-01-31T10:60:00Z",
        "2024-01-31T10:00:60Z",
        "2024-01-31T10:00:00+24:00",
    ] {
        let err = tokenize(bad).unwrap_err();
        assert_eq!(err.kind, SoqlErrorKind::InvalidLiteral, "{bad}");
    }
    let err = tokenize("2024-01-31T10:00:00").unwrap_err();
    assert_eq!(
        err.message,
        "line 1:19 no viable alternative at character '<EOF>'"
    );
}

#[test]
fn positions_are_one_based_rows_and_character_columns() {
    let tokens = tokenize("SELECT Id\n  FROM 'é' x").unwrap();
    let at: Vec<(usize, usize, usize)> =
        tokens.iter().map(|t| (t.row, t.column, t.start)).collect();
    assert_eq!(
        at,
        vec![
            (1, 1, 0),
            (1, 8, 7),
            (2, 3, 12),
            (2, 8, 17),
            (2, 12, 22),
            (2, 13, 23)
        ]
    );
    assert_eq!(tokens[3].end, 21, "byte offsets: é is two bytes");
}

#[test]
fn unknown_characters() {
    let err = tokenize("SELECT Id FROM Account WHERE Name = %").unwrap_err();
    assert_eq!(
        err.message,
        "line 1:36 no viable alternative at character '%'"
    );
    assert_eq!((err.row, err.column), (1, 37));

    let err = tokenize("SELECT Id\nFROM \"x\"").unwrap_err();
    assert_eq!(
        err.message,
        "line 2:5 no viable alternative at character '\"'"
    );
    assert_eq!((err.row, err.column), (2, 6));

    for bad in ["!", "a ! b", "*", ";", "é", "-", "+x", "[", "@"] {
        assert!(tokenize(bad).is_err(), "{bad}");
    }
}
