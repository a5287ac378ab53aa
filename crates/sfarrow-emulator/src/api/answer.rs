//! What the versioned handlers take and give: the `Caller` found once per request, and
//! `Answer`, a response or an `ApiError`, with the conversions from the query engine's and the
//! data rules' errors that let a handler use `?` on them.

use crate::data::value::DmlError;
use crate::http::{ApiError, Resp};
use crate::soql::QueryError;

/// Who is calling a versioned route: the session behind the bearer token, looked up once per
/// request before anything is dispatched, for the handlers that record or report the user.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub org_id: String,
}

/// What every versioned handler answers: a response, or an error the router writes as
/// Salesforce's error array.
pub type Answer = Result<Resp, ApiError>;

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::bad_request(e.code, e.message)
    }
}

/// A write rejected by the data rules: 400 with the fields named, or 404 for a record that is
/// already deleted (§4.1).
impl From<DmlError> for ApiError {
    fn from(e: DmlError) -> Self {
        let status = if e.code == "ENTITY_IS_DELETED" {
            404
        } else {
            400
        };
        ApiError::new(status, e.code, e.message).with_fields(e.fields)
    }
}
