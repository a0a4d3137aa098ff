//! Which person each merged person lives on in today, kept current from the
//! store's log of merges without re-reading every person.

use std::collections::HashMap;

use seglab_store::PersonId;

/// Merged person → today's person, with the reverse links needed to move a
/// whole group when its root merges again.
#[derive(Debug, Default, Clone)]
pub(crate) struct Roots {
    root_of: HashMap<PersonId, PersonId>,
    members: HashMap<PersonId, Vec<PersonId>>,
}

impl Roots {
    pub(crate) fn new(roots: HashMap<PersonId, PersonId>) -> Roots {
        let mut members: HashMap<PersonId, Vec<PersonId>> = HashMap::new();
        for (&p, &r) in &roots {
            members.entry(r).or_default().push(p);
        }
        Roots {
            root_of: roots,
            members,
        }
    }

    /// Today's person of `person`.
    pub(crate) fn resolve(&self, person: PersonId) -> PersonId {
        self.root_of.get(&person).copied().unwrap_or(person)
    }

    /// Every person merged into `root` (not `root` itself).
    pub(crate) fn group(&self, root: PersonId) -> impl Iterator<Item = PersonId> + '_ {
        self.members.get(&root).into_iter().flatten().copied()
    }

    /// Records that `from` merged into `into`; returns their roots before the
    /// merge (equal when it changes nothing).
    pub(crate) fn merge(&mut self, from: PersonId, into: PersonId) -> (PersonId, PersonId) {
        let (gone, kept) = (self.resolve(from), self.resolve(into));
        if gone == kept {
            return (gone, kept);
        }
        let mut moved = self.members.remove(&gone).unwrap_or_default();
        moved.push(gone);
        for &p in &moved {
            self.root_of.insert(p, kept);
        }
        self.members.entry(kept).or_default().extend(moved);
        (gone, kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_and_groups_move_together() {
        let mut r = Roots::new(HashMap::from([(1, 2)]));
        assert_eq!(r.resolve(1), 2);
        assert_eq!(r.merge(2, 3), (2, 3));
        assert_eq!((r.resolve(1), r.resolve(2), r.resolve(3)), (3, 3, 3));
        assert_eq!(r.merge(1, 3), (3, 3));
        assert_eq!(r.merge(4, 1), (4, 3));
        assert_eq!(r.resolve(4), 3);
        assert_eq!(r.resolve(9), 9);
    }
}
