//! Test controls for the gRPC side: break a stream after so many events, fail the next calls as
//! unavailable or unauthenticated, cut a publish's connection after it was applied, or expire
//! the token an open stream was opened with.

use parking_lot::Mutex;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The connection is cut (a TCP reset): clients see UNAVAILABLE without an error code.
    Drop,
    /// The stream ends with UNAVAILABLE and no error code, as an RST_STREAM does.
    End,
    /// The next call fails with `service.unavailable`.
    Unavailable,
    /// The next call fails UNAUTHENTICATED with `service.auth.error` though its session is
    /// valid, as a service that refuses every session (even one renewed just now) does.
    Unauthenticated,
    /// The next Publish is applied, then its connection is cut before the answer.
    DropAfter,
    /// The stream's session expires: the stream ends UNAUTHENTICATED and the token stops working.
    ExpireToken,
}

impl Kind {
    /// Fails a call as it starts.
    fn at_call(self) -> bool {
        matches!(self, Kind::Unavailable | Kind::Unauthenticated)
    }

    /// Breaks a Subscribe stream once it has delivered events.
    fn on_stream(self) -> bool {
        matches!(self, Kind::Drop | Kind::End | Kind::ExpireToken)
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "drop" => Kind::Drop,
            "end" => Kind::End,
            "unavailable" => Kind::Unavailable,
            "unauthenticated" => Kind::Unauthenticated,
            "drop_after" => Kind::DropAfter,
            "expire_token" => Kind::ExpireToken,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
struct Rule {
    kind: Kind,
    /// Fires on a stream once it has delivered this many events (0: at once).
    after_events: u64,
    times: u64,
}

/// Set by the connection loop on each request, so a stream can cut its own connection.
#[derive(Clone)]
pub struct Connection(pub Arc<tokio::sync::Notify>);

#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
    /// Wakes open streams when a rule is added.
    pub changed: tokio::sync::Notify,
}

impl Faults {
    pub fn add(&self, kind: Kind, after_events: u64, times: u64) {
        self.rules.lock().push(Rule {
            kind,
            after_events,
            times: times.max(1),
        });
        self.changed.notify_waiters();
    }

    pub fn clear(&self) {
        self.rules.lock().clear();
    }

    /// The fault due for a call now starting (`Unavailable` or `Unauthenticated`), consumed.
    pub fn take_at_call(&self) -> Option<Kind> {
        self.take(|r| r.kind.at_call())
    }

    /// Whether the publish just applied is to lose its connection (consumed).
    pub fn take_drop_after(&self) -> bool {
        self.take(|r| r.kind == Kind::DropAfter).is_some()
    }

    /// How many more events a stream that has delivered `delivered` may send before a stream
    /// fault is due; `None` when no stream fault is armed.
    pub fn budget(&self, delivered: u64) -> Option<u64> {
        self.rules
            .lock()
            .iter()
            .filter(|r| r.kind.on_stream())
            .map(|r| r.after_events.saturating_sub(delivered))
            .min()
    }

    /// The stream fault due for a stream that has delivered `delivered` events, consumed.
    pub fn due(&self, delivered: u64) -> Option<Kind> {
        self.take(|r| r.kind.on_stream() && r.after_events <= delivered)
    }

    fn take(&self, pick: impl Fn(&Rule) -> bool) -> Option<Kind> {
        let mut rules = self.rules.lock();
        let i = rules.iter().position(pick)?;
        let kind = rules[i].kind;
        rules[i].times -= 1;
        if rules[i].times == 0 {
            rules.remove(i);
        }
        Some(kind)
    }
}
