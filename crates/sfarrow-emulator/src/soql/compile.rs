//! From a parsed query to a `Plan`: names resolved against the org's schema (relationships,
//! aliases, `FIELDS()`), the REST JSON layout, literals typed by the field they compare with,
//! and semi-join subqueries run up front into a set of ids.

use crate::data::store::Store;
use crate::data::value::Value;
use crate::soql::dates::date_range;
use crate::soql::exec::execute;
use crate::soql::plan::{
    err, resolve, Aggregate, Filter, Node, OrderKey, Path, Plan, QueryError, SubPlan,
};
use sfarrow_soql::formats::days_from_civil;
use sfarrow_soql::soql::{self, CompareOp, Condition, FieldPath, Literal, Query, SelectItem};
use sfarrow_soql::types::FieldType as T;

fn no_such_column(name: &str, object: &str) -> QueryError {
    err(
        "INVALID_FIELD",
        format!(
            "No such column '{name}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    )
}

pub fn compile(store: &Store, q: &Query) -> Result<Plan, QueryError> {
    // Platform events are published, never stored: they cannot be queried.
    let queryable = |t: &usize| !store.tables[*t].def.is_event();
    let table = store.table_index(&q.from).filter(queryable).ok_or_else(|| {
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
                    (op, Literal::DateKeyword(date)) => {
                        let (start, end) = date_range(*date);
                        let (start, end) = match path.ftype {
                            T::Date => (start, end),
                            // Saturating: `N` may be as large as 2^32 - 1 years.
                            T::DateTime => (
                                start.saturating_mul(86_400_000),
                                end.saturating_mul(86_400_000),
                            ),
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

pub fn parse(soql_text: &str) -> Result<Query, QueryError> {
    soql::parse(soql_text).map_err(|e| err("MALFORMED_QUERY", e.salesforce_message(soql_text)))
}
