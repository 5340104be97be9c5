//! Per-thread pool of copy buffers. A buffer is held only while bytes are
//! in flight, so an idle connection holds none and a busy thread reuses a
//! handful: no allocation per forwarded chunk.

use std::cell::RefCell;

/// HAProxy's default `tune.bufsize`: one read of a typical request or
/// response fits, and a full read is the signal to switch to splice.
pub const SIZE: usize = 16 * 1024;

/// Buffers kept per thread; beyond this they are freed.
const POOL_MAX: usize = 256;

thread_local! {
    static POOL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `SIZE` bytes taken from this thread's pool.
pub struct Buffer(Option<Box<[u8]>>);

impl Buffer {
    pub fn take() -> Buffer {
        let b = POOL
            .with(|p| p.borrow_mut().pop())
            .unwrap_or_else(|| vec![0u8; SIZE].into_boxed_slice());
        Buffer(Some(b))
    }
}

impl std::ops::Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl std::ops::DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.0.as_deref_mut().unwrap_or(&mut [])
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            // try_with: during thread teardown the pool may be gone already.
            let _ = POOL.try_with(|p| {
                let mut pool = p.borrow_mut();
                if pool.len() < POOL_MAX {
                    pool.push(b);
                }
            });
        }
    }
}
