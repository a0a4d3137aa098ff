//! The personalization ladder: name what a person looked at only when there
//! is enough evidence (ADR 0007). A product viewed at least `product_views`
//! times within the window, else a category viewed at least
//! `category_views` times, else the best-sellers.

use std::collections::HashMap;

use serde_json::Value;

use crate::bestsellers::{ProductCatalog, product_id, product_of};
use crate::context::{Behavior, BestSellers, Pick, Product, Step};
use crate::def::Ladder;

/// The event the ladder counts.
pub const PRODUCT_VIEWED: &str = "Product Viewed";

/// One event of the person (only `Product Viewed` ones count).
#[derive(Debug, Clone, Copy)]
pub struct ViewedEvent<'a> {
    /// Epoch milliseconds.
    pub time: i64,
    /// The event name.
    pub name: &'a str,
    /// Its properties (`product_id`, `category`, `name`, `price`, `url`, `image`).
    pub properties: &'a Value,
}

/// What the ladder chose, and what the person did last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chosen {
    /// The step and what it picked (`pick.*`).
    pub pick: Pick,
    /// The last product and category viewed, whatever the evidence (`behavior.*`).
    pub behavior: Behavior,
}

/// Views of one product or category: how many, and the latest.
#[derive(Clone, Copy)]
struct Views {
    count: u32,
    /// `(time, index)` of the latest view: later time wins, then later event.
    latest: (i64, usize),
}

/// Counts a view of `key`.
fn count(views: &mut HashMap<String, Views>, key: &str, at: (i64, usize)) {
    let v = views.entry(key.to_owned()).or_insert(Views {
        count: 0,
        latest: at,
    });
    v.count += 1;
    v.latest = v.latest.max(at);
}

/// The most viewed key (ties: the most recently viewed), if viewed at least
/// `threshold` times.
fn most_viewed(views: &HashMap<String, Views>, threshold: u32) -> Option<(&str, Views)> {
    views
        .iter()
        .max_by_key(|(_, v)| (v.count, v.latest))
        .filter(|(_, v)| v.count >= threshold)
        .map(|(k, v)| (k.as_str(), *v))
}

