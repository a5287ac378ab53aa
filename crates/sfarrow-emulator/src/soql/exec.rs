//! Running a `Plan`: the rows that pass its filter, sorted, paged (OFFSET, LIMIT), with each
//! subquery's child rows per parent; aggregate plans hand their rows to `aggregate`.

use crate::data::store::{Store, Table};
use crate::data::value::Value;
use crate::soql::aggregate::{aggregate, sort_aggregates};
use crate::soql::filter::{matches, order_values};
use crate::soql::plan::{resolve, OrderKey, Plan, ResultSet};
use std::cmp::Ordering;
use std::collections::HashMap;

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
