//! Identity stitching: which person an event belongs to, and when two persons turn
//! out to be one.
//!
//! Every id (a Segment `userId` or `anonymousId`, a PostHog `distinct_id`) maps to
//! the person it was first seen with. A message that carries a known id together
//! with another id stitches them: the second id joins the first id's person, or, if
//! it already belongs to another person, that person is merged into the first.
//! Merges are recorded, never rewritten: an event keeps the person it was stored
//! with, and `find` follows merges to today's person.
//!
//! One guard: a message that carries both a `userId` and an `anonymousId` does not
//! merge two persons that each have their own, different user id (a shared device
//! where someone else logged in). An `alias` call always merges: it says explicitly
//! that two ids are one person.

use std::collections::HashMap;

use seglab_event::{Event, EventType};
use xxhash_rust::xxh3::{Xxh3DefaultBuilder, xxh3_64};

pub type PersonId = i64;

/// A change to persist, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    NewPerson(PersonId),
    MapId(String, PersonId),
    SetUser(PersonId, String),
    Merge { from: PersonId, into: PersonId },
}

#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Identities {
    ids: HashMap<String, PersonId, Xxh3DefaultBuilder>,
    parent: HashMap<PersonId, PersonId>,
    /// Hash of the first user id each person was seen with.
    user_of: HashMap<PersonId, u64>,
    next_person: PersonId,
    /// What to undo if the transaction in progress does not commit.
    journal: Journal,
}

/// The previous values of what the open transaction changed, so that a
/// failed commit (a full disk) puts the maps back as they were without
/// reading every person again.
#[derive(Debug, Default, Clone, PartialEq)]
struct Journal {
    next_person: Option<PersonId>,
    undo: Vec<Undo>,
}

#[derive(Debug, Clone, PartialEq)]
enum Undo {
    Id(String, Option<PersonId>),
    Parent(PersonId, Option<PersonId>),
    User(PersonId, Option<u64>),
}

impl Identities {
    pub(crate) fn new(next_person: PersonId) -> Identities {
        Identities {
            next_person: next_person.max(1),
            ..Identities::default()
        }
    }

    /// Loads one stored id mapping.
    pub(crate) fn load_id(&mut self, id: String, person: PersonId) {
        self.ids.insert(id, person);
    }

    /// Loads one stored person.
    pub(crate) fn load_person(
        &mut self,
        person: PersonId,
        user_id: Option<&str>,
        merged_into: Option<PersonId>,
    ) {
        if let Some(u) = user_id {
            self.user_of.insert(person, xxh3_64(u.as_bytes()));
        }
        if let Some(into) = merged_into {
            self.parent.insert(person, into);
        }
        self.next_person = self.next_person.max(person + 1);
    }

    /// The id the next new person gets.
    pub(crate) fn next_person(&self) -> PersonId {
        self.next_person
    }

    /// Never hands out a person id below `next` (ids of deleted persons).
    pub(crate) fn reserve_below(&mut self, next: PersonId) {
        self.next_person = self.next_person.max(next);
    }

    /// Drops deleted persons and the ids that mapped to them.
    pub(crate) fn forget(&mut self, ids: &[String], persons: &[PersonId]) {
        for id in ids {
            self.ids.remove(id.as_str());
        }
        for p in persons {
            self.parent.remove(p);
            self.user_of.remove(p);
        }
    }

    /// Starts remembering changes, for [`Identities::rollback`].
    pub(crate) fn begin(&mut self) {
        self.journal.undo.clear();
        self.journal.next_person = Some(self.next_person);
    }

    /// Keeps every change since [`Identities::begin`].
    pub(crate) fn commit(&mut self) {
        self.journal.undo.clear();
        self.journal.next_person = None;
    }

    /// Undoes every change since [`Identities::begin`].
    pub(crate) fn rollback(&mut self) {
        while let Some(undo) = self.journal.undo.pop() {
            match undo {
                Undo::Id(id, Some(p)) => {
                    self.ids.insert(id, p);
                }
                Undo::Id(id, None) => {
                    self.ids.remove(&id);
                }
                Undo::Parent(p, Some(q)) => {
                    self.parent.insert(p, q);
                }
                Undo::Parent(p, None) => {
                    self.parent.remove(&p);
                }
                Undo::User(p, Some(u)) => {
                    self.user_of.insert(p, u);
                }
                Undo::User(p, None) => {
                    self.user_of.remove(&p);
                }
            }
        }
        if let Some(next) = self.journal.next_person.take() {
            self.next_person = next;
        }
    }

    fn remember(&mut self, undo: Undo) {
        if self.journal.next_person.is_some() {
            self.journal.undo.push(undo);
        }
    }

    /// Today's person for a person id, following merges.
    pub(crate) fn find(&self, mut p: PersonId) -> PersonId {
        while let Some(&q) = self.parent.get(&p) {
            p = q;
        }
        p
    }

