//! Rendering a tree back to SOQL. The output parses back to an equal tree, which is what lets the
//! client rewrite a query (add a field, change the LIMIT) and send it on.

use super::ast::{CompareOp, Condition, FieldPath, Literal, OrderItem, Query, SelectItem};
use std::fmt::{self, Display, Formatter, Write};

/// A SOQL string literal for `s`, quotes included.
///
/// `\%` and `\_` in `s` are emitted unchanged: the parser keeps them as backslash + char so that
/// LIKE can tell a literal `%`/`_` from a wildcard, and this keeps their meaning on the way back.
/// Every other backslash is doubled.
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('%' | '_')) => out.push('\\'),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn join<T: Display>(f: &mut Formatter<'_>, items: &[T], separator: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl Display for FieldPath {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        join(f, &self.0, ".")
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        join(f, &self.select, ", ")?;
        write!(f, " FROM {}", self.from)?;
        if let Some(alias) = &self.alias {
            write!(f, " {alias}")?;
        }
        if let Some(condition) = &self.where_clause {
            write!(f, " WHERE {condition}")?;
        }
        if let Some(with) = &self.with {
            write!(f, " WITH {with}")?;
        }
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            join(f, &self.group_by, ", ")?;
        }
        if let Some(condition) = &self.having {
            write!(f, " HAVING {condition}")?;
        }
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            join(f, &self.order_by, ", ")?;
        }
        if let Some(limit) = self.limit {
            write!(f, " LIMIT {limit}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " OFFSET {offset}")?;
        }
        if let Some(kind) = &self.for_clause {
            write!(f, " FOR {kind}")?;
        }
        Ok(())
    }
}

fn write_alias(f: &mut Formatter<'_>, alias: &Option<String>) -> fmt::Result {
    match alias {
        Some(alias) => write!(f, " {alias}"),
        None => Ok(()),
    }
}

impl Display for SelectItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SelectItem::Field(path) => write!(f, "{path}"),
            SelectItem::Aggregate {
                function,
                argument,
                alias,
            } => {
                write!(f, "{function}(")?;
                if let Some(argument) = argument {
                    write!(f, "{argument}")?;
                }
                f.write_char(')')?;
                write_alias(f, alias)
            }
            SelectItem::Function {
                function,
                argument,
                alias,
            } => {
                write!(f, "{function}({argument})")?;
                write_alias(f, alias)
            }
            SelectItem::Subquery(query) => write!(f, "({query})"),
            SelectItem::Fields(kind) => write!(f, "FIELDS({kind})"),
            SelectItem::TypeOf(text) => f.write_str(text),
        }
    }
}

impl Display for OrderItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.field)?;
        if self.descending {
            f.write_str(" DESC")?;
        }
        match self.nulls_first {
            Some(true) => f.write_str(" NULLS FIRST"),
            Some(false) => f.write_str(" NULLS LAST"),
            None => Ok(()),
        }
    }
}

impl Display for CompareOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Like => "LIKE",
        })
    }
}

/// Parenthesises the terms of an AND/OR that would otherwise merge with, or bind differently
/// from, their parent, so that the output parses back to the same nesting.
fn write_terms(
    f: &mut Formatter<'_>,
    terms: &[Condition],
    separator: &str,
    needs_parens: fn(&Condition) -> bool,
) -> fmt::Result {
    for (i, term) in terms.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        if needs_parens(term) {
            write!(f, "({term})")?;
        } else {
            write!(f, "{term}")?;
        }
    }
    Ok(())
}

fn write_in_list<T: Display>(
    f: &mut Formatter<'_>,
    field: &FieldPath,
    keyword: &str,
    values: &[T],
) -> fmt::Result {
    write!(f, "{field} {keyword} (")?;
    join(f, values, ", ")?;
    f.write_char(')')
}

/// The parser never builds an AND/OR with fewer than two terms; one built by hand with a single
/// term renders as that term, and an empty one renders as nothing (not valid SOQL).
impl Display for Condition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Condition::And(terms) => write_terms(f, terms, " AND ", |c| {
                matches!(c, Condition::And(_) | Condition::Or(_))
            }),
            // AND and OR never share a level unparenthesised: Salesforce refuses `A AND B OR C`.
            Condition::Or(terms) => write_terms(f, terms, " OR ", |c| {
                matches!(c, Condition::And(_) | Condition::Or(_))
            }),
            Condition::Not(inner) => write!(f, "NOT ({inner})"),
            Condition::Compare { field, op, value } => write!(f, "{field} {op} {value}"),
            Condition::In {
                field,
                negated,
                values,
            } => {
                let keyword = if *negated { "NOT IN" } else { "IN" };
                write_in_list(f, field, keyword, values)
            }
            Condition::InQuery {
                field,
                negated,
                query,
            } => {
                let keyword = if *negated { "NOT IN" } else { "IN" };
                write!(f, "{field} {keyword} ({query})")
            }
            Condition::Includes {
                field,
                negated,
                values,
            } => {
                let keyword = if *negated { "EXCLUDES" } else { "INCLUDES" };
                let quoted: Vec<String> = values.iter().map(|v| quote_string(v)).collect();
                write_in_list(f, field, keyword, &quoted)
            }
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(value) => write!(f, "{value}"),
            Literal::Number(text) => f.write_str(text),
            Literal::String(value) => f.write_str(&quote_string(value)),
            Literal::Date(date) => write!(f, "{}", date.format("%Y-%m-%d")),
            Literal::DateTime { text, .. } => f.write_str(text),
            Literal::DateKeyword(date) => write!(f, "{date}"),
        }
    }
}
