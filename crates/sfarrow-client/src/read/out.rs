//! Where a read's batches go. The consumer's side marks the first batch it takes, so a read
//! that must start again (its REST cursor dropped by the org) can tell whether anything was
//! handed on: if not, the batches still queued are from a pass that no longer counts, and are
//! skipped by their generation, so no row arrives twice.

use crate::client::Result;
use arrow_array::RecordBatch;
use parking_lot::Mutex;
use std::sync::Arc;
use tokio::sync::mpsc;

type Item = (u64, Result<RecordBatch>);

#[derive(Default)]
struct Gate {
    generation: u64,
    handed_out: bool,
}

/// The sending side.
#[derive(Clone)]
pub(crate) struct Out {
    tx: mpsc::Sender<Item>,
    gate: Option<Arc<Mutex<Gate>>>,
}

/// The receiving side.
pub struct Batches {
    rx: mpsc::Receiver<Item>,
    gate: Option<Arc<Mutex<Gate>>>,
}

/// A channel of `buffer` batches; `restartable` for the one a caller reads (parts of a split
/// read are joined inside the read and never start again on their own).
pub(crate) fn channel(buffer: usize, restartable: bool) -> (Out, Batches) {
    let (tx, rx) = mpsc::channel(buffer.max(1));
    let gate = restartable.then(|| Arc::new(Mutex::new(Gate::default())));
    (
        Out {
            tx,
            gate: gate.clone(),
        },
        Batches { rx, gate },
    )
}

impl Out {
    fn generation(&self) -> u64 {
        self.gate.as_ref().map_or(0, |g| g.lock().generation)
    }

    /// Sends a batch; false when the consumer has gone (the read should stop).
    pub async fn emit(&self, batch: RecordBatch) -> bool {
        let g = self.generation();
        self.tx.send((g, Ok(batch))).await.is_ok()
    }

    pub async fn fail(&self, e: crate::client::Error) {
        let g = self.generation();
        let _ = self.tx.send((g, Err(e))).await;
    }

    /// True (and what is queued is void) when the consumer has taken nothing yet.
    pub fn restart(&self) -> bool {
        let Some(gate) = &self.gate else {
            return false;
        };
        let mut g = gate.lock();
        if g.handed_out {
            return false;
        }
        g.generation += 1;
        true
    }
}

impl Batches {
    /// The next batch of the pass that counts; `None` at the end.
    pub async fn recv(&mut self) -> Option<Result<RecordBatch>> {
        loop {
            let (generation, item) = self.rx.recv().await?;
            if let Some(gate) = &self.gate {
                let mut g = gate.lock();
                if generation != g.generation {
                    continue;
                }
                g.handed_out = true;
            }
            return Some(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int32Array};

    fn batch(v: i32) -> RecordBatch {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![v]));
        RecordBatch::try_from_iter([("x", a)]).unwrap()
    }

    #[tokio::test]
    async fn a_restart_voids_what_was_queued_until_something_is_taken() {
        let (out, mut rx) = channel(4, true);
        assert!(out.emit(batch(1)).await);
        assert!(out.restart(), "nothing taken yet");
        assert!(out.emit(batch(2)).await);
        let first = rx.recv().await.unwrap().unwrap();
        assert_eq!(first.column(0).as_ref(), batch(2).column(0).as_ref());
        assert!(!out.restart(), "a batch was handed on");
        let (plain, _rx) = channel(1, false);
        assert!(!plain.restart());
    }
}
