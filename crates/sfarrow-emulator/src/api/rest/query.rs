//! REST `/query` and `/queryAll` (§3): the first page, then `nextRecordsUrl` pages served from a
//! cursor table (at most 10 per user, expiring after an idle time) as Salesforce keeps them.
//! The offset is part of the URL, so fetching a page again (a client retry) is safe.
//! Serving a page starts rendering the next two, each on its own thread, as a server with the
//! results in hand answers a `nextRecordsUrl` at once: a client that follows pages one by one
//! waits neither for rendering nor for one emulator thread's pace.

use crate::api::answer::Answer;
use crate::api::rest::cursors::{Ahead, Cursor, Pending, FINISHED_KEPT, MAX_CURSORS, RENDER_AHEAD};
use crate::api::state::OrgState;
use crate::http::{ApiError, Req, Resp};
use crate::soql::render::RecordCtx;
use crate::soql::{self, ResultSet};
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

fn batch_size(req: &Req) -> usize {
    req.header("sforce-query-options")
        .and_then(|h| {
            h.split(',')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("batchSize"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        })
        .map(|n| n.clamp(200, 2000))
        .unwrap_or(2000)
}

fn render_page(
    state: &OrgState,
    rs: &ResultSet,
    version: &str,
    start: usize,
    batch: usize,
    next: Option<String>,
) -> String {
    let store = state.store.read();
    let end = (start + batch).min(rs.len());
    let mut out = String::with_capacity(128 + (end - start) * 1280);
    let _ = write!(
        out,
        "{{\"totalSize\":{},\"done\":{}",
        rs.total,
        next.is_none()
    );
    if let Some(n) = &next {
        let _ = write!(out, ",\"nextRecordsUrl\":\"{n}\"");
    }
    out.push_str(",\"records\":[");
    let ctx = RecordCtx {
        store: &store,
        rs,
        version,
    };
    for pos in start..end {
        if pos > start {
            out.push(',');
        }
        ctx.write_record(&mut out, pos);
    }
    out.push_str("]}");
    out
}

fn next_url(version: &str, all: bool, id: &str, end: usize, len: usize) -> Option<String> {
    let route = if all { "queryAll" } else { "query" };
    (end < len).then(|| format!("/services/data/v{version}/{route}/{id}-{end}"))
}

/// Starts rendering the page at `offset` on another thread, unless that is under way.
fn render_ahead(
    state: &OrgState,
    cursor: &mut Cursor,
    id: &str,
    offset: usize,
    req: &Req,
    version: &str,
    all: bool,
) {
    let (Some(state), Ok(rt)) = (state.this.upgrade(), tokio::runtime::Handle::try_current())
    else {
        return;
    };
    let gzip = req.wants_gzip();
    if offset >= cursor.rs.len()
        || cursor
            .ahead
            .iter()
            .any(|a| a.offset == offset && a.gzip == gzip)
    {
        return;
    }
    let page = Arc::new(Pending::default());
    cursor.ahead.push(Ahead {
        offset,
        gzip,
        page: page.clone(),
    });
    let (rs, batch, id, version) = (
        cursor.rs.clone(),
        cursor.batch,
        id.to_string(),
        version.to_string(),
    );
    rt.spawn_blocking(move || {
        let next = next_url(&version, all, &id, offset + batch, rs.len());
        let json = render_page(&state, &rs, &version, offset, batch, next);
        page.set(if gzip {
            crate::http::gzip(json.as_bytes())
        } else {
            json.into_bytes()
        });
    });
}

pub fn start(state: &OrgState, req: &Req, version: &str, all: bool) -> Answer {
    if req.method != "GET" {
        return Err(ApiError::method_not_allowed(&req.method));
    }
    let Some(soql) = req.param("q") else {
        if req.param("explain").is_some() {
            return Ok(Resp::json(200, &serde_json::json!({"plans": []})));
        }
        return Err(ApiError::bad_request(
            "MALFORMED_QUERY",
            "A query string has to be specified",
        ));
    };
    let rs = soql::run(&state.store.read(), &soql, all)?;
    let batch = batch_size(req);
    if rs.len() <= batch {
        return Ok(Resp::json_text(
            200,
            render_page(state, &rs, version, 0, batch, None),
        ));
    }
    let rs = Arc::new(rs);
    let locator = {
        let mut c = state.cursors.lock();
        c.sequence += 1;
        let locator = sfarrow_soql::ids::make("01g", "Dn0", c.sequence);
        c.open
            .retain(|_, cur| !cur.finished || cur.last_used.elapsed() < FINISHED_KEPT);
        if c.open.values().filter(|cur| !cur.finished).count() >= MAX_CURSORS {
            // Opening an 11th cursor releases the oldest, as on a real org.
            if let Some(oldest) = c
                .open
                .iter()
                .filter(|(_, cur)| !cur.finished)
                .min_by_key(|(_, v)| v.created)
                .map(|(k, _)| k.clone())
            {
                c.open.remove(&oldest);
            }
        }
        let created = c.sequence;
        let mut cursor = Cursor {
            rs: rs.clone(),
            batch,
            last_used: Instant::now(),
            created,
            ahead: Vec::new(),
            finished: false,
        };
        for k in 1..=RENDER_AHEAD {
            render_ahead(state, &mut cursor, &locator, k * batch, req, version, all);
        }
        c.open.insert(locator.clone(), cursor);
        locator
    };
    let next = next_url(version, all, &locator, batch, rs.len());
    Ok(Resp::json_text(
        200,
        render_page(state, &rs, version, 0, batch, next),
    ))
}

pub fn next_page(state: &OrgState, req: &Req, version: &str, all: bool, locator: &str) -> Answer {
    if req.method != "GET" {
        return Err(ApiError::method_not_allowed(&req.method));
    }
    let invalid = || ApiError::bad_request("INVALID_QUERY_LOCATOR", "invalid query locator");
    let (id, offset) = locator.rsplit_once('-').ok_or_else(invalid)?;
    let offset = offset.parse::<usize>().map_err(|_| invalid())?;
    let (rs, batch, ready) = {
        let mut c = state.cursors.lock();
        let idle = state.config.cursor_idle;
        c.open.retain(|_, cur| cur.last_used.elapsed() < idle);
        let cur = c.open.get_mut(id).ok_or_else(invalid)?;
        cur.last_used = Instant::now();
        if offset >= cur.rs.len() {
            return Err(invalid());
        }
        cur.finished |= offset + cur.batch >= cur.rs.len();
        let ready = cur
            .ahead
            .iter()
            .position(|a| a.offset == offset && a.gzip == req.wants_gzip())
            .map(|i| cur.ahead.swap_remove(i).page);
        // A page before this one is not asked for again (a retry renders its page anew).
        cur.ahead.retain(|a| a.offset > offset);
        for k in 1..=RENDER_AHEAD {
            render_ahead(state, cur, id, offset + k * cur.batch, req, version, all);
        }
        (cur.rs.clone(), cur.batch, ready)
    };
    if let Some(page) = ready {
        let body = page.wait();
        let mut resp = Resp::new(200, "application/json;charset=UTF-8", body);
        if req.wants_gzip() {
            resp.headers.push(("content-encoding", "gzip".into()));
        }
        return Ok(resp);
    }
    let next = next_url(version, all, id, offset + batch, rs.len());
    Ok(Resp::json_text(
        200,
        render_page(state, &rs, version, offset, batch, next),
    ))
}
