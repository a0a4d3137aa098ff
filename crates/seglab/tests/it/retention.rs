//! Event retention with the real binary: a server started with
//! `--retention-events` deletes the older events while ingestion goes on,
//! members who only had them leave with cause `retention`, late events older
//! than the retention are dropped, and the checker warns about windows that
//! reach further back.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{ADMIN, Server, get, post_batch, seglab, stdout};

const DAY: i64 = 86_400_000;

fn at(days_ago: i64) -> String {
    let now = seglab_event::time::now_millis();
    seglab_event::time::format_timestamp(now - days_ago * DAY)
}

fn order(user: &str, id: &str, days_ago: i64) -> Value {
    json!({"type": "track", "userId": user, "event": "Order Completed", "messageId": id,
           "properties": {"revenue": 10}, "timestamp": at(days_ago)})
}

/// The members of `segment`, by user id.
async fn members(client: &reqwest::Client, server: &Server, segment: &str) -> Vec<String> {
    let v = get(
        client,
        server,
        &format!("/api/v1/segments/{segment}/members?limit=1000"),
    )
    .await;
    let mut ids = Vec::new();
    for m in v["members"].as_array().unwrap_or_else(|| panic!("{v}")) {
        let person = get(client, server, &format!("/api/v1/people/{m}")).await;
        let ids_of = person["ids"].to_string();
        for user in ["old", "both", "fresh"] {
            if ids_of.contains(&format!("\"{user}\"")) {
                ids.push(user.to_owned());
            }
        }
    }
    ids.sort();
    ids
}

async fn events_of(client: &reqwest::Client, server: &Server, id: &str) -> u64 {
    let v = get(client, server, &format!("/api/v1/people/{id}")).await;
    v["event_count"].as_u64().unwrap_or_else(|| panic!("{v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_events_expire_while_ingestion_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let client = crate::http();

    // Without a retention: 600 orders of `old` 40 days ago, `both` ordered
    // 40 days ago and yesterday.
    let server = Server::start(&data);
    for chunk in 0..6 {
        let batch: Vec<Value> = (0..100)
            .map(|i| order("old", &format!("old-{chunk}-{i}"), 40))
            .collect();
        post_batch(&client, &server, &batch).await;
    }
    post_batch(
        &client,
        &server,
        &[order("both", "both-1", 40), order("both", "both-2", 1)],
    )
    .await;
    let res = client
        .post(format!("{}/api/v1/segments", server.url))
        .bearer_auth(ADMIN)
        .json(&json!({"source": "segment buyers = did \"Order Completed\""}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    assert_eq!(members(&client, &server, "buyers").await, ["both", "old"]);
    assert_eq!(events_of(&client, &server, "old").await, 600);
    server.stop();

    // With a 30-day retention, a pass runs at start and every second.
    let server = Server::start_with(
        &data,
        &["--retention-events", "30d", "--retention-every", "1s"],
    );
    // Ingestion goes on meanwhile: every batch is acknowledged and stored.
    let sending = {
        let (client, url, key) = (client.clone(), server.url.clone(), server.key.clone());
        tokio::spawn(async move {
            for round in 0..50 {
                let batch: Vec<Value> = (0..20)
                    .map(|i| {
                        json!({"type": "track", "userId": "fresh", "event": "Page Viewed",
                               "messageId": format!("fresh-{round}-{i}"), "timestamp": at(0)})
                    })
                    .collect();
                let res = client
                    .post(format!("{url}/v1/batch"))
                    .basic_auth(&key, Some(""))
                    .json(&json!({ "batch": batch }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while members(&client, &server, "buyers").await != ["both"] {
        assert!(Instant::now() < deadline, "`old` never left `buyers`");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sending.await.unwrap();
    assert_eq!(events_of(&client, &server, "old").await, 0);
    assert_eq!(events_of(&client, &server, "both").await, 1);
    assert_eq!(events_of(&client, &server, "fresh").await, 1_000);
    let changes = get(&client, &server, "/api/v1/segments/buyers/changes?limit=10").await;
    let exit = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["entered"] == "exited")
        .unwrap_or_else(|| panic!("{changes}"))
        .clone();
    assert_eq!(exit["cause"], "retention", "{changes}");

    // A late event older than the retention is acknowledged and dropped.
    post_batch(&client, &server, &[order("both", "late", 45)]).await;
    assert_eq!(events_of(&client, &server, "both").await, 1);
    let metrics = client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("seglab_events_rejected_total{reason=\"expired\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("seglab_events_expired_total 601"),
        "{metrics}"
    );

    // Saving a segment that reads further back than 30 days warns.
    let res = client
        .post(format!("{}/api/v1/segments", server.url))
        .bearer_auth(ADMIN)
        .json(&json!({"source": "segment yearly = did \"Order Completed\" in last 365d"}))
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v["segments"][0]["warnings"][0]["code"], "beyond_retention",
        "{v}"
    );
    server.stop();

    // The command line sees the store's retention too, and a restart
    // brings no expired event back.
    let seg = dir.path().join("two.seg");
    std::fs::write(
        &seg,
        "segment two_months = did \"Page Viewed\" in last 60d\n",
    )
    .unwrap();
    let out = seglab(&data, &["segments", "check", seg.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &stdout(&out);
    assert!(
        text.contains("older than the 30d this store keeps"),
        "{text}"
    );
    let server = Server::start_with(&data, &["--retention-events", "30d"]);
    assert_eq!(members(&client, &server, "buyers").await, ["both"]);
    assert_eq!(events_of(&client, &server, "old").await, 0);
    server.stop();

    // An import obeys the retention kept in the store.
    let file = dir.path().join("history.ndjson");
    std::fs::write(
        &file,
        format!(
            "{}\n{}\n",
            order("imp", "imp-old", 45),
            order("imp", "imp-new", 2)
        ),
    )
    .unwrap();
    let out = stdout(&seglab(&data, &["import", file.to_str().unwrap()]));
    assert!(out.contains("1 events imported"), "{out}");
    assert!(
        out.contains("1 events are older than the store's event retention"),
        "{out}"
    );
}
