//! Who is in a segment now: from the live engine in a server, from what
//! `live.db` recorded elsewhere (the CLI beside a running server).

use roaring::RoaringTreemap;
use seglab_live::{LiveDb, Runner};

/// Current members of segments.
pub trait Membership {
    /// Members of `segment` (`None`: no such segment).
    fn members(&self, segment: &str) -> Option<RoaringTreemap>;
    /// Whether `person` is in `segment`.
    fn is_member(&self, segment: &str, person: i64) -> bool;
}

impl Membership for Runner {
    fn members(&self, segment: &str) -> Option<RoaringTreemap> {
        self.with_live(|live| live.members(segment).cloned())
    }

    fn is_member(&self, segment: &str, person: i64) -> bool {
        self.with_live(|live| {
            live.members(segment)
                .is_some_and(|m| m.contains(person as u64))
        })
    }
}

/// Memberships as `live.db` recorded them at an instant.
pub struct Recorded<'a> {
    pub db: &'a LiveDb,
    pub at: i64,
}

impl Membership for Recorded<'_> {
    fn members(&self, segment: &str) -> Option<RoaringTreemap> {
        self.db.members_at(segment, self.at).ok()
    }

    fn is_member(&self, segment: &str, person: i64) -> bool {
        self.db
            .segments_at(person, self.at)
            .is_ok_and(|s| s.iter().any(|n| n == segment))
    }
}