    fn lookup(&self, id: &str) -> Option<PersonId> {
        self.ids.get(id).map(|&p| self.find(p))
    }

    fn create(&mut self, changes: &mut Vec<Change>) -> PersonId {
        let p = self.next_person;
        self.next_person += 1;
        changes.push(Change::NewPerson(p));
        p
    }

    fn map(&mut self, id: &str, p: PersonId, changes: &mut Vec<Change>) {
        let old = self.ids.insert(id.to_owned(), p);
        self.remember(Undo::Id(id.to_owned(), old));
        changes.push(Change::MapId(id.to_owned(), p));
    }

    fn set_user(&mut self, p: PersonId, user: &str, changes: &mut Vec<Change>) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.user_of.entry(p) {
            e.insert(xxh3_64(user.as_bytes()));
            self.remember(Undo::User(p, None));
            changes.push(Change::SetUser(p, user.to_owned()));
        }
    }

    /// May `other`'s person join `known`'s user id without an explicit alias?
    fn compatible(&self, other: PersonId, user: u64) -> bool {
        self.user_of.get(&other).is_none_or(|&u| u == user)
    }

    fn merge(&mut self, from: PersonId, into: PersonId, changes: &mut Vec<Change>) {
        let old = self.parent.insert(from, into);
        self.remember(Undo::Parent(from, old));
        if let Some(u) = self.user_of.get(&from).copied()
            && let std::collections::hash_map::Entry::Vacant(e) = self.user_of.entry(into)
        {
            e.insert(u);
            self.remember(Undo::User(into, None));
        }
        changes.push(Change::Merge { from, into });
    }

    /// Decides the person of `event`, updating the maps; returns the person and the
    /// changes to persist.
    pub(crate) fn resolve(&mut self, event: &Event) -> (PersonId, Vec<Change>) {
        let mut changes = Vec::new();
        let (known, other, explicit) = match event.kind {
            EventType::Alias => (event.user_id.as_deref(), event.previous_id.as_deref(), true),
            _ => (
                event.user_id.as_deref(),
                event.anonymous_id.as_deref(),
                false,
            ),
        };
        let other = other.filter(|o| Some(*o) != known);
        let Some(known) = known else {
            // Anonymous only.
            let id = other.expect("validated events carry an id");
            let p = match self.lookup(id) {
                Some(p) => p,
                None => {
                    let p = self.create(&mut changes);
                    self.map(id, p, &mut changes);
                    p
                }
            };
            return (p, changes);
        };
        let user = xxh3_64(known.as_bytes());
        let person = match (self.lookup(known), other.map(|o| (o, self.lookup(o)))) {
            (None, None) => {
                let p = self.create(&mut changes);
                self.map(known, p, &mut changes);
                self.set_user(p, known, &mut changes);
                p
            }
            (None, Some((o, None))) => {
                let p = self.create(&mut changes);
                self.map(known, p, &mut changes);
                self.map(o, p, &mut changes);
                self.set_user(p, known, &mut changes);
                p
            }
            (None, Some((_, Some(q)))) if explicit || self.compatible(q, user) => {
                self.map(known, q, &mut changes);
                self.set_user(q, known, &mut changes);
                q
            }
            (None, Some((_, Some(_)))) => {
                let p = self.create(&mut changes);
                self.map(known, p, &mut changes);
                self.set_user(p, known, &mut changes);
                p
            }
            (Some(p), None) => p,
            (Some(p), Some((o, None))) => {
                self.map(o, p, &mut changes);
                p
            }
            (Some(p), Some((_, Some(q)))) if p == q => p,
            (Some(p), Some((_, Some(q)))) => {
                if explicit || self.compatible(q, user) {
                    self.merge(q, p, &mut changes);
                }
                p
            }
        };
        (person, changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventType, user: Option<&str>, anon: Option<&str>, prev: Option<&str>) -> Event {
        Event {
            message_id: "m".into(),
            kind,
            user_id: user.map(str::to_owned),
            anonymous_id: anon.map(str::to_owned),
            previous_id: prev.map(str::to_owned),
            event: None,
            name: None,
            timestamp: 0,
            received_at: 0,
            traits: vec![],
            traits_once: vec![],
            payload: "{}".into(),
        }
    }

    fn track(user: Option<&str>, anon: Option<&str>) -> Event {
        ev(EventType::Track, user, anon, None)
    }

    #[test]
    fn anonymous_browsing_then_identify_is_one_person() {
        let mut ids = Identities::new(1);
        let (a, _) = ids.resolve(&track(None, Some("anon")));
        let (a2, ch) = ids.resolve(&track(None, Some("anon")));
        assert_eq!(a, a2);
        assert!(ch.is_empty());
        let (u, ch) = ids.resolve(&ev(EventType::Identify, Some("u1"), Some("anon"), None));
        assert_eq!(u, a);
        assert_eq!(
            ch,
            vec![
                Change::MapId("u1".into(), a),
                Change::SetUser(a, "u1".into())
            ]
        );
        assert_eq!(ids.resolve(&track(Some("u1"), None)).0, a);
    }

    #[test]
    fn identify_merges_an_anonymous_person_into_the_known_one() {
        let mut ids = Identities::new(1);
        let (u, _) = ids.resolve(&track(Some("u1"), None));
        let (a, _) = ids.resolve(&track(None, Some("anon")));
        assert_ne!(u, a);
        let (p, ch) = ids.resolve(&ev(EventType::Identify, Some("u1"), Some("anon"), None));
        assert_eq!(p, u);
        assert_eq!(ch, vec![Change::Merge { from: a, into: u }]);
        assert_eq!(ids.resolve(&track(None, Some("anon"))).0, u);
    }

    #[test]
    fn shared_device_does_not_merge_two_users() {
        let mut ids = Identities::new(1);
        let (u1, _) = ids.resolve(&track(Some("u1"), Some("device")));
        let (u2, ch) = ids.resolve(&track(Some("u2"), Some("device")));
        assert_ne!(u1, u2);
        assert_eq!(
            ch,
            vec![
                Change::NewPerson(u2),
                Change::MapId("u2".into(), u2),
                Change::SetUser(u2, "u2".into())
            ]
        );
        assert_eq!(ids.resolve(&track(None, Some("device"))).0, u1);
        // Both known, still different users: no merge.
        let (p, ch) = ids.resolve(&track(Some("u2"), Some("device")));
        assert_eq!((p, ch), (u2, vec![]));
    }

    #[test]
    fn alias_always_merges() {
        let mut ids = Identities::new(1);
        let (old, _) = ids.resolve(&track(Some("old"), None));
        let (new, _) = ids.resolve(&track(Some("new"), None));
        let (p, ch) = ids.resolve(&ev(EventType::Alias, Some("new"), None, Some("old")));
        assert_eq!(p, new);
        assert_eq!(
            ch,
            vec![Change::Merge {
                from: old,
                into: new
            }]
        );
        assert_eq!(ids.find(old), new);
        assert_eq!(ids.resolve(&track(Some("old"), None)).0, new);
    }

    #[test]
    fn chained_merges_resolve_to_the_last_person() {
        let mut ids = Identities::new(1);
        let (a, _) = ids.resolve(&track(None, Some("a")));
        let (b, _) = ids.resolve(&track(None, Some("b")));
        let (c, _) = ids.resolve(&track(Some("c"), None));
        ids.resolve(&ev(EventType::Alias, Some("b"), None, Some("a")));
        ids.resolve(&ev(EventType::Alias, Some("c"), None, Some("b")));
        assert_eq!(ids.find(a), c);
        assert_eq!(ids.find(b), c);
    }

    #[test]
    fn rollback_restores_the_maps_as_they_were() {
        let mut ids = Identities::new(1);
        ids.resolve(&track(Some("u1"), Some("d1")));
        ids.resolve(&track(None, Some("anon")));
        ids.resolve(&track(Some("u2"), None));
        ids.commit();
        let before = ids.clone();
        ids.begin();
        // New people, new ids, a user set, merges with and without user ids.
        ids.resolve(&track(None, Some("fresh")));
        ids.resolve(&ev(EventType::Identify, Some("u3"), Some("fresh"), None));
        ids.resolve(&ev(EventType::Identify, Some("u1"), Some("anon"), None));
        ids.resolve(&ev(EventType::Alias, Some("u2"), None, Some("u1")));
        ids.resolve(&track(Some("u4"), Some("d4")));
        assert_ne!(ids, before);
        ids.rollback();
        assert_eq!(ids, before);
        // The same events after the rollback give the same people as before.
        let mut again = before.clone();
        again.begin();
        ids.begin();
        for e in [
            track(None, Some("fresh")),
            ev(EventType::Alias, Some("u2"), None, Some("u1")),
        ] {
            assert_eq!(ids.resolve(&e), again.resolve(&e));
        }
        // Kept changes stay.
        ids.commit();
        ids.rollback();
        assert_eq!(
            ids.find(ids.lookup("u1").unwrap()),
            ids.lookup("u2").unwrap()
        );
    }

    #[test]
    fn loaded_state_behaves_like_live_state() {
        let mut ids = Identities::new(1);
        ids.load_person(1, Some("u1"), None);
        ids.load_person(2, None, Some(1));
        ids.load_id("u1".into(), 1);
        ids.load_id("anon".into(), 2);
        assert_eq!(ids.resolve(&track(None, Some("anon"))).0, 1);
        let (p, ch) = ids.resolve(&track(None, Some("fresh")));
        assert_eq!(p, 3);
        assert_eq!(ch[0], Change::NewPerson(3));
    }
}
