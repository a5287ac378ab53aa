//! REST `/query` and `/queryAll` (§3): the first page, then `nextRecordsUrl` pages served from a
//! cursor table (at most 10 per user, expiring after an idle time) as Salesforce keeps them.
//! The offset is part of the URL, so fetching a page again (a client retry) is safe.

use crate::http::{Req, Resp};
use crate::query::{self, ResultSet};
use crate::render::RecordCtx;
use crate::OrgState;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

const MAX_CURSORS: usize = 10;

struct Cursor {
    rs: Arc<ResultSet>,
    batch: usize,
    last_used: Instant,
    created: u64,
}

#[derive(Default)]
pub struct Cursors {
    open: HashMap<String, Cursor>,
    sequence: u64,
}

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
) -> Resp {
    let store = state.store.read();
    let end = (start + batch).min(rs.len());
    let mut out = String::with_capacity(128 + (end - start) * 512);
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
    Resp::json_text(200, out)
}

fn query_error(e: query::QueryError) -> Resp {
    Resp::error(400, e.code, &e.message)
}

pub fn start(state: &OrgState, req: &Req, version: &str, all: bool) -> Resp {
    if req.method != "GET" {
        return Resp::method_not_allowed(&req.method);
    }
    let Some(soql) = req.param("q") else {
        if req.param("explain").is_some() {
            return Resp::json(200, &serde_json::json!({"plans": []}));
        }
        return Resp::error(400, "MALFORMED_QUERY", "A query string has to be specified");
    };
    let rs = {
        let store = state.store.read();
        match query::run(&store, &soql, all) {
            Ok(rs) => rs,
            Err(e) => return query_error(e),
        }
    };
    let batch = batch_size(req);
    if rs.len() <= batch {
        return render_page(state, &rs, version, 0, batch, None);
    }
    let rs = Arc::new(rs);
    let locator = {
        let mut c = state.cursors.lock();
        c.sequence += 1;
        let locator = sfarrow_core::ids::make("01g", "Dn0", c.sequence);
        if c.open.len() >= MAX_CURSORS {
            // Opening an 11th cursor releases the oldest, as on a real org.
            if let Some(oldest) = c
                .open
                .iter()
                .min_by_key(|(_, v)| v.created)
                .map(|(k, _)| k.clone())
            {
                c.open.remove(&oldest);
            }
        }
        let created = c.sequence;
        c.open.insert(
            locator.clone(),
            Cursor {
                rs: rs.clone(),
                batch,
                last_used: Instant::now(),
                created,
            },
        );
        locator
    };
    let route = if all { "queryAll" } else { "query" };
    let next = format!("/services/data/v{version}/{route}/{locator}-{batch}");
    render_page(state, &rs, version, 0, batch, Some(next))
}

pub fn next_page(state: &OrgState, req: &Req, version: &str, all: bool, locator: &str) -> Resp {
    if req.method != "GET" {
        return Resp::method_not_allowed(&req.method);
    }
    let invalid = || Resp::error(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
    let Some((id, offset)) = locator.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid();
    };
    let (rs, batch) = {
        let mut c = state.cursors.lock();
        let idle = state.config.cursor_idle;
        c.open.retain(|_, cur| cur.last_used.elapsed() < idle);
        let Some(cur) = c.open.get_mut(id) else {
            return invalid();
        };
        cur.last_used = Instant::now();
        (cur.rs.clone(), cur.batch)
    };
    if offset >= rs.len() {
        return invalid();
    }
    let end = offset + batch;
    let route = if all { "queryAll" } else { "query" };
    let next = (end < rs.len()).then(|| format!("/services/data/v{version}/{route}/{id}-{end}"));
    render_page(state, &rs, version, offset, batch, next)
}
