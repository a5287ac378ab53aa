//! The result table: exactly one row per input row, in input order.

use crate::client::{Error, Result};
use arrow_array::builder::{BooleanBuilder, Int64Builder, StringBuilder};
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub id: Option<String>,
    pub success: bool,
    pub created: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub error_fields: Option<String>,
}

/// A row that never left: the write stopped before it was sent.
pub const NOT_SENT: &str = "NOT_SENT";
/// A row that was sent but whose answer was lost: it may or may not have been applied.
pub const UNKNOWN_OUTCOME: &str = "UNKNOWN_OUTCOME";
/// A value that cannot be written (NaN, a date outside 1700-4000, ...): refused before sending.
pub const INVALID_INPUT: &str = "INVALID_INPUT";

impl Outcome {
    pub fn failed(code: &str, message: impl Into<String>) -> Outcome {
        Outcome {
            error_code: Some(code.into()),
            error_message: Some(message.into()),
            ..Outcome::default()
        }
    }

    pub fn not_sent(why: impl std::fmt::Display) -> Outcome {
        Outcome::failed(NOT_SENT, format!("not sent: {why}"))
    }

    pub fn unknown(why: impl std::fmt::Display) -> Outcome {
        Outcome::failed(
            UNKNOWN_OUTCOME,
            format!("{why}; it may or may not have been applied, and was not sent again"),
        )
    }
}

pub(crate) type RowOutcomes = Vec<(usize, Outcome)>;
/// What a call or job did with its rows, and the error that should stop the rest of the write.
pub(crate) type Sent = (RowOutcomes, Option<Error>);

/// Errors after which sending more rows cannot succeed: the session is gone, the allowance is
/// spent, or the request cannot be made at all.
pub(crate) fn stops_the_write(e: &Error) -> bool {
    matches!(
        e,
        Error::Authentication { .. } | Error::ApiLimit { .. } | Error::Configuration { .. }
    )
}

pub fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("row", DataType::Int64, false),
        Field::new("id", DataType::Utf8, true),
        Field::new("success", DataType::Boolean, false),
        Field::new("created", DataType::Boolean, false),
        Field::new("error_code", DataType::Utf8, true),
        Field::new("error_message", DataType::Utf8, true),
        Field::new("error_fields", DataType::Utf8, true),
    ]))
}

/// Builds the table; every slot must be filled: a missing outcome is a bug, never a dropped row.
pub fn table(outcomes: Vec<Option<Outcome>>) -> Result<RecordBatch> {
    let n = outcomes.len();
    let mut row = Int64Builder::with_capacity(n);
    let mut id = StringBuilder::new();
    let mut ok = BooleanBuilder::with_capacity(n);
    let mut created = BooleanBuilder::with_capacity(n);
    let mut code = StringBuilder::new();
    let mut msg = StringBuilder::new();
    let mut fields = StringBuilder::new();
    for (i, o) in outcomes.into_iter().enumerate() {
        let o =
            o.ok_or_else(|| Error::protocol(format!("no result came back for input row {i}")))?;
        row.append_value(i as i64);
        id.append_option(o.id);
        ok.append_value(o.success);
        created.append_value(o.created);
        code.append_option(o.error_code);
        msg.append_option(o.error_message);
        fields.append_option(o.error_fields);
    }
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(row.finish()),
            Arc::new(id.finish()),
            Arc::new(ok.finish()),
            Arc::new(created.finish()),
            Arc::new(code.finish()),
            Arc::new(msg.finish()),
            Arc::new(fields.finish()),
        ],
    )
    .map_err(|e| Error::protocol(e.to_string()))
}
