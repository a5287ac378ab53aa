//! The event side of an org, as `OrgState` holds it: the bus, the schemas handed out, and
//! the settings the gRPC test controls change. It needs nothing of the org's other state, so
//! the org can hold it without the Pub/Sub service and the org depending on each other.

use crate::api::pubsub::bus::Bus;
use crate::api::pubsub::faults::Faults;
use crate::api::pubsub::schema::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The event side of an org: the bus, the schemas handed out, and the gRPC test controls.
pub struct Events {
    pub bus: Bus,
    pub schemas: Registry,
    pub faults: Faults,
    overflow: AtomicU64,
    /// Change events still to be lost (a test control: a real bus can, rarely, lose one).
    lose: AtomicU64,
    keepalive_ms: AtomicU64,
    idle_ms: AtomicU64,
}

impl Events {
    pub fn new(retention: Duration, keepalive: Duration, idle: Duration, overflow: u64) -> Self {
        Events {
            bus: Bus::new(retention),
            schemas: Registry::default(),
            faults: Faults::default(),
            overflow: AtomicU64::new(overflow),
            lose: AtomicU64::new(0),
            keepalive_ms: AtomicU64::new(keepalive.as_millis() as u64),
            idle_ms: AtomicU64::new(idle.as_millis() as u64),
        }
    }

    pub fn overflow_threshold(&self) -> u64 {
        self.overflow.load(Ordering::Relaxed)
    }

    pub fn set_overflow_threshold(&self, n: u64) {
        self.overflow.store(n, Ordering::Relaxed);
    }

    /// Loses the next `n` change events: they are never published.
    pub fn lose_change_events(&self, n: u64) {
        self.lose.store(n, Ordering::Relaxed);
    }

    /// Whether the change event about to be published is one to lose (and counts it).
    pub fn loses_one(&self) -> bool {
        self.lose
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    pub fn keepalive(&self) -> Duration {
        Duration::from_millis(self.keepalive_ms.load(Ordering::Relaxed).max(1))
    }

    pub fn set_keepalive(&self, d: Duration) {
        self.keepalive_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_ms.load(Ordering::Relaxed).max(1))
    }
}
