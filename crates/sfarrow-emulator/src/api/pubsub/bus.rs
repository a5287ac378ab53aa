//! The org's event bus: every event in replay order, kept for the retention window. Replay ids
//! are one org-wide counter written as 8 big-endian bytes (docs/wire-notes.md §10.4), so they
//! increase on every channel and are not contiguous within one. Payloads are encoded once and
//! shared by every subscriber.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Stored {
    pub replay: u64,
    /// `/event/Order__e` or `/data/AccountChangeEvent`.
    pub channel: Arc<str>,
    /// Change events are also on `/data/ChangeEvents`.
    pub change_event: bool,
    pub schema_id: Arc<str>,
    pub event_id: String,
    pub payload: Bytes,
    pub at: Instant,
}

/// Which events a subscription reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    Channel(Arc<str>),
    AllChangeEvents,
}

impl Topic {
    pub fn matches(&self, e: &Stored) -> bool {
        match self {
            Topic::Channel(c) => *c == e.channel,
            Topic::AllChangeEvents => e.change_event,
        }
    }
}

/// An event to append: its channel, whether it is a change event, its schema, id and payload.
pub struct NewEvent {
    pub channel: Arc<str>,
    pub change_event: bool,
    pub schema_id: Arc<str>,
    pub event_id: String,
    pub payload: Bytes,
}

/// Where replay ids start: high enough that they never look like small counters to a client
/// tempted to do arithmetic on them.
const FIRST: u64 = 1 << 24;

pub fn replay_bytes(r: u64) -> Vec<u8> {
    r.to_be_bytes().to_vec()
}

struct Log {
    events: VecDeque<Arc<Stored>>,
    last: u64,
    /// Events up to this replay id were purged; resuming from before it would lose some.
    floor: u64,
    commit_number: u64,
}

pub struct Bus {
    log: Mutex<Log>,
    /// The newest replay id, so subscribers wake on new events.
    notify: tokio::sync::watch::Sender<u64>,
    retention: Mutex<Duration>,
}

impl Bus {
    pub fn new(retention: Duration) -> Bus {
        let first = FIRST;
        Bus {
            log: Mutex::new(Log {
                events: VecDeque::new(),
                last: first,
                floor: first,
                commit_number: 10_000_000,
            }),
            notify: tokio::sync::watch::channel(first).0,
            retention: Mutex::new(retention),
        }
    }

    pub fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    pub fn latest(&self) -> u64 {
        self.log.lock().last
    }

    /// The next commit number: increasing with every commit.
    pub fn next_commit_number(&self) -> u64 {
        let mut l = self.log.lock();
        l.commit_number += 1;
        l.commit_number
    }

    /// Appends events (one transaction's, in order) and returns their replay ids.
    pub fn append(&self, events: Vec<NewEvent>) -> Vec<u64> {
        let mut ids = Vec::with_capacity(events.len());
        let last = {
            let mut l = self.log.lock();
            let now = Instant::now();
            for e in events {
                l.last += 1;
                let replay = l.last;
                ids.push(replay);
                l.events.push_back(Arc::new(Stored {
                    replay,
                    channel: e.channel,
                    change_event: e.change_event,
                    schema_id: e.schema_id,
                    event_id: e.event_id,
                    payload: e.payload,
                    at: now,
                }));
            }
            let retention = *self.retention.lock();
            purge(&mut l, retention);
            l.last
        };
        self.notify.send_replace(last);
        ids
    }

    /// Events of `topic` after replay id `after`, at most `max` of them and about `max_bytes`,
    /// and whether they are all there are.
    /// Up to `max` events of `topic` after `after` (and about `max_bytes` of payload), and,
    /// when that reached the end of the log, the newest replay id then: every event of the
    /// topic up to it is in the answer or at or before `after`, so it is what a keepalive may
    /// report (§10.3). Taken under the same lock as the read, an event appended right after
    /// cannot be covered by it.
    pub fn read(
        &self,
        topic: &Topic,
        after: u64,
        max: usize,
        max_bytes: usize,
    ) -> (Vec<Arc<Stored>>, Option<u64>) {
        let l = self.log.lock();
        let start = l.events.partition_point(|e| e.replay <= after);
        let mut out = Vec::new();
        let mut bytes = 0;
        for e in l.events.range(start..) {
            if topic.matches(e) {
                bytes += e.payload.len() + 64;
                if out.len() >= max || (!out.is_empty() && bytes > max_bytes) {
                    return (out, None);
                }
                out.push(e.clone());
            }
        }
        (out, Some(l.last))
    }

