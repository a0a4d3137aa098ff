//! Hand-written cases: every construct and its edges, checked against both the
//! reference evaluator and the engine.
//!
//! A data table (events, a condition, the expected members), one test per
//! construct: it stays one file past 800 lines so that it reads as one list.

use seglab_engine::{Engine, Timelines};
use seglab_lang::ast::{AggFunc, CmpOp, Condition, RfmDim, TimeTest};
use serde_json::json;

use seglab_engine::testing::support::*;

fn ge_count(query: seglab_lang::ast::EventQuery, n: f64) -> Condition {
    count(query, ge(n))
}

#[test]
fn did_in_last_window_boundaries() {
    let case = Case::new()
        .at(1, NOW - 7 * DAY, "A") // exactly on the boundary: in
        .at(2, NOW - 7 * DAY - 1, "A") // one millisecond too early
        .at(3, NOW, "A") // exactly now: in
        .at(4, NOW + 1, "A") // after now: not seen yet
        .at(5, NOW, "B")
        .set_trait(6, "plan", json!("pro")); // no events at all
    case.check(did(q("A").last(days(7))), NOW, &[1, 3]);
    case.check(did(q("A").last(hours(168))), NOW, &[1, 3]);
    case.check(did(q("A").last(weeks(1))), NOW, &[1, 3]);
    case.check(did(q("A").last(mins(7 * 24 * 60))), NOW, &[1, 3]);
    case.check(did(q("A").last(secs(7 * 24 * 3600))), NOW, &[1, 3]);
    case.check(did(q("A").last(days(6))), NOW, &[3]);
    // No window: all time up to now.
    case.check(did(q("A")), NOW, &[1, 2, 3]);
    // Later, the event after now is seen; the earliest fall out of the window.
    case.check(did(q("A").last(days(7))), NOW + 1, &[3, 4]);
    case.check(did(q("Never tracked")), NOW, &[]);
    case.check(not(did(q("A"))), NOW, &[4, 5, 6]);
}

#[test]
fn did_between_start_inclusive_end_exclusive() {
    let (start, end) = (NOW - 10 * DAY, NOW - 5 * DAY);
    let case = Case::new()
        .at(1, start, "A")
        .at(2, start - 1, "A")
        .at(3, end, "A")
        .at(4, end - 1, "A")
        .at(5, NOW + HOUR, "A")
        .at(6, NOW, "A");
    case.check(did(q("A").between(start, end)), NOW, &[1, 4]);
    // A range reaching past now only sees up to now.
    case.check(did(q("A").between(NOW - DAY, NOW + DAY)), NOW, &[6]);
    case.check(
        did(q("A").between(NOW - DAY, NOW + DAY)),
        NOW + 2 * HOUR,
        &[5, 6],
    );
    case.check(did(q("A").between(end, start)), NOW, &[]);
}

#[test]
fn count_tests() {
    let case = Case::new()
        .at(1, NOW - DAY, "A")
        .at(2, NOW - DAY, "A")
        .at(2, NOW - 2 * DAY, "A")
        .at(3, NOW - DAY, "A")
        .at(3, NOW - DAY, "A") // same time twice: both count
        .at(3, NOW - 2 * DAY, "A")
        .at(4, NOW + DAY, "A") // not seen
        .at(5, NOW - 30 * DAY, "A");
    let a7 = || q("A").last(days(7));
    case.check(ge_count(a7(), 2.0), NOW, &[2, 3]);
    case.check(count(a7(), num(CmpOp::Eq, 0.0)), NOW, &[4, 5]);
    case.check(count(a7(), num(CmpOp::Ne, 1.0)), NOW, &[2, 3, 4, 5]);
    case.check(count(a7(), num(CmpOp::Lt, 2.0)), NOW, &[1, 4, 5]);
    case.check(count(a7(), num(CmpOp::Gt, 2.0)), NOW, &[3]);
    case.check(count(a7(), num(CmpOp::Le, 1.0)), NOW, &[1, 4, 5]);
    case.check(count(a7(), between(1.0, 2.0)), NOW, &[1, 2]);
    case.check(count(q("A"), ge(1.0)), NOW, &[1, 2, 3, 5]);
}

