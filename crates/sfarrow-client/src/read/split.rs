//! Wide objects on REST. A GET URI and its headers are capped at 16,384 bytes (§2.1), so a
//! select list too long for one query runs as several: each selects `Id` and a share of the
//! fields with the same filter and the same order (with `Id` last as the tie-break, so every
//! part returns rows in one sequence), and the parts are joined back by `Id` in lockstep.

use super::out::{Batches, Out};
use super::plan::ReadPlan;
use crate::client::{Error, Result};
use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::SchemaRef;
use sfarrow_soql::soql::{self, FieldPath, OrderItem, Query, SelectItem};

/// The cap on URI plus headers.
pub const URI_LIMIT: usize = 16_384;
/// Room kept for headers (Authorization and the rest) inside the cap, as Airbyte keeps.
const HEADER_ROOM: usize = 2_000;

/// The URI of a REST query: `/services/data/vXX.X/query?q=...`.
pub fn query_uri_len(version: &str, include_deleted: bool, soql: &str) -> usize {
    let route = if include_deleted { "queryAll" } else { "query" };
    format!("/services/data/v{version}/{route}?q=").len() + sfarrow_soql::urlenc::encode(soql).len()
}

pub fn fits(version: &str, include_deleted: bool, soql: &str) -> bool {
    query_uri_len(version, include_deleted, soql) + HEADER_ROOM <= URI_LIMIT
}

fn is_id(item: &SelectItem, alias: Option<&str>) -> bool {
    match item {
        SelectItem::Field(FieldPath(p)) => match p.as_slice() {
            [f] => f.eq_ignore_ascii_case("Id"),
            [a, f] => {
                alias.is_some_and(|al| al.eq_ignore_ascii_case(a)) && f.eq_ignore_ascii_case("Id")
            }
            _ => false,
        },
        _ => false,
    }
}

/// The SOQL of each part, or a configuration error when the query cannot be split.
pub fn split_soql(version: &str, include_deleted: bool, soql_text: &str) -> Result<Vec<String>> {
    let too_long = |why: &str| {
        Error::config(format!(
            "this query needs a {}-byte URL, beyond Salesforce's {URI_LIMIT}-byte limit for REST, \
             and {why}; select fewer fields or use api=\"bulk\"",
            query_uri_len(version, include_deleted, soql_text)
        ))
    };
    let q: Query = soql::parse(soql_text).map_err(|e| Error::config(e.to_string()))?;
    if q.has_aggregates() || q.is_count_only() || !q.group_by.is_empty() {
        return Err(too_long("an aggregate query cannot be split by field"));
    }
    let mut base = q.clone();
    base.select = vec![SelectItem::Field(FieldPath(vec!["Id".into()]))];
    let id_ordered = base.order_by.iter().any(|o| {
        o.field
            .0
            .last()
            .is_some_and(|f| f.eq_ignore_ascii_case("Id"))
    });
    if !id_ordered {
        base.order_by.push(OrderItem {
            field: FieldPath(vec!["Id".into()]),
            descending: false,
            nulls_first: None,
        });
    }
    let alias = q.alias.as_deref();
    let mut parts: Vec<Query> = Vec::new();
    let mut current = base.clone();
    for item in q.select.iter().filter(|i| !is_id(i, alias)) {
        current.select.push(item.clone());
        if !fits(version, include_deleted, &current.to_string()) {
            current.select.pop();
            if current.select.len() == 1 {
                return Err(too_long(&format!(
                    "the select item {item} alone does not fit"
                )));
            }
            parts.push(std::mem::replace(&mut current, base.clone()));
            current.select.push(item.clone());
            if !fits(version, include_deleted, &current.to_string()) {
                return Err(too_long(&format!(
                    "the select item {item} alone does not fit"
                )));
            }
        }
    }
    if current.select.len() > 1 || parts.is_empty() {
        parts.push(current);
    }
    Ok(parts.iter().map(Query::to_string).collect())
}

/// Where each output column comes from: (part, column in that part), matched by name; `Id`
/// from the first part.
pub fn column_sources(out: &SchemaRef, parts: &[&ReadPlan]) -> Result<Vec<(usize, usize)>> {
    out.fields()
        .iter()
        .map(|f| {
            parts
                .iter()
                .enumerate()
                .find_map(|(p, plan)| plan.schema.index_of(f.name()).ok().map(|c| (p, c)))
                .ok_or_else(|| {
                    Error::protocol(format!(
                        "no part of the split query has the column {}",
                        f.name()
                    ))
                })
        })
        .collect()
}

