//! Request routing: OAuth endpoints, the unauthenticated version list, and every versioned API
//! route behind the session check, daily allowance and `Sforce-Limit-Info` header.

use crate::http::{Req, Resp};
use crate::{oauth, rest, OrgState, MAX_VERSION, MIN_VERSION};

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
        ["services", "data"] => rest::versions(req),
        ["services", "data", version, rest @ ..] => api(state, req, version, rest),
        _ => Resp::not_found(),
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
        return Resp::not_found();
    };
    let user = {
        let auth = state.auth.lock();
        oauth::bearer(req).and_then(|t| auth.session(&t).map(|s| s.user_id.clone()))
    };
    if user.is_none() {
        return oauth::invalid_session();
    }
    let (allowed, _) = {
        let mut c = state.control.lock();
        (c.charge_api_call(), ())
    };
    let resp = if allowed {
        rest::dispatch(state, req, &version, rest)
    } else {
        Resp::error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
    };
    let info = state.control.lock().limit_info();
    resp.with_header("sforce-limit-info", info)
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