#[test]
fn property_predicates() {
    let case = Case::new()
        .ev(
            1,
            NOW - HOUR,
            "V",
            json!({"category": "shoes", "price": 80, "tags": ["sale", "new"]}),
        )
        .ev(
            2,
            NOW - HOUR,
            "V",
            json!({"category": "bags", "price": 20.5, "name": "Tote"}),
        )
        .ev(3, NOW - HOUR, "V", json!({"category": null, "price": "80"}))
        .ev(
            4,
            NOW - HOUR,
            "V",
            json!({"products": [{"category": "hats"}, {"category": "shoes"}]}),
        )
        .ev(
            5,
            NOW - HOUR,
            "V",
            json!({"category": "shoe-laces", "gift": true, "o": {"deep": {"x": 1}}}),
        )
        .at(6, NOW - HOUR, "V");
    let v = |p| did(q("V").filter(p));
    case.check(v(eq("category", ls("shoes"))), NOW, &[1]);
    // Missing (or null) properties satisfy nothing, `!=` included.
    case.check(v(cmp("category", CmpOp::Ne, ls("shoes"))), NOW, &[2, 5]);
    case.check(v(pnot(eq("category", ls("shoes")))), NOW, &[2, 3, 4, 5, 6]);
    // Numbers compare numerically; a string "80" is not the number 80.
    case.check(v(cmp("price", CmpOp::Gt, ln(50.0))), NOW, &[1]);
    case.check(v(cmp("price", CmpOp::Le, ln(20.5))), NOW, &[2]);
    case.check(v(eq("price", ln(80.0))), NOW, &[1]);
    case.check(v(eq("price", ls("80"))), NOW, &[3]);
    case.check(v(cmp("price", CmpOp::Ne, ln(80.0))), NOW, &[2, 3]);
    // Strings order byte-wise; mixed types never order.
    case.check(v(cmp("category", CmpOp::Lt, ls("c"))), NOW, &[2]);
    // "shoe-laces" < "shoes": '-' sorts before 's'.
    case.check(v(cmp("category", CmpOp::Ge, ls("shoes"))), NOW, &[1]);
    case.check(v(cmp("category", CmpOp::Ge, ls("shoe"))), NOW, &[1, 5]);
    case.check(v(cmp("price", CmpOp::Gt, ls("1"))), NOW, &[3]);
    case.check(v(cmp("gift", CmpOp::Gt, lb(false))), NOW, &[]);
    case.check(v(eq("gift", lb(true))), NOW, &[5]);
    case.check(
        v(is_in("category", vec![ls("bags"), ls("shoes"), ln(1.0)])),
        NOW,
        &[1, 2],
    );
    case.check(v(is_in("category", vec![ls("never seen")])), NOW, &[]);
    // contains: substring of a string, element of an array.
    case.check(v(contains("category", ls("shoe"))), NOW, &[1, 5]);
    case.check(v(contains("tags", ls("sale"))), NOW, &[1]);
    case.check(v(contains("tags", ls("sal"))), NOW, &[]);
    case.check(v(starts_with("category", "sh")), NOW, &[1, 5]);
    case.check(v(starts_with("tags", "ne")), NOW, &[1]);
    case.check(v(exists("category")), NOW, &[1, 2, 5]);
    case.check(v(exists("o")), NOW, &[5]);
    case.check(v(eq("o.deep.x", ln(1.0))), NOW, &[5]);
    // A path through an array matches when any element matches.
    case.check(v(eq("products.category", ls("shoes"))), NOW, &[4]);
    case.check(v(eq("products.category", ls("hats"))), NOW, &[4]);
    case.check(v(exists("products")), NOW, &[4]);
    case.check(v(eq("tags", ls("new"))), NOW, &[1]);
    // Combinations; unseen values and paths never match.
    case.check(
        v(pand(vec![
            exists("price"),
            pnot(eq("category", ls("bags"))),
        ])),
        NOW,
        &[1, 3],
    );
    case.check(
        v(por(vec![eq("gift", lb(true)), eq("name", ls("Tote"))])),
        NOW,
        &[2, 5],
    );
    case.check(v(eq("category", ls("nope"))), NOW, &[]);
    case.check(v(cmp("category", CmpOp::Ne, ls("nope"))), NOW, &[1, 2, 5]);
    case.check(v(eq("no.such.path", ls("shoes"))), NOW, &[]);
    case.check(v(pnot(exists("no.such.path"))), NOW, &[1, 2, 3, 4, 5, 6]);
}

