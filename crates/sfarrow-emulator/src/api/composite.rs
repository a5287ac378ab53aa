//! `/composite` and `/composite/batch`: several REST requests in one call (one API call in all).
//!
//! Composite subrequests run in order, may use earlier results through references
//! (`@{NewAccount.id}`, `@{Found.records[0].Id}`) in their URL and body, and with `allOrNone`
//! are one transaction: at the first failure every write of the request is undone and the
//! other subrequests report `PROCESSING_HALTED`. Without it, a subrequest that refers to a
//! failed one is not run. Batch subrequests are independent; `haltOnError` stops at the first
//! failure (the rest answer 412 `BATCH_PROCESSING_HALTED`).

use crate::api::answer::Caller;
use crate::api::state::OrgState;
use crate::http::{ApiError, Req, Resp};
use serde_json::{json, Map, Value as Json};

const MAX_SUBREQUESTS: usize = 25;
const METHODS: [&str; 5] = ["GET", "POST", "PATCH", "PUT", "DELETE"];

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("JSON_PARSER_ERROR", message)
}

/// What one subrequest answered: status, parsed body (null when empty), headers to report.
struct Answer {
    status: u16,
    body: Json,
    headers: Map<String, Json>,
}

/// Runs one subrequest through the same routes as a top-level call (already authenticated and
/// counted as one API call with its parent).
fn run(
    state: &OrgState,
    caller: &Caller,
    parent: &Req,
    method: &str,
    url: &str,
    body: Option<&Json>,
) -> Answer {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (version, rest) = match segs.as_slice() {
        ["services", "data", v, rest @ ..] => (*v, rest),
        _ => return refused(404, "NOT_FOUND", "The requested resource does not exist"),
    };
    let Some(version) = crate::api::parse_version(version) else {
        return refused(404, "NOT_FOUND", "The requested resource does not exist");
    };
    if matches!(rest.first(), Some(&"composite") | Some(&"jobs")) {
        return refused(
            400,
            "INVALID_API_INPUT",
            "This resource cannot be called from a composite request",
        );
    }
    let mut headers = parent.headers.clone();
    headers.remove("content-length");
    headers.remove("accept-encoding");
    let req = Req {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: body.map(|b| b.to_string().into()).unwrap_or_default(),
        base: parent.base.clone(),
    };
    let resp = crate::api::dispatch(state, &req, caller, &version, rest);
    let body = if resp.body.is_empty() {
        Json::Null
    } else {
        serde_json::from_slice(&resp.body)
            .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&resp.body).into_owned()))
    };
    let mut out = Map::new();
    if resp.status == 201 && rest.len() == 2 && rest[0] == "sobjects" {
        if let Some(id) = body.get("id").and_then(Json::as_str) {
            out.insert("Location".into(), json!(format!("{path}/{id}")));
        }
    }
    Answer {
        status: resp.status,
        body,
        headers: out,
    }
}

fn refused(status: u16, code: &str, message: &str) -> Answer {
    Answer {
        status,
        body: json!([{"errorCode": code, "message": message}]),
        headers: Map::new(),
    }
}

/// Follows `a.b[0].c` into a JSON value.
fn lookup<'a>(root: &'a Json, path: &str) -> Option<&'a Json> {
    let mut at = root;
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            at = at.get(name)?;
        }
        while let Some(r) = rest.strip_prefix('[') {
            let (index, tail) = r.split_once(']')?;
            at = at.get(index.parse::<usize>().ok()?)?;
            rest = tail;
        }
    }
    Some(at)
}

/// Why a reference could not be resolved: the reference id it names.
struct Unresolved(String);

/// Replaces every `@{ref.path}` in `text`; a text that is one reference alone takes the value
/// itself (a number stays a number).
fn resolve_text(text: &str, done: &Map<String, Json>) -> Result<Json, Unresolved> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + end];
        let (id, path) = inner.split_once('.').unwrap_or((inner, ""));
        let value = done
            .get(id)
            .and_then(|body| {
                if path.is_empty() {
                    Some(body)
                } else {
                    lookup(body, path)
                }
            })
            .ok_or_else(|| Unresolved(id.to_string()))?;
        if start == 0 && end + 1 == rest.len() && out.is_empty() {
            return Ok(value.clone());
        }
        out.push_str(&rest[..start]);
        match value {
            Json::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(Json::String(out))
}

