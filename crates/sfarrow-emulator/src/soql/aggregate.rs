//! GROUP BY and aggregate functions (COUNT, COUNT_DISTINCT, SUM, AVG, MIN, MAX): the computed
//! records an aggregate query returns instead of rows, and their ORDER BY.

use crate::data::store::Store;
use crate::data::value::Value;
use crate::soql::filter::{compare, order_values};
use crate::soql::plan::{resolve, Aggregate, OrderKey, Plan};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// Aggregate results sort by a grouped field or an aggregate alias named in ORDER BY.
pub(crate) fn sort_aggregates(plan: &Plan, rows: &mut [Vec<(String, Value)>]) {
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

pub(crate) fn aggregate(store: &Store, plan: &Plan, rows: &[u32]) -> Vec<Vec<(String, Value)>> {
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