#[test]
fn aggregates() {
    let oc = "Order Completed";
    let case = Case::new()
        .ev(1, NOW - 10 * DAY, oc, json!({"revenue": 300}))
        .ev(1, NOW - 400 * DAY, oc, json!({"revenue": 1000}))
        .ev(1, NOW - DAY, oc, json!({"revenue": 200}))
        .ev(2, NOW - 10 * DAY, oc, json!({"revenue": "lots"}))
        .ev(2, NOW - 9 * DAY, oc, json!({"revenue": 100}))
        .ev(3, NOW - 10 * DAY, oc, json!({"total": 900}))
        .ev(4, NOW + DAY, oc, json!({"revenue": 900}))
        .ev(
            5,
            NOW - DAY,
            oc,
            json!({"products": [{"price": 5}, {"price": 7}, {"price": "x"}]}),
        )
        .at(6, NOW - DAY, "Page Viewed");
    let year = || q(oc).last(days(365));
    case.check(agg(AggFunc::Sum, year(), "revenue", ge(500.0)), NOW, &[1]);
    case.check(agg(AggFunc::Sum, q(oc), "revenue", ge(1500.0)), NOW, &[1]);
    // No values: the sum is 0 (everyone, events or not); avg/min/max fail.
    case.check(
        agg(AggFunc::Sum, year(), "revenue", num(CmpOp::Eq, 0.0)),
        NOW,
        &[3, 4, 5, 6],
    );
    case.check(agg(AggFunc::Avg, year(), "revenue", ge(0.0)), NOW, &[1, 2]);
    case.check(
        agg(AggFunc::Avg, year(), "revenue", num(CmpOp::Eq, 250.0)),
        NOW,
        &[1],
    );
    case.check(
        agg(AggFunc::Min, year(), "revenue", num(CmpOp::Le, 100.0)),
        NOW,
        &[2],
    );
    case.check(agg(AggFunc::Max, q(oc), "revenue", ge(1000.0)), NOW, &[1]);
    case.check(
        agg(AggFunc::Max, year(), "revenue", between(100.0, 300.0)),
        NOW,
        &[1, 2],
    );
    case.check(
        not(agg(AggFunc::Min, year(), "revenue", ge(f64::MIN))),
        NOW,
        &[3, 4, 5, 6],
    );
    // Array elements each count; non-numeric ones are skipped.
    case.check(
        agg(AggFunc::Sum, year(), "products.price", num(CmpOp::Eq, 12.0)),
        NOW,
        &[5],
    );
    case.check(
        agg(AggFunc::Avg, year(), "products.price", num(CmpOp::Eq, 6.0)),
        NOW,
        &[5],
    );
    case.check(
        agg(
            AggFunc::Sum,
            q(oc)
                .filter(cmp("revenue", CmpOp::Gt, ln(150.0)))
                .last(days(30)),
            "revenue",
            num(CmpOp::Eq, 500.0),
        ),
        NOW,
        &[1],
    );
}

#[test]
fn distinct_values() {
    let pv = "Product Viewed";
    let case = Case::new()
        .ev(1, NOW - DAY, pv, json!({"category": "shoes"}))
        .ev(1, NOW - DAY, pv, json!({"category": "shoes"}))
        .ev(1, NOW - 2 * DAY, pv, json!({"category": "bags"}))
        .ev(2, NOW - DAY, pv, json!({"category": ["a", "b", "c"]}))
        .ev(3, NOW - DAY, pv, json!({"category": 1}))
        .ev(3, NOW - DAY, pv, json!({"category": 1.0}))
        .ev(3, NOW - DAY, pv, json!({"category": "1"}))
        .ev(3, NOW - 40 * DAY, pv, json!({"category": "old"}))
        .ev(4, NOW - DAY, pv, json!({"category": {"nested": true}}));
    let month = || q(pv).last(days(30));
    case.check(distinct(month(), "category", ge(2.0)), NOW, &[1, 2, 3]);
    case.check(
        distinct(month(), "category", num(CmpOp::Eq, 2.0)),
        NOW,
        &[1, 3],
    );
    case.check(
        distinct(q(pv), "category", num(CmpOp::Eq, 3.0)),
        NOW,
        &[2, 3],
    );
    // Objects are not counted.
    case.check(
        distinct(month(), "category", num(CmpOp::Eq, 0.0)),
        NOW,
        &[4],
    );
}

#[test]
fn top_value_and_ties() {
    let pv = "Product Viewed";
    let cat = |c: &str| json!({"category": c});
    let case = Case::new()
        // 1: shoes twice, bags once.
        .ev(1, NOW - 3 * DAY, pv, cat("shoes"))
        .ev(1, NOW - 2 * DAY, pv, cat("bags"))
        .ev(1, NOW - DAY, pv, cat("shoes"))
        // 2: a tie; bags is the most recent.
        .ev(2, NOW - 3 * DAY, pv, cat("shoes"))
        .ev(2, NOW - 2 * DAY, pv, cat("bags"))
        // 3 and 6: a tie at the same time; the greater value wins, whatever
        // the order of arrival.
        .ev(3, NOW - DAY, pv, cat("bags"))
        .ev(3, NOW - DAY, pv, cat("shoes"))
        .ev(6, NOW - DAY, pv, cat("shoes"))
        .ev(6, NOW - DAY, pv, cat("bags"))
        // 4: a tie inside one event.
        .ev(4, NOW - DAY, pv, json!({"category": ["shoes", "bags"]}))
        // 7 and 8: strings sort after numbers and booleans.
        .ev(7, NOW - DAY, pv, json!({"category": [true, 1, "1"]}))
        .ev(8, NOW - DAY, pv, json!({"category": [true, 2, 10]}))
        // 5: shoes only after now.
        .ev(5, NOW - DAY, pv, cat("bags"))
        .ev(5, NOW + DAY, pv, cat("shoes"))
        .ev(5, NOW + DAY, pv, cat("shoes"));
    case.check(top(q(pv), "category", ls("shoes")), NOW, &[1, 3, 4, 6]);
    case.check(top(q(pv), "category", ls("bags")), NOW, &[2, 5]);
    case.check(
        top(q(pv).last(days(2)), "category", ls("bags")),
        NOW,
        &[2, 5],
    );
    case.check(top(q(pv), "category", ls("hats")), NOW, &[]);
    case.check(top(q(pv), "category", ls("1")), NOW, &[7]);
    case.check(top(q(pv), "category", ln(10.0)), NOW, &[8]);
    case.check(
        top(q(pv), "category", ls("shoes")),
        NOW + 2 * DAY,
        &[1, 3, 4, 5, 6],
    );
}