fn resolve(value: &Json, done: &Map<String, Json>) -> Result<Json, Unresolved> {
    Ok(match value {
        Json::String(s) if s.contains("@{") => resolve_text(s, done)?,
        Json::Array(a) => Json::Array(
            a.iter()
                .map(|v| resolve(v, done))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, done)?)))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

struct Sub {
    method: String,
    url: String,
    reference: String,
    body: Option<Json>,
}

fn parse_composite(req: &Req) -> Result<(bool, Vec<Sub>), ApiError> {
    let body: Json = serde_json::from_slice(&req.body)
        .map_err(|e| bad_request(format!("The request body is not JSON: {e}")))?;
    let all_or_none = body
        .get("allOrNone")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let list = body
        .get("compositeRequest")
        .and_then(Json::as_array)
        .ok_or_else(|| bad_request("The request body must have a compositeRequest array"))?;
    if list.is_empty() || list.len() > MAX_SUBREQUESTS {
        return Err(ApiError::bad_request(
            "INVALID_API_INPUT",
            format!("A composite request takes 1 to {MAX_SUBREQUESTS} subrequests"),
        ));
    }
    let mut subs: Vec<Sub> = Vec::with_capacity(list.len());
    for s in list {
        let text = |k: &str| s.get(k).and_then(Json::as_str).map(String::from);
        let (Some(method), Some(url), Some(reference)) =
            (text("method"), text("url"), text("referenceId"))
        else {
            return Err(bad_request(
                "Each subrequest needs method, url and referenceId",
            ));
        };
        if !METHODS.contains(&method.as_str()) {
            return Err(bad_request(format!("Invalid method: {method}")));
        }
        let valid_reference = !reference.is_empty()
            && reference
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_reference || subs.iter().any(|p| p.reference == reference) {
            return Err(bad_request(format!(
                "Invalid or duplicate referenceId: {reference}"
            )));
        }
        if let Some(h) = s.get("httpHeaders").and_then(Json::as_object) {
            let inherited = ["accept", "authorization", "content-type"];
            if h.keys()
                .any(|k| inherited.contains(&k.to_ascii_lowercase().as_str()))
            {
                return Err(bad_request(
                    "A subrequest cannot set Accept, Authorization or Content-Type",
                ));
            }
        }
        subs.push(Sub {
            method,
            url,
            reference,
            body: s.get("body").cloned(),
        });
    }
    Ok((all_or_none, subs))
}

fn result(reference: &str, a: Answer) -> Json {
    json!({"body": a.body, "httpHeaders": a.headers, "httpStatusCode": a.status, "referenceId": reference})
}

pub fn composite(state: &OrgState, req: &Req, caller: &Caller) -> Result<Resp, ApiError> {
    if req.method != "POST" {
        return Err(ApiError::method_not_allowed(&req.method));
    }
    let (all_or_none, subs) = parse_composite(req)?;
    if all_or_none {
        state.store.write().begin_journal();
    }
    let mut done = Map::new();
    let mut answers: Vec<Answer> = Vec::with_capacity(subs.len());
    let mut failed_at = None;
    for (i, sub) in subs.iter().enumerate() {
        let url = resolve_text(&sub.url, &done);
        let body = sub.body.as_ref().map(|b| resolve(b, &done)).transpose();
        let answer = match (url, body) {
            (Ok(Json::String(url)), Ok(body)) => {
                run(state, caller, req, &sub.method, &url, body.as_ref())
            }
            (Err(Unresolved(id)), _) | (_, Err(Unresolved(id))) => refused(
                400,
                "PROCESSING_HALTED",
                &format!("Invalid reference specified: {id} has no value to refer to (it failed, or comes later)"),
            ),
            (Ok(_), _) => refused(400, "PROCESSING_HALTED", "The url must be text"),
        };
        if answer.status < 300 {
            done.insert(sub.reference.clone(), answer.body.clone());
        }
        let failed = answer.status >= 400;
        answers.push(answer);
        if failed && all_or_none {
            failed_at = Some(i);
            break;
        }
    }
    if all_or_none {
        let mut store = state.store.write();
        let log = store.end_journal();
        if failed_at.is_some() {
            store.undo(log);
        }
    }
    let halted = || {
        refused(
            400,
            "PROCESSING_HALTED",
            "The transaction was rolled back since another operation in the same transaction failed.",
        )
    };
    let mut answers = answers.into_iter();
    let results: Vec<Json> = subs
        .iter()
        .enumerate()
        .map(|(i, sub)| {
            let own = answers.next();
            let a = match (failed_at, own) {
                (Some(f), Some(a)) if i == f => a,
                (None, Some(a)) => a,
                _ => halted(),
            };
            result(&sub.reference, a)
        })
        .collect();
    Ok(Resp::json(200, &json!({"compositeResponse": results})))
}

