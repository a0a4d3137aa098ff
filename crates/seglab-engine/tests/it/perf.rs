//! A performance report (not a timed assertion): loads a synthetic online
//! store's history and evaluates typical segments.
//!
//! `cargo test -p seglab-engine --release -- --ignored --nocapture perf_report`
//! (`SEGLAB_PERF_PEOPLE` sets the number of people, default 200 000).

use std::time::Instant;

use seglab_demo::CATEGORY_NAMES as CATEGORIES;
use seglab_engine::{Engine, Timelines};
use seglab_lang::ast::{AggFunc, CmpOp, Condition, RfmDim};
use serde_json::{Value, json};

use seglab_engine::testing::support::*;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const PAGES: [&str; 6] = ["Home", "Search", "Category", "Cart", "Account", "Help"];

struct Product {
    viewed: Value,
    added: Value,
    item: Value,
    price: f64,
}

fn catalog(rng: &mut Rng, n: usize) -> Vec<Product> {
    (0..n)
        .map(|p| {
            let price = ((5.0 * (rng.unit() * 4.6).exp()).min(500.0) * 100.0).round() / 100.0;
            let id = format!("sku-{p:05}");
            let category = CATEGORIES[p % CATEGORIES.len()];
            Product {
                viewed: json!({"product_id": id, "category": category, "price": price, "name": format!("Product {id}")}),
                added: json!({"product_id": id, "category": category, "price": price, "quantity": 1}),
                item: json!({"product_id": id, "category": category, "price": price, "quantity": 1}),
                price,
            }
        })
        .collect()
}

/// Generates one person's history into `sink`.
fn person(
    rng: &mut Rng,
    id: i64,
    products: &[Product],
    days: i64,
    sink: &mut impl FnMut(i64, i64, &str, &Value),
    traits: &mut impl FnMut(i64, &str, Value),
) {
    let start = NOW - days * DAY;
    let u = rng.unit().max(0.001);
    let visits_per_day = (0.03 * u.powf(-0.8)).min(1.0);
    let first_day = rng.below(days as u64) as i64;
    let dormant_from = if rng.chance(0.3) {
        first_day + rng.below((days - first_day) as u64 + 1) as i64
    } else {
        days
    };
    let favorite = rng.below(CATEGORIES.len() as u64) as usize;
    let open_rate = [0.05, 0.3, 0.7][rng.below(3) as usize];
    let mut identified = false;
    let mut orders = 0;
    for day in first_day..dormant_from {
        let day_start = start + day * DAY;
        if identified && day % 7 == 3 {
            let at = day_start + 9 * HOUR;
            let campaign = format!("newsletter-{}", day / 7);
            let props = json!({"campaign_id": campaign, "email_id": format!("{campaign}-{id}")});
            sink(id, at, "Email Delivered", &props);
            if rng.chance(open_rate) {
                sink(id, at + HOUR, "Email Opened", &props);
            }
        }
        if day != first_day && !rng.chance(visits_per_day) {
            continue;
        }
        let mut t = day_start + 7 * HOUR + rng.below(15 * HOUR as u64) as i64;
        let page = PAGES[rng.below(PAGES.len() as u64) as usize];
        sink(id, t, "Page Viewed", &json!({"name": page}));
        let mut cart: Vec<&Product> = Vec::new();
        for _ in 0..1 + rng.below(6) {
            t += 10_000 + rng.below(170_000) as i64;
            let p = if rng.chance(0.6) {
                let k = rng.below((products.len() / CATEGORIES.len()) as u64) as usize;
                &products[(k * CATEGORIES.len() + favorite) % products.len()]
            } else {
                &products[rng.below(products.len() as u64) as usize]
            };
            sink(id, t, "Product Viewed", &p.viewed);
            if rng.chance(0.25) {
                t += 5_000 + rng.below(55_000) as i64;
                sink(id, t, "Product Added", &p.added);
                cart.push(p);
            }
        }
        let checking_out = !cart.is_empty() && rng.chance(0.55);
        if !identified && (checking_out || (day == first_day && rng.chance(0.35))) {
            identified = true;
            traits(id, "email", json!(format!("user-{id}@example.com")));
            traits(
                id,
                "plan",
                json!(["free", "plus", "pro"][(id % 3) as usize]),
            );
        }
        if checking_out {
            t += 30_000 + rng.below(270_000) as i64;
            let revenue: f64 = cart.iter().map(|p| p.price).sum();
            let items: Vec<Value> = cart.iter().map(|p| p.item.clone()).collect();
            sink(
                id,
                t,
                "Checkout Started",
                &json!({"value": revenue, "products": items}),
            );
            if rng.chance(0.65) {
                orders += 1;
                t += 60_000 + rng.below(540_000) as i64;
                let props = json!({
                    "order_id": format!("order-{id}-{orders}"),
                    "revenue": (revenue * 100.0).round() / 100.0,
                    "currency": "USD",
                    "products": items,
                });
                sink(id, t, "Order Completed", &props);
            }
        }
    }
}