#[test]
fn first_and_last() {
    let oc = "Order Completed";
    let case = Case::new()
        .at(1, NOW - 20 * DAY, oc)
        .at(1, NOW - DAY, oc)
        .at(2, NOW - 14 * DAY, oc) // exactly on the boundary
        .at(3, NOW - 14 * DAY - 1, oc)
        .at(3, NOW - 100 * DAY, "Page Viewed")
        .at(4, NOW + 1, oc) // after now
        .at(4, NOW - 90 * DAY, "Page Viewed")
        .at(5, NOW - 60 * DAY, "Page Viewed") // exactly 60d ago
        .at(6, NOW - 60 * DAY - 1, "Page Viewed");
    case.check(first(Some(ev(oc)), in_last(days(14))), NOW, &[2]);
    case.check(last(Some(ev(oc)), in_last(days(14))), NOW, &[1, 2]);
    case.check(first(Some(ev(oc)), before(days(14))), NOW, &[1, 3]);
    // first_seen / last_seen: any event; `before D ago` is strict.
    case.check(last(None, before(days(60))), NOW, &[4, 6]);
    case.check(
        and(vec![
            last(None, before(days(60))),
            first(None, before(days(60))),
        ]),
        NOW,
        &[4, 6],
    );
    case.check(first(None, before(days(90))), NOW, &[3]);
    case.check(
        first(
            None,
            TimeTest::Between {
                start: NOW - 60 * DAY,
                end: NOW - 14 * DAY,
            },
        ),
        NOW,
        &[1, 5],
    );
    case.check(last(None, in_last(secs(0))), NOW, &[]);
    case.check(last(None, in_last(secs(0))), NOW + 1, &[4]);
    // Nothing seen: no first, no last.
    case.check(
        not(first(None, before(days(0)))),
        NOW - 200 * DAY,
        &[1, 2, 3, 4, 5, 6],
    );
    case.check(
        first(Some(ev_where(oc, eq("x", ln(1.0)))), before(days(0))),
        NOW,
        &[],
    );
}

#[test]
fn then_within_boundaries() {
    let (a, b) = ("Product Added", "Order Completed");
    let t = NOW - 5 * DAY;
    let case = Case::new()
        .at(1, t, a)
        .at(1, t, b) // same time: not after
        .at(2, t, a)
        .at(2, t + DAY, b) // exactly t + T: counted
        .at(3, t, a)
        .at(3, t + DAY + 1, b) // too late
        .at(4, t, b) // before A
        .at(4, t + 1, a)
        .at(5, NOW - HOUR, a)
        .at(5, NOW + 1, b) // after now: not seen
        .at(6, t - 30 * DAY, a) // A outside the window ...
        .at(6, t - 30 * DAY + HOUR, b)
        .at(7, t, a) // an early A, a B long after, then a second A that converts
        .at(7, t + 2 * DAY, a)
        .at(7, t + 2 * DAY + HOUR, b);
    let c = || then(q(a).last(days(7)), ev(b), hours(24));
    case.check(c(), NOW, &[2, 7]);
    case.check(then(q(a), ev(b), hours(24)), NOW, &[2, 6, 7]);
    case.check(c(), NOW + 2, &[2, 5, 7]);
    // The B may fall after a `between` window; the A may not.
    case.check(then(q(a).between(t, t + 1), ev(b), days(1)), NOW, &[2]);
    case.check(then(q(a).last(days(7)), ev(b), secs(0)), NOW, &[]);
    case.check(then(q(a), ev_where(b, eq("x", ln(1.0))), days(1)), NOW, &[]);
}

