//! Injected faults and the request log: what the server does to a request before and after the
//! API sees it.

use crate::http::Req;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 503 with a `SERVER_UNAVAILABLE` body.
    Unavailable,
    /// 429 (too many requests at once): refused before anything is applied.
    TooMany,
    /// The connection is closed before the request is read: nothing is applied, no answer.
    Drop,
    /// The request is applied, then the connection is closed before any answer is sent.
    DropAfter,
    /// The request is applied; the headers and half the body arrive, then the connection is
    /// reset (a body cut mid-way: the client knows the server answered).
    Truncate,
    /// The response is held back for a while.
    Delay,
    /// The body is cut at a line boundary about half way and sent as if whole (its
    /// `Content-Length` matching): still valid CSV, so only a row count can tell.
    ShortPage,
    /// Rows lost with the page's own account of them kept whole: a Bulk page's second half of
    /// rows gone with its `Sforce-NumberOfRecords` saying what is left, a REST page's second
    /// half of `records` gone with `totalSize` as it was. Only the job's
    /// `numberRecordsProcessed`, or the query's `totalSize` against every page, can tell.
    LostRows,
}

impl FaultKind {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "503" | "unavailable" => FaultKind::Unavailable,
            "429" => FaultKind::TooMany,
            "drop" => FaultKind::Drop,
            "drop_after" => FaultKind::DropAfter,
            "truncate" => FaultKind::Truncate,
            "delay" => FaultKind::Delay,
            "short_page" => FaultKind::ShortPage,
            "lost_rows" => FaultKind::LostRows,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub enum Fault {
    Unavailable,
    TooMany,
    Drop,
    DropAfter,
    Truncate,
    Delay(Duration),
    ShortPage,
    LostRows,
}

impl Fault {
    /// The fault's name as `inject_fault` takes it (what the request log shows).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Unavailable => "503",
            Fault::TooMany => "429",
            Fault::Drop => "drop",
            Fault::DropAfter => "drop_after",
            Fault::Truncate => "truncate",
            Fault::Delay(_) => "delay",
            Fault::ShortPage => "short_page",
            Fault::LostRows => "lost_rows",
        }
    }
}

/// When a fault fires: on the `nth` matching request from now (once), on each matching request
/// with probability `rate`, or (neither given) on every matching request.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub kind: FaultKind,
    pub nth: Option<u64>,
    pub rate: Option<f64>,
    pub path: Option<String>,
    pub delay: Duration,
    /// How many times it may fire at most (None: no bound).
    pub times: Option<u64>,
    seen: u64,
    fired: u64,
}

impl FaultRule {
    pub fn new(kind: FaultKind) -> Self {
        FaultRule {
            kind,
            nth: None,
            rate: None,
            path: None,
            delay: Duration::ZERO,
            times: None,
            seen: 0,
            fired: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    /// Lower-case names; credentials are replaced by `***`.
    pub headers: Vec<(String, String)>,
    /// For token requests: the grant type, so tests can count renewals.
    pub grant_type: Option<String>,
    /// The injected fault that struck this request, by name.
    pub fault: Option<&'static str>,
    pub at_millis: i64,
}

pub struct Control {
    pub faults: Vec<FaultRule>,
    pub log: Vec<LogEntry>,
    /// The faults that struck, by name, oldest first: a request a fault held back until its
    /// client gave up is never logged as served, but it was struck.
    pub struck: Vec<&'static str>,
    /// Deterministic, so faults by rate repeat run after run.
    rng: crate::data::rng::Rng,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            faults: Vec::new(),
            log: Vec::new(),
            struck: Vec::new(),
            rng: crate::data::rng::Rng::new(0x5EED),
        }
    }
}

impl Control {
    pub fn next_fault(&mut self, path: &str) -> Option<Fault> {
        let mut chosen = None;
        let mut draws = Vec::new();
        for (i, rule) in self.faults.iter_mut().enumerate() {
            if rule.path.as_deref().is_some_and(|p| !path.contains(p)) {
                continue;
            }
            if rule.times.is_some_and(|t| rule.fired >= t) {
                continue;
            }
            rule.seen += 1;
            let fire = match (rule.nth, rule.rate) {
                (Some(n), _) => rule.seen == n,
                (None, Some(_)) => {
                    draws.push(i);
                    false
                }
                (None, None) => true,
            };
            if fire && chosen.is_none() {
                chosen = Some(i);
            }
        }
        for i in draws {
            let r = self.rng.unit();
            if chosen.is_none() && self.faults[i].rate.is_some_and(|rate| r < rate) {
                chosen = Some(i);
            }
        }
        let i = chosen?;
        let rule = &mut self.faults[i];
        rule.fired += 1;
        let fault = match rule.kind {
            FaultKind::Unavailable => Fault::Unavailable,
            FaultKind::Drop => Fault::Drop,
            FaultKind::DropAfter => Fault::DropAfter,
            FaultKind::Truncate => Fault::Truncate,
            FaultKind::Delay => Fault::Delay(rule.delay),
            FaultKind::ShortPage => Fault::ShortPage,
            FaultKind::TooMany => Fault::TooMany,
            FaultKind::LostRows => Fault::LostRows,
        };
        if rule.nth.is_some() {
            self.faults.remove(i);
        }
        self.struck.push(fault.name());
        Some(fault)
    }

    pub fn log(&mut self, req: &Req, status: u16, fault: Option<&Fault>) {
        let headers = req
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if k == "authorization" || k == "cookie" {
                    match v.split_once(' ') {
                        Some((scheme, _)) => format!("{scheme} ***"),
                        None => "***".into(),
                    }
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
        let grant_type = if req.path.ends_with("/oauth2/token") {
            req.form().remove("grant_type")
        } else {
            None
        };
        self.log.push(LogEntry {
            method: req.method.clone(),
            path: req.path.clone(),
            query: redact_query(&req.query),
            status,
            headers,
            grant_type,
            fault: fault.map(Fault::name),
            at_millis: crate::data::store::now_millis(),
        });
    }
}

/// Tokens may travel in the query string (`?oauth_token=`, `?token=`): keep them out of the log.
fn redact_query(q: &str) -> String {
    q.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _))
                if matches!(
                    k,
                    "oauth_token" | "token" | "access_token" | "code" | "refresh_token"
                ) =>
            {
                format!("{k}=***")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_fires_once_on_matching_paths() {
        let mut c = Control::default();
        let mut rule = FaultRule::new(FaultKind::Unavailable);
        rule.nth = Some(2);
        rule.path = Some("/query".into());
        c.faults.push(rule);
        assert!(c.next_fault("/services/data/v58.0/query").is_none());
        assert!(c.next_fault("/services/data/v58.0/limits").is_none());
        assert!(matches!(c.next_fault("/x/query"), Some(Fault::Unavailable)));
        assert!(c.next_fault("/x/query").is_none());
    }

    #[test]
    fn rate_is_roughly_respected() {
        let mut c = Control::default();
        let mut rule = FaultRule::new(FaultKind::Drop);
        rule.rate = Some(0.25);
        c.faults.push(rule);
        let fired = (0..4000).filter(|_| c.next_fault("/a").is_some()).count();
        assert!((800..1200).contains(&fired), "{fired}");
    }

    #[test]
    fn query_secrets_are_redacted() {
        assert_eq!(redact_query("token=abc&x=1"), "token=***&x=1");
    }
}
