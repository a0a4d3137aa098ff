//! Rounds of a worker thread, for callers that must wait for one: a caller
//! asks (`request`), the thread notes what was asked when it starts a round
//! (`begin`) and marks it done when it ends (`finish`); `wait` returns once a
//! round that started after the request is done. Rounds that recorded
//! something are counted too, for followers (`wait_recorded`).

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Default)]
struct State {
    requested: u64,
    completed: u64,
    recorded: u64,
}

/// See the module docs.
#[derive(Default)]
pub struct Rounds {
    state: Mutex<State>,
    done: Condvar,
}

impl Rounds {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for a round; returns the ticket to wait for.
    pub fn request(&self) -> u64 {
        let mut s = self.state();
        s.requested += 1;
        s.requested
    }

    /// A round starts: returns what it answers (the requests so far).
    pub fn begin(&self) -> u64 {
        self.state().requested
    }

    /// The round that began with `round` is done (`recorded`: it wrote
    /// something followers care about).
    pub fn finish(&self, round: u64, recorded: bool) {
        let mut s = self.state();
        s.completed = s.completed.max(round);
        s.recorded += u64::from(recorded);
        drop(s);
        self.done.notify_all();
    }

    /// The thread stopped: every waiter is let go.
    pub fn close(&self) {
        self.state().completed = u64::MAX;
        self.done.notify_all();
    }

    /// Waits until the round of `ticket` is done; false after `timeout`.
    pub fn wait(&self, ticket: u64, timeout: Duration) -> bool {
        let s = self.state();
        let (s, _) = self
            .done
            .wait_timeout_while(s, timeout, |s| s.completed < ticket)
            .unwrap_or_else(|e| e.into_inner());
        s.completed >= ticket
    }

    /// Rounds that recorded something so far.
    pub fn recorded(&self) -> u64 {
        self.state().recorded
    }

    /// Waits until a round records something after the count `seen`, or
    /// `timeout` passes; returns the count then.
    pub fn wait_recorded(&self, seen: u64, timeout: Duration) -> u64 {
        let s = self.state();
        let (s, _) = self
            .done
            .wait_timeout_while(s, timeout, |s| s.recorded <= seen)
            .unwrap_or_else(|e| e.into_inner());
        s.recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_wait_ends_with_a_round_that_began_after_the_request() {
        let r = Arc::new(Rounds::default());
        let early = r.begin();
        let ticket = r.request();
        r.finish(early, false);
        assert!(!r.wait(ticket, Duration::from_millis(10)));
        let round = r.begin();
        let worker = {
            let r = r.clone();
            std::thread::spawn(move || r.finish(round, true))
        };
        assert!(r.wait(ticket, Duration::from_secs(5)));
        worker.join().unwrap();
        assert_eq!(r.wait_recorded(0, Duration::from_secs(5)), 1);
        assert_eq!(r.wait_recorded(1, Duration::from_millis(10)), 1);
        r.close();
        assert!(r.wait(r.request(), Duration::from_millis(10)));
    }
}