#[test]
fn then_not_within_deadline() {
    let (a, b) = ("Product Added", "Order Completed");
    let t = NOW - 5 * DAY;
    let case = Case::new()
        .at(1, NOW - DAY, a) // deadline exactly now: counted
        .at(2, NOW - DAY + 1, a) // deadline not reached yet
        .at(3, t, a)
        .at(3, t, b) // same time as A: does not prevent
        .at(4, t, a)
        .at(4, t + DAY, b) // exactly at the deadline: prevents
        .at(5, t, a)
        .at(5, t + DAY + 1, b) // after the deadline: does not prevent
        .at(6, t, a) // first A converted, second A abandoned
        .at(6, t + HOUR, b)
        .at(6, t + 2 * DAY, a)
        .at(7, t, a) // every A converted
        .at(7, t + HOUR, b)
        .at(7, t + 2 * DAY, a)
        .at(7, t + 2 * DAY + HOUR, b)
        .at(8, t - 30 * DAY, a); // outside the window
    let c = || then_not(q(a).last(days(7)), ev(b), Some(hours(24)));
    case.check(c(), NOW, &[1, 3, 5, 6]);
    case.check(c(), NOW + 1, &[1, 2, 3, 5, 6]);
    case.check(
        then_not(q(a), ev(b), Some(hours(24))),
        NOW,
        &[1, 3, 5, 6, 8],
    );
    case.check(
        then_not(q(a).last(days(7)), ev(b), Some(secs(0))),
        NOW,
        &[1, 2, 3, 4, 5, 6, 7],
    );
    case.check(
        then_not(q(a).last(days(7)), ev("Never"), Some(days(2))),
        NOW,
        &[3, 4, 5, 6, 7],
    );
}

#[test]
fn then_not_latest_a() {
    let (a, b) = ("Product Added", "Order Completed");
    let t = NOW - 2 * DAY;
    let case = Case::new()
        .at(1, t, a)
        .at(1, t + HOUR, b)
        .at(1, t + 2 * HOUR, a) // latest A not followed
        .at(2, t, a)
        .at(2, t + HOUR, b)
        .at(3, t, a)
        .at(3, t, b) // same time: not after
        .at(4, t, a)
        .at(4, NOW + 1, b) // after now: not seen
        .at(5, t - 30 * DAY, a) // A outside the window
        .at(6, t - 30 * DAY, a) // A in window, B before window
        .at(6, t - 29 * DAY, b)
        .at(6, t, a);
    let c = then_not(q(a).last(days(7)), ev(b), None);
    case.check(c, NOW, &[1, 3, 4, 6]);
    case.check(
        then_not(q(a).last(days(7)), ev(b), None),
        NOW + 1,
        &[1, 3, 6],
    );
    case.check(then_not(q(a), ev(b), None), NOW, &[1, 3, 4, 5, 6]);
}

#[test]
fn stopped_and_restarted() {
    let e = "Product Viewed";
    let d = 14 * DAY;
    let case = Case::new()
        .at(1, NOW - 2 * d, e) // start of the earlier period: in
        .at(2, NOW - d, e) // start of the quiet period: not stopped
        .at(3, NOW - d - 1, e) // last ms of the earlier period
        .at(4, NOW - 2 * d - 1, e) // too early
        .at(5, NOW - 20 * DAY, e)
        .at(5, NOW - DAY, e) // active again
        .at(6, NOW - 20 * DAY, e)
        .at(6, NOW + 1, e); // after now: not seen
    case.check(stopped(ev(e), days(14)), NOW, &[1, 3, 6]);
    case.check(stopped(ev(e), weeks(2)), NOW, &[1, 3, 6]);
    case.check(stopped(ev(e), days(14)), NOW + 1, &[2, 3]);
    let case = Case::new()
        .at(1, NOW - DAY, e)
        .at(1, NOW - 2 * d - 1, e) // before the gap
        .at(2, NOW - DAY, e)
        .at(2, NOW - 2 * d, e) // in the gap (its first ms)
        .at(2, NOW - 40 * DAY, e)
        .at(3, NOW - d, e) // recent period's first ms
        .at(3, NOW - 50 * DAY, e)
        .at(4, NOW - d - 1, e) // in the gap (its last ms)
        .at(4, NOW - DAY, e)
        .at(4, NOW - 50 * DAY, e)
        .at(5, NOW - DAY, e) // nothing before the gap
        .at(6, NOW - 50 * DAY, e); // nothing recent
    case.check(restarted(ev(e), days(14)), NOW, &[1, 3]);
    case.check(restarted(ev(e), weeks(2)), NOW, &[1, 3]);
}