pub fn starter_segments() -> Vec<(String, Condition)> {
    let oc = "Order Completed";
    let pv = "Product Viewed";
    let s = |n: &str, c: Condition| (n.to_owned(), c);
    vec![
        s("recent_buyers", did(q(oc).last(days(30)))),
        s("repeat_buyers", count(q(oc), ge(2.0))),
        s(
            "cart_abandoners",
            then_not(q("Product Added").last(days(7)), ev(oc), Some(hours(24))),
        ),
        s(
            "shoe_browsers",
            and(vec![
                count(
                    q(pv).filter(eq("category", ls("shoes"))).last(days(30)),
                    ge(3.0),
                ),
                not(did(q(oc).last(days(30)))),
            ]),
        ),
        s(
            "vip",
            agg(AggFunc::Sum, q(oc).last(days(365)), "revenue", ge(500.0)),
        ),
        s(
            "dormant",
            and(vec![
                last(None, before(days(60))),
                first(None, before(days(60))),
            ]),
        ),
        s("new_buyers", first(Some(ev(oc)), in_last(days(14)))),
        s("champions", rfm_in(&["Champions", "Loyal"])),
        s("high_frequency", rfm_score(RfmDim::F, ge(4.0))),
        s(
            "engaged_readers",
            regularly(ev("Email Opened"), 1, weeks(1), 3, 4),
        ),
        s("stopped_browsing", stopped(ev(pv), days(14))),
        s(
            "category_explorers",
            distinct(q(pv).last(days(30)), "category", ge(4.0)),
        ),
        s("shoe_fans", top(q(pv), "category", ls("shoes"))),
        s(
            "bought_shoes",
            did(q(oc)
                .filter(eq("products.category", ls("shoes")))
                .last(days(90))),
        ),
        s("pro_plan", trait_test(eq("plan", ls("pro")))),
        s(
            "lapsed_vip",
            and(vec![in_segment("vip"), not(in_segment("recent_buyers"))]),
        ),
        s(
            "converted_after_email",
            then(q("Email Opened").last(days(30)), ev(oc), hours(48)),
        ),
        s(
            "big_spenders",
            agg(AggFunc::Avg, q(oc), "revenue", num(CmpOp::Gt, 150.0)),
        ),
    ]
}

