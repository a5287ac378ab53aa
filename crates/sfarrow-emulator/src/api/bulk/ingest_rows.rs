//! Processing an ingest job's upload (§6.6, §6.7): the CSV parsed, each row written with the
//! same DML rules as REST, and the `sf__` result rows. Apart from the job endpoints because it
//! knows nothing of jobs: it takes the upload and answers outcomes.

use crate::data::dml::{self, apply_target, resolve_column, Target};
use crate::data::store::Store;
use crate::data::value::{DmlError, Raw};
use crate::soql::render::{write_csv_quoted, CsvDialect};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Insert,
    Update,
    Upsert,
    Delete,
    HardDelete,
}

impl Operation {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "insert" => Operation::Insert,
            "update" => Operation::Update,
            "upsert" => Operation::Upsert,
            "delete" => Operation::Delete,
            "hardDelete" => Operation::HardDelete,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Upsert => "upsert",
            Operation::Delete => "delete",
            Operation::HardDelete => "hardDelete",
        }
    }
}

pub struct Outcomes {
    pub header: Vec<String>,
    pub successful: Vec<(String, bool, Vec<String>)>,
    pub failed: Vec<(String, String, Vec<String>)>,
    pub unprocessed: Vec<Vec<String>>,
}

/// What processing needs of a job: its object, operation and uploaded CSV.
pub struct Batch<'a> {
    pub object: &'a str,
    pub operation: Operation,
    pub external_id: Option<&'a str>,
    pub data: &'a [u8],
    pub dialect: CsvDialect,
}

pub fn parse_csv(
    data: &[u8],
    dialect: CsvDialect,
) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(data);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("InvalidBatch : {e}"))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut rows = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| format!("InvalidBatch : Failed to parse CSV: {e}"))?;
        rows.push(rec.iter().map(String::from).collect());
    }
    Ok((header, rows))
}

/// `STATUS_CODE:message:Field1,Field2 --`, the `sf__Error` form.
fn sf_error(e: &DmlError) -> String {
    format!("{}:{}:{} --", e.code, e.message, e.fields.join(","))
}

pub fn process(store: &mut Store, job: &Batch) -> Result<Outcomes, String> {
    let (header, rows) = parse_csv(job.data, job.dialect)?;
    let table = store
        .table_index(job.object)
        .ok_or_else(|| format!("InvalidBatch : Unknown object {}", job.object))?;
    let id_col = header.iter().position(|h| h.eq_ignore_ascii_case("Id"));
    let mut targets = Vec::with_capacity(header.len());
    for h in &header {
        if h.eq_ignore_ascii_case("Id") {
            targets.push(None);
            continue;
        }
        if matches!(job.operation, Operation::Delete | Operation::HardDelete) {
            return Err(format!(
                "InvalidBatch : The {} operation takes only an Id column; found: {h}",
                job.operation.name()
            ));
        }
        let t = resolve_column(store, table, h)
            .map_err(|_| format!("InvalidBatch : Field name not found : {h}"))?;
        targets.push(Some(t));
    }
    if job.operation != Operation::Insert && job.operation != Operation::Upsert && id_col.is_none()
    {
        return Err("InvalidBatch : Field name not found : Id".into());
    }
    let key = match (job.operation, job.external_id) {
        (Operation::Upsert, Some(ext)) => {
            let def = &store.tables[table].def;
            let k = def
                .field_index(ext)
                .filter(|&k| def.fields[k].external_id || def.fields[k].name == "Id")
                .ok_or_else(|| format!("InvalidBatch : Field name provided, {ext} does not match an External ID, Salesforce Id, or indexed field for {}", def.name))?;
            let col = header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(ext))
                .ok_or_else(|| {
                    format!("InvalidBatch : The External ID field {ext} is not in the header")
                })?;
            Some((k, col))
        }
        _ => None,
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    if let Some((_, col)) = key {
        for r in &rows {
            if let Some(v) = r.get(col).filter(|v| !v.is_empty()) {
                *counts.entry(v.to_lowercase()).or_default() += 1;
            }
        }
    }
    let mut out = Outcomes {
        header: header.clone(),
        successful: Vec::new(),
        failed: Vec::new(),
        unprocessed: Vec::new(),
    };
    for (n, row) in rows.into_iter().enumerate() {
        // Salesforce runs an ingest job's rows in transactions of 200 (docs/wire-notes.md §10.7).
        if n > 0 && n % 200 == 0 {
            store.changes.end_transaction();
        }
        let result = process_row(
            store, job, table, &header, &targets, id_col, key, &counts, &row,
        );
        match result {
            Ok((id, created)) => out.successful.push((id, created, row)),
            Err((id, e)) => out.failed.push((id.unwrap_or_default(), sf_error(&e), row)),
        }
    }
    Ok(out)
}

