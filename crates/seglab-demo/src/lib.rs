//! A realistic, deterministic online store: people who browse (first anonymously,
//! then identified), add to cart, check out, buy, read marketing email, and drift
//! away. Activity is heavy-tailed, the funnel drops off at each step, and some
//! people go dormant.
//!
//! `seglab demo` and `seglab serve --demo` import it, the benchmarks measure on
//! it, and tests use it as a store that looks like real use. [`generate`] hands
//! out one Segment message at a time; [`write_ndjson`] writes them to any
//! [`Write`] (files are the caller's).

use std::io::{self, BufWriter, Write};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seglab_event::Millis;
use seglab_event::time::format_timestamp;
use serde_json::{Value, json};

const DAY: Millis = 86_400_000;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSpec {
    pub people: usize,
    pub days: u32,
    pub products: usize,
    pub categories: usize,
    pub seed: u64,
    /// The last instant of the generated history.
    pub end: Millis,
    /// Stop after this many events (for benchmarks); `None` for the whole story.
    pub max_events: Option<u64>,
}

impl Default for DemoSpec {
    fn default() -> DemoSpec {
        DemoSpec {
            people: 2_000,
            days: 90,
            products: 200,
            categories: 12,
            seed: 42,
            end: seglab_event::time::now_millis(),
            max_events: None,
        }
    }
}

const PLANS: [&str; 3] = ["free", "plus", "pro"];
/// Where customers live (the `timezone` trait quiet hours use).
const TIMEZONES: [&str; 5] = [
    "America/New_York",
    "Europe/Paris",
    "Europe/London",
    "America/Los_Angeles",
    "Asia/Tokyo",
];

/// The demo's experiment: an on-site banner test (`spring_offer` in
/// `campaigns/starter.toml`) shown to people when they first sign in: 10 %
/// holdout, 45 % message `a`, 45 % message `b`. Within a week, `b` brings
/// more extra orders than `a`, and `a` more than nothing: a real lift for
/// `seglab experiments results spring_offer` to find.
pub const EXPERIMENT: &str = "spring_offer";
/// The chance of an extra order within a week, per arm (holdout, a, b).
const EXPERIMENT_LIFT: [(&str, f64); 3] = [("holdout", 0.03), ("a", 0.08), ("b", 0.20)];

/// The names categories take, in order (more categories than names get a
/// numeric suffix).
pub const CATEGORY_NAMES: [&str; 16] = [
    "shoes",
    "dresses",
    "bags",
    "accessories",
    "electronics",
    "home",
    "beauty",
    "sports",
    "toys",
    "books",
    "garden",
    "jewelry",
    "outdoor",
    "kitchen",
    "kids",
    "pets",
];

fn category_name(c: usize) -> String {
    let base = CATEGORY_NAMES[c % CATEGORY_NAMES.len()];
    match c / CATEGORY_NAMES.len() {
        0 => base.to_owned(),
        n => format!("{base}-{n}"),
    }
}

struct Product {
    id: String,
    category: String,
    price: f64,
}

fn catalog(spec: &DemoSpec, rng: &mut StdRng) -> Vec<Product> {
    (0..spec.products.max(1))
        .map(|p| {
            // Log-normal-ish prices between about 5 and 500.
            let price = (5.0 * (rng.random::<f64>() * 4.6).exp()).min(500.0);
            Product {
                id: format!("sku-{p:05}"),
                category: category_name(p % spec.categories.max(1)),
                price: (price * 100.0).round() / 100.0,
            }
        })
        .collect()
}

struct Emitter<'a, F: FnMut(&str)> {
    seed: u64,
    end: Millis,
    count: u64,
    max: u64,
    sink: &'a mut F,
}

impl<F: FnMut(&str)> Emitter<'_, F> {
    fn full(&self) -> bool {
        self.count >= self.max
    }

    fn emit(&mut self, mut msg: Value, at: Millis) {
        if self.full() {
            return;
        }
        msg["timestamp"] = Value::String(format_timestamp(at.min(self.end)));
        msg["messageId"] = Value::String(format!("demo-{}-{}", self.seed, self.count));
        self.count += 1;
        (self.sink)(&msg.to_string());
    }
}