    /// Where a subscription starts: the replay id it reads after.
    pub fn earliest(&self) -> u64 {
        let mut l = self.log.lock();
        let retention = *self.retention.lock();
        purge(&mut l, retention);
        l.floor
    }

    /// The position a CUSTOM replay id resumes after, or `None` when it cannot be resumed
    /// from: not 8 bytes, older than what the bus still holds (events after it are gone), or
    /// beyond anything the bus handed out. Salesforce answers all three alike (§10.4).
    pub fn check_custom(&self, replay: &[u8]) -> Option<u64> {
        let r = u64::from_be_bytes(replay.try_into().ok()?);
        let mut l = self.log.lock();
        let retention = *self.retention.lock();
        purge(&mut l, retention);
        // The floor is the newest purged event: a position at or before it has aged out (the
        // bus's starting position, before any event, stays valid until something is purged).
        let purged = l.floor != FIRST;
        let expired = r < l.floor || (r == l.floor && purged);
        (!expired && r <= l.last).then_some(r)
    }

    /// Drops events older than `age` now (a test control).
    pub fn expire(&self, age: Duration) {
        purge(&mut self.log.lock(), age);
    }

    pub fn len(&self) -> usize {
        self.log.lock().events.len()
    }
}

fn purge(l: &mut Log, retention: Duration) {
    let now = Instant::now();
    while l
        .events
        .front()
        .is_some_and(|e| now.duration_since(e.at) >= retention)
    {
        if let Some(e) = l.events.pop_front() {
            l.floor = e.replay;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(channel: &str) -> NewEvent {
        NewEvent {
            channel: channel.into(),
            change_event: false,
            schema_id: "s".into(),
            event_id: String::new(),
            payload: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn a_read_to_the_end_covers_only_what_it_saw() {
        let bus = Bus::new(Duration::from_secs(3600));
        let topic = Topic::Channel("/event/A__e".into());
        let a = bus.append(vec![
            event("/event/A__e"),
            event("/event/B__e"),
            event("/event/A__e"),
        ]);
        let (events, horizon) = bus.read(&topic, FIRST, 100, usize::MAX);
        assert_eq!(
            events.iter().map(|e| e.replay).collect::<Vec<_>>(),
            vec![a[0], a[2]]
        );
        assert_eq!(horizon, Some(a[2]));
        // An event appended between the read and the keepalive that reports the horizon is
        // past it: a client resuming from the horizon still gets it.
        let late = bus.append(vec![event("/event/A__e")]);
        assert!(horizon.is_some_and(|h| h < late[0]));
        let (again, _) = bus.read(&topic, horizon.unwrap_or(FIRST), 100, usize::MAX);
        assert_eq!(again.iter().map(|e| e.replay).collect::<Vec<_>>(), late);
    }

    #[test]
    fn other_topics_move_the_horizon_but_a_cut_read_reports_none() {
        let bus = Bus::new(Duration::from_secs(3600));
        let topic = Topic::Channel("/event/A__e".into());
        let b = bus.append(vec![event("/event/B__e"), event("/event/B__e")]);
        let (events, horizon) = bus.read(&topic, FIRST, 100, usize::MAX);
        assert!(events.is_empty());
        assert_eq!(
            horizon,
            Some(b[1]),
            "nothing of the topic up to the newest event"
        );
        bus.append(vec![event("/event/A__e"), event("/event/A__e")]);
        let (events, horizon) = bus.read(&topic, FIRST, 1, usize::MAX);
        assert_eq!(events.len(), 1);
        assert_eq!(
            horizon, None,
            "more events wait: the read did not reach the end"
        );
    }
}
