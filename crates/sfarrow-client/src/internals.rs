//! Entry points into the decoders for the fuzz targets in `fuzz/` and the micro-benchmarks in
//! `benches/` (the `internals` feature), tested here. The fuzz entry points take arbitrary
//! bytes and must return, never panic or hang, whatever the bytes are; the SOQL one also
//! checks that what parses renders back to the same tree.

use crate::client::recycle::Recycler;
use crate::read::csv_cells::{CellRoom, Cells};
use crate::read::json_scan::Scan;
use crate::read::plan::{Column, ReadPlan};
use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use std::sync::OnceLock;

/// Lexer and parser: whatever parses renders to SOQL that parses back to an equal tree.
pub fn soql(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = sfarrow_soql::soql::parse(text) {
        let again = sfarrow_soql::soql::parse(&q.to_string());
        assert_eq!(again.as_ref().ok(), Some(&q), "{text:?} rendered as {q}");
    }
    if let Ok(c) = sfarrow_soql::soql::parse_condition(text) {
        let again = sfarrow_soql::soql::parse_condition(&c.to_string());
        assert_eq!(again.as_ref().ok(), Some(&c), "{text:?} rendered as {c}");
    }
}

/// The Bulk CSV cell splitter: every cell of a page that splits can be read.
pub fn csv_cells(data: &[u8]) {
    if let Ok(cells) = Cells::parse(data, b',', CellRoom::default()) {
        let columns = cells.header().count();
        for row in 0..cells.rows() {
            for column in 0..columns {
                let _ = cells.get(row, column);
            }
        }
        cells.warm(0..cells.rows());
    }
}

/// The REST JSON scanner: any value, skipped to its end.
pub fn json_scan(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut scan = Scan::new(text);
    if scan.skip_value().is_ok() {
        let _ = scan.end();
    }
}

/// A plan over every kind of column a page holds: text, numbers, a decimal, a date, a
/// datetime, a time, a boolean and an address.
fn plan() -> &'static ReadPlan {
    static PLAN: OnceLock<ReadPlan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let scalar = |name: &str| Column::Scalar { key: name.into() };
        let address = Fields::from(vec![
            Field::new("street", DataType::Utf8, true),
            Field::new("latitude", DataType::Float64, true),
        ]);
        let schema = Schema::new(vec![
            Field::new("Id", DataType::Utf8, true),
            Field::new("Name", DataType::Utf8, true),
            Field::new("NumberOfEmployees", DataType::Int32, true),
            Field::new("AnnualRevenue", DataType::Decimal128(18, 2), true),
            Field::new("Share", DataType::Float64, true),
            Field::new("Since", DataType::Date32, true),
            Field::new(
                "SystemModstamp",
                DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
                true,
            ),
            Field::new("Opens", DataType::Time32(TimeUnit::Millisecond), true),
            Field::new("IsActive", DataType::Boolean, true),
            Field::new("BillingAddress", DataType::Struct(address), true),
        ]);
        let mut columns: Vec<Column> = [
            "Id",
            "Name",
            "NumberOfEmployees",
            "AnnualRevenue",
            "Share",
            "Since",
            "SystemModstamp",
            "Opens",
            "IsActive",
        ]
        .iter()
        .map(|n| scalar(n))
        .collect();
        columns.push(Column::Compound {
            key: "BillingAddress".into(),
            parts: vec![
                ("street".into(), "BillingStreet".into()),
                ("latitude".into(), "BillingLatitude".into()),
            ],
        });
        ReadPlan::fixed(columns, schema)
    })
}

/// A whole Bulk CSV page decoded to a batch.
pub fn bulk_page(data: &[u8]) {
    let room = Recycler::new(1);
    let _ = crate::read::decode::bulk_page(plan(), data, b',', &room);
}

/// A whole REST query page decoded to a batch.
pub fn rest_page(data: &[u8]) {
    let _ = crate::read::rest_json::decode_page(plan(), data);
}

/// For benchmarks: a Bulk CSV page decoded with a real read's plan.
pub fn decode_bulk_page(plan: &ReadPlan, page: &[u8]) -> crate::Result<arrow_array::RecordBatch> {
    crate::read::decode::bulk_page(plan, page, b',', &Recycler::new(1))
}

/// For benchmarks: a REST query page decoded with a real read's plan.
pub fn decode_rest_page(plan: &ReadPlan, page: &[u8]) -> crate::Result<arrow_array::RecordBatch> {
    crate::read::rest_json::decode_page(plan, page).map(|(b, _, _)| b)
}

/// For benchmarks: the cells of a Bulk CSV page, each read once; returns how many.
pub fn split_cells(page: &[u8]) -> crate::Result<usize> {
    let cells = Cells::parse(page, b',', CellRoom::default())?;
    let columns = cells.header().count();
    let mut bytes = 0;
    for row in 0..cells.rows() {
        for column in 0..columns {
            bytes += cells.get(row, column).len();
        }
    }
    Ok(bytes)
}

/// For benchmarks: a JSON page scanned to its end without decoding.
pub fn scan_json(page: &[u8]) -> crate::Result<()> {
    let text = std::str::from_utf8(page)
        .map_err(|_| crate::Error::protocol("a page that is not UTF-8"))?;
    let mut scan = Scan::new(text);
    scan.skip_value()?;
    scan.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_take_good_and_bad_pages() {
        let csv = b"Id,Name,NumberOfEmployees,AnnualRevenue,Share,Since,SystemModstamp,Opens,IsActive,BillingStreet,BillingLatitude\n\
001,\"A, \"\"x\"\"\",5,12.50,0.5,2024-01-31,2024-01-31T10:00:00.000Z,10:00:00.000Z,true,\"1 Main\nSt\",1.5\n";
        for cut in 0..csv.len() {
            csv_cells(&csv[..cut]);
            bulk_page(&csv[..cut]);
        }
        let json = br#"{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Account"},"Id":"001","Name":"A\u00e9","NumberOfEmployees":5,"AnnualRevenue":12.5,"Share":0.5,"Since":"2024-01-31","SystemModstamp":"2024-01-31T10:00:00.000+0000","Opens":"10:00:00.000Z","IsActive":true,"BillingAddress":{"street":"1 Main","latitude":1.5}}]}"#;
        for cut in 0..json.len() {
            json_scan(&json[..cut]);
            rest_page(&json[..cut]);
        }
        assert!(crate::read::rest_json::decode_page(plan(), json).is_ok());
        for text in [
            "SELECT Id FROM Account WHERE (A = 1 OR B = 2) AND NOT C = 3",
            "Name = 'x' OR (Id != null AND Amount > 1.5)",
            "SELECT",
            "((((",
        ] {
            soql(text.as_bytes());
        }
    }
}
