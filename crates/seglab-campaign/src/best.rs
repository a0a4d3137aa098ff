//! Best-sellers and the product catalog, from the engine's timelines: orders
//! of the last 30 days, and what product views say of each product.

use seglab_segments::Segments;

use crate::bestsellers::{DEFAULT_TOP, ProductCatalog, Tallies, WINDOW_MS};
use crate::context::BestSellers;

use crate::ladder::PRODUCT_VIEWED;

/// What sells, and what is known of each product.
#[derive(Debug, Clone, Default)]
pub struct Shop {
    /// Top products by orders in the last 30 days, overall and per category.
    pub best: BestSellers,
    /// Names, categories and prices of products, from views.
    pub catalog: ProductCatalog,
}

/// Best-sellers as of `now`, from every timeline.
pub fn compute(segments: &Segments, now: i64) -> Shop {
    let mut catalog = ProductCatalog::new();
    // Counted as they are read: a store's month of orders never sits in
    // memory at once (it took gigabytes on a large store).
    let mut tallies = Tallies::new(now);
    let since = now.saturating_sub(WINDOW_MS);
    segments.with_engine(|e| {
        let t = e.timelines();
        t.for_each_named(PRODUCT_VIEWED, since, |_, _, props| catalog.observe(&props));
        t.for_each_named("Order Completed", since, |_, time, props| {
            tallies.add(time, &props);
        });
    });
    let best = tallies.finish(DEFAULT_TOP, &catalog);
    Shop { best, catalog }
}