/// Generates the store's history as Segment messages (one JSON object per call of
/// `sink`), person by person; returns how many were generated.
pub fn generate(spec: &DemoSpec, mut sink: impl FnMut(&str)) -> u64 {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let products = catalog(spec, &mut rng);
    let start = spec.end - Millis::from(spec.days) * DAY;
    let mut out = Emitter {
        seed: spec.seed,
        end: spec.end,
        count: 0,
        max: spec.max_events.unwrap_or(u64::MAX),
        sink: &mut sink,
    };
    for person in 0..spec.people {
        if out.full() {
            break;
        }
        let user_id = format!("user-{person:07}");
        let anon_id = format!("anon-{person:07}");
        // Heavy tail: most people visit rarely, a few almost daily.
        let u: f64 = rng.random_range(0.001..1.0);
        let visits_per_day = (0.04 * u.powf(-0.9)).min(1.5);
        let first_day = rng.random_range(0..spec.days.max(1));
        let dormant_from = if rng.random_bool(0.3) {
            rng.random_range(first_day..spec.days.max(1) + 1)
        } else {
            spec.days
        };
        let open_rate = [0.05, 0.3, 0.7][rng.random_range(0..3)];
        let favorite = rng.random_range(0..spec.categories.max(1));
        let email = format!("{user_id}@example.com");
        let mut identified = false;
        let mut orders = 0u32;
        for day in first_day..spec.days {
            if day >= dormant_from {
                break;
            }
            let day_start = start + Millis::from(day) * DAY;
            // Weekly newsletter to identified people.
            if identified && day % 7 == 3 {
                let at = day_start + 9 * 3_600_000;
                let campaign = format!("newsletter-{}", day / 7);
                let props =
                    json!({"campaign_id": campaign, "email_id": format!("{campaign}-{person}")});
                out.emit(json!({"type": "track", "userId": user_id, "event": "Email Delivered", "properties": props}), at);
                if rng.random_bool(open_rate) {
                    let at = at + rng.random_range(60_000..6 * 3_600_000);
                    out.emit(json!({"type": "track", "userId": user_id, "event": "Email Opened", "properties": props}), at);
                    if rng.random_bool(0.3) {
                        out.emit(json!({"type": "track", "userId": user_id, "event": "Email Link Clicked", "properties": props}), at + 30_000);
                    }
                }
            }
            let first = day == first_day;
            if !first && !rng.random_bool(visits_per_day.min(1.0)) {
                continue;
            }
            let mut t = day_start + rng.random_range(7 * 3_600_000..23 * 3_600_000);
            let ids = |identified: bool| {
                if identified {
                    json!({"userId": user_id, "anonymousId": anon_id})
                } else {
                    json!({"anonymousId": anon_id})
                }
            };
            let with_ids = |mut msg: Value, identified: bool| {
                if let (Value::Object(m), Value::Object(i)) = (&mut msg, ids(identified)) {
                    m.extend(i);
                }
                msg
            };
            out.emit(
                with_ids(
                    json!({"type": "page", "name": "Home", "properties": {"path": "/"}}),
                    identified,
                ),
                t,
            );
            let views = rng.random_range(1..7);
            let mut cart: Vec<&Product> = Vec::new();
            for _ in 0..views {
                t += rng.random_range(10_000..180_000);
                let p = if rng.random_bool(0.6) {
                    let same: Vec<&Product> = products
                        .iter()
                        .filter(|p| p.category == category_name(favorite))
                        .collect();
                    if same.is_empty() {
                        &products[rng.random_range(0..products.len())]
                    } else {
                        same[rng.random_range(0..same.len())]
                    }
                } else {
                    &products[rng.random_range(0..products.len())]
                };
                let props = json!({"product_id": p.id, "category": p.category, "price": p.price, "name": format!("Product {}", p.id)});
                out.emit(
                    with_ids(
                        json!({"type": "track", "event": "Product Viewed", "properties": props}),
                        identified,
                    ),
                    t,
                );
                if rng.random_bool(0.25) {
                    t += rng.random_range(5_000..60_000);
                    let props = json!({"product_id": p.id, "category": p.category, "price": p.price, "quantity": 1});
                    out.emit(
                        with_ids(
                            json!({"type": "track", "event": "Product Added", "properties": props}),
                            identified,
                        ),
                        t,
                    );
                    cart.push(p);
                }
            }
            // Signing in: a third of first visits, and anyone about to check out.
            let checking_out = !cart.is_empty() && rng.random_bool(0.55);
            if !identified && (checking_out || (first && rng.random_bool(0.35))) {
                identified = true;
                t += 20_000;
                let traits = json!({"email": email, "name": format!("Customer {person}"), "plan": PLANS[person % 3], "timezone": TIMEZONES[person % TIMEZONES.len()]});
                out.emit(json!({"type": "identify", "userId": user_id, "anonymousId": anon_id, "traits": traits}), t);
                experiment(spec, &mut out, person, &user_id, &products, t);
            }
            if checking_out {
                t += rng.random_range(30_000..300_000);
                let revenue: f64 = cart.iter().map(|p| p.price).sum();
                let items: Vec<Value> = cart.iter().map(|p| json!({"product_id": p.id, "category": p.category, "price": p.price, "quantity": 1})).collect();
                out.emit(with_ids(json!({"type": "track", "event": "Checkout Started", "properties": {"value": revenue, "products": items}}), true), t);
                if rng.random_bool(0.65) {
                    orders += 1;
                    t += rng.random_range(60_000..600_000);
                    let props = json!({
                        "order_id": format!("order-{person}-{orders}"),
                        "revenue": (revenue * 100.0).round() / 100.0,
                        "currency": "USD",
                        "products": items,
                    });
                    out.emit(with_ids(json!({"type": "track", "event": "Order Completed", "properties": props}), true), t);
                }
            }
        }
    }
    out.count
}

