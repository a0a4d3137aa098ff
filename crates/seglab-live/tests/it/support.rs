use std::path::Path;

use seglab_event::wire::segment_spec::{Endpoint, parse};
use seglab_live::{Change, ChangeFilter, Live, LiveDb};
use seglab_segments::Segments;
use seglab_store::{Durability, Store};
use serde_json::{Value, json};

pub const DAY: i64 = 86_400_000;
pub const HOUR: i64 = 3_600_000;
pub const NOW: i64 = 1_767_225_600_000; // 2026-01-01

pub fn ts(ms: i64) -> String {
    seglab_event::time::format_timestamp(ms)
}

/// A store, its engine and live state in a fresh data folder.
pub struct World {
    pub dir: tempfile::TempDir,
    pub store: Option<Store>,
    pub segments: Segments,
    pub live: Live,
}

impl World {
    pub fn new(definitions: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Durability::Normal).unwrap();
        let segments = Segments::load(store.reader()).unwrap();
        apply(&segments, &store, definitions);
        let live = Live::open(dir.path(), &segments, store.reader(), NOW).unwrap();
        World {
            dir,
            store: Some(store),
            segments,
            live,
        }
    }

    pub fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    pub fn send(&self, messages: Value) {
        send(self.store(), messages, false);
    }

    /// Steps to `now` and returns the changes recorded.
    pub fn step(&mut self, now: i64) -> Vec<Change> {
        let mut feed = self.live.subscribe();
        let store = self.store.as_ref().unwrap();
        self.live.step(&self.segments, store.reader(), now).unwrap();
        let mut out = Vec::new();
        while let Ok(c) = feed.try_recv() {
            out.push((*c).clone());
        }
        out
    }

    /// Closes everything and opens it again at `now` (a restart); returns the
    /// changes the start recorded.
    pub fn restart(&mut self, now: i64) -> Vec<Change> {
        let dir = self.dir.path().to_owned();
        self.store = None;
        let store = Store::open(&dir, Durability::Normal).unwrap();
        self.segments = Segments::load(store.reader()).unwrap();
        // A damaged file has no count: every change of the new one is listed.
        let before = self
            .conn()
            .query_row("SELECT coalesce(max(id), 0) FROM changes", [], |r| r.get(0))
            .unwrap_or(0);
        self.live = Live::open(&dir, &self.segments, store.reader(), now).unwrap();
        self.store = Some(store);
        LiveDb::open(&dir)
            .unwrap()
            .changes(&ChangeFilter {
                after: before,
                limit: 10_000,
                ..Default::default()
            })
            .unwrap()
    }

    /// Closes `live.db` (the state is swapped for one in a folder of its
    /// own), so that the file can be damaged or replaced before a restart.
    pub fn close_live(&mut self) {
        let elsewhere = self.dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let store = self.store.as_ref().unwrap();
        self.live = Live::open(&elsewhere, &self.segments, store.reader(), NOW).unwrap();
    }

    pub fn change_count(&self) -> i64 {
        self.conn()
            .query_row("SELECT coalesce(max(id), 0) FROM changes", [], |r| r.get(0))
            .unwrap()
    }

    pub fn person(&self, user: &str) -> i64 {
        let view = self.store().reader().person(user, 0).unwrap().unwrap();
        view.person_id
    }

    /// Live members of `segment`, as person ids.
    pub fn members(&self, segment: &str) -> Vec<i64> {
        self.live
            .members(segment)
            .map(|m| m.iter().map(|p| p as i64).collect())
            .unwrap_or_default()
    }

    /// Members of `segment` by a fresh batch evaluation at `now`.
    pub fn batch(&self, segment: &str, now: i64) -> Vec<i64> {
        let (_, mut ids) = self.segments.members(segment, now, 0, usize::MAX).unwrap();
        ids.sort_unstable();
        ids
    }

    /// The typed handle on `live.db`.
    pub fn db(&self) -> LiveDb {
        LiveDb::open(self.dir.path()).unwrap()
    }

    /// `live.db` as plain SQLite, to look at what was written.
    pub fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join(seglab_live::db::LIVE_DB_FILE)).unwrap()
    }
}

pub fn apply(segments: &Segments, store: &Store, source: &str) {
    let checked = segments.check(store.reader(), source, "t.seg").unwrap();
    segments.apply(store.reader(), &checked, source).unwrap();
}

pub fn send(store: &Store, messages: Value, historical: bool) {
    let events = parse(
        json!({ "batch": messages }).to_string().as_bytes(),
        Endpoint::Batch,
        NOW,
    )
    .unwrap()
    .events;
    store.append_blocking(events, historical).unwrap();
}

pub fn track(user: &str, event: &str, at: i64) -> Value {
    json!({"type": "track", "userId": user, "event": event, "timestamp": ts(at),
           "messageId": format!("{user}-{event}-{at}")})
}

pub fn kinds(changes: &[Change]) -> Vec<(String, i64, &'static str, &'static str)> {
    changes
        .iter()
        .map(|c| {
            (
                c.segment.clone(),
                c.person,
                if c.entered { "entered" } else { "exited" },
                c.cause.as_str(),
            )
        })
        .collect()
}

#[allow(dead_code)]
pub fn dir_of(w: &World) -> &Path {
    w.dir.path()
}
