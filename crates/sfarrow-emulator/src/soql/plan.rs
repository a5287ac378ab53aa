//! What a compiled query is: the `Plan` (resolved paths, the JSON layout, typed filters), the
//! `ResultSet` it produces, and how a `Path` is followed from a row. Every other file of the
//! engine reads these; this one reads only the data layer.

use crate::data::store::Store;
use crate::data::value::Value;
use sfarrow_soql::soql::CompareOp;
use sfarrow_soql::types::FieldType as T;
use std::collections::HashSet;

/// A query error in Salesforce's terms: `errorCode` and message (HTTP 400).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryError {
    pub code: &'static str,
    pub message: String,
}

pub(crate) fn err(code: &'static str, message: impl Into<String>) -> QueryError {
    QueryError {
        code,
        message: message.into(),
    }
}

/// A resolved field path: reference hops from the root table, then a field of the last table.
#[derive(Debug, Clone)]
pub struct Path {
    /// (table, reference field) for each relationship followed.
    pub hops: Vec<(usize, usize)>,
    pub table: usize,
    pub field: usize,
    pub ftype: T,
    /// As written in the query: the Bulk CSV header.
    pub written: String,
}

/// How a record is laid out in REST JSON: nested parents, compounds, child subqueries.
#[derive(Debug, Clone)]
pub enum Node {
    Field {
        key: String,
        path: Path,
    },
    Compound {
        key: String,
        parts: Vec<(String, Path)>,
    },
    Parent {
        key: String,
        hop: (usize, usize),
        children: Vec<Node>,
    },
    Children {
        key: String,
        sub: usize,
    },
}

#[derive(Debug, Clone)]
pub struct OrderKey {
    pub path: Path,
    pub descending: bool,
    pub nulls_first: bool,
}

#[derive(Debug, Clone)]
pub enum Aggregate {
    Group {
        key: String,
        path: Path,
    },
    Function {
        key: String,
        function: String,
        path: Option<Path>,
    },
}

impl Aggregate {
    /// Whether ORDER BY `name` means this aggregate: its alias (`cnt`) or its expression
    /// (`COUNT(Id)`).
    pub(crate) fn answers_to(&self, name: &str) -> bool {
        match self {
            Aggregate::Function {
                key,
                function,
                path,
            } => {
                let expr = format!(
                    "{function}({})",
                    path.as_ref().map(|p| p.written.as_str()).unwrap_or("")
                );
                key.eq_ignore_ascii_case(name) || expr.eq_ignore_ascii_case(name)
            }
            Aggregate::Group { .. } => false,
        }
    }
}

#[derive(Debug)]
pub struct Plan {
    pub table: usize,
    pub object: String,
    /// Flat list of selected columns (Bulk CSV); compounds appear as one column.
    pub columns: Vec<Path>,
    pub nodes: Vec<Node>,
    pub filter: Option<Filter>,
    pub order: Vec<OrderKey>,
    pub limit: Option<u64>,
    pub offset: u64,
    pub count_only: bool,
    pub aggregates: Vec<Aggregate>,
    pub group_by: Vec<Path>,
    pub subqueries: Vec<SubPlan>,
    pub bulk_unsupported: Option<&'static str>,
    pub has_compound: bool,
}

#[derive(Debug)]
pub struct SubPlan {
    pub plan: Plan,
    /// The reference field on the child table that points at the parent.
    pub parent_field: usize,
}

#[derive(Debug, Clone)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    IsNull(Path, bool),
    Cmp(Path, CompareOp, Value),
    /// Half-open range [start, end) for date keywords, in the field's unit.
    Range(Path, CompareOp, i64, i64),
    Like(Path, String),
    In(Path, bool, Vec<Value>),
    InSet(Path, bool, HashSet<String>),
    Includes(Path, bool, Vec<Vec<String>>),
}

pub struct ResultSet {
    pub plan: Plan,
    pub rows: Vec<u32>,
    /// Per subquery, per result row: child rows.
    pub children: Vec<Vec<Vec<u32>>>,
    /// Aggregate queries produce computed records instead of rows.
    pub aggregate_rows: Vec<Vec<(String, Value)>>,
    pub total: usize,
}

impl ResultSet {
    pub fn len(&self) -> usize {
        if self.plan.aggregates.is_empty() {
            self.rows.len()
        } else {
            self.aggregate_rows.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Follows a path from a row; `None` when a parent on the way is null.
pub fn resolve<'s>(store: &'s Store, table: usize, row: u32, path: &Path) -> Option<&'s Value> {
    let (mut t, mut r) = (table, row);
    for &(ht, hf) in &path.hops {
        debug_assert_eq!(ht, t);
        let id = store.tables[t].rows[r as usize].get(hf).as_str()?;
        let target = path_target(store, ht, hf)?;
        r = store.tables[target].row_by_id(id)?;
        t = target;
    }
    let row = &store.tables[t].rows[r as usize];
    if row.purged {
        return None;
    }
    Some(row.get(path.field))
}

fn path_target(store: &Store, table: usize, field: usize) -> Option<usize> {
    store.tables[table].def.fields[field]
        .reference_to
        .first()
        .and_then(|n| store.table_index(n))
}

/// The parent row a reference field points at.
pub fn follow(store: &Store, table: usize, row: u32, field: usize) -> Option<(usize, u32)> {
    let id = store.tables[table].rows[row as usize].get(field).as_str()?;
    let target = path_target(store, table, field)?;
    Some((target, store.tables[target].row_by_id(id)?))
}
