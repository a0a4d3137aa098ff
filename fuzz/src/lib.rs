//! What the fuzz targets share: the invariants every parsed batch keeps, and
//! the catalog the segment language is checked against.

use seglab_event::time::Millis;
use seglab_event::{Batch, MAX_MESSAGE_ID_CHARS};
use seglab_lang::{Catalog, ValueKind};

/// When every fuzzed body is received: 2026-01-15T12:00:00Z.
pub const RECEIVED_AT: Millis = 1_768_478_400_000;

/// What holds for every event a wire parser accepts.
pub fn check_batch(batch: &Batch) {
    for e in &batch.events {
        assert!(!e.message_id.is_empty(), "empty message id: {e:?}");
        assert!(
            e.message_id.chars().count() <= MAX_MESSAGE_ID_CHARS,
            "message id too long: {e:?}"
        );
        assert!(e.primary_id().is_some(), "no user or anonymous id: {e:?}");
        assert_eq!(e.received_at, RECEIVED_AT);
        let payload: serde_json::Value =
            serde_json::from_str(&e.payload).expect("the payload is JSON");
        assert!(payload.is_object(), "the payload is not an object: {e:?}");
    }
}

/// A shop's catalog: the events and traits the starter segments name.
pub fn catalog() -> Catalog {
    use ValueKind::{Array, Number, Object, String};
    Catalog::new()
        .with_event(
            "Order Completed",
            [
                ("revenue", Number),
                ("currency", String),
                ("products", Array),
                ("products", Object),
                ("products.category", String),
            ],
        )
        .with_event("Product Viewed", [("category", String), ("price", Number)])
        .with_event("Product Added", [("category", String), ("sku", String)])
        .with_event("Checkout Started", [("revenue", Number)])
        .with_event("Email Opened", [("campaign_id", String)])
        .with_event("Page Viewed", [("url", String)])
        .with_trait("plan", String)
        .with_trait("email", String)
        .with_trait("age", Number)
        .with_model("churn")
}
