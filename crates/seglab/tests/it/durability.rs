//! A 200 means committed: kill the server with SIGKILL under load, restart it, and
//! every acknowledged event is there exactly once; clients that resend everything
//! after the restart create no duplicates.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use seglab_store::Reader;
use serde_json::json;

use crate::{ADMIN, Server};

fn batch(client: usize, n: usize, size: usize) -> (String, Vec<String>) {
    let ids: Vec<String> = (0..size).map(|j| format!("c{client}-b{n}-e{j}")).collect();
    let msgs: Vec<_> = ids
        .iter()
        .map(|id| json!({"type": "track", "userId": format!("user-{}", id.len() % 17), "event": "Order Completed", "messageId": id, "properties": {"revenue": 12.5}}))
        .collect();
    (json!({ "batch": msgs }).to_string(), ids)
}

/// Sends batches from `clients` tasks until `stop` passes; returns every batch sent
/// (by client) and the message ids of those that got a 200.
async fn load(
    url: &str,
    key: &str,
    clients: usize,
    stop: Instant,
) -> (Vec<(String, Vec<String>)>, HashSet<String>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let client = crate::http();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, url, key, sent, acked) = (
            client.clone(),
            format!("{url}/v1/batch"),
            key.to_owned(),
            sent.clone(),
            acked.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for n in 0..10_000 {
                if Instant::now() >= stop {
                    break;
                }
                let (body, ids) = batch(c, n, 50);
                sent.lock().unwrap().push((body.clone(), ids.clone()));
                let res = client
                    .post(&url)
                    .basic_auth(&key, Some(""))
                    .body(body)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().extend(ids),
                    _ => break,
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    (sent, acked)
}

pub(crate) fn stored_ids(data: &std::path::Path) -> HashMap<String, usize> {
    let reader = Reader::open(data).unwrap();
    let mut counts = HashMap::new();
    let mut after = 0;
    loop {
        let page = reader.events_after(after, 10_000).unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page {
            *counts.entry(e.message_id).or_insert(0) += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let (url, key) = (server.url.clone(), server.key.clone());
    let killer = {
        let pid = server.child.id();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            std::process::Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status()
                .unwrap();
        })
    };
    let (sent, acked) = load(&url, &key, 6, Instant::now() + Duration::from_secs(10)).await;
    killer.await.unwrap();
    drop(server);
    assert!(
        acked.len() > 1_000,
        "the load was too light to mean anything: {} acknowledged",
        acked.len()
    );

    let stored = stored_ids(&data);
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert!(
        stored.values().all(|&n| n == 1),
        "duplicates after the crash"
    );

    // Clients resend everything they ever sent: still exactly once each.
    let server = Server::start(&data);
    let client = crate::http();
    for (body, _) in &sent {
        let r = client
            .post(format!("{}/v1/batch", server.url))
            .basic_auth(&server.key, Some(""))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    server.signal("TERM");
    drop(server);
    let stored = stored_ids(&data);
    let all: HashSet<&String> = sent.iter().flat_map(|(_, ids)| ids).collect();
    assert_eq!(stored.len(), all.len());
    assert!(stored.values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let (url, key) = (server.url.clone(), server.key.clone());
    let loader =
        tokio::spawn(
            async move { load(&url, &key, 4, Instant::now() + Duration::from_secs(3)).await },
        );
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.signal("TERM");
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = server.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "no exit 30 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
    let (_, acked) = loader.await.unwrap();
    let stored = stored_ids(&data);
    assert!(acked.iter().all(|id| stored.contains_key(id)));
    let _ = ADMIN;
}