/// The demo experiment for a person who just signed in at `at`: their
/// exposure and, by their arm's chance, an extra order within a week. Its own
/// random stream, so the rest of the history is the same with or without it.
fn experiment<F: FnMut(&str)>(
    spec: &DemoSpec,
    out: &mut Emitter<'_, F>,
    person: usize,
    user_id: &str,
    products: &[Product],
    at: Millis,
) {
    let mut rng = StdRng::seed_from_u64(
        spec.seed ^ 0x5eed_e4be ^ (person as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    let u: f64 = rng.random();
    let (arm, chance) = if u < 0.10 {
        EXPERIMENT_LIFT[0]
    } else if u < 0.55 {
        EXPERIMENT_LIFT[1]
    } else {
        EXPERIMENT_LIFT[2]
    };
    // The day after they signed in (their first order, often right at sign-in,
    // is before it).
    let seen = at + DAY;
    if seen >= spec.end {
        return;
    }
    out.emit(
        json!({"type": "track", "userId": user_id, "event": "Experiment Viewed", "properties": {
            "experiment_id": EXPERIMENT, "experiment_name": EXPERIMENT,
            "variation_id": arm, "variation_name": arm,
        }}),
        seen,
    );
    if rng.random_bool(chance) {
        let when = seen + rng.random_range(3_600_000..6 * DAY);
        if when >= spec.end {
            return;
        }
        let p = &products[rng.random_range(0..products.len())];
        let items =
            json!([{"product_id": p.id, "category": p.category, "price": p.price, "quantity": 1}]);
        out.emit(
            json!({"type": "track", "userId": user_id, "event": "Order Completed", "properties": {
                "order_id": format!("order-{person}-{EXPERIMENT}"),
                "revenue": p.price, "currency": "USD", "products": items,
            }}),
            when,
        );
    }
}

/// Writes the history to `out` as NDJSON, one message a line, through a 1 MiB
/// buffer; returns the number of events.
pub fn write_ndjson(spec: &DemoSpec, out: impl Write) -> io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let mut err = None;
    let n = generate(spec, |line| {
        if err.is_none()
            && let Err(e) = out
                .write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
        {
            err = Some(e);
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    out.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DemoSpec {
        DemoSpec {
            people: 300,
            days: 60,
            end: 1_767_225_600_000,
            ..DemoSpec::default()
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        generate(&spec(), |l| a.push(l.to_owned()));
        generate(&spec(), |l| b.push(l.to_owned()));
        assert_eq!(a, b);
        let mut c = Vec::new();
        generate(&DemoSpec { seed: 7, ..spec() }, |l| c.push(l.to_owned()));
        assert_ne!(a, c);
    }

    #[test]
    fn every_line_is_a_valid_message_in_the_window() {
        let s = spec();
        let mut names = std::collections::BTreeMap::<String, usize>::new();
        let n = generate(&s, |line| {
            let e = seglab_event::import::ndjson_line(line, 1, s.end).unwrap();
            assert!(
                e.timestamp >= s.end - 60 * DAY && e.timestamp <= s.end,
                "{line}"
            );
            *names
                .entry(e.event.unwrap_or_else(|| e.kind.as_str().to_owned()))
                .or_default() += 1;
        });
        assert!(n > 1_000, "{n}");
        // The funnel narrows.
        assert!(names["Product Viewed"] > names["Product Added"]);
        assert!(names["Product Added"] > names["Order Completed"]);
        assert!(names["identify"] > 0 && names["Email Opened"] > 0);
    }

    #[test]
    fn max_events_caps_the_output() {
        let n = generate(
            &DemoSpec {
                max_events: Some(123),
                ..spec()
            },
            |_| {},
        );
        assert_eq!(n, 123);
    }

    #[test]
    fn ndjson_holds_the_generated_lines() {
        let mut lines = Vec::new();
        let n = generate(&spec(), |l| lines.push(l.to_owned()));
        let mut out = Vec::new();
        assert_eq!(write_ndjson(&spec(), &mut out).unwrap(), n);
        assert_eq!(String::from_utf8(out).unwrap(), lines.join("\n") + "\n");
    }
}
