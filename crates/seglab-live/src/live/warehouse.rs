//! Warehouse mode (ADR 0018): memberships computed elsewhere on a schedule,
//! diffed against what is recorded and recorded like native changes.

use std::collections::BTreeSet;

use roaring::RoaringTreemap;
use seglab_store::PersonId;

use super::{Batch, Live, Mode, Pending, Position, Seg, Stepped};
use crate::{Cause, Error, Result};

/// One segment's members as an evaluation found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluated {
    pub name: String,
    /// The version of the definition evaluated.
    pub version: i64,
    /// Today's person ids (merges followed), in any order.
    pub members: Vec<PersonId>,
}

impl Live {
    /// Records the entries and exits that take the recorded members to
    /// `evaluated`, at `now`, in one transaction (with the deliveries they
    /// owe). Cause `cause` (`warehouse` for a scheduled evaluation,
    /// `retention` for the one that follows a retention pass); `definition`
    /// (recorded, not delivered) for a segment first evaluated at its version. Segments in `evaluated` are
    /// the only ones touched, except those no longer `defined`, whose
    /// members exit (cause `deleted`). Only in [`Mode::Warehouse`].
    pub fn record_members(
        &mut self,
        evaluated: &[Evaluated],
        defined: &BTreeSet<String>,
        now: i64,
        cause: Cause,
    ) -> Result<Stepped> {
        if self.mode != Mode::Warehouse {
            return Err(Error::Invalid(
                "memberships are computed natively, not by a warehouse".into(),
            ));
        }
        let now = now.max(self.clock);
        let mut pending = Batch::default();
        for (i, s) in self.segs.iter_mut().enumerate() {
            if s.id != 0 && s.version >= 0 && !defined.contains(&s.name) {
                for person in s.members.iter() {
                    pending.push(Pending {
                        seg: i,
                        person: person as i64,
                        entered: false,
                        at: now,
                        cause: Cause::Deleted,
                        event_seq: None,
                        historical: false,
                    });
                }
                s.version = -1;
            }
        }
        for e in evaluated {
            let (i, cause) = match self.by_name.get(&e.name) {
                Some(&i) if self.segs[i].version == e.version => (i, cause),
                Some(&i) => {
                    self.segs[i].version = e.version;
                    self.segs[i].dirty = true;
                    (i, Cause::Definition)
                }
                None => {
                    self.by_name.insert(e.name.clone(), self.segs.len());
                    self.segs.push(Seg {
                        id: 0,
                        name: e.name.clone(),
                        version: e.version,
                        dirty: true,
                        members: RoaringTreemap::new(),
                    });
                    (self.segs.len() - 1, Cause::Definition)
                }
            };
            let now_in: RoaringTreemap = e.members.iter().map(|&p| p as u64).collect();
            let was_in = &self.segs[i].members;
            let entered = &now_in - was_in;
            let exited = was_in - &now_in;
            for (people, entered) in [(entered, true), (exited, false)] {
                for person in people.iter() {
                    pending.push(Pending {
                        seg: i,
                        person: person as i64,
                        entered,
                        at: now,
                        cause,
                        event_seq: None,
                        historical: false,
                    });
                }
            }
        }
        let out = Stepped {
            changes: pending.list.len(),
            entered: pending.list.iter().filter(|p| p.entered).count(),
            ..Stepped::default()
        };
        // The position in the log stays: it is the native engine's.
        let at = Position {
            clock: now,
            last_seq: self.last_seq,
            last_merge: self.last_merge,
        };
        if let Err(e) = self.record(pending.list, at) {
            self.reset()?;
            return Err(e);
        }
        Ok(out)
    }
}