type RowResult = Result<(String, bool), (Option<String>, DmlError)>;

#[allow(clippy::too_many_arguments)]
fn process_row(
    store: &mut Store,
    job: &Batch,
    table: usize,
    header: &[String],
    targets: &[Option<Target>],
    id_col: Option<usize>,
    key: Option<(usize, usize)>,
    counts: &HashMap<String, usize>,
    row: &[String],
) -> RowResult {
    if row.len() != header.len() {
        return Err((
            None,
            DmlError::new(
                "INVALID_FIELD",
                format!(
                    "The row has {} columns; the header has {}",
                    row.len(),
                    header.len()
                ),
                &[],
            ),
        ));
    }
    let given_id = id_col.map(|c| row[c].clone()).filter(|s| !s.is_empty());
    let fail = |e: DmlError| (given_id.clone(), e);
    let mut values = Vec::new();
    if !matches!(job.operation, Operation::Delete | Operation::HardDelete) {
        for (cell, target) in row.iter().zip(targets) {
            if let Some(t) = target {
                if let Some(v) = apply_target(store, table, *t, Raw::Csv(cell)).map_err(fail)? {
                    values.push(v);
                }
            }
        }
    }
    let need_id = || -> Result<u32, (Option<String>, DmlError)> {
        let id = given_id.clone().ok_or_else(|| {
            fail(DmlError::new(
                "MISSING_ARGUMENT",
                "Id not specified in an update call",
                &[],
            ))
        })?;
        store.resolve_id(table, &id).map_err(fail)
    };
    match job.operation {
        Operation::Insert => {
            if given_id.is_some() {
                return Err(fail(DmlError::new("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: Id. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", &["Id"])));
            }
            store
                .insert(table, values)
                .map(|(id, _)| (id, true))
                .map_err(fail)
        }
        Operation::Update => {
            let r = need_id()?;
            store.update(table, r, values).map_err(fail)?;
            Ok((store.tables[table].rows[r as usize].id().to_string(), false))
        }
        Operation::Upsert => {
            let (k, col) =
                key.ok_or_else(|| fail(DmlError::new("INVALID_FIELD", "no external id", &[])))?;
            let kv = row[col].clone();
            if counts.get(&kv.to_lowercase()).is_some_and(|n| *n > 1) {
                return Err(fail(DmlError::new(
                    "DUPLICATE_EXTERNAL_ID",
                    format!("Duplicate external id specified: {kv}"),
                    &[],
                )));
            }
            dml::upsert(store, table, k, &kv, values)
                .map(|u| (u.id, u.created))
                .map_err(fail)
        }
        Operation::Delete => {
            let r = need_id()?;
            store.delete(table, r).map_err(fail)?;
            Ok((store.tables[table].rows[r as usize].id().to_string(), false))
        }
        Operation::HardDelete => {
            let r = need_id()?;
            let id = store.tables[table].rows[r as usize].id().to_string();
            store.purge(table, r).map_err(fail)?;
            Ok((id, false))
        }
    }
}

pub fn csv_row(out: &mut String, dialect: CsvDialect, first: &[String], rest: &[String]) {
    for (i, v) in first.iter().chain(rest).enumerate() {
        if i > 0 {
            out.push(dialect.delimiter as char);
        }
        // The sf__ columns are always quoted; uploaded values only when they must be.
        let must_quote = v.contains([',', '"', '\n', '\r', dialect.delimiter as char]);
        if i < first.len() || must_quote {
            write_csv_quoted(out, v);
        } else {
            out.push_str(v);
        }
    }
    out.push_str(if dialect.crlf { "\r\n" } else { "\n" });
}
