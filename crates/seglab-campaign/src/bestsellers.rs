//! Best-sellers: the most ordered products of the last 30 days, overall and
//! per category, and the catalog of what is known of each product.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::context::{BestSellers, Product};

/// Orders counted: those of the 30 days up to `now`.
pub const WINDOW_MS: i64 = 30 * 86_400_000;
/// How many products a best-seller list holds unless told otherwise.
pub const DEFAULT_TOP: usize = 5;

/// A `product_id` property: a string, or a number written as one.
pub fn product_id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text(properties: &Value, key: &str) -> Option<String> {
    properties
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A product as the properties of an event describe it (`product_id`,
/// `name`, `category`, `price`, `url`, `image`); `None` without an id.
pub fn product_of(properties: &Value) -> Option<Product> {
    Some(Product {
        id: product_id(properties.get("product_id"))?,
        name: text(properties, "name"),
        category: text(properties, "category"),
        price: properties.get("price").and_then(Value::as_f64),
        url: text(properties, "url"),
        image: text(properties, "image"),
    })
}

/// Fills the fields `product` lacks from `known`.
fn merge(product: &mut Product, known: &Product) {
    let fill = |field: &mut Option<String>, from: &Option<String>| {
        if field.is_none() {
            field.clone_from(from);
        }
    };
    fill(&mut product.name, &known.name);
    fill(&mut product.category, &known.category);
    fill(&mut product.url, &known.url);
    fill(&mut product.image, &known.image);
    product.price = product.price.or(known.price);
}

/// What is known of each product, learned from `Product Viewed` properties.
#[derive(Debug, Clone, Default)]
pub struct ProductCatalog {
    products: HashMap<String, Product>,
}

impl ProductCatalog {
    /// An empty catalog.
    pub fn new() -> ProductCatalog {
        ProductCatalog::default()
    }

    /// Learns from one `Product Viewed`'s properties; fields it has replace
    /// what was known (feed views oldest first so the newest wins).
    pub fn observe(&mut self, properties: &Value) {
        let Some(mut product) = product_of(properties) else {
            return;
        };
        if let Some(known) = self.products.get(&product.id) {
            merge(&mut product, known);
        }
        self.products.insert(product.id.clone(), product);
    }

    /// What is known of a product.
    pub fn get(&self, id: &str) -> Option<&Product> {
        self.products.get(id)
    }

    /// `product` with the fields it lacks filled from the catalog.
    pub fn fill(&self, mut product: Product) -> Product {
        if let Some(known) = self.products.get(&product.id) {
            merge(&mut product, known);
        }
        product
    }

    /// How many products are known.
    pub fn len(&self) -> usize {
        self.products.len()
    }

    /// Whether no product is known.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }
}

/// One product's orders.
struct Tally {
    orders: u32,
    /// The product as its latest order described it.
    product: Product,
    latest: i64,
}

impl BestSellers {
    /// The `top` most ordered products among `orders` (`Order Completed`
    /// time and properties) of the 30 days up to `now`, overall and per
    /// category. An order counts once per product, whether it lists the
    /// product in `products` (`product_id`, `category`, `price`, `name`) or
    /// as a top-level `product_id`. Ties go to the smaller product id.
    pub fn from_orders<'a>(
        orders: impl IntoIterator<Item = (i64, &'a Value)>,
        now: i64,
        top: usize,
        catalog: &ProductCatalog,
    ) -> BestSellers {
        let mut tallies = Tallies::new(now);
        for (time, properties) in orders {
            tallies.add(time, properties);
        }
        tallies.finish(top, catalog)
    }

    /// The best-sellers of `category` (empty when it has none).
    pub fn of_category(&self, category: &str) -> &[Product] {
        self.by_category.get(category).map_or(&[], Vec::as_slice)
    }
}

/// [`BestSellers::from_orders`] one order at a time: a caller that reads
/// orders from somewhere else (every timeline) keeps only the tallies, never
/// every order.
pub struct Tallies {
    since: i64,
    now: i64,
    by_product: HashMap<String, Tally>,
}

impl Tallies {
    /// Tallies of the orders of the 30 days up to `now`.
    pub fn new(now: i64) -> Tallies {
        Tallies {
            since: now.saturating_sub(WINDOW_MS),
            now,
            by_product: HashMap::new(),
        }
    }

    /// Counts one `Order Completed` (its time and properties).
    pub fn add(&mut self, time: i64, properties: &Value) {
        if time < self.since || time > self.now {
            return;
        }
        let items = properties.get("products").and_then(Value::as_array);
        let mut in_order: Vec<Product> = items
            .into_iter()
            .flatten()
            .chain(std::iter::once(properties))
            .filter_map(product_of)
            .collect();
        in_order.sort_by(|a, b| a.id.cmp(&b.id));
        in_order.dedup_by(|a, b| a.id == b.id);
        for product in in_order {
            let tally = self
                .by_product
                .entry(product.id.clone())
                .or_insert_with(|| Tally {
                    orders: 0,
                    product: Product::new(product.id.clone()),
                    latest: i64::MIN,
                });
            tally.orders += 1;
            if time >= tally.latest {
                let mut newer = product;
                merge(&mut newer, &tally.product);
                tally.product = newer;
                tally.latest = time;
            }
        }
    }

    /// The `top` most ordered products, overall and per category.
    pub fn finish(self, top: usize, catalog: &ProductCatalog) -> BestSellers {
        let mut ranked: Vec<(u32, Product)> = self
            .by_product
            .into_values()
            .map(|t| (t.orders, catalog.fill(t.product)))
            .collect();
        ranked.sort_by(|(a_orders, a), (b_orders, b)| {
            b_orders.cmp(a_orders).then_with(|| a.id.cmp(&b.id))
        });
        let mut by_category: BTreeMap<String, Vec<Product>> = BTreeMap::new();
        for (_, product) in &ranked {
            if let Some(category) = &product.category {
                let list = by_category.entry(category.clone()).or_default();
                if list.len() < top {
                    list.push(product.clone());
                }
            }
        }
        BestSellers {
            overall: ranked.into_iter().take(top).map(|(_, p)| p).collect(),
            by_category,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DAY: i64 = 86_400_000;
    const NOW: i64 = 100 * DAY;

    fn ids(products: &[Product]) -> Vec<&str> {
        products.iter().map(|p| p.id.as_str()).collect()
    }

    fn best(orders: &[(i64, Value)], top: usize) -> BestSellers {
        BestSellers::from_orders(
            orders.iter().map(|(t, p)| (*t, p)),
            NOW,
            top,
            &ProductCatalog::new(),
        )
    }

    fn order(items: &[(&str, &str)]) -> Value {
        let products: Vec<Value> = items
            .iter()
            .map(|(id, category)| json!({ "product_id": id, "category": category }))
            .collect();
        json!({ "products": products })
    }

    #[test]
    fn ranks_by_orders_then_id() {
        let orders = vec![
            (NOW - DAY, order(&[("b", "shoes"), ("a", "shoes")])),
            (NOW - 2 * DAY, order(&[("c", "hats"), ("b", "shoes")])),
            (NOW - 3 * DAY, order(&[("c", "hats")])),
            (NOW, json!({ "product_id": "d", "category": "hats" })),
        ];
        let b = best(&orders, 5);
        // b and c have 2 orders (b first by id); a and d have 1.
        assert_eq!(ids(&b.overall), ["b", "c", "a", "d"]);
        assert_eq!(ids(b.of_category("shoes")), ["b", "a"]);
        assert_eq!(ids(b.of_category("hats")), ["c", "d"]);
        assert!(b.of_category("bags").is_empty());
        assert_eq!(ids(&best(&orders, 2).overall), ["b", "c"]);
        assert_eq!(ids(best(&orders, 1).of_category("hats")), ["c"]);
    }

    #[test]
    fn counts_an_order_once_per_product_within_30_days() {
        let orders = vec![
            (
                NOW,
                json!({ "product_id": "a", "products": [{ "product_id": "a" }, { "product_id": "a" }] }),
            ),
            (NOW - DAY, order(&[("b", "x")])),
            (NOW - 2 * DAY, order(&[("b", "x")])),
            (NOW - WINDOW_MS, order(&[("a", "x")])),
            (NOW - WINDOW_MS - 1, order(&[("z", "x"), ("z", "x")])),
            (NOW - WINDOW_MS - 2, order(&[("z", "x")])),
            (NOW + 1, order(&[("z", "x")])),
            (NOW, json!({ "products": "not a list", "total": 3 })),
            (
                NOW,
                json!({ "products": [{ "product_id": 42 }, { "name": "no id" }] }),
            ),
        ];
        let b = best(&orders, 5);
        // a: 2 orders (one at the window's start); b: 2; 42: 1; z: none in the window.
        assert_eq!(ids(&b.overall), ["a", "b", "42"]);
    }

    #[test]
    fn names_come_from_orders_then_the_catalog() {
        let mut catalog = ProductCatalog::new();
        catalog.observe(&json!({ "product_id": "a", "name": "Old name", "url": "https://x/a" }));
        catalog.observe(&json!({ "product_id": "a", "name": "Trail Runner", "price": 89.5 }));
        catalog.observe(&json!({ "name": "no id" }));
        assert_eq!(catalog.len(), 1);
        let orders = [
            (
                NOW - 2 * DAY,
                json!({ "products": [{ "product_id": "a", "name": "Older", "category": "shoes" }] }),
            ),
            (
                NOW - DAY,
                json!({ "products": [{ "product_id": "a", "price": 80 }] }),
            ),
            (NOW - DAY, json!({ "products": [{ "product_id": "b" }] })),
        ];
        let b = BestSellers::from_orders(orders.iter().map(|(t, p)| (*t, p)), NOW, 5, &catalog);
        let a = &b.overall[0];
        assert_eq!(a.name.as_deref(), Some("Older"));
        assert_eq!(a.category.as_deref(), Some("shoes"));
        assert_eq!(a.price, Some(80.0));
        assert_eq!(a.url.as_deref(), Some("https://x/a"));
        assert_eq!(b.overall[1], Product::new("b"));
        assert_eq!(ids(b.of_category("shoes")), ["a"]);
    }
}
