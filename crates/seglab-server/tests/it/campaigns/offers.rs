//! Offers (generated codes, an uploaded pool, redemptions) and the
//! personalization ladder, through the ledger and the SMTP server.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{
    WAIT, apply, batch, catch_up, entry_email, identify, person, row_of, segments, sends_until,
    track,
};
use crate::App;
use crate::smtp::Sink;

/// Ann and Bo, identified with an email and `plan = "vip"`.
async fn vips(app: &App) -> (i64, i64) {
    batch(
        app,
        ["ann", "bo"]
            .iter()
            .map(|u| {
                identify(
                    u,
                    json!({"email": format!("{u}@example.com"), "plan": "vip"}),
                )
            })
            .collect(),
    )
    .await;
    catch_up(app).await;
    (person(app, "ann").await, person(app, "bo").await)
}

/// The campaign as listed, with its coupon counts.
async fn listed(app: &App, campaign: &str) -> Value {
    let (s, b) = app.get_admin("/api/v1/campaigns").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == campaign)
        .unwrap_or_else(|| panic!("no {campaign} in {b}"))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_codes_are_per_person_stable_and_redeemed_by_orders() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    segments(&app, "segment vips = trait.plan = \"vip\"").await;
    let offer = "reentry = \"every_entry\"\n[campaign.offer]\ncode_prefix = \"WELCOME\"\ndiscount = \"10%\"\nvalid_for = \"7d\"";
    apply(&app, &entry_email("welcome", "vips", 10, "Welcome", offer)).await;
    let (ann, bo) = vips(&app).await;
    let ann_row = row_of(&app, "welcome", ann, &["sent"]).await;
    let bo_row = row_of(&app, "welcome", bo, &["sent"]).await;
    let code = ann_row["coupon"].as_str().unwrap().to_owned();
    let other = bo_row["coupon"].as_str().unwrap();
    for c in [code.as_str(), other] {
        let rest = c.strip_prefix("WELCOME-").unwrap_or_else(|| panic!("{c}"));
        assert_eq!(rest.len(), 8, "{c}");
    }
    assert_ne!(code, other);
    let got = sink.wait_for(2, WAIT).await;
    let to_ann = got
        .iter()
        .find(|m| m.rcpt_tos == ["ann@example.com"])
        .unwrap();
    assert!(to_ann.html.as_ref().unwrap().contains(&code), "{to_ann:?}");
    assert!(to_ann.text.as_ref().unwrap().contains(&code), "{to_ann:?}");

    // Ann leaves and enters again: a second send, with the same code.
    for plan in ["free", "vip"] {
        batch(&app, vec![identify("ann", json!({ "plan": plan }))]).await;
        catch_up(&app).await;
    }
    let rows = sends_until(&app, "welcome", "a second send to Ann", |rows| {
        rows.iter()
            .filter(|r| r["person"] == ann && r["status"] == "sent")
            .count()
            == 2
    })
    .await;
    let again = rows.iter().rfind(|r| r["person"] == ann).unwrap();
    assert_eq!(again["coupon"], code.as_str(), "{again}");
    assert_eq!(listed(&app, "welcome").await["coupons"]["given"], 2);

    // An order with the code redeems it (once).
    for _ in 0..2 {
        let order = track("ann", "Order Completed", json!({"coupon": code}));
        batch(&app, vec![order]).await;
    }
    let start = Instant::now();
    loop {
        catch_up(&app).await;
        let c = listed(&app, "welcome").await;
        if c["coupons"]["redeemed"] == 1 {
            assert_eq!(c["coupons"], json!({"pool": 0, "given": 2, "redeemed": 1}));
            break;
        }
        assert!(start.elapsed() < WAIT, "not redeemed: {c}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_pool_skips_the_send_rather_than_sending_without_a_code() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    segments(&app, "segment vips = trait.plan = \"vip\"").await;
    let offer = "[campaign.offer]\npool = true\ndiscount = \"20%\"";
    apply(&app, &entry_email("pooled", "vips", 10, "A gift", offer)).await;
    let upload = |codes: Value| {
        let app = &app;
        async move {
            app.admin(
                "POST",
                "/api/v1/campaigns/pooled/coupons",
                json!({ "codes": codes }),
            )
            .await
        }
    };
    let (s, b) = upload(json!(["ONLY-ONE"])).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["added"].as_u64(), b["received"].as_u64()),
        (Some(1), Some(1))
    );
    let (s, b) = upload(json!(["ONLY-ONE"])).await;
    assert_eq!((s, b["added"].as_u64()), (StatusCode::OK, Some(0)), "{b}");
    let (s, b) = upload(json!(["TWO WORDS"])).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_code")),
        "{b}"
    );
    let (s, _) = app
        .admin(
            "POST",
            "/api/v1/campaigns/nope/coupons",
            json!({"codes": ["X"]}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (ann, bo) = vips(&app).await;
    let rows = sends_until(&app, "pooled", "both decided", |rows| {
        rows.len() == 2
            && rows
                .iter()
                .all(|r| r["status"] != "scheduled" && r["status"] != "owed")
    })
    .await;
    let sent: Vec<&Value> = rows.iter().filter(|r| r["status"] == "sent").collect();
    let skipped: Vec<&Value> = rows.iter().filter(|r| r["status"] == "skipped").collect();
    assert_eq!((sent.len(), skipped.len()), (1, 1), "{rows:?}");
    assert_eq!(sent[0]["coupon"], "ONLY-ONE");
    assert_eq!(skipped[0]["rule"], "offer.pool_empty", "{rows:?}");
    assert!(skipped[0]["coupon"].is_null(), "{rows:?}");
    assert!([ann, bo].contains(&skipped[0]["person"].as_i64().unwrap()));

    catch_up(&app).await;
    let got = sink.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].html.as_ref().unwrap().contains("ONLY-ONE"));
    assert_eq!(
        listed(&app, "pooled").await["coupons"],
        json!({"pool": 0, "given": 1, "redeemed": 0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ladder_names_a_product_only_with_evidence() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    segments(&app, "segment buyers = did \"Order Completed\"").await;
    let subject = "{% if pick.step == 'product' %}Still thinking about {{ pick.product.name }}?{% else %}Our best-sellers{% endif %}";
    let ladder = "[campaign.personalize]\nproduct_views = 2\ncategory_views = 3\nwithin = \"14d\"";
    apply(&app, &entry_email("browse", "buyers", 10, subject, ladder)).await;
    let viewed = json!({"product_id": "p42", "name": "Trail Runner", "category": "Shoes"});
    batch(
        &app,
        vec![
            identify("ann", json!({"email": "ann@example.com", "name": "Ann"})),
            identify("bo", json!({"email": "bo@example.com", "name": "Bo"})),
            track("ann", "Product Viewed", viewed.clone()),
            track("ann", "Product Viewed", viewed),
        ],
    )
    .await;
    catch_up(&app).await;
    batch(
        &app,
        vec![
            track("ann", "Order Completed", json!({})),
            track("bo", "Order Completed", json!({})),
        ],
    )
    .await;
    catch_up(&app).await;
    let ann = row_of(&app, "browse", person(&app, "ann").await, &["sent"]).await;
    assert_eq!(ann["step"], "product", "{ann}");
    assert_eq!(
        ann["subject"], "Still thinking about Trail Runner?",
        "{ann}"
    );
    let bo = row_of(&app, "browse", person(&app, "bo").await, &["sent"]).await;
    assert_eq!(bo["step"], "best_sellers", "{bo}");
    assert_eq!(bo["subject"], "Our best-sellers", "{bo}");
    let got = sink.wait_for(2, WAIT).await;
    let to_ann = got
        .iter()
        .find(|m| m.rcpt_tos == ["ann@example.com"])
        .unwrap();
    assert_eq!(
        to_ann.subject.as_deref(),
        Some("Still thinking about Trail Runner?")
    );
}