#[test]
fn regularly_periods() {
    let e = "Email Opened";
    let p = WEEK;
    let case = Case::new()
        // 1: twice in period 0 (one exactly at now - P), twice in period 1.
        .at(1, NOW - p, e)
        .at(1, NOW, e)
        .at(1, NOW - p - 1, e)
        .at(1, NOW - 2 * p, e)
        // 2: twice in period 0 only (period 1 has one).
        .at(2, NOW - HOUR, e)
        .at(2, NOW - 2 * HOUR, e)
        .at(2, NOW - p - HOUR, e)
        // 3: twice in periods 1 and 2.
        .at(3, NOW - p - HOUR, e)
        .at(3, NOW - p - 2 * HOUR, e)
        .at(3, NOW - 2 * p - HOUR, e)
        .at(3, NOW - 3 * p + 1, e)
        // 4: twice in period 3 (outside "last 3") and in period 0.
        .at(4, NOW - 3 * p - HOUR, e)
        .at(4, NOW - 3 * p - 2 * HOUR, e)
        .at(4, NOW - HOUR, e)
        .at(4, NOW - 2 * HOUR, e)
        .at(5, NOW + 1, e)
        .at(5, NOW + 2, e);
    case.check(regularly(ev(e), 2, weeks(1), 2, 3), NOW, &[1, 3]);
    case.check(regularly(ev(e), 2, days(7), 1, 3), NOW, &[1, 2, 3, 4]);
    case.check(regularly(ev(e), 2, days(7), 2, 4), NOW, &[1, 3, 4]);
    case.check(regularly(ev(e), 1, days(7), 2, 3), NOW, &[1, 2, 3]);
    case.check(regularly(ev(e), 1, days(7), 3, 3), NOW, &[]);
    case.check(regularly(ev(e), 3, days(7), 1, 10), NOW, &[]);
    // At least 0 periods: always; 0 times per period: every period counts.
    case.check(regularly(ev(e), 5, days(7), 0, 3), NOW, &[1, 2, 3, 4, 5]);
    case.check(regularly(ev(e), 0, days(7), 3, 3), NOW, &[1, 2, 3, 4, 5]);
    case.check(regularly(ev(e), 0, days(7), 4, 3), NOW, &[]);
    // A zero-length period is the instant now.
    case.check(regularly(ev(e), 1, secs(0), 1, 5), NOW, &[1]);
}

#[test]
fn traits() {
    let case = Case::new()
        .set_trait(1, "plan", json!("pro"))
        .set_trait(1, "address", json!({"city": "Oslo", "zip": 150}))
        .set_trait(2, "plan", json!("free"))
        .set_trait(2, "plan", json!("plus")) // replaced
        .set_trait(3, "plan", json!("pro"))
        .set_trait(3, "plan", json!(null)) // removed
        .set_trait(3, "tags", json!(["vip", "beta"]))
        .at(4, NOW - DAY, "Page Viewed");
    let t = trait_test;
    case.check(t(eq("plan", ls("pro"))), NOW, &[1]);
    case.check(t(eq("plan", ls("free"))), NOW, &[]);
    case.check(t(exists("plan")), NOW, &[1, 2]);
    case.check(t(cmp("plan", CmpOp::Ne, ls("pro"))), NOW, &[2]);
    case.check(t(eq("address.city", ls("Oslo"))), NOW, &[1]);
    case.check(t(cmp("address.zip", CmpOp::Lt, ln(200.0))), NOW, &[1]);
    case.check(t(exists("address")), NOW, &[1]);
    case.check(t(contains("tags", ls("vip"))), NOW, &[3]);
    case.check(t(is_in("plan", vec![ls("plus"), ls("pro")])), NOW, &[1, 2]);
    case.check(t(pnot(exists("plan"))), NOW, &[3, 4]);
}

#[test]
fn merged_people_are_one_timeline() {
    let (a, b) = ("Product Added", "Order Completed");
    let t = NOW - 2 * DAY;
    let case = Case::new()
        .at(10, t, a) // anonymous
        .set_trait(10, "plan", json!("free"))
        .set_trait(10, "source", json!("ads"))
        .at(20, t + HOUR, b) // identified
        .set_trait(20, "plan", json!("pro"))
        .merge(10, 20)
        .compact()
        .at(10, t + 2 * HOUR, "Page Viewed") // the old id now feeds the merged person
        .at(30, t, a)
        .at(40, t, b)
        .merge(40, 30) // merged into a person whose A has the same time
        .merge(99, 30); // an unknown id becomes an alias
    case.check(then(q(a), ev(b), hours(1)), NOW, &[20]);
    case.check(then(q(a), ev(b), hours(2)), NOW, &[20]);
    case.check(did(q("Page Viewed")), NOW, &[20]);
    case.check(count(q(a), ge(1.0)), NOW, &[20, 30]);
    case.check(then_not(q(a), ev(b), None), NOW, &[30]);
    // The surviving person's traits win; the others are added.
    case.check(trait_test(eq("plan", ls("pro"))), NOW, &[20]);
    case.check(trait_test(eq("source", ls("ads"))), NOW, &[20]);
    case.check(not(did(q("Nothing"))), NOW, &[20, 30]);
    let e = case.engine();
    assert_eq!(e.timelines().person_count(), 2);
    assert_eq!(e.timelines().canonical_id(10), Some(20));
    assert_eq!(e.timelines().canonical_id(99), Some(30));
}

#[test]
fn empty_engine_and_people_without_events() {
    let empty = Case::new();
    empty.check(did(q("A")), NOW, &[]);
    empty.check(not(did(q("A"))), NOW, &[]);
    empty.check(rfm_in(&["Champions"]), NOW, &[]);
    let case = Case::new().set_trait(1, "plan", json!("pro"));
    case.check(not(did(q("A"))), NOW, &[1]);
    case.check(count(q("A"), num(CmpOp::Eq, 0.0)), NOW, &[1]);
    case.check(last(None, before(days(1))), NOW, &[]);
    case.check(and(vec![]), NOW, &[1]);
    case.check(or(vec![]), NOW, &[]);
}