pub fn batch(state: &OrgState, req: &Req, caller: &Caller) -> Result<Resp, ApiError> {
    if req.method != "POST" {
        return Err(ApiError::method_not_allowed(&req.method));
    }
    let body: Json = serde_json::from_slice(&req.body)
        .map_err(|e| bad_request(format!("The request body is not JSON: {e}")))?;
    let halt = body
        .get("haltOnError")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let list = body
        .get("batchRequests")
        .and_then(Json::as_array)
        .ok_or_else(|| bad_request("The request body must have a batchRequests array"))?;
    if list.is_empty() || list.len() > MAX_SUBREQUESTS {
        return Err(ApiError::bad_request(
            "INVALID_API_INPUT",
            format!("A batch takes 1 to {MAX_SUBREQUESTS} subrequests"),
        ));
    }
    let mut subs = Vec::with_capacity(list.len());
    for s in list {
        let method = s.get("method").and_then(Json::as_str).unwrap_or("");
        let url = s
            .get("url")
            .and_then(Json::as_str)
            .ok_or_else(|| bad_request("Each batch subrequest needs a url"))?;
        if !METHODS.contains(&method) {
            return Err(bad_request(format!("Invalid method: {method}")));
        }
        // Batch URLs start at the version (`v58.0/sobjects/...`), relative to /services/data/.
        let full = if url.starts_with("/services/data/") {
            url.to_string()
        } else {
            format!("/services/data/{}", url.trim_start_matches('/'))
        };
        let input = s.get("richInput").cloned();
        subs.push((method.to_string(), full, input));
    }
    let mut has_errors = false;
    let mut halted = false;
    let mut results = Vec::with_capacity(subs.len());
    for (method, url, input) in &subs {
        if halted {
            results.push(json!({"statusCode": 412, "result": [{"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}]}));
            continue;
        }
        let a = run(state, caller, req, method, url, input.as_ref());
        if a.status >= 400 {
            has_errors = true;
            halted = halt;
        }
        results.push(json!({"statusCode": a.status, "result": a.body}));
    }
    Ok(Resp::json(
        200,
        &json!({"hasErrors": has_errors, "results": results}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_into_text_and_values() {
        let mut done = Map::new();
        done.insert("NewAccount".into(), json!({"id": "001x", "n": 5}));
        done.insert("Found".into(), json!({"records": [{"Id": "003y"}]}));
        assert_eq!(
            resolve_text("/sobjects/Account/@{NewAccount.id}", &done).ok(),
            Some(json!("/sobjects/Account/001x"))
        );
        assert_eq!(resolve_text("@{NewAccount.n}", &done).ok(), Some(json!(5)));
        assert_eq!(
            resolve_text("@{Found.records[0].Id}", &done).ok(),
            Some(json!("003y"))
        );
        assert!(resolve_text("@{Missing.id}", &done).is_err());
        assert_eq!(
            resolve(&json!({"AccountId": "@{NewAccount.id}", "x": [1]}), &done).ok(),
            Some(json!({"AccountId": "001x", "x": [1]}))
        );
    }
}
