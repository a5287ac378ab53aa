//! Request routing: OAuth endpoints, the unauthenticated version list, and every versioned API
//! route behind the session check, daily allowance and `Sforce-Limit-Info` header.

pub mod answer;
pub mod bulk;
pub mod collections;
pub mod composite;
pub mod oauth;
pub mod pubsub;
pub mod rest;
pub mod soap;
pub mod state;
pub mod usage;

use crate::api::answer::{Answer, Caller};
use crate::api::state::{OrgState, MAX_VERSION, MIN_VERSION};
use crate::http::{ApiError, Req, Resp};

pub fn route(state: &OrgState, req: &Req) -> Resp {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["services", "oauth2", "token"] => oauth::token(state, req),
        ["services", "oauth2", "authorize"] => oauth::authorize(state, req),
        ["services", "oauth2", "revoke"] => oauth::revoke(state, req),
        ["services", "oauth2", "introspect"] => oauth::introspect(state, req),
        ["services", "oauth2", "userinfo"] => oauth::userinfo(state, req),
        ["id", org, user] => oauth::identity(state, req, org, user),
        ["setup", "connect"] => oauth::device_approve(state, req),
        ["services", "Soap", "u", version, ..] => soap::handle(state, req, version),
        ["services", "data"] => rest::versions(req).unwrap_or_else(Resp::from),
        ["services", "data", version, rest @ ..] => api(state, req, version, rest),
        _ => ApiError::not_found().into(),
    }
}

/// `v58.0` -> `58.0`, if the org serves that version.
pub fn parse_version(segment: &str) -> Option<String> {
    let v = segment.strip_prefix('v')?;
    let (major, minor) = v.split_once('.')?;
    let major: u32 = major.parse().ok()?;
    if minor != "0" || !(MIN_VERSION..=MAX_VERSION).contains(&major) {
        return None;
    }
    Some(format!("{major}.0"))
}

fn api(state: &OrgState, req: &Req, version: &str, rest: &[&str]) -> Resp {
    let Some(version) = parse_version(version) else {
        return ApiError::not_found().into();
    };
    let caller = {
        let auth = state.auth.lock();
        oauth::bearer(req).and_then(|t| {
            auth.session(&t).map(|s| Caller {
                user_id: s.user_id.clone(),
                org_id: auth.org_id.clone(),
            })
        })
    };
    let Some(caller) = caller else {
        return ApiError::new(401, "INVALID_SESSION_ID", "Session expired or invalid").into();
    };
    let allowed = state.usage.lock().charge_api_call();
    let resp = if allowed {
        let resp = dispatch(state, req, &caller, &version, rest);
        let api = if rest.first() == Some(&"jobs") {
            "bulkapi"
        } else {
            "rest"
        };
        let change_origin = change_origin(req, api, &version);
        let origin = pubsub::cdc::Origin {
            change_origin: &change_origin,
            user: &caller.user_id,
        };
        pubsub::cdc::commit(state, &origin);
        resp
    } else {
        ApiError::new(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
        .into()
    };
    let info = state.usage.lock().limit_info();
    resp.with_header("sforce-limit-info", info)
}

/// `com/salesforce/api/rest/62.0;client=etl`: the API, its version and the client named in
/// `Sforce-Call-Options` (docs/wire-notes.md §10.7).
pub fn change_origin(req: &Req, api: &str, version: &str) -> String {
    let client = req.headers.get("sforce-call-options").and_then(|o| {
        o.split(',')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| k.trim() == "client")
            .map(|(_, v)| v.trim().to_string())
    });
    match client {
        Some(c) => format!("com/salesforce/api/{api}/{version};client={c}"),
        None => format!("com/salesforce/api/{api}/{version}"),
    }
}

/// A versioned API route, for a caller already authenticated and counted. The one place a
/// handler's error becomes a response.
pub fn dispatch(
    state: &OrgState,
    req: &Req,
    caller: &Caller,
    version: &str,
    rest: &[&str],
) -> Resp {
    handle(state, req, caller, version, rest).unwrap_or_else(Resp::from)
}

fn handle(state: &OrgState, req: &Req, caller: &Caller, version: &str, rest: &[&str]) -> Answer {
    let m = req.method.as_str();
    match rest {
        [] => rest::resources(req, caller, version),
        ["limits"] => rest::limits(state, version),
        ["sobjects"] => rest::describe::global(state, version),
        ["sobjects", object, "describe"] => rest::describe::object(state, req, version, object),
        ["sobjects", object] => rest::records::collection_root(state, req, version, object),
        ["sobjects", object, id] => rest::records::by_id(state, req, version, object, id),
        ["sobjects", object, field, value] => {
            rest::records::by_external_id(state, req, version, object, field, value)
        }
        [q @ ("query" | "queryAll")] => rest::query::start(state, req, version, *q == "queryAll"),
        [q @ ("query" | "queryAll"), locator] => {
            rest::query::next_page(state, req, version, *q == "queryAll", locator)
        }
        ["tooling", "query"] => rest::tooling::query(state, req, version),
        ["composite"] => composite::composite(state, req, caller),
        ["composite", "batch"] => composite::batch(state, req, caller),
        ["composite", "sobjects", tail @ ..] => collections::route(state, req, version, tail),
        ["jobs", "query", tail @ ..] => bulk::query::route(state, req, caller, version, tail),
        ["jobs", "ingest", tail @ ..] => bulk::ingest::route(state, req, caller, version, tail),
        _ if m == "GET" || m == "POST" || m == "PATCH" || m == "DELETE" || m == "PUT" => {
            Err(ApiError::not_found())
        }
        _ => Err(ApiError::method_not_allowed(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions() {
        assert_eq!(parse_version("v58.0").as_deref(), Some("58.0"));
        assert_eq!(parse_version("v999.0"), None);
        assert_eq!(parse_version("58.0"), None);
        assert_eq!(parse_version("v19.0"), None);
    }
}
