//! Page-sized buffers handed back for the next page while a read runs.
//!
//! A read moves each page through a few buffers of megabytes: the body as it arrives, the body
//! inflated, the cells found in it. Freed and allocated again page after page, that memory goes
//! back to the kernel between pages (the allocator purges it within milliseconds, which keeps a
//! streamed read's footprint small) and comes back zeroed, page fault by page fault: up to a
//! third of a Bulk read's CPU. Handing the buffers from one page to the next keeps them warm.
//! A recycler belongs to one read, so nothing is kept once the read ends.

use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::{Arc, Weak};

pub struct Recycler<T> {
    free: Mutex<Vec<T>>,
    keep: usize,
}

impl<T: Default> Recycler<T> {
    /// Keeps at most `keep` buffers: one per page in flight is enough.
    pub fn new(keep: usize) -> Arc<Self> {
        Arc::new(Recycler {
            free: Mutex::new(Vec::new()),
            keep,
        })
    }

    /// A buffer as an earlier page left it, contents and all (callers clear or overwrite it), or
    /// a new one.
    pub fn take(&self) -> T {
        self.free.lock().pop().unwrap_or_default()
    }

    pub fn give(&self, buffer: T) {
        let mut free = self.free.lock();
        if free.len() < self.keep {
            free.push(buffer);
        }
    }
}

impl Recycler<Vec<u8>> {
    /// `v` as `Bytes` that come back here when the last clone is dropped.
    pub fn freeze(self: &Arc<Self>, v: Vec<u8>) -> Bytes {
        Bytes::from_owner(Returning {
            buf: v,
            home: Arc::downgrade(self),
        })
    }
}

/// Empties `v` and makes room in it for `len` items. When it must grow, it gets a new
/// allocation with an eighth to spare, so that a slightly longer page next time still fits,
/// instead of `reserve` copying the old page's contents across.
pub fn make_room<T>(v: &mut Vec<T>, len: usize) {
    v.clear();
    if v.capacity() < len {
        *v = Vec::with_capacity(len.saturating_add(len / 8));
    }
}

struct Returning {
    buf: Vec<u8>,
    home: Weak<Recycler<Vec<u8>>>,
}

impl AsRef<[u8]> for Returning {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if let Some(home) = self.home.upgrade() {
            home.give(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_back_when_the_last_clone_drops_and_only_while_the_read_lives() {
        let pool = Recycler::new(1);
        let mut v: Vec<u8> = pool.take();
        v.extend_from_slice(b"page one");
        let ptr = v.as_ptr();
        let bytes = pool.freeze(v);
        let clone = bytes.slice(5..);
        drop(bytes);
        assert!(pool.free.lock().is_empty(), "a clone still reads it");
        drop(clone);
        let again = pool.take();
        assert_eq!((again.as_ptr(), &again[..]), (ptr, &b"page one"[..]));
        assert!(pool.take().is_empty());

        let orphan = pool.freeze(again);
        drop(pool);
        assert_eq!(&orphan[..], b"page one");
    }

    #[test]
    fn room_is_made_without_copying_and_with_some_to_spare() {
        let mut v = vec![1u8; 16];
        let ptr = v.as_ptr();
        make_room(&mut v, 8);
        assert_eq!((v.len(), v.as_ptr()), (0, ptr));
        make_room(&mut v, 800);
        assert!(v.is_empty() && v.capacity() >= 900);
    }

    #[test]
    fn keeps_no_more_than_asked() {
        let pool = Recycler::<Vec<u32>>::new(2);
        for _ in 0..3 {
            pool.give(Vec::with_capacity(4));
        }
        assert_eq!(pool.free.lock().len(), 2);
        assert!(pool.take().capacity() >= 4);
    }
}