struct Part {
    rx: Batches,
    batch: Option<RecordBatch>,
    offset: usize,
    done: bool,
}

impl Part {
    fn remaining(&self) -> usize {
        self.batch
            .as_ref()
            .map_or(0, |b| b.num_rows() - self.offset)
    }

    async fn fill(&mut self) -> Result<()> {
        while !self.done && self.remaining() == 0 {
            match self.rx.recv().await {
                Some(Ok(b)) => {
                    self.batch = Some(b);
                    self.offset = 0;
                }
                Some(Err(e)) => return Err(e),
                None => self.done = true,
            }
        }
        Ok(())
    }
}

fn changed(detail: String) -> Error {
    Error::transport(format!(
        "records changed while a wide query ran in parts ({detail}); run it again, or use api=\"bulk\""
    ))
}

/// Joins the parts' batches row by row, checking that every part is on the same `Id`.
pub(crate) async fn join(
    receivers: Vec<Batches>,
    schema: SchemaRef,
    sources: Vec<(usize, usize)>,
    tx: &Out,
) -> Result<()> {
    let mut parts: Vec<Part> = receivers
        .into_iter()
        .map(|rx| Part {
            rx,
            batch: None,
            offset: 0,
            done: false,
        })
        .collect();
    loop {
        for p in &mut parts {
            p.fill().await?;
        }
        let n = parts.iter().map(Part::remaining).min().unwrap_or(0);
        if n == 0 {
            if parts.iter().all(|p| p.remaining() == 0) {
                return Ok(());
            }
            return Err(changed("one part returned fewer rows than another".into()));
        }
        let slices: Vec<RecordBatch> = parts
            .iter_mut()
            .map(|p| {
                let b = p.batch.as_ref().map(|b| b.slice(p.offset, n));
                p.offset += n;
                b.ok_or_else(|| Error::protocol("a split part has no batch"))
            })
            .collect::<Result<_>>()?;
        let ids = |b: &RecordBatch| b.column(0).as_string_opt::<i32>().cloned();
        let first = ids(&slices[0]).ok_or_else(|| Error::protocol("the Id column is not text"))?;
        for s in &slices[1..] {
            let other = ids(s).ok_or_else(|| Error::protocol("the Id column is not text"))?;
            if let Some(i) = (0..n).find(|&i| first.value(i) != other.value(i) || first.is_null(i))
            {
                return Err(changed(format!(
                    "Id {} against {}",
                    first.value(i),
                    other.value(i)
                )));
            }
        }
        let columns = sources
            .iter()
            .map(|&(p, c)| slices[p].column(c).clone())
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| Error::protocol(format!("could not join the split query: {e}")))?;
        if !tx.emit(batch).await {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_queries_stay_whole() {
        let parts = split_soql(
            "58.0",
            false,
            "SELECT Id, Name FROM Account WHERE Name != null",
        )
        .unwrap();
        assert_eq!(
            parts,
            vec!["SELECT Id, Name FROM Account WHERE Name != null ORDER BY Id"]
        );
    }

    #[test]
    fn long_select_lists_split_with_id_and_the_same_filter() {
        let fields: Vec<String> = (0..900)
            .map(|i| format!("A_Rather_Long_Custom_Field_{i:04}__c"))
            .collect();
        let soql = format!(
            "SELECT Id, {} FROM Thing__c WHERE Name LIKE 'x%' ORDER BY Name DESC LIMIT 50",
            fields.join(", ")
        );
        assert!(!fits("58.0", false, &soql));
        let parts = split_soql("58.0", false, &soql).unwrap();
        assert!(parts.len() >= 3, "{}", parts.len());
        let mut seen = Vec::new();
        for p in &parts {
            assert!(fits("58.0", false, p));
            assert!(p.starts_with("SELECT Id, "), "{p}");
            assert!(
                p.ends_with("FROM Thing__c WHERE Name LIKE 'x%' ORDER BY Name DESC, Id LIMIT 50"),
                "{p}"
            );
            let q = soql::parse(p).unwrap();
            seen.extend(q.select[1..].iter().map(|s| s.to_string()));
        }
        assert_eq!(seen, fields, "every field once, in order");
    }

    #[test]
    fn aggregates_cannot_split() {
        let fields: Vec<String> = (0..900)
            .map(|i| format!("MAX(Long_Custom_Field_Number_{i:04}__c)"))
            .collect();
        let soql = format!("SELECT {} FROM Thing__c", fields.join(", "));
        let e = split_soql("58.0", false, &soql).unwrap_err().to_string();
        assert!(e.contains("aggregate") && e.contains("api=\"bulk\""), "{e}");
    }
}
