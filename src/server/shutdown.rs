//! The stop signal shared by all threads: a flag plus the wakers of the
//! event loops that must notice it.

use mio::Waker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Stop signal.
#[derive(Debug, Default)]
pub struct Shutdown {
    flag: AtomicBool,
    wakers: Mutex<Vec<Arc<Waker>>>,
    sleepers: Condvar,
}

impl Shutdown {
    /// Registers an event loop to wake on shutdown.
    pub fn add_waker(&self, waker: Arc<Waker>) {
        self.wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(waker);
    }

    /// Asks every thread to stop.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        for w in self.wakers.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = w.wake();
        }
        self.sleepers.notify_all();
    }

    /// Whether stop was asked.
    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleeps up to `d`, returning early on shutdown.
    pub fn wait_timeout(&self, d: Duration) {
        let guard = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        if !self.is_triggered() {
            let _ = self.sleepers.wait_timeout(guard, d);
        }
    }
}
