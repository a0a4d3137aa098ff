//! What insights need of every person, read once from the timelines: orders
//! and revenue in a window, and email deliveries and engagement.

use std::collections::HashMap;

use roaring::RoaringTreemap;
use seglab_engine::Engine;
use seglab_engine::Timelines;

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
    /// Sorted by person id.
    pub buyers: Vec<(u64, Buyer)>,
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
        let ((buyers, total), (delivered, engaged)) =
            rayon::join(|| orders(tl, now), || email(tl, now));
        Facts {
            people: tl.person_count() as u64,
            buyer_set: buyers.iter().map(|(p, _)| *p).collect(),
            buyers,
            total,
            delivered,
            engaged,
        }
    }

    /// Orders of `members` in the window.
    pub fn totals(&self, members: &RoaringTreemap) -> Totals {
        let mut t = Totals::default();
        // Both sorted: one merge.
        let mut j = 0;
        for p in (members & &self.buyer_set).iter() {
            while j < self.buyers.len() && self.buyers[j].0 < p {
                j += 1;
            }
            let Some((_, b)) = self.buyers.get(j) else {
                break;
            };
            t.orders += b.orders;
            t.revenue += b.revenue;
            t.buyers += 1;
        }
        t
    }

    /// Buyers whose latest order is at or after `since` (inside the window).
    pub fn ordered_since(&self, since: i64) -> RoaringTreemap {
        self.buyers
            .iter()
            .filter(|(_, b)| b.last >= since)
            .map(|(p, _)| *p)
            .collect()
    }
}

/// Every buyer's orders in the window ending at `now`, by person id, and
/// their totals.
fn orders(tl: &Timelines, now: i64) -> (Vec<(u64, Buyer)>, Totals) {
    let since = now.saturating_sub(i64::from(REVENUE_WINDOW_DAYS) * DAY);
    let mut by_person: HashMap<u64, Buyer> = HashMap::new();
    tl.for_each_number(ORDER_EVENT, Some(REVENUE_PROPERTY), since, |p, t, v| {
        if t <= now {
            let b = by_person.entry(p as u64).or_default();
            b.orders += 1;
            b.revenue += v.unwrap_or(0.0);
            b.last = b.last.max(t);
        }
    });
    let mut buyers: Vec<(u64, Buyer)> = by_person.into_iter().collect();
    buyers.sort_unstable_by_key(|(p, _)| *p);
    let mut total = Totals::default();
    for (_, b) in &buyers {
        total.orders += b.orders;
        total.buyers += 1;
        total.revenue += b.revenue;
    }
    (buyers, total)
}

/// People an email was delivered to, and people who opened or clicked one,
/// in the email window ending at `now`.
fn email(tl: &Timelines, now: i64) -> (RoaringTreemap, RoaringTreemap) {
    let since = now.saturating_sub(i64::from(EMAIL_WINDOW_DAYS) * DAY);
    let people_with = |name: &str| {
        let mut set = RoaringTreemap::new();
        tl.for_each_number(name, None, since, |p, t, _| {
            if t <= now {
                set.insert(p as u64);
            }
        });
        set
    };
    let delivered = people_with(EMAIL_DELIVERED);
    let engaged = people_with(EMAIL_OPENED) | people_with(EMAIL_CLICKED);
    (delivered, engaged)
}
