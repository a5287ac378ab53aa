//! SOQL execution: a parsed query is compiled against the org's schema into a `Plan` (every
//! path resolved, every literal typed) and run over the tables into a `ResultSet` of row numbers.
//! Values are rendered later, page by page (see `render`).

pub mod render;

use crate::data::store::{Store, Table};
use crate::data::value::Value;
use sfarrow_soql::formats::{civil_from_days, days_from_civil};
use sfarrow_soql::soql::{self, CompareOp, Condition, FieldPath, Literal, Query, SelectItem};
use sfarrow_soql::types::FieldType as T;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// A query error in Salesforce's terms: `errorCode` and message (HTTP 400).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryError {
    pub code: &'static str,
    pub message: String,
}

fn err(code: &'static str, message: impl Into<String>) -> QueryError {
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
    fn answers_to(&self, name: &str) -> bool {
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

fn no_such_column(name: &str, object: &str) -> QueryError {
    err(
        "INVALID_FIELD",
        format!(
            "No such column '{name}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    )
}

pub fn compile(store: &Store, q: &Query) -> Result<Plan, QueryError> {
    let table = store.table_index(&q.from).ok_or_else(|| {
        err(
            "INVALID_TYPE",
            format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                q.from
            ),
        )
    })?;
    compile_on(store, q, table)
}

fn compile_on(store: &Store, q: &Query, table: usize) -> Result<Plan, QueryError> {
    let def = &store.tables[table].def;
    let resolver = Resolver {
        store,
        root: table,
        alias: q.alias.clone(),
    };
    let mut plan = Plan {
        table,
        object: def.name.clone(),
        columns: Vec::new(),
        nodes: Vec::new(),
        filter: None,
        order: Vec::new(),
        limit: q.limit,
        offset: q.offset.unwrap_or(0),
        count_only: q.is_count_only(),
        aggregates: Vec::new(),
        group_by: Vec::new(),
        subqueries: Vec::new(),
        bulk_unsupported: q.bulk_unsupported_reason(),
        has_compound: false,
    };
    if plan.offset > 2000 {
        return Err(err(
            "NUMBER_OUTSIDE_VALID_RANGE",
            "Maximum SOQL offset allowed is 2000",
        ));
    }
    for g in &q.group_by {
        plan.group_by.push(resolver.path(g)?);
    }
    let mut expr = 0;
    for item in &q.select {
        match item {
            SelectItem::Field(fp) => {
                let path = resolver.path(fp)?;
                if !plan.group_by.is_empty() || q.has_aggregates() {
                    let key = store.tables[path.table].def.fields[path.field].name.clone();
                    plan.aggregates.push(Aggregate::Group { key, path });
                    continue;
                }
                add_column(store, &mut plan, path);
            }
            SelectItem::Fields(kind) => {
                if kind != "STANDARD" && q.limit.is_none_or(|l| l > 200) {
                    return Err(err(
                        "MALFORMED_QUERY",
                        "The SOQL FIELDS function must have a LIMIT of at most 200",
                    ));
                }
                for f in def.fields.iter().filter(|f| match kind.as_str() {
                    "CUSTOM" => f.custom,
                    "STANDARD" => !f.custom,
                    _ => true,
                }) {
                    let path = resolver.path(&FieldPath(vec![f.name.clone()]))?;
                    add_column(store, &mut plan, path);
                }
            }
            SelectItem::Aggregate {
                function,
                argument,
                alias,
            } => {
                if argument.is_none() && function == "COUNT" && q.select.len() == 1 {
                    continue;
                }
                let path = argument.as_ref().map(|a| resolver.path(a)).transpose()?;
                let key = alias.clone().unwrap_or_else(|| {
                    expr += 1;
                    format!("expr{}", expr - 1)
                });
                plan.aggregates.push(Aggregate::Function {
                    key,
                    function: function.clone(),
                    path,
                });
            }
            SelectItem::Function {
                argument, alias, ..
            } => {
                // toLabel/FORMAT/convertCurrency: values pass through unchanged here.
                let mut path = resolver.path(argument)?;
                if let Some(a) = alias {
                    path.written = a.clone();
                }
                add_column(store, &mut plan, path);
            }
            SelectItem::Subquery(sub) => {
                let rels = store.child_relationships(&def.name);
                let (name, child_table, parent_field) = rels
                    .into_iter()
                    .find(|(n, _, _)| n.eq_ignore_ascii_case(&sub.from))
                    .ok_or_else(|| {
                        err(
                            "INVALID_TYPE",
                            format!(
                                "Didn't understand relationship '{}' in FROM part of query call. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.",
                                sub.from
                            ),
                        )
                    })?;
                let plan_c = compile_on(store, sub, child_table)?;
                plan.nodes.push(Node::Children {
                    key: name,
                    sub: plan.subqueries.len(),
                });
                plan.subqueries.push(SubPlan {
                    plan: plan_c,
                    parent_field,
                });
            }
            SelectItem::TypeOf(_) => {
                return Err(err(
                    "MALFORMED_QUERY",
                    "TYPEOF is not supported by the emulator",
                ))
            }
        }
    }
    if let Some(c) = &q.where_clause {
        plan.filter = Some(resolver.filter(c)?);
    }
    for o in &q.order_by {
        let path = match resolver.path(&o.field) {
            Ok(p) => p,
            // An aggregate query may order by an alias or an aggregate expression.
            Err(_)
                if !plan.aggregates.is_empty()
                    && plan
                        .aggregates
                        .iter()
                        .any(|a| a.answers_to(&o.field.to_string())) =>
            {
                Path {
                    hops: Vec::new(),
                    table,
                    field: 0,
                    ftype: T::Id,
                    written: o.field.to_string(),
                }
            }
            Err(e) => return Err(e),
        };
        plan.order.push(OrderKey {
            path,
            descending: o.descending,
            nulls_first: o.nulls_first.unwrap_or(!o.descending),
        });
    }
    Ok(plan)
}

fn add_column(store: &Store, plan: &mut Plan, path: Path) {
    let f = &store.tables[path.table].def.fields[path.field];
    if f.ftype.is_compound() {
        plan.has_compound = true;
    }
    plan.columns.push(path.clone());
    insert_node(store, &mut plan.nodes, path, 0);
}

/// Places a path in the JSON layout, merging paths that share parents (`Owner.Name`, `Owner.Email`).
fn insert_node(store: &Store, nodes: &mut Vec<Node>, path: Path, depth: usize) {
    if depth == path.hops.len() {
        let f = &store.tables[path.table].def.fields[path.field];
        let key = f.name.clone();
        if nodes.iter().any(|n| matches!(n, Node::Field { key: k, .. } | Node::Compound { key: k, .. } if *k == key)) {
            return;
        }
        if f.ftype.is_compound() {
            let t = &store.tables[path.table];
            let parts = f
                .components
                .iter()
                .filter_map(|(name, json_key)| {
                    let fi = t.def.field_index(name)?;
                    Some((
                        json_key.clone(),
                        Path {
                            field: fi,
                            ftype: t.def.fields[fi].ftype,
                            ..path.clone()
                        },
                    ))
                })
                .collect();
            nodes.push(Node::Compound { key, parts });
        } else {
            nodes.push(Node::Field { key, path });
        }
        return;
    }
    let hop = path.hops[depth];
    let rel_field = &store.tables[hop.0].def.fields[hop.1];
    let key = rel_field.relationship_name.clone().unwrap_or_default();
    let pos = nodes
        .iter()
        .position(|n| matches!(n, Node::Parent { key: k, .. } if *k == key));
    let pos = match pos {
        Some(p) => p,
        None => {
            nodes.push(Node::Parent {
                key,
                hop,
                children: Vec::new(),
            });
            nodes.len() - 1
        }
    };
    if let Node::Parent { children, .. } = &mut nodes[pos] {
        insert_node(store, children, path, depth + 1);
    }
}

struct Resolver<'a> {
    store: &'a Store,
    root: usize,
    alias: Option<String>,
}

impl Resolver<'_> {
    fn path(&self, fp: &FieldPath) -> Result<Path, QueryError> {
        let mut segs: &[String] = &fp.0;
        let root_def = &self.store.tables[self.root].def;
        if segs.len() > 1
            && (self
                .alias
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(&segs[0]))
                || segs[0].eq_ignore_ascii_case(&root_def.name))
            && root_def.relationship(&segs[0]).is_none()
        {
            segs = &segs[1..];
        }
        let mut table = self.root;
        let mut hops = Vec::new();
        for seg in &segs[..segs.len().saturating_sub(1)] {
            let def = &self.store.tables[table].def;
            let fi = def.relationship(seg).ok_or_else(|| {
                err(
                    "INVALID_FIELD",
                    format!(
                        "Didn't understand relationship '{seg}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                    ),
                )
            })?;
            let target = def.fields[fi]
                .reference_to
                .first()
                .and_then(|name| self.store.table_index(name))
                .ok_or_else(|| {
                    err(
                        "INVALID_FIELD",
                        format!("Relationship '{seg}' has no target"),
                    )
                })?;
            hops.push((table, fi));
            table = target;
        }
        let last = segs
            .last()
            .ok_or_else(|| err("MALFORMED_QUERY", "empty field path"))?;
        let def = &self.store.tables[table].def;
        let field = def
            .field_index(last)
            .ok_or_else(|| no_such_column(last, &def.name))?;
        Ok(Path {
            hops,
            table,
            field,
            ftype: def.fields[field].ftype,
            written: fp.to_string(),
        })
    }

    fn filter(&self, c: &Condition) -> Result<Filter, QueryError> {
        Ok(match c {
            Condition::And(v) => {
                Filter::And(v.iter().map(|c| self.filter(c)).collect::<Result<_, _>>()?)
            }
            Condition::Or(v) => {
                Filter::Or(v.iter().map(|c| self.filter(c)).collect::<Result<_, _>>()?)
            }
            Condition::Not(c) => Filter::Not(Box::new(self.filter(c)?)),
            Condition::Compare { field, op, value } => {
                let path = self.path(field)?;
                if path.ftype.is_compound() {
                    return Err(err(
                        "INVALID_FIELD",
                        format!("field '{field}' can not be filtered in a query call"),
                    ));
                }
                match (op, value) {
                    (CompareOp::Eq, Literal::Null) => Filter::IsNull(path, true),
                    (CompareOp::Ne, Literal::Null) => Filter::IsNull(path, false),
                    (CompareOp::Like, lit) => {
                        if !path.ftype.is_text() {
                            return Err(err(
                                "INVALID_QUERY_FILTER_OPERATOR",
                                format!("invalid operator on {} field: {field}", path.ftype),
                            ));
                        }
                        let Literal::String(pattern) = lit else {
                            return Err(err("MALFORMED_QUERY", "LIKE needs a string literal"));
                        };
                        Filter::Like(path, pattern.clone())
                    }
                    (op, Literal::DateKeyword { keyword, n }) => {
                        let (start, end) = date_range(keyword, *n).ok_or_else(|| {
                            err("MALFORMED_QUERY", format!("unknown date literal {keyword}"))
                        })?;
                        let (start, end) = match path.ftype {
                            T::Date => (start, end),
                            T::DateTime => (start * 86_400_000, end * 86_400_000),
                            _ => return Err(type_mismatch(field, path.ftype)),
                        };
                        Filter::Range(path, *op, start, end)
                    }
                    (op, lit) => {
                        let v = typed_literal(field, path.ftype, lit)?;
                        Filter::Cmp(path, *op, v)
                    }
                }
            }
            Condition::In {
                field,
                negated,
                values,
            } => {
                let path = self.path(field)?;
                let vals = values
                    .iter()
                    .map(|l| typed_literal(field, path.ftype, l))
                    .collect::<Result<_, _>>()?;
                Filter::In(path, *negated, vals)
            }
            Condition::InQuery {
                field,
                negated,
                query,
            } => {
                let path = self.path(field)?;
                let inner = compile(self.store, query)?;
                let col =
                    inner.columns.first().cloned().ok_or_else(|| {
                        err("MALFORMED_QUERY", "semi-join subquery selects no field")
                    })?;
                let rs = execute(self.store, inner, false);
                let set = rs
                    .rows
                    .iter()
                    .filter_map(|r| resolve(self.store, rs.plan.table, *r, &col))
                    .filter_map(|v| v.as_str().map(str::to_lowercase))
                    .collect();
                Filter::InSet(path, *negated, set)
            }
            Condition::Includes {
                field,
                negated,
                values,
            } => {
                let path = self.path(field)?;
                if path.ftype != T::MultiPicklist {
                    return Err(err(
                        "INVALID_QUERY_FILTER_OPERATOR",
                        "includes or excludes operator only valid on multipicklist field",
                    ));
                }
                let sets = values
                    .iter()
                    .map(|v| v.split(';').map(|s| s.trim().to_lowercase()).collect())
                    .collect();
                Filter::Includes(path, *negated, sets)
            }
        })
    }
}

fn type_mismatch(field: &FieldPath, ftype: T) -> QueryError {
    err(
        "INVALID_FIELD",
        format!("value of filter criterion for field '{field}' must be of type {ftype} and should not be enclosed in quotes"),
    )
}

fn typed_literal(field: &FieldPath, ftype: T, lit: &Literal) -> Result<Value, QueryError> {
    Ok(match (ftype, lit) {
        (_, Literal::Null) => Value::Null,
        (T::Boolean, Literal::Bool(b)) => Value::Bool(*b),
        (t, Literal::Number(n)) if t.is_numeric() => {
            Value::Float(n.parse().map_err(|_| type_mismatch(field, ftype))?)
        }
        (T::Id | T::Reference, Literal::String(s)) => {
            Value::text(sfarrow_soql::ids::normalize(s).unwrap_or_else(|| s.clone()))
        }
        (t, Literal::String(s)) if t.is_text() => Value::text(s.as_str()),
        (T::Date, Literal::Date(d)) => Value::Date(days_from_civil(
            chrono::Datelike::year(d) as i64,
            chrono::Datelike::month(d),
            chrono::Datelike::day(d),
        ) as i32),
        (T::DateTime, Literal::DateTime { millis, .. }) => Value::DateTime(*millis),
        (T::Time, Literal::String(s)) => Value::Time(
            sfarrow_soql::formats::parse_time(s).ok_or_else(|| type_mismatch(field, ftype))?,
        ),
        _ => return Err(type_mismatch(field, ftype)),
    })
}

fn today_days() -> i64 {
    crate::data::store::now_millis().div_euclid(86_400_000)
}

/// Date keywords as half-open day ranges, in UTC (the emulated user's time zone).
fn date_range(keyword: &str, n: Option<i64>) -> Option<(i64, i64)> {
    let today = today_days();
    let (y, m, _) = civil_from_days(today);
    let month_start = |y: i64, m: i64| {
        let (yy, mm) = (y + (m - 1).div_euclid(12), (m - 1).rem_euclid(12) + 1);
        days_from_civil(yy, mm as u32, 1)
    };
    let m = m as i64;
    let q0 = (m - 1) / 3 * 3 + 1;
    let weekday = (today + 3).rem_euclid(7); // 0 = Monday; weeks start on Sunday in en_US
    let week_start = today - (weekday + 1) % 7;
    let n = n.unwrap_or(0);
    Some(match keyword {
        "TODAY" => (today, today + 1),
        "YESTERDAY" => (today - 1, today),
        "TOMORROW" => (today + 1, today + 2),
        "LAST_WEEK" => (week_start - 7, week_start),
        "THIS_WEEK" => (week_start, week_start + 7),
        "NEXT_WEEK" => (week_start + 7, week_start + 14),
        "LAST_MONTH" => (month_start(y, m - 1), month_start(y, m)),
        "THIS_MONTH" => (month_start(y, m), month_start(y, m + 1)),
        "NEXT_MONTH" => (month_start(y, m + 1), month_start(y, m + 2)),
        "LAST_90_DAYS" => (today - 90, today + 1),
        "NEXT_90_DAYS" => (today + 1, today + 91),
        "THIS_QUARTER" => (month_start(y, q0), month_start(y, q0 + 3)),
        "LAST_QUARTER" => (month_start(y, q0 - 3), month_start(y, q0)),
        "NEXT_QUARTER" => (month_start(y, q0 + 3), month_start(y, q0 + 6)),
        "THIS_YEAR" => (month_start(y, 1), month_start(y + 1, 1)),
        "LAST_YEAR" => (month_start(y - 1, 1), month_start(y, 1)),
        "NEXT_YEAR" => (month_start(y + 1, 1), month_start(y + 2, 1)),
        "LAST_N_DAYS" => (today - n, today + 1),
        "NEXT_N_DAYS" => (today + 1, today + n + 1),
        "N_DAYS_AGO" => (today - n, today - n + 1),
        "LAST_N_WEEKS" => (week_start - 7 * n, week_start),
        "NEXT_N_WEEKS" => (week_start + 7, week_start + 7 * (n + 1)),
        "LAST_N_MONTHS" => (month_start(y, m - n), month_start(y, m)),
        "NEXT_N_MONTHS" => (month_start(y, m + 1), month_start(y, m + n + 1)),
        "LAST_N_YEARS" => (month_start(y - n, 1), month_start(y, 1)),
        "NEXT_N_YEARS" => (month_start(y + 1, 1), month_start(y + n + 1, 1)),
        _ => return None,
    })
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

fn matches(store: &Store, table: usize, row: u32, f: &Filter) -> bool {
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
fn order_values(a: &Value, b: &Value, k: &OrderKey) -> Ordering {
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

fn sort_rows(store: &Store, table: usize, rows: &mut [u32], order: &[OrderKey]) {
    if order.is_empty() {
        return;
    }
    rows.sort_by(|&a, &b| {
        for k in order {
            let va = resolve(store, table, a, &k.path).unwrap_or(&Value::Null);
            let vb = resolve(store, table, b, &k.path).unwrap_or(&Value::Null);
            let o = order_values(va, vb, k);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
}

fn select_rows(store: &Store, plan: &Plan, t: &Table, include_deleted: bool) -> Vec<u32> {
    (0..t.rows.len() as u32)
        .filter(|&r| {
            let row = &t.rows[r as usize];
            !row.purged && (include_deleted || !row.deleted)
        })
        .filter(|&r| {
            plan.filter
                .as_ref()
                .is_none_or(|f| matches(store, plan.table, r, f))
        })
        .collect()
}

fn page(rows: &mut Vec<u32>, offset: u64, limit: Option<u64>) {
    let off = (offset as usize).min(rows.len());
    rows.drain(..off);
    if let Some(l) = limit {
        rows.truncate(l as usize);
    }
}

pub fn execute(store: &Store, plan: Plan, include_deleted: bool) -> ResultSet {
    let t = &store.tables[plan.table];
    let mut rows = select_rows(store, &plan, t, include_deleted);
    if !plan.aggregates.is_empty() {
        let mut aggregate_rows = aggregate(store, &plan, &rows);
        sort_aggregates(&plan, &mut aggregate_rows);
        let skip = (plan.offset as usize).min(aggregate_rows.len());
        aggregate_rows.drain(..skip);
        if let Some(l) = plan.limit {
            aggregate_rows.truncate(l as usize);
        }
        let total = aggregate_rows.len();
        return ResultSet {
            plan,
            rows: Vec::new(),
            children: Vec::new(),
            aggregate_rows,
            total,
        };
    }
    sort_rows(store, plan.table, &mut rows, &plan.order);
    if plan.count_only {
        let mut total = rows.len().saturating_sub(plan.offset as usize);
        if let Some(l) = plan.limit {
            total = total.min(l as usize);
        }
        return ResultSet {
            plan,
            rows: Vec::new(),
            children: Vec::new(),
            aggregate_rows: Vec::new(),
            total,
        };
    }
    page(&mut rows, plan.offset, plan.limit);
    let children = plan
        .subqueries
        .iter()
        .map(|sub| {
            let ct = &store.tables[sub.plan.table];
            let mut by_parent: HashMap<&str, Vec<u32>> = HashMap::new();
            for r in select_rows(store, &sub.plan, ct, include_deleted) {
                if let Some(pid) = ct.rows[r as usize].get(sub.parent_field).as_str() {
                    by_parent.entry(pid).or_default().push(r);
                }
            }
            rows.iter()
                .map(|&r| {
                    let id = t.rows[r as usize].id();
                    let mut kids = by_parent.remove(id).unwrap_or_default();
                    sort_rows(store, sub.plan.table, &mut kids, &sub.plan.order);
                    page(&mut kids, sub.plan.offset, sub.plan.limit);
                    kids
                })
                .collect()
        })
        .collect();
    let total = rows.len();
    ResultSet {
        plan,
        rows,
        children,
        aggregate_rows: Vec::new(),
        total,
    }
}

/// Aggregate results sort by a grouped field or an aggregate alias named in ORDER BY.
fn sort_aggregates(plan: &Plan, rows: &mut [Vec<(String, Value)>]) {
    let keys: Vec<(usize, &OrderKey)> = plan
        .order
        .iter()
        .filter_map(|k| {
            let col = plan.aggregates.iter().position(|a| match a {
                Aggregate::Group { path, .. } => {
                    path.table == k.path.table
                        && path.field == k.path.field
                        && path.hops == k.path.hops
                }
                f @ Aggregate::Function { .. } => f.answers_to(&k.path.written),
            })?;
            Some((col, k))
        })
        .collect();
    rows.sort_by(|a, b| {
        for (col, k) in &keys {
            let (va, vb) = (&a[*col].1, &b[*col].1);
            let o = order_values(va, vb, k);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
}

fn aggregate(store: &Store, plan: &Plan, rows: &[u32]) -> Vec<Vec<(String, Value)>> {
    let key_of = |r: u32| -> Vec<String> {
        plan.group_by
            .iter()
            .map(|p| {
                format!(
                    "{:?}",
                    resolve(store, plan.table, r, p).unwrap_or(&Value::Null)
                )
            })
            .collect()
    };
    let mut groups: Vec<(Vec<String>, Vec<u32>)> = Vec::new();
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    for &r in rows {
        let k = key_of(r);
        let i = *index.entry(k.clone()).or_insert_with(|| {
            groups.push((k, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(r);
    }
    if groups.is_empty() && plan.group_by.is_empty() {
        groups.push((Vec::new(), Vec::new()));
    }
    groups
        .into_iter()
        .map(|(_, members)| {
            plan.aggregates
                .iter()
                .map(|a| match a {
                    Aggregate::Group { key, path } => (
                        key.clone(),
                        members
                            .first()
                            .and_then(|&r| resolve(store, plan.table, r, path).cloned())
                            .unwrap_or(Value::Null),
                    ),
                    Aggregate::Function {
                        key,
                        function,
                        path,
                    } => {
                        let vals: Vec<Value> = members
                            .iter()
                            .filter_map(|&r| {
                                path.as_ref().map(|p| {
                                    resolve(store, plan.table, r, p)
                                        .cloned()
                                        .unwrap_or(Value::Null)
                                })
                            })
                            .filter(|v| !v.is_null())
                            .collect();
                        (
                            key.clone(),
                            fold(function, path.is_none(), members.len(), vals),
                        )
                    }
                })
                .collect()
        })
        .collect()
}

fn fold(function: &str, no_arg: bool, members: usize, vals: Vec<Value>) -> Value {
    let nums = || vals.iter().filter_map(Value::as_f64);
    match function {
        "COUNT" if no_arg => Value::Int(members as i64),
        "COUNT" => Value::Int(vals.len() as i64),
        "COUNT_DISTINCT" => {
            let set: HashSet<String> = vals
                .iter()
                .map(|v| format!("{v:?}").to_lowercase())
                .collect();
            Value::Int(set.len() as i64)
        }
        "SUM" if !vals.is_empty() => Value::Float(nums().sum()),
        "AVG" if !vals.is_empty() => Value::Float(nums().sum::<f64>() / vals.len() as f64),
        "MIN" => vals.into_iter().min_by(compare).unwrap_or(Value::Null),
        "MAX" => vals.into_iter().max_by(compare).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// Parses, compiles and runs a SOQL string: the path every query route takes.
pub fn run(store: &Store, soql_text: &str, include_deleted: bool) -> Result<ResultSet, QueryError> {
    let q = parse(soql_text)?;
    let plan = compile(store, &q)?;
    Ok(execute(store, plan, include_deleted))
}

pub fn parse(soql_text: &str) -> Result<Query, QueryError> {
    soql::parse(soql_text).map_err(|e| err("MALFORMED_QUERY", e.salesforce_message(soql_text)))
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
