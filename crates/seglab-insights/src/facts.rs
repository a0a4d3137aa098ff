//! What insights need of every person, read once from the timelines: orders
//! and revenue in a window, and email deliveries and engagement.

use std::collections::HashMap;

use roaring::RoaringTreemap;
use seglab_engine::Engine;

use crate::{
    DAY, EMAIL_CLICKED, EMAIL_DELIVERED, EMAIL_OPENED, EMAIL_WINDOW_DAYS, ORDER_EVENT,
    REVENUE_PROPERTY, REVENUE_WINDOW_DAYS,
};

/// One buyer's orders in the window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Buyer {
    pub orders: u64,
    pub revenue: f64,
    /// The time of the latest order.
    pub last: i64,
}

/// Orders of a set of people.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Totals {
    pub orders: u64,
    pub buyers: u64,
    pub revenue: f64,
}

/// Orders (over a window ending at `now`) and email (over
/// [`EMAIL_WINDOW_DAYS`]) of everyone.
pub(crate) struct Facts {
    pub people: u64,
    pub buyers: HashMap<u64, Buyer>,
    pub buyer_set: RoaringTreemap,
    pub total: Totals,
    /// People an email was delivered to in the email window.
    pub delivered: RoaringTreemap,
    /// People who opened or clicked an email in the email window.
    pub engaged: RoaringTreemap,
}

impl Facts {
    /// Orders of the last [`REVENUE_WINDOW_DAYS`] days and email of the
    /// last [`EMAIL_WINDOW_DAYS`], at `now`.
    pub fn gather(engine: &Engine, now: i64) -> Facts {
        let tl = engine.timelines();
        let since = now.saturating_sub(i64::from(REVENUE_WINDOW_DAYS) * DAY);
        let mut buyers: HashMap<u64, Buyer> = HashMap::new();
        tl.for_each_number(ORDER_EVENT, Some(REVENUE_PROPERTY), since, |p, t, v| {
            if t <= now {
                let b = buyers.entry(p as u64).or_default();
                b.orders += 1;
                b.revenue += v.unwrap_or(0.0);
                b.last = b.last.max(t);
            }
        });
        let mut total = Totals::default();
        for b in buyers.values() {
            total.orders += b.orders;
            total.buyers += 1;
            total.revenue += b.revenue;
        }
        let email_since = now.saturating_sub(i64::from(EMAIL_WINDOW_DAYS) * DAY);
        let people_with = |name: &str| {
            let mut set = RoaringTreemap::new();
            tl.for_each_number(name, None, email_since, |p, t, _| {
                if t <= now {
                    set.insert(p as u64);
                }
            });
            set
        };
        let delivered = people_with(EMAIL_DELIVERED);
        let engaged = people_with(EMAIL_OPENED) | people_with(EMAIL_CLICKED);
        Facts {
            people: tl.person_count() as u64,
            buyer_set: buyers.keys().copied().collect(),
            buyers,
            total,
            delivered,
            engaged,
        }
    }

    /// Orders of `members` in the window.
    pub fn totals(&self, members: &RoaringTreemap) -> Totals {
        let mut t = Totals::default();
        let inside = members & &self.buyer_set;
        for p in inside.iter() {
            // Every person of the set has an entry.
            let Some(b) = self.buyers.get(&p) else {
                continue;
            };
            t.orders += b.orders;
            t.revenue += b.revenue;
            t.buyers += 1;
        }
        t
    }

    /// Members who ordered at or after `since` (inside the window).
    pub fn converted_since(&self, members: &RoaringTreemap, since: i64) -> u64 {
        (members & &self.buyer_set)
            .iter()
            .filter(|p| self.buyers.get(p).is_some_and(|b| b.last >= since))
            .count() as u64
    }
}