/// Chooses the ladder's step for one person from their events (oldest
/// first; events after `now` are ignored). Without a ladder the step is
/// best-sellers. Views count within `now - within_ms ..= now`.
pub fn choose(
    events: &[ViewedEvent<'_>],
    now: i64,
    ladder: Option<&Ladder>,
    best: &BestSellers,
    catalog: &ProductCatalog,
) -> Chosen {
    let mut products: HashMap<String, Views> = HashMap::new();
    let mut categories: HashMap<String, Views> = HashMap::new();
    let mut last_product: Option<((i64, usize), usize)> = None;
    let mut last_category: Option<((i64, usize), &str)> = None;
    for (i, e) in events.iter().enumerate() {
        if e.name != PRODUCT_VIEWED || e.time > now {
            continue;
        }
        let at = (e.time, i);
        let id = product_id(e.properties.get("product_id"));
        let category = e
            .properties
            .get("category")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty());
        if id.is_some() && last_product.is_none_or(|(l, _)| at >= l) {
            last_product = Some((at, i));
        }
        if let Some(c) = category
            && last_category.is_none_or(|(l, _)| at >= l)
        {
            last_category = Some((at, c));
        }
        let Some(ladder) = ladder else { continue };
        if e.time < now.saturating_sub(ladder.within_ms) {
            continue;
        }
        if let Some(id) = &id {
            count(&mut products, id, at);
        }
        if let Some(c) = category {
            count(&mut categories, c, at);
        }
    }
    // The product as its view at `index` describes it, filled from the catalog.
    let product_at = |index: usize| -> Option<Product> {
        product_of(events[index].properties).map(|p| catalog.fill(p))
    };
    let behavior = Behavior {
        last_viewed_product: last_product.and_then(|(_, i)| product_at(i)),
        last_viewed_category: last_category.map(|(_, c)| c.to_owned()),
    };
    let pick = ladder
        .and_then(|ladder| {
            if let Some((_, views)) = most_viewed(&products, ladder.product_views) {
                let product = product_at(views.latest.1)?;
                let category = product.category.clone();
                let shown = match category.as_deref().map(|c| best.of_category(c)) {
                    Some(list) if list.iter().any(|p| p.id != product.id) => list,
                    _ => &best.overall,
                };
                let products = shown
                    .iter()
                    .filter(|p| p.id != product.id)
                    .cloned()
                    .collect();
                return Some(Pick {
                    step: Step::Product,
                    product: Some(product),
                    category,
                    products,
                });
            }
            let (category, _) = most_viewed(&categories, ladder.category_views)?;
            let list = best.of_category(category);
            Some(Pick {
                step: Step::Category,
                product: None,
                category: Some(category.to_owned()),
                products: if list.is_empty() {
                    best.overall.clone()
                } else {
                    list.to_vec()
                },
            })
        })
        .unwrap_or_else(|| Pick {
            step: Step::BestSellers,
            product: None,
            category: None,
            products: best.overall.clone(),
        });
    Chosen { pick, behavior }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    const MIN: i64 = 60_000;
    const NOW: i64 = 1_000 * MIN;
    const LADDER: Ladder = Ladder {
        product_views: 2,
        category_views: 3,
        within_ms: 100 * MIN,
    };

    fn best() -> BestSellers {
        let p = |id: &str, c: &str| Product {
            category: Some(c.into()),
            ..Product::new(id)
        };
        BestSellers {
            overall: vec![p("b1", "shoes"), p("b2", "hats"), p("b3", "bags")],
            by_category: BTreeMap::from([
                ("shoes".into(), vec![p("b1", "shoes"), p("s2", "shoes")]),
                ("hats".into(), vec![p("b2", "hats")]),
            ]),
        }
    }

    /// Views: (minutes before now, product id, category).
    fn choose_from(views: &[(i64, &str, &str)], ladder: Option<&Ladder>) -> Chosen {
        let properties: Vec<Value> = views
            .iter()
            .map(|(_, id, c)| {
                let mut p = json!({ "product_id": id, "name": format!("Name {id}") });
                if !c.is_empty() {
                    p["category"] = json!(c);
                }
                p
            })
            .collect();
        let events: Vec<ViewedEvent<'_>> = views
            .iter()
            .zip(&properties)
            .map(|((ago, _, _), p)| ViewedEvent {
                time: NOW - ago * MIN,
                name: PRODUCT_VIEWED,
                properties: p,
            })
            .collect();
        choose(&events, NOW, ladder, &best(), &ProductCatalog::new())
    }

    /// The step, the product, the category and the products shown.
    type Summary<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Vec<&'a str>);
    /// Views: (minutes before now, product id, category).
    type ViewList<'a> = Vec<(i64, &'a str, &'a str)>;

    fn summary(c: &Chosen) -> Summary<'_> {
        (
            c.pick.step.as_str(),
            c.pick.product.as_ref().map(|p| p.id.as_str()),
            c.pick.category.as_deref(),
            c.pick.products.iter().map(|p| p.id.as_str()).collect(),
        )
    }

    #[test]
    fn the_three_steps() {
        let cases: Vec<(ViewList<'_>, Summary<'_>)> = vec![
            // Exactly product_views views of one product: named, with its category's best-sellers.
            (
                vec![(50, "x", "shoes"), (10, "x", "shoes")],
                ("product", Some("x"), Some("shoes"), vec!["b1", "s2"]),
            ),
            // The product named is left out of what is shown with it.
            (
                vec![(50, "b1", "shoes"), (10, "b1", "shoes")],
                ("product", Some("b1"), Some("shoes"), vec!["s2"]),
            ),
            // A category without other best-sellers falls back to the overall list.
            (
                vec![(5, "b2", "hats"), (4, "b2", "hats")],
                ("product", Some("b2"), Some("hats"), vec!["b1", "b3"]),
            ),
            // One view too few: the category (exactly category_views views).
            (
                vec![(30, "x", "shoes"), (20, "y", "shoes"), (10, "z", "shoes")],
                ("category", None, Some("shoes"), vec!["b1", "s2"]),
            ),
            // A category without best-sellers shows the overall ones.
            (
                vec![(30, "x", "toys"), (20, "y", "toys"), (10, "z", "toys")],
                ("category", None, Some("toys"), vec!["b1", "b2", "b3"]),
            ),
            // Too little evidence.
            (
                vec![(30, "x", "shoes"), (20, "y", "shoes")],
                ("best_sellers", None, None, vec!["b1", "b2", "b3"]),
            ),
            (vec![], ("best_sellers", None, None, vec!["b1", "b2", "b3"])),
            // A view just outside the window does not count; one at its edge does.
            (
                vec![(101, "x", "shoes"), (10, "x", "shoes")],
                ("best_sellers", None, None, vec!["b1", "b2", "b3"]),
            ),
            (
                vec![(100, "x", "shoes"), (10, "x", "shoes")],
                ("product", Some("x"), Some("shoes"), vec!["b1", "s2"]),
            ),
            // Most viewed wins; on a tie, the most recently viewed.
            (
                vec![
                    (9, "x", ""),
                    (8, "y", ""),
                    (7, "y", ""),
                    (6, "x", ""),
                    (5, "x", ""),
                ],
                ("product", Some("x"), None, vec!["b1", "b2", "b3"]),
            ),
            (
                vec![(9, "x", ""), (8, "y", ""), (7, "x", ""), (6, "y", "")],
                ("product", Some("y"), None, vec!["b1", "b2", "b3"]),
            ),
            (
                vec![
                    (9, "a", "hats"),
                    (8, "b", "hats"),
                    (7, "c", "hats"),
                    (6, "d", "shoes"),
                    (5, "e", "shoes"),
                    (4, "f", "shoes"),
                ],
                ("category", None, Some("shoes"), vec!["b1", "s2"]),
            ),
        ];
        for (views, expected) in cases {
            let chosen = choose_from(&views, Some(&LADDER));
            assert_eq!(summary(&chosen), expected, "{views:?}");
        }
    }

    #[test]
    fn without_a_ladder_best_sellers_but_behavior_still_known() {
        let chosen = choose_from(&[(500, "x", "shoes"), (400, "x", ""), (300, "x", "")], None);
        assert_eq!(summary(&chosen).0, "best_sellers");
        let last = chosen.behavior.last_viewed_product.unwrap();
        assert_eq!(
            (last.id.as_str(), last.name.as_deref()),
            ("x", Some("Name x"))
        );
        // The last category seen, even from outside any window.
        assert_eq!(
            chosen.behavior.last_viewed_category.as_deref(),
            Some("shoes")
        );
    }

    #[test]
    fn other_events_and_future_events_do_not_count() {
        let p = json!({ "product_id": "x", "category": "shoes" });
        let events = [
            ViewedEvent {
                time: NOW - MIN,
                name: "Product Added",
                properties: &p,
            },
            ViewedEvent {
                time: NOW - MIN,
                name: PRODUCT_VIEWED,
                properties: &p,
            },
            ViewedEvent {
                time: NOW + MIN,
                name: PRODUCT_VIEWED,
                properties: &p,
            },
        ];
        let chosen = choose(&events, NOW, Some(&LADDER), &best(), &ProductCatalog::new());
        assert_eq!(chosen.pick.step, Step::BestSellers);
        assert_eq!(chosen.behavior.last_viewed_product.unwrap().id, "x");
    }

    #[test]
    fn names_come_from_the_catalog_when_views_lack_them() {
        let mut catalog = ProductCatalog::new();
        catalog.observe(&json!({ "product_id": 7, "name": "Seven", "url": "https://x/7" }));
        let p = json!({ "product_id": 7 });
        let events = [
            ViewedEvent {
                time: NOW - 2 * MIN,
                name: PRODUCT_VIEWED,
                properties: &p,
            },
            ViewedEvent {
                time: NOW - MIN,
                name: PRODUCT_VIEWED,
                properties: &p,
            },
        ];
        let chosen = choose(&events, NOW, Some(&LADDER), &best(), &catalog);
        let product = chosen.pick.product.unwrap();
        assert_eq!(
            (product.id.as_str(), product.name.as_deref()),
            ("7", Some("Seven"))
        );
        assert_eq!(product.url.as_deref(), Some("https://x/7"));
    }
}