/// User + system CPU time of this process so far.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which ends with ')'): utime is the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
#[ignore = "performance report; run in release with --ignored --nocapture"]
fn perf_report() {
    let people: i64 = std::env::var("SEGLAB_PERF_PEOPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let days = 180;
    let mut rng = Rng(0x5eed);
    let products = catalog(&mut rng, 2_000);

    // Generation alone, to separate its cost from loading.
    let started = Instant::now();
    let mut generated = 0u64;
    let mut gen_rng = Rng(42);
    for id in 0..people {
        person(
            &mut gen_rng,
            id,
            &products,
            days,
            &mut |_, _, _, _| generated += 1,
            &mut |_, _, _| {},
        );
    }
    let generation = started.elapsed();

    let rss_before = rss_bytes();
    let started = Instant::now();
    let mut t = Timelines::new();
    let mut load = t.bulk_load();
    let mut gen_rng = Rng(42);
    for id in 0..people {
        let mut pending_traits = Vec::new();
        person(
            &mut gen_rng,
            id,
            &products,
            days,
            &mut |p, ts, name, props| load.push(p, ts, name, props).unwrap(),
            &mut |p, k, v| pending_traits.push((p, k.to_owned(), v)),
        );
        for (p, k, v) in pending_traits {
            load.set_trait(p, &k, v).unwrap();
        }
    }
    load.finish();
    let load = started.elapsed();
    let rss_after = rss_bytes();
    let m = t.memory();
    println!(
        "people {}  events {}  generation {:.2?}  load (incl. generation) {:.2?}  load only ~{:.2?}  ({:.0} events/s)",
        t.person_count(),
        t.event_count(),
        generation,
        load,
        load.saturating_sub(generation),
        t.event_count() as f64 / load.saturating_sub(generation).as_secs_f64()
    );
    println!(
        "memory {:.1} MB = {:.1} B/event: events {:.1} MB, people {:.1} MB, names {:.1} MB, values {:.1} MB, property sets {:.1} MB",
        m.total() as f64 / 1e6,
        m.bytes_per_event(),
        m.events as f64 / 1e6,
        m.people as f64 / 1e6,
        m.names as f64 / 1e6,
        m.values as f64 / 1e6,
        m.property_sets as f64 / 1e6,
    );
    println!(
        "distinct: strings {}, numbers {}, property sets {} ({} pairs)",
        m.distinct_strings, m.distinct_numbers, m.distinct_property_sets, m.property_pairs
    );
    if let (Some(a), Some(b)) = (rss_before, rss_after) {
        println!(
            "resident set growth {:.1} MB = {:.1} B/event (allocator included)",
            (b.saturating_sub(a)) as f64 / 1e6,
            b.saturating_sub(a) as f64 / t.event_count() as f64
        );
    }
    assert_eq!(generated, t.event_count());

    let mut engine = Engine::new(t);
    let segments = starter_segments();
    for (name, c) in &segments {
        engine.define(name, c.clone()).unwrap();
    }
    // Best of five runs, and CPU time per run: the machine may be shared.
    let best = |f: &dyn Fn() -> u64| {
        let cpu = cpu_seconds();
        let (elapsed, n) = (0..5)
            .map(|_| {
                let started = Instant::now();
                let n = f();
                (started.elapsed(), n)
            })
            .min()
            .unwrap();
        let cpu = cpu_seconds().zip(cpu).map(|(b, a)| (b - a) / 5.0);
        (
            elapsed,
            n,
            cpu.map_or(String::new(), |c| format!("cpu {:.0}ms", c * 1e3)),
        )
    };
    let (elapsed, n, cpu) = best(&|| engine.count(&and(vec![]), NOW).unwrap());
    println!(
        "  {:<24} {n:>8} members  {elapsed:>8.1?}  {cpu}",
        "(everyone)"
    );
    for (name, c) in &segments {
        let (elapsed, n, cpu) = best(&|| engine.count(c, NOW).unwrap());
        println!("  {name:<24} {n:>8} members  {elapsed:>8.1?}  {cpu}");
    }
    let (batch, total, cpu) = best(&|| {
        let all = engine.evaluate_all(&segments, NOW).unwrap();
        all.iter().map(|(_, b)| b.len()).sum::<u64>()
    });
    println!(
        "all {} segments together: {batch:.2?} {cpu} ({total} members in total)",
        segments.len()
    );
    let started = Instant::now();
    engine.evaluate_all(&segments, NOW + HOUR).unwrap();
    println!(
        "all together at another instant (RFM recomputed): {:.2?}",
        started.elapsed()
    );
}

/// The starter segments and variants of them: 50 in all.
pub fn fifty_segments() -> Vec<(String, Condition)> {
    let oc = "Order Completed";
    let pv = "Product Viewed";
    let mut all = starter_segments();
    for d in [7, 14, 60, 90, 180] {
        all.push((format!("buyers_{d}d"), did(q(oc).last(days(d)))));
        all.push((format!("stopped_buying_{d}d"), stopped(ev(oc), days(d))));
        all.push((
            format!("browsers_{d}d"),
            count(q(pv).last(days(d)), ge(5.0)),
        ));
    }
    for (i, c) in CATEGORIES.iter().take(9).enumerate() {
        all.push((
            format!("{c}_viewers"),
            and(vec![
                count(q(pv).filter(eq("category", ls(c))).last(days(30)), ge(2.0)),
                not(in_segment("recent_buyers")),
            ]),
        ));
        if i < 4 {
            all.push((
                format!("abandoned_{c}"),
                then_not(
                    q("Product Added")
                        .filter(eq("category", ls(c)))
                        .last(days(14)),
                    ev(oc),
                    Some(hours(24 * (i as u64 + 1))),
                ),
            ));
        }
    }
    all.push((
        "opened_recently".to_owned(),
        last(Some(ev("Email Opened")), in_last(days(14))),
    ));
    all.push((
        "at_risk_vip".to_owned(),
        and(vec![
            in_segment("vip"),
            rfm_in(&["At risk", "Cannot lose them"]),
        ]),
    ));
    all.push(("active_this_week".to_owned(), last(None, in_last(days(7)))));
    all.push((
        "new_buyers_30d".to_owned(),
        first(Some(ev(oc)), in_last(days(30))),
    ));
    all.truncate(50);
    all
}

fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
#[ignore = "performance report; run in release with --ignored --nocapture"]
fn live_perf_report() {
    let people: i64 = std::env::var("SEGLAB_PERF_PEOPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut rng = Rng(0x5eed);
    let products = catalog(&mut rng, 2_000);
    let mut t = Timelines::new();
    let mut load = t.bulk_load();
    let mut gen_rng = Rng(42);
    for id in 0..people {
        let mut pending = Vec::new();
        person(
            &mut gen_rng,
            id,
            &products,
            180,
            &mut |p, ts, name, props| load.push(p, ts, name, props).unwrap(),
            &mut |p, k, v| pending.push((p, k.to_owned(), v)),
        );
        for (p, k, v) in pending {
            load.set_trait(p, &k, v).unwrap();
        }
    }
    load.finish();
    let mut engine = Engine::new(t);
    let segments = fifty_segments();
    assert_eq!(segments.len(), 50);
    for (name, c) in &segments {
        engine.define(name, c.clone()).unwrap();
    }
    let started = Instant::now();
    let live = engine.live_set(NOW).unwrap();
    println!(
        "people {}  events {}  live set of {} segments built in {:.1?} ({} use RFM)",
        engine.timelines().person_count(),
        engine.timelines().event_count(),
        live.segments().len(),
        started.elapsed(),
        (0..50).filter(|&i| live.uses_rfm(i)).count()
    );
    // Exactness at the build instant, for a sample of people.
    let batch = engine.evaluate_defined(NOW).unwrap();
    let mut pick = Rng(7);
    for _ in 0..2_000 {
        let id = pick.below(people as u64) as i64;
        let Some(idx) = engine.timelines().index_of(id) else {
            continue;
        };
        let got = live.evaluate_person(&engine, id, NOW).unwrap();
        for (i, (_, members)) in batch.iter().enumerate() {
            assert_eq!(got.holds.contains(i), members.contains(idx), "{id} {i}");
        }
    }
    // Same `now` for every call (compiled once), then a new `now` for each
    // call (compiled each time): the worst case.
    for (label, step) in [("same now", 0), ("new now every call", 1)] {
        let mut times = Vec::new();
        let mut pick = Rng(11);
        let mut now = NOW;
        let mut woken = 0;
        for _ in 0..20_000 {
            let id = pick.below(people as u64) as i64;
            now += step;
            let started = Instant::now();
            let r = live.evaluate_person(&engine, id, now).unwrap();
            times.push(started.elapsed());
            woken += usize::from(r.next_change.is_some());
        }
        times.sort_unstable();
        println!(
            "evaluate_person, 50 segments, {label}: p50 {:.1?}  p99 {:.1?}  p99.9 {:.1?}  max {:.1?}  ({} of {} people have a next change)",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            percentile(&times, 0.999),
            times[times.len() - 1],
            woken,
            times.len()
        );
    }
}
