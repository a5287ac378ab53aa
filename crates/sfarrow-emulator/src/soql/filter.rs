//! Whether a row passes a `Filter`, and how two values compare: SOQL's case-insensitive text
//! order, `LIKE` patterns, date ranges, `IN`, `INCLUDES`, and ORDER BY's null placement.

use crate::data::store::Store;
use crate::data::value::Value;
use crate::soql::plan::{resolve, Filter, OrderKey, Path};
use sfarrow_soql::soql::CompareOp;
use std::cmp::Ordering;
use std::collections::HashSet;

fn text_cmp(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Text(x), Value::Text(y)) => text_cmp(x, y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Date(x), Value::Date(y)) | (Value::Time(x), Value::Time(y)) => x.cmp(y),
        (Value::DateTime(x), Value::DateTime(y)) => x.cmp(y),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => Ordering::Equal,
        },
    }
}

/// SOQL LIKE: `%` any run, `_` one character, case-insensitive; `\%` and `\_` are literal.
fn like(text: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Any,
        One,
        Ch(char),
    }
    let mut pat = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        pat.push(match c {
            '%' => P::Any,
            '_' => P::One,
            '\\' => P::Ch(chars.next().unwrap_or('\\')),
            c => P::Ch(c),
        });
    }
    let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let pat: Vec<P> = pat
        .into_iter()
        .flat_map(|p| match p {
            P::Ch(c) => c.to_lowercase().map(P::Ch).collect::<Vec<_>>(),
            p => vec![p],
        })
        .collect();
    // Iterative wildcard matching with backtracking to the last `%`.
    let (mut t, mut p, mut star, mut mark) = (0, 0, None, 0);
    while t < text.len() {
        if p < pat.len() && (pat[p] == P::One || pat[p] == P::Ch(text[t])) {
            t += 1;
            p += 1;
        } else if p < pat.len() && pat[p] == P::Any {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|x| *x == P::Any)
}

pub(crate) fn matches(store: &Store, table: usize, row: u32, f: &Filter) -> bool {
    let get = |p: &Path| {
        resolve(store, table, row, p)
            .cloned()
            .unwrap_or(Value::Null)
    };
    match f {
        Filter::And(v) => v.iter().all(|f| matches(store, table, row, f)),
        Filter::Or(v) => v.iter().any(|f| matches(store, table, row, f)),
        Filter::Not(f) => !matches(store, table, row, f),
        Filter::IsNull(p, want_null) => get(p).is_null() == *want_null,
        Filter::Cmp(p, op, lit) => {
            let v = get(p);
            if v.is_null() {
                return *op == CompareOp::Ne;
            }
            let o = compare(&v, lit);
            match op {
                CompareOp::Eq => o == Ordering::Equal,
                CompareOp::Ne => o != Ordering::Equal,
                CompareOp::Lt => o == Ordering::Less,
                CompareOp::Le => o != Ordering::Greater,
                CompareOp::Gt => o == Ordering::Greater,
                CompareOp::Ge => o != Ordering::Less,
                CompareOp::Like => false,
            }
        }
        Filter::Range(p, op, start, end) => {
            let x = match get(p) {
                Value::Date(d) => d as i64,
                Value::DateTime(ms) => ms,
                _ => return *op == CompareOp::Ne,
            };
            match op {
                CompareOp::Eq => (*start..*end).contains(&x),
                CompareOp::Ne => !(*start..*end).contains(&x),
                CompareOp::Lt => x < *start,
                CompareOp::Le => x < *end,
                CompareOp::Gt => x >= *end,
                CompareOp::Ge => x >= *start,
                CompareOp::Like => false,
            }
        }
        Filter::Like(p, pattern) => get(p).as_str().is_some_and(|s| like(s, pattern)),
        Filter::In(p, negated, values) => {
            let v = get(p);
            let found = !v.is_null() && values.iter().any(|l| compare(&v, l) == Ordering::Equal);
            found != *negated
        }
        Filter::InSet(p, negated, set) => {
            let found = get(p)
                .as_str()
                .is_some_and(|s| set.contains(&s.to_lowercase()));
            found != *negated
        }
        Filter::Includes(p, negated, sets) => {
            let v = get(p);
            let have: HashSet<String> = v
                .as_str()
                .map(|s| s.split(';').map(|x| x.trim().to_lowercase()).collect())
                .unwrap_or_default();
            let found = sets
                .iter()
                .any(|want| want.iter().all(|w| have.contains(w)));
            found != *negated
        }
    }
}

/// One ORDER BY key applied to two values: nulls first or last, then ascending or descending.
pub(crate) fn order_values(a: &Value, b: &Value, k: &OrderKey) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) if k.nulls_first => Ordering::Less,
        (true, false) => Ordering::Greater,
        (false, true) if k.nulls_first => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if k.descending => compare(a, b).reverse(),
        _ => compare(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("Acme Corp", "acme%"));
        assert!(like("Acme", "A_me"));
        assert!(like("Acme", "%"));
        assert!(!like("Acme", "A_e"));
        assert!(like("50% off", "50\\%%"));
        assert!(!like("50x off", "50\\%%"));
        assert!(like("abcabc", "%bc"));
    }
}
