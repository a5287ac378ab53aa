//! Queries made from parts a caller hands over (a flow's object, fields, filter and time window),
//! built as a tree and rendered, never pasted together as text: a filter is parsed as exactly
//! one condition, so it cannot close its parentheses and widen the query, and a watermark must
//! be a datetime, so it cannot carry SOQL.

use super::ast::{CompareOp, Condition, FieldPath, Literal, Query, SelectItem};
use super::error::SoqlError;
use crate::formats::{self, Zone};

/// An incremental read's window on a datetime field: after `after` (exclusive; `None` for the
/// first run) up to `until` (inclusive). Both are datetime literals (`2026-11-28T10:00:00.000Z`).
#[derive(Debug, Clone)]
pub struct Window {
    pub field: String,
    pub after: Option<String>,
    pub until: String,
}

fn invalid(message: String) -> SoqlError {
    SoqlError::malformed(message, 1, 1)
}

/// `Account`, `Owner.Name`, `ns__Thing__c`: names as SOQL takes them, and nothing else.
fn path(name: &str, what: &str) -> Result<FieldPath, SoqlError> {
    let ok = !name.is_empty()
        && name.split('.').all(|seg| {
            let mut chars = seg.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if ok {
        Ok(FieldPath::from_dotted(name))
    } else {
        Err(invalid(format!(
            "{what} {name:?} is not a Salesforce API name"
        )))
    }
}

/// A datetime literal, checked and written in one form: UTC with milliseconds.
fn datetime(text: &str) -> Result<Literal, SoqlError> {
    let millis = formats::parse_datetime(text.trim()).ok_or_else(|| {
        let shown: String = text.chars().take(60).collect();
        invalid(format!(
            "the watermark {shown:?} is not a datetime like 2026-11-28T10:00:00.000Z"
        ))
    })?;
    Ok(Literal::DateTime {
        millis,
        text: formats::format_datetime(millis, Zone::Bulk),
    })
}

/// `SELECT fields FROM object [WHERE (filter) AND field > after AND field <= until]`.
pub fn source_query(
    object: &str,
    fields: &[String],
    filter: Option<&str>,
    window: Option<&Window>,
) -> Result<String, SoqlError> {
    path(object, "the object").and_then(|p| {
        if p.segments().len() == 1 {
            Ok(p)
        } else {
            Err(invalid(format!(
                "the object {object:?} is not an object name"
            )))
        }
    })?;
    if fields.is_empty() {
        return Err(invalid("a query needs at least one field".into()));
    }
    let select = fields
        .iter()
        .map(|f| path(f, "the field").map(SelectItem::Field))
        .collect::<Result<Vec<_>, _>>()?;
    let mut conditions = Vec::new();
    if let Some(text) = filter.map(str::trim).filter(|t| !t.is_empty()) {
        conditions.push(super::parse_condition(text)?);
    }
    if let Some(w) = window {
        let field = path(&w.field, "the incremental field")?;
        if let Some(after) = &w.after {
            conditions.push(Condition::Compare {
                field: field.clone(),
                op: CompareOp::Gt,
                value: datetime(after)?,
            });
        }
        conditions.push(Condition::Compare {
            field,
            op: CompareOp::Le,
            value: datetime(&w.until)?,
        });
    }
    let where_clause = match conditions.len() {
        0 => None,
        1 => conditions.pop(),
        _ => Some(Condition::And(conditions)),
    };
    let query = Query {
        where_clause,
        ..Query::new(select, object.to_string())
    };
    Ok(query.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn filters_stay_one_condition() {
        let w = Window {
            field: "SystemModstamp".into(),
            after: Some("2026-11-28T10:00:00Z".into()),
            until: "2026-11-28T11:00:00.5+01:00".into(),
        };
        let q = source_query(
            "Account",
            &names(&["Id", "Owner.Name"]),
            Some("Name = 'a' OR Name = 'b'"),
            Some(&w),
        )
        .unwrap();
        assert_eq!(
            q,
            "SELECT Id, Owner.Name FROM Account WHERE (Name = 'a' OR Name = 'b') \
             AND SystemModstamp > 2026-11-28T10:00:00.000Z AND SystemModstamp <= 2026-11-28T10:00:00.500Z"
        );
        // What escapes its parentheses as text is no condition at all.
        for escape in [
            "Name = 'x') OR (Id != null",
            "Name = 'x' OR Id != null AND Name = 'y'",
            "Name = 'x' LIMIT 5",
            "Name = 'x'; DELETE",
        ] {
            assert!(
                source_query("Account", &names(&["Id"]), Some(escape), None).is_err(),
                "{escape}"
            );
        }
    }

    #[test]
    fn watermarks_and_names_are_checked() {
        let bad = Window {
            field: "SystemModstamp".into(),
            after: Some("2026-01-01T00:00:00Z OR Id != null".into()),
            until: "2026-01-02T00:00:00Z".into(),
        };
        assert!(source_query("Account", &names(&["Id"]), None, Some(&bad)).is_err());
        assert!(source_query("Account WHERE", &names(&["Id"]), None, None).is_err());
        assert!(source_query("Account", &names(&["Id, Name"]), None, None).is_err());
        assert_eq!(
            source_query("Account", &names(&["Id"]), Some("  "), None).unwrap(),
            "SELECT Id FROM Account"
        );
    }
}
