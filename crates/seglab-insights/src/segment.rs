//! One segment's insights: size and share now and per day, orders and
//! revenue, conversion, email engagement (shapes in the crate docs).

use roaring::RoaringTreemap;
use seglab_live::Day;
use serde::Serialize;

use crate::facts::Facts;
use crate::{DAY, EMAIL_WINDOW_DAYS, REVENUE_WINDOW_DAYS, ratio};

/// A segment now, over the last days, and what its members buy and read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentInsights {
    pub segment: String,
    /// ISO-8601.
    pub at: String,
    pub size: u64,
    /// Everyone with a timeline.
    pub people: u64,
    /// `size / people` (0 with nobody at all).
    pub share: f64,
    /// Oldest first; empty when nothing was recorded for the segment.
    pub days: Vec<DayShare>,
    pub orders: OrderStats,
    pub email: EmailStats,
    /// Why a figure is `null` or missing, in words.
    pub notes: Vec<String>,
}

/// One UTC day of a segment, with its share of the people seen by then.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayShare {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub entered: u64,
    pub exited: u64,
    /// Members at the end of the day.
    pub size: u64,
    /// People whose first event is at or before the end of the day.
    pub people: u64,
    /// `size / people` (0 with nobody seen yet).
    pub share: f64,
}

/// Members' orders over the last [`REVENUE_WINDOW_DAYS`] days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OrderStats {
    pub window_days: u32,
    pub orders: u64,
    /// Members with at least one order.
    pub buyers: u64,
    pub revenue: f64,
    /// `revenue / size`; `None` with no members.
    pub revenue_per_member: Option<f64>,
    /// `revenue / orders`; `None` with no orders.
    pub average_order_value: Option<f64>,
    /// `buyers / size`; `None` with no members.
    pub conversion_rate: Option<f64>,
}

/// Members' email over the last [`EMAIL_WINDOW_DAYS`] days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EmailStats {
    pub window_days: u32,
    /// Members an email was delivered to.
    pub delivered: u64,
    /// Of those, members who opened or clicked one.
    pub engaged: u64,
    /// `engaged / delivered`; `None` when nothing was delivered.
    pub engagement_rate: Option<f64>,
}

/// What [`build`] reads.
pub(crate) struct Inputs<'a> {
    pub name: &'a str,
    pub at: i64,
    pub members: &'a RoaringTreemap,
    pub facts: &'a Facts,
    /// Recorded days (`None`: nothing recorded), the first starting at
    /// `first_day`.
    pub days: Option<Vec<Day>>,
    pub first_day: i64,
    /// Every person's first event time, sorted.
    pub first_seen: &'a [i64],
}

pub(crate) fn build(i: Inputs<'_>) -> SegmentInsights {
    let size = i.members.len();
    let people = i.facts.people;
    let totals = i.facts.totals(i.members);
    let orders = OrderStats {
        window_days: REVENUE_WINDOW_DAYS,
        orders: totals.orders,
        buyers: totals.buyers,
        revenue: totals.revenue,
        revenue_per_member: ratio(totals.revenue, size as f64),
        average_order_value: ratio(totals.revenue, totals.orders as f64),
        conversion_rate: ratio(totals.buyers as f64, size as f64),
    };
    let delivered = i.members & &i.facts.delivered;
    let engaged = delivered.intersection_len(&i.facts.engaged);
    let email = EmailStats {
        window_days: EMAIL_WINDOW_DAYS,
        delivered: delivered.len(),
        engaged,
        engagement_rate: ratio(engaged as f64, delivered.len() as f64),
    };
    let mut notes = Vec::new();
    if size == 0 {
        notes.push("no members: revenue per member and conversion rate are not defined".into());
    }
    if totals.orders == 0 {
        notes.push(format!(
            "no orders by members in the last {REVENUE_WINDOW_DAYS} days: no average order value"
        ));
    }
    if email.delivered == 0 {
        notes.push(format!(
            "no email delivered to members in the last {EMAIL_WINDOW_DAYS} days: no engagement rate"
        ));
    }
    if i.days.is_none() {
        notes.push("no history recorded for this segment yet (seglab serve records it)".into());
    }
    let days = i
        .days
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(n, d)| {
            let end = i.first_day + (n as i64 + 1) * DAY - 1;
            let seen = i.first_seen.partition_point(|&t| t <= end) as u64;
            DayShare {
                share: ratio(d.size as f64, seen as f64).unwrap_or(0.0),
                people: seen,
                day: d.day,
                entered: d.entered,
                exited: d.exited,
                size: d.size,
            }
        })
        .collect();
    SegmentInsights {
        segment: i.name.to_owned(),
        at: seglab_event::time::format_timestamp(i.at),
        size,
        people,
        share: ratio(size as f64, people as f64).unwrap_or(0.0),
        days,
        orders,
        email,
        notes,
    }
}
