//! What several test modules share: the examples and a demo catalog.

use seglab_lang::{Catalog, ValueKind, parse_condition};

/// The examples every implementation must parse exactly as shown.
pub const EXAMPLES: &str = r#"
# comments start with # (also //)
segment recent_buyers   "Recent buyers"    = did "Order Completed" in last 30d
segment repeat_buyers   "Repeat buyers"    = count("Order Completed") >= 2
segment cart_abandoners "Cart abandoners"  =
    did "Product Added" in last 7d then not "Order Completed" within 24h
segment shoe_browsers   "Shoe browsers"    =
    count("Product Viewed" where category = "shoes" in last 30d) >= 3
    and not did "Order Completed" in last 30d
segment vip             "High value"       = sum("Order Completed".revenue in last 365d) >= 500
segment dormant         "Dormant"          = last_seen before 60d ago and first_seen before 60d ago
segment new_buyers = first("Order Completed") in last 30d
segment lapsed = last("Order Completed") before 90d ago
segment funnel = did "Product Viewed" in last 7d then "Product Added" within 1h
segment open_cart = did "Product Added" then not "Order Completed"
segment jan = did "Order Completed" between 2026-01-01 and 2026-02-01
segment multi_cat = distinct("Product Viewed".category in last 30d) >= 3
segment shoe_fans = top("Product Viewed".category in last 90d) = "shoes"
segment avg_big = avg("Order Completed".revenue where currency = "USD") > 100
segment stopped_buying = stopped "Order Completed" for 30d
segment came_back = restarted "Order Completed" after 60d
segment weekly = regularly "Order Completed" 1 per 7d in 3 of last 4
segment pro = trait.plan = "pro" and trait.email exists
segment engaged_vip = in segment vip and not in segment dormant
segment champions = rfm in [Champions, Loyal, "At risk"]
segment high_r = rfm.r >= 4 and rfm.f between 3 and 5
segment churny = predicted.churn >= 0.7
segment nested = count("Order Completed" where products.category in ["shoes", "bags"] and not (coupon exists) in last 1w) between 1 and 3
segment str_ops = did "Page Viewed" where url starts_with "https://shop" or title contains "Sale"
"#;

/// A workspace where the examples make sense.
pub fn catalog() -> Catalog {
    use ValueKind::*;
    Catalog::new()
        .with_event(
            "Order Completed",
            [
                ("revenue", Number),
                ("currency", String),
                ("coupon", String),
                ("products", Array),
                ("products", Object),
                ("products.category", String),
                ("products.price", Number),
            ],
        )
        .with_event("Product Viewed", [("category", String), ("price", Number)])
        .with_event("Product Added", [("category", String), ("sku", String)])
        .with_event("Page Viewed", [("url", String), ("title", String)])
        .with_event("Screen Viewed", [("name", String)])
        .with_trait("plan", String)
        .with_trait("email", String)
        .with_trait("age", Number)
        .with_segment("saved_vips", parse_condition("rfm.m >= 4").unwrap())
        .with_model("churn")
        .with_model("ltv")
}
