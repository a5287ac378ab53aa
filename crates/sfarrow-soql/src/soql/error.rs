//! Parse errors, worded and positioned the way Salesforce reports `MALFORMED_QUERY`.

/// What went wrong; both kinds surface from Salesforce as `MALFORMED_QUERY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoqlErrorKind {
    /// The text does not follow the SOQL grammar (lexer or parser).
    Malformed,
    /// A literal is well-formed but impossible: `2024-02-30`, a `LIMIT` beyond `u64`, ...
    InvalidLiteral,
}

impl SoqlErrorKind {
    /// The Salesforce `errorCode` a REST response carries for this kind.
    pub fn error_code(&self) -> &'static str {
        "MALFORMED_QUERY"
    }
}

/// A SOQL parse error. `row` and `column` are 1-based; `column` counts characters, not bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (row {row}, column {column})")]
pub struct SoqlError {
    pub message: String,
    pub row: usize,
    pub column: usize,
    pub kind: SoqlErrorKind,
}

impl SoqlError {
    pub(crate) fn malformed(message: impl Into<String>, row: usize, column: usize) -> Self {
        SoqlError {
            message: message.into(),
            row,
            column,
            kind: SoqlErrorKind::Malformed,
        }
    }

    pub(crate) fn invalid_literal(message: impl Into<String>, row: usize, column: usize) -> Self {
        SoqlError {
            message: message.into(),
            row,
            column,
            kind: SoqlErrorKind::InvalidLiteral,
        }
    }

    /// The message body Salesforce sends: the offending line, a caret under the column,
    /// the position, then the message.
    pub fn salesforce_message(&self, soql: &str) -> String {
        let line = soql
            .split('\n')
            .nth(self.row.saturating_sub(1))
            .unwrap_or("")
            .trim_end_matches('\r');
        format!(
            "\n{}\n{}^\nERROR at Row:{}:Column:{}\n{}",
            line,
            " ".repeat(self.column.saturating_sub(1)),
            self.row,
            self.column,
            self.message
        )
    }
}
