//! Best-sellers and the product catalog, from the engine's timelines: orders
//! of the last 30 days, and what product views say of each product.

use seglab_segments::Segments;

use crate::bestsellers::{DEFAULT_TOP, ProductCatalog, Tallies, WINDOW_MS};
use crate::context::BestSellers;

use crate::ladder::PRODUCT_VIEWED;

/// People read per hold of the engine.
const PEOPLE_PER_READ: usize = 20_000;

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
    // A range of people at a time, so the live thread (which needs the
    // engine to apply new events) never waits for the whole walk: on a
    // large store it took tens of seconds.
    let people = segments.with_engine(|e| e.timelines().index_len());
    for start in (0..people).step_by(PEOPLE_PER_READ) {
        let range = start..start + PEOPLE_PER_READ;
        segments.with_engine(|e| {
            let t = e.timelines();
            t.for_each_named_in(PRODUCT_VIEWED, since, range.clone(), |_, _, props| {
                catalog.observe(&props)
            });
            t.for_each_named_in("Order Completed", since, range, |_, time, props| {
                tallies.add(time, &props);
            });
        });
    }
    let best = tallies.finish(DEFAULT_TOP, &catalog);
    Shop { best, catalog }
}
