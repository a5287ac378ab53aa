//! Questions the client asks about a query before choosing how to run it.

use super::ast::{FieldPath, Query, SelectItem};

impl Query {
    /// Exactly `SELECT COUNT() FROM ...`: the response carries only `totalSize`, no records.
    pub fn is_count_only(&self) -> bool {
        matches!(
            self.select.as_slice(),
            [SelectItem::Aggregate { function, argument: None, .. }] if function == "COUNT"
        )
    }

    /// True when the query returns `AggregateResult` rows or a bare count rather than records:
    /// an aggregate function in the SELECT list (`COUNT()` included) or a GROUP BY.
    pub fn has_aggregates(&self) -> bool {
        !self.group_by.is_empty()
            || self
                .select
                .iter()
                .any(|item| matches!(item, SelectItem::Aggregate { .. }))
    }

    /// Why Bulk API 2.0 would reject this query, or `None` if it can run it.
    pub fn bulk_unsupported_reason(&self) -> Option<&'static str> {
        let any = |pred: fn(&SelectItem) -> bool| self.select.iter().any(pred);
        if any(|item| matches!(item, SelectItem::Aggregate { .. })) {
            return Some("Bulk API 2.0 does not support aggregate functions or COUNT()");
        }
        if !self.group_by.is_empty() {
            return Some("Bulk API 2.0 does not support GROUP BY");
        }
        if self.offset.is_some() {
            return Some("Bulk API 2.0 does not support OFFSET");
        }
        if any(|item| matches!(item, SelectItem::TypeOf(_))) {
            return Some("Bulk API 2.0 does not support TYPEOF");
        }
        if any(|item| matches!(item, SelectItem::Subquery(_))) {
            return Some("Bulk API 2.0 does not support parent-to-child subqueries");
        }
        if any(|item| matches!(item, SelectItem::Fields(_))) {
            return Some("Bulk API 2.0 does not support FIELDS()");
        }
        None
    }

    /// The plain fields of the SELECT list, in order (not aggregates, functions or subqueries).
    pub fn field_paths(&self) -> impl Iterator<Item = &FieldPath> + '_ {
        self.select.iter().filter_map(|item| match item {
            SelectItem::Field(path) => Some(path),
            _ => None,
        })
    }
}