#[test]
fn segment_references() {
    let case = Case::new()
        .at(1, NOW - DAY, "A")
        .at(1, NOW - DAY, "B")
        .at(2, NOW - DAY, "A")
        .at(3, NOW - DAY, "B")
        .segment("has_a", did(q("A")))
        .segment("has_a_and_b", and(vec![in_segment("has_a"), did(q("B"))]))
        .segment(
            "chain",
            or(vec![in_segment("has_a_and_b"), in_segment("has_a")]),
        );
    case.check(in_segment("has_a"), NOW, &[1, 2]);
    case.check(in_segment("has_a_and_b"), NOW, &[1]);
    case.check(not(in_segment("has_a_and_b")), NOW, &[2, 3]);
    case.check(in_segment("chain"), NOW, &[1, 2]);
    case.check(
        and(vec![in_segment("chain"), not(in_segment("has_a_and_b"))]),
        NOW,
        &[2],
    );
    case.check(in_segment("has_a"), NOW - 2 * DAY, &[]);
    case.check_error(in_segment("nope"), NOW, "unknown_segment");
    // Errors are reported even where evaluation would not reach them.
    case.check_error(
        and(vec![or(vec![]), in_segment("nope")]),
        NOW,
        "unknown_segment",
    );
}

#[test]
fn segment_cycles_are_errors() {
    let mut e = Engine::new(Timelines::new());
    e.define("a", in_segment("b")).unwrap();
    let err = e.define("b", in_segment("a")).unwrap_err();
    assert_eq!(err.code(), "segment_cycle");
    assert!(e.definitions().get("b").is_none());
    e.define("b", did(q("X"))).unwrap();
    let err = e
        .define("b", and(vec![did(q("X")), in_segment("a")]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "segment references form a cycle: b -> a -> b"
    );
    assert_eq!(e.definitions()["b"], did(q("X")));
    let err = e
        .evaluate_all(
            &[
                ("x".to_owned(), in_segment("y")),
                ("y".to_owned(), in_segment("x")),
            ],
            NOW,
        )
        .unwrap_err();
    assert_eq!(err.code(), "segment_cycle");
    let err = e
        .evaluate_all(
            &[("x".to_owned(), did(q("X"))), ("x".to_owned(), did(q("X")))],
            NOW,
        )
        .unwrap_err();
    assert_eq!(err.code(), "duplicate_segment");
    // A self reference.
    assert_eq!(
        e.define("s", in_segment("s")).unwrap_err().code(),
        "segment_cycle"
    );
}

#[test]
fn evaluate_all_shares_segments() {
    let case = Case::new()
        .at(1, NOW - DAY, "A")
        .at(2, NOW - DAY, "B")
        .segment("defined", did(q("B")));
    let e = case.engine();
    let out = e
        .evaluate_all(
            &[
                ("a".to_owned(), did(q("A"))),
                (
                    "a_or_defined".to_owned(),
                    or(vec![in_segment("a"), in_segment("defined")]),
                ),
                // A listed segment shadows a defined one of the same name.
                ("defined".to_owned(), did(q("A"))),
            ],
            NOW,
        )
        .unwrap();
    let members: Vec<(String, Vec<i64>)> = out
        .iter()
        .map(|(n, b)| (n.clone(), e.members(b, 0, 10)))
        .collect();
    assert_eq!(
        members,
        vec![
            ("a".to_owned(), vec![1]),
            ("a_or_defined".to_owned(), vec![1]),
            ("defined".to_owned(), vec![1]),
        ]
    );
    let defined = e.evaluate_defined(NOW).unwrap();
    assert_eq!(defined.len(), 1);
    assert_eq!(e.members(&defined[0].1, 0, 10), vec![2]);
    assert_eq!(
        e.members(&e.evaluate_segment("defined", NOW).unwrap(), 0, 10),
        vec![2]
    );
}

#[test]
fn members_are_paged() {
    let mut case = Case::new();
    for p in 0..100 {
        case = case.at(1000 + p, NOW - DAY, "A");
    }
    let e = case.engine();
    let all = e.evaluate(&did(q("A")), NOW).unwrap();
    assert_eq!(e.count(&did(q("A")), NOW).unwrap(), 100);
    assert_eq!(e.members(&all, 0, 3), vec![1000, 1001, 1002]);
    assert_eq!(e.members(&all, 98, 10), vec![1098, 1099]);
    assert!(e.members(&all, 100, 10).is_empty());
}

/// Five buyers with distinct recency, frequency and revenue, one buyer tied
/// with the first, and people who are not buyers (yet).
fn rfm_case() -> Case {
    let oc = "Order Completed";
    let mut case = Case::new();
    let buyers: [(i64, i64, u32, f64); 5] = [
        // (person, days since last order, orders, revenue per order)
        (1, 50, 1, 10.0),
        (2, 30, 2, 20.0),
        (3, 20, 3, 30.0),
        (4, 10, 4, 25.0),
        (5, 1, 5, 100.0),
    ];
    for (p, last_days, n, revenue) in buyers {
        for i in 0..n {
            let at = NOW - (last_days + i64::from(i)) * DAY;
            case = case.ev(p, at, oc, json!({"revenue": revenue}));
        }
    }
    case.ev(6, NOW + DAY, oc, json!({"revenue": 1000}))
        .at(7, NOW - DAY, "Page Viewed")
        .ev(
            8,
            NOW - 50 * DAY,
            oc,
            json!({"revenue": "ten", "products": []}),
        )
}

#[test]
fn rfm_quintiles_and_cells() {
    let case = rfm_case();
    // Buyers: 1..5 and 8 (6 buys only after now; 7 never). n = 6.
    // R: 1 and 8 tie (worse 0 → 1); 2: worse 2 → 2; 3 → 3; 4 → 4; 5 → 5.
    // F: 1 and 8 tie (1 order) → 1; 2 → 2; ...; 5 → 5.
    // M: 8 has 0 (worse 0 → 1); 1: 10 (worse 1 → 1); 2: 40 → 2; 3: 90 → 3;
    //    4: 100 → 4; 5: 500 → 5.
    case.check(rfm_score(RfmDim::R, ge(4.0)), NOW, &[4, 5]);
    case.check(rfm_score(RfmDim::R, num(CmpOp::Eq, 1.0)), NOW, &[1, 8]);
    case.check(rfm_score(RfmDim::F, num(CmpOp::Eq, 2.0)), NOW, &[2]);
    case.check(rfm_score(RfmDim::M, num(CmpOp::Eq, 1.0)), NOW, &[1, 8]);
    case.check(rfm_score(RfmDim::M, between(2.0, 3.0)), NOW, &[2, 3]);
    case.check(rfm_in(&["Champions"]), NOW, &[5]);
    case.check(rfm_in(&["Champions", "Loyal"]), NOW, &[4, 5]);
    case.check(rfm_in(&["Need attention"]), NOW, &[3]);
    case.check(rfm_in(&["Hibernating"]), NOW, &[2]);
    case.check(rfm_in(&["Lost"]), NOW, &[1, 8]);
    // Non-buyers have no scores: every test on them is false.
    case.check(not(rfm_score(RfmDim::R, ge(0.0))), NOW, &[6, 7]);
    case.check(rfm_in(&["At risk", "New customers"]), NOW, &[]);
    case.check_error(rfm_in(&["Winners"]), NOW, "unknown_rfm_cell");
    // Once 6's order is seen, the scores shift: 6 is the most recent buyer.
    case.check(rfm_score(RfmDim::R, num(CmpOp::Eq, 5.0)), NOW + DAY, &[6]);
    case.check(rfm_in(&["New customers"]), NOW + DAY, &[6]);
    let e = case.engine();
    let s = e.rfm(5, NOW).unwrap();
    assert_eq!((s.r, s.f, s.m, s.cell()), (5, 5, 5, "Champions"));
    assert!(e.rfm(7, NOW).is_none());
}

#[test]
fn predictions() {
    let case = Case::new()
        .at(1, NOW, "A")
        .at(2, NOW, "A")
        .at(3, NOW, "A")
        .at(4, NOW, "A")
        .merge(4, 3)
        .predict("churn", 1, 0.9)
        .predict("churn", 2, 0.2)
        .predict("churn", 4, 0.99) // merged away: not the person's id any more
        .predict("churn", 77, 0.5); // unknown person
    case.check(predicted("churn", num(CmpOp::Gt, 0.5)), NOW, &[1]);
    case.check(predicted("churn", ge(0.0)), NOW, &[1, 2]);
    case.check(not(predicted("churn", ge(0.0))), NOW, &[3]);
    case.check(predicted("ltv", ge(0.0)), NOW, &[]);
}

#[test]
fn catalog_of_loaded_data() {
    let e = Case::new()
        .ev(
            1,
            NOW,
            "Order Completed",
            json!({"revenue": 5, "products": [{"category": "x"}]}),
        )
        .ev(1, NOW, "Page Viewed", json!({"name": "Home"}))
        .set_trait(1, "plan", json!("pro"))
        .engine();
    let c = e.timelines().catalog();
    let names: Vec<&str> = c.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["Order Completed", "Page Viewed"]);
    let oc = c.event("Order Completed").unwrap();
    let paths: Vec<&str> = oc.properties.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, vec!["products", "products.category", "revenue"]);
    assert!(oc.properties[0].kinds.array && oc.properties[0].kinds.object);
    assert!(oc.properties[2].kinds.number && !oc.properties[2].kinds.string);
    assert_eq!(c.traits.len(), 1);
    assert!(c.traits[0].kinds.string);
}
