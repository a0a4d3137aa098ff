//! `seglab serve --warehouse`: the log exported to real ClickHouse servers
//! and memberships computed there on a schedule (ADR 0018). The shared
//! servers come from `tests/clickhouse/start.sh` (`SEGLAB_CLICKHOUSE_SINGLE`,
//! `SEGLAB_CLICKHOUSE_CLUSTER`); without them the tests are skipped, unless
//! `CI=true` or `SEGLAB_REQUIRE_CLICKHOUSE=1`. The outage test starts a
//! ClickHouse server of its own.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{ADMIN, Server, get, post_batch, seglab, stdout};

fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("SEGLAB_REQUIRE_CLICKHOUSE").is_ok_and(|v| v == "1")
}

/// The HTTP addresses of a shared backend's nodes, or `None` (skipped).
fn shared(var: &str) -> Option<Vec<String>> {
    match std::env::var(var) {
        Ok(urls) if !urls.trim().is_empty() => {
            Some(urls.split(',').map(|u| u.trim().to_owned()).collect())
        }
        _ if required() => {
            panic!("{var} is not set: start the servers with tests/clickhouse/start.sh")
        }
        _ => {
            eprintln!("skipped: {var} is not set (eval \"$(bash tests/clickhouse/start.sh)\")");
            None
        }
    }
}

/// A database name no other run uses.
fn database(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("seglab_it_{what}_{}_{nanos}", std::process::id())
}

/// The `clickhouse://` address of `nodes` (HTTP addresses).
fn warehouse_url(nodes: &[String], database: &str, cluster: Option<&str>) -> String {
    let hosts: Vec<&str> = nodes
        .iter()
        .map(|n| n.trim_start_matches("http://").trim_end_matches('/'))
        .collect();
    let mut url = format!("clickhouse://{}/{database}", hosts.join(","));
    if let Some(c) = cluster {
        url.push_str(&format!("?cluster={c}"));
    }
    url
}

/// Runs `sql` on a node; its TabSeparated answer.
async fn query(node: &str, sql: &str) -> String {
    let res = crate::http()
        .post(format!("{node}/"))
        .body(sql.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{sql}: {text}");
    text.trim().to_owned()
}

/// Polls `check` (at most `secs` seconds) until it returns `Some`.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not after {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until everything committed is exported and a later evaluation is
/// recorded; returns the instant of that evaluation (`/api/v1/live`'s clock).
async fn evaluated(client: &reqwest::Client, server: &Server) -> String {
    let before = get(client, server, "/api/v1/live").await["clock"].clone();
    eventually(60, "a warehouse evaluation after the export", || async {
        let live = get(client, server, "/api/v1/live").await;
        assert_eq!(live["mode"], "warehouse", "{live}");
        (live["behind"] == 0 && !live["clock"].is_null() && live["clock"] != before)
            .then(|| live["clock"].as_str().unwrap().to_owned())
    })
    .await
}

fn ids(v: &Value) -> BTreeSet<i64> {
    v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_i64().unwrap())
        .collect()
}

/// For every segment, the members recorded from the warehouse at `at` equal
/// the native engine's at `at`; returns how many segments have members.
async fn same_members(client: &reqwest::Client, server: &Server, at: &str) -> usize {
    let list = get(client, server, "/api/v1/segments").await;
    let names: Vec<String> = list["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.len() >= 5, "{list}");
    let at = at.replace('+', "%2B");
    let mut nonempty = 0;
    for name in &names {
        let native = get(
            client,
            server,
            &format!("/api/v1/segments/{name}/members?at={at}&limit=10000"),
        )
        .await;
        let recorded = get(
            client,
            server,
            &format!("/api/v1/segments/{name}/members/recorded?at={at}&limit=10000"),
        )
        .await;
        assert_eq!(
            ids(&recorded),
            ids(&native),
            "{name} at {at}: warehouse (recorded) and native engine differ"
        );
        nonempty += usize::from(!ids(&native).is_empty());
    }
    nonempty
}

/// The behavioral events of people not merged away: each stored event once.
async fn exported(node: &str, db: &str) -> (u64, u64) {
    let text = query(
        node,
        &format!(
            "SELECT count(), uniqExact(message_id) FROM {db}.events FINAL WHERE kind = 0 \
             AND person GLOBAL NOT IN (SELECT person FROM {db}.events WHERE kind = 3)"
        ),
    )
    .await;
    let mut it = text.split('\t').map(|n| n.parse::<u64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// A receiver on loopback that keeps every webhook body.
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let g = g.clone();
            async move {
                g.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                axum::http::StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

async fn serves_like_the_engine(nodes: Vec<String>, cluster: Option<&str>) {
    let db = database(if cluster.is_some() {
        "cluster"
    } else {
        "single"
    });
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    stdout(&seglab(&data, &["demo", "--people", "150", "--days", "30"]));
    let (hook, got) = receiver().await;
    stdout(&seglab(
        &data,
        &[
            "webhooks",
            "add",
            &hook,
            "--segment",
            "repeat_buyers",
            "--on",
            "entered",
        ],
    ));
    let url = warehouse_url(&nodes, &db, cluster);
    let flags = ["--warehouse", url.as_str(), "--warehouse-every", "1s"];
    let server = Server::start_with(&data, &flags);
    let client = crate::http();
    let node = nodes[0].as_str();

    // The demo history, then members equal to the engine's.
    let at = evaluated(&client, &server).await;
    let nonempty = same_members(&client, &server, &at).await;
    assert!(nonempty >= 5, "only {nonempty} segments have members");
    let engine_events = |live: &Value| live["engine"]["events"].as_u64().unwrap();
    let live = get(&client, &server, "/api/v1/live").await;
    let (rows, distinct) = exported(node, &db).await;
    assert_eq!(
        (rows, distinct),
        (engine_events(&live), engine_events(&live))
    );

    // Two people with an order each, sent twice: stored and exported once.
    let batch = [
        json!({"type": "track", "userId": "wh-bob", "event": "Order Completed",
               "properties": {"revenue": 40}, "messageId": "wh-1"}),
        json!({"type": "track", "anonymousId": "wh-anon", "event": "Order Completed",
               "properties": {"revenue": 60}, "messageId": "wh-2"}),
    ];
    post_batch(&client, &server, &batch).await;
    post_batch(&client, &server, &batch).await;
    let at = evaluated(&client, &server).await;
    same_members(&client, &server, &at).await;
    let live = get(&client, &server, "/api/v1/live").await;
    assert_eq!(
        exported(node, &db).await,
        (engine_events(&live), engine_events(&live))
    );
    let raw = query(
        node,
        &format!("SELECT count() FROM {db}.events WHERE message_id IN ('wh-1', 'wh-2')"),
    )
    .await;
    assert_eq!(raw, "2", "a re-sent batch was exported twice");

    // The anonymous visitor signs in as bob: one person with two orders,
    // a repeat buyer, in the warehouse as in the engine.
    post_batch(
        &client,
        &server,
        &[
            json!({"type": "identify", "userId": "wh-bob", "anonymousId": "wh-anon",
                 "traits": {"plan": "gold"}, "messageId": "wh-3"}),
        ],
    )
    .await;
    let bob = get(&client, &server, "/api/v1/people/wh-bob").await["person_id"]
        .as_i64()
        .unwrap();
    let entered = eventually(60, "bob entering repeat_buyers", || async {
        let changes = get(
            &client,
            &server,
            "/api/v1/segments/repeat_buyers/changes?limit=1000&after=0",
        )
        .await;
        changes["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["person"] == bob && (c["type"] == "entered" || c["entered"] == "entered"))
            .cloned()
    })
    .await;
    assert_eq!(entered["cause"], "warehouse", "{entered}");
    let at = evaluated(&client, &server).await;
    same_members(&client, &server, &at).await;
    let hook_body = eventually(30, "the webhook of bob's entry", || async {
        got.lock()
            .unwrap()
            .iter()
            .find(|b| b["person"]["user_id"] == "wh-bob")
            .cloned()
    })
    .await;
    assert_eq!(hook_body["type"], "segment.entered");
    assert_eq!(hook_body["segment"], "repeat_buyers");
    assert_eq!(hook_body["cause"], "warehouse");

    // A retry from an older cursor sends rows again: they count once.
    server.stop();
    std::fs::write(
        data.join("warehouse.cursor"),
        serde_json::to_vec(&json!({"target": "", "last_seq": 0, "last_merge": 0})).unwrap(),
    )
    .unwrap();
    let server = Server::start_with(&data, &flags);
    let at = evaluated(&client, &server).await;
    same_members(&client, &server, &at).await;
    let live = get(&client, &server, "/api/v1/live").await;
    assert_eq!(
        exported(node, &db).await,
        (engine_events(&live), engine_events(&live))
    );
    server.stop();
    for n in &nodes {
        query(n, &format!("DROP DATABASE IF EXISTS {db}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_serves_like_the_engine() {
    if let Some(nodes) = shared("SEGLAB_CLICKHOUSE_SINGLE") {
        serves_like_the_engine(nodes, None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_serve_like_the_engine() {
    if let Some(nodes) = shared("SEGLAB_CLICKHOUSE_CLUSTER") {
        serves_like_the_engine(nodes, Some("seglab")).await;
    }
}

/// The table each node holds its rows in (where mutations run).
fn shard_table(db: &str, cluster: Option<&str>) -> String {
    match cluster {
        Some(_) => format!("{db}.events_local"),
        None => format!("{db}.events"),
    }
}

/// Runs `sql` on every node; their answers, one a line.
async fn on_every(nodes: &[String], sql: &str) -> String {
    let mut out = Vec::new();
    for n in nodes {
        out.push(query(n, sql).await);
    }
    out.join("\n")
}

/// Whether every node finished its mutations of the test's database.
async fn mutations_done(nodes: &[String], db: &str) -> bool {
    let running = on_every(
        nodes,
        &format!("SELECT count() FROM system.mutations WHERE database = '{db}' AND is_done = 0"),
    )
    .await;
    running.lines().all(|n| n == "0")
}

/// The people any segment can contain: the condition-independent part
/// every compiled query shares (rows of theirs, no mark).
async fn visible_people(node: &str, db: &str) -> BTreeSet<i64> {
    let text = query(
        node,
        &format!(
            "SELECT person FROM {db}.events FINAL GROUP BY person \
             HAVING countIf(kind IN (0, 1)) > 0 AND countIf(kind = 3) = 0"
        ),
    )
    .await;
    text.lines().map(|l| l.parse().unwrap()).collect()
}

/// The members of `condition` at `now` as ClickHouse computes them (the
/// SQL the schedule runs).
async fn computed(node: &str, db: &str, condition: &str, now: i64) -> BTreeSet<i64> {
    let c = seglab_lang::parse_condition(condition).unwrap();
    let q =
        seglab_clickhouse::compile(&c, &Default::default(), &seglab_clickhouse::Schema::new(db))
            .unwrap();
    let text = query(node, &q.sql(now)).await;
    text.lines().map(|l| l.parse().unwrap()).collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A deleted person's rows leave ClickHouse: left out of every query at
/// once (the mutation is held back here to show it), then gone once the
/// mutation ran; then a retention pass deletes the expired events there too
/// and records what it changed with cause `retention`.
async fn deletes_and_expires(nodes: Vec<String>, cluster: Option<&str>) {
    let db = database(if cluster.is_some() {
        "cluster_del"
    } else {
        "single_del"
    });
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    stdout(&seglab(&data, &["demo", "--people", "80", "--days", "40"]));
    let url = warehouse_url(&nodes, &db, cluster);
    let flags = ["--warehouse", url.as_str(), "--warehouse-every", "1s"];
    let server = Server::start_with(&data, &flags);
    let client = crate::http();
    let node = nodes[0].as_str();

    // Ann: an anonymous visit, a sign-in with her address, an old account
    // with an order aliased in, another order.
    let ann_ids = ["whdel-anon-5e1", "whdel-ann-5e1", "whdel-old-5e1"];
    let address = "Ann.5e1@Example.com";
    let messages = ["whdel-1", "whdel-2", "whdel-3", "whdel-4", "whdel-5"];
    post_batch(
        &client,
        &server,
        &[
            json!({"type": "track", "anonymousId": ann_ids[0], "event": "Product Viewed",
                   "properties": {"sku": "p1"}, "messageId": messages[0]}),
            json!({"type": "identify", "userId": ann_ids[1], "anonymousId": ann_ids[0],
                   "traits": {"email": address}, "messageId": messages[1]}),
            json!({"type": "track", "userId": ann_ids[2], "event": "Order Completed",
                   "properties": {"revenue": 30, "email": address}, "messageId": messages[2]}),
        ],
    )
    .await;
    post_batch(
        &client,
        &server,
        &[
            json!({"type": "alias", "userId": ann_ids[1], "previousId": ann_ids[2],
                   "messageId": messages[3]}),
            json!({"type": "track", "userId": ann_ids[1], "event": "Order Completed",
                   "properties": {"revenue": 50}, "messageId": messages[4]}),
        ],
    )
    .await;
    let ann = get(&client, &server, &format!("/api/v1/people/{}", ann_ids[1])).await["person_id"]
        .as_i64()
        .unwrap();
    evaluated(&client, &server).await;
    let at = evaluated(&client, &server).await;
    same_members(&client, &server, &at).await;
    let recorded = get(
        &client,
        &server,
        &format!(
            "/api/v1/segments/repeat_buyers/members/recorded?at={}&limit=10000",
            at.replace('+', "%2B")
        ),
    )
    .await;
    assert!(ids(&recorded).contains(&ann), "{recorded}");
    let hers = format!(
        "message_id IN ({}) OR has(p_str, '{address}')",
        messages.map(|m| format!("'{m}'")).join(", ")
    );
    let before = query(
        node,
        &format!("SELECT groupUniqArray(person) FROM {db}.events WHERE {hers}"),
    )
    .await;
    assert!(before.contains(&ann.to_string()), "{before}");
    assert!(visible_people(node, &db).await.contains(&ann));
    assert!(
        computed(node, &db, r#"did "Order Completed""#, now_ms())
            .await
            .contains(&ann)
    );

    // Merges held back on the test's tables: the mutation waits.
    let table = shard_table(&db, cluster);
    on_every(&nodes, &format!("SYSTEM STOP MERGES {table}")).await;
    let res = client
        .delete(format!("{}/api/v1/people/{}", server.url, ann_ids[0]))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let gone: Value = res.json().await.unwrap();
    let persons: Vec<i64> = gone["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    assert_eq!(persons.len(), 2, "{gone}");
    assert!(persons.contains(&ann));
    let list = persons
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    // Left out at once, while the rows are still there.
    eventually(30, "ann left out of the warehouse's queries", || async {
        let visible = visible_people(node, &db).await;
        persons.iter().all(|p| !visible.contains(p)).then_some(())
    })
    .await;
    let computed_now = computed(node, &db, r#"did "Order Completed""#, now_ms()).await;
    assert!(!computed_now.contains(&ann), "{computed_now:?}");
    assert!(!computed_now.is_empty());
    let raw = query(
        node,
        &format!("SELECT count() FROM {db}.events WHERE person IN ({list})"),
    )
    .await;
    assert_ne!(raw, "0", "the mutation was held back");
    assert!(!mutations_done(&nodes, &db).await);
    let at = evaluated(&client, &server).await;
    same_members(&client, &server, &at).await;
    let recorded = get(
        &client,
        &server,
        &format!(
            "/api/v1/segments/repeat_buyers/members/recorded?at={}&limit=10000",
            at.replace('+', "%2B")
        ),
    )
    .await;
    assert!(!ids(&recorded).contains(&ann), "{recorded}");

    // The mutation runs: nothing of hers is left, on any node.
    on_every(&nodes, &format!("SYSTEM START MERGES {table}")).await;
    eventually(120, "the deletion's mutation", || async {
        mutations_done(&nodes, &db).await.then_some(())
    })
    .await;
    for n in &nodes {
        let left = query(
            n,
            &format!(
                "SELECT count() FROM {table} WHERE person IN ({list}) OR {hers} \
                 OR hasAny(p_str, [{}])",
                ann_ids.map(|i| format!("'{i}'")).join(", ")
            ),
        )
        .await;
        assert_eq!(left, "0", "rows of ann left on {n}");
    }
    let live = get(&client, &server, "/api/v1/live").await;
    let engine_events = live["engine"]["events"].as_u64().unwrap();
    assert_eq!(exported(node, &db).await, (engine_events, engine_events));
    server.stop();

    // A retention pass at the next start: the events before its cutoff go
    // from ClickHouse too, and what it changed is recorded as `retention`.
    let flags = [
        "--warehouse",
        url.as_str(),
        "--warehouse-every",
        "1s",
        "--retention-events",
        "20d",
    ];
    let server = Server::start_with(&data, &flags);
    let cutoff = eventually(60, "the retention pass followed", || async {
        let text = std::fs::read_to_string(data.join("warehouse.cursor")).ok()?;
        let cursor: Value = serde_json::from_str(&text).ok()?;
        cursor["deleted_before"].as_i64()
    })
    .await;
    let mut retention = 0;
    let list = get(&client, &server, "/api/v1/segments").await;
    for s in list["segments"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let changes = get(
            &client,
            &server,
            &format!("/api/v1/segments/{name}/changes?limit=10000&after=0"),
        )
        .await;
        retention += changes["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["cause"] == "retention")
            .count();
    }
    assert!(retention > 0, "no change recorded with cause retention");
    let at = evaluated(&client, &server).await;
    same_members(&client, &server, &at).await;
    eventually(120, "the retention's mutation", || async {
        mutations_done(&nodes, &db).await.then_some(())
    })
    .await;
    let old = on_every(
        &nodes,
        &format!("SELECT count() FROM {table} WHERE kind = 0 AND ts < {cutoff}"),
    )
    .await;
    assert!(old.lines().all(|n| n == "0"), "expired events left: {old}");
    let live = get(&client, &server, "/api/v1/live").await;
    let engine_events = live["engine"]["events"].as_u64().unwrap();
    assert_eq!(exported(node, &db).await, (engine_events, engine_events));
    server.stop();
    for n in &nodes {
        query(n, &format!("DROP DATABASE IF EXISTS {db}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_deletes_people_and_expired_events() {
    if let Some(nodes) = shared("SEGLAB_CLICKHOUSE_SINGLE") {
        deletes_and_expires(nodes, None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_delete_people_and_expired_events() {
    if let Some(nodes) = shared("SEGLAB_CLICKHOUSE_CLUSTER") {
        deletes_and_expires(nodes, Some("seglab")).await;
    }
}

/// A ClickHouse server of the test's own, on free loopback ports.
struct OwnClickHouse {
    child: Option<Child>,
    dir: std::path::PathBuf,
    http: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl OwnClickHouse {
    /// `None` when no `clickhouse-server` is installed (skipped, or a panic
    /// when required).
    fn create(dir: &Path) -> Option<OwnClickHouse> {
        let found = Command::new("clickhouse-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            assert!(!required(), "clickhouse-server is not installed");
            eprintln!("skipped: clickhouse-server is not installed");
            return None;
        }
        let (http, tcp, inter) = (free_port(), free_port(), free_port());
        for sub in ["data", "tmp", "user_files", "format_schemas"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let d = dir.display();
        std::fs::write(
            dir.join("config.xml"),
            format!(
                r#"<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/server.err.log</errorlog></logger>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <interserver_http_port>{inter}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <listen_host>127.0.0.1</listen_host>
    <max_concurrent_queries>8</max_concurrent_queries>
    <mark_cache_size>67108864</mark_cache_size>
    <path>{d}/data/</path>
    <tmp_path>{d}/tmp/</tmp_path>
    <user_files_path>{d}/user_files/</user_files_path>
    <format_schema_path>{d}/format_schemas/</format_schema_path>
    <users_config>{d}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
"#
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("users.xml"),
            r#"<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"#,
        )
        .unwrap();
        Some(OwnClickHouse {
            child: None,
            dir: dir.to_owned(),
            http,
        })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    async fn start(&mut self) {
        let child = Command::new("clickhouse-server")
            .arg(format!(
                "--config-file={}",
                self.dir.join("config.xml").display()
            ))
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let ping = format!("{}/ping", self.url());
        eventually(60, "clickhouse-server answering", || {
            let ping = ping.clone();
            async move {
                let res = crate::http().get(&ping).send().await.ok()?;
                res.status().is_success().then_some(())
            }
        })
        .await;
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnClickHouse {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Ingestion goes on while ClickHouse is down; once it is back, the export
/// catches up and memberships follow. A person deleted meanwhile, with
/// seglab restarted before ClickHouse is back, is deleted there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warehouse_that_was_down_is_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut ch) = OwnClickHouse::create(&dir.path().join("clickhouse")) else {
        return;
    };
    ch.start().await;
    let data = dir.path().join("data");
    stdout(&seglab(&data, &["demo", "--people", "30", "--days", "10"]));
    let url = warehouse_url(&[ch.url()], "seglab", None);
    let flags = ["--warehouse", url.as_str(), "--warehouse-every", "1s"];
    let server = Server::start_with(&data, &flags);
    let client = crate::http();
    let at = evaluated(&client, &server).await;
    // Someone who is in a segment.
    let mut victim = None;
    for name in [
        "active",
        "recent_buyers",
        "repeat_buyers",
        "browsers_not_buyers",
    ] {
        let recorded = get(
            &client,
            &server,
            &format!(
                "/api/v1/segments/{name}/members/recorded?at={}&limit=10000",
                at.replace('+', "%2B")
            ),
        )
        .await;
        if let Some(&p) = ids(&recorded).iter().next() {
            victim = Some((name, p));
            break;
        }
    }
    let (segment, victim) = victim.expect("no segment has members");
    let rows_of = format!("SELECT count() FROM seglab.events WHERE person = {victim}");
    assert_ne!(query(&ch.url(), &rows_of).await, "0");

    ch.stop();
    let order = |user: &str| {
        json!({"type": "track", "userId": user, "event": "Order Completed",
               "properties": {"revenue": 10}, "messageId": format!("{user}-order")})
    };
    post_batch(&client, &server, &[order("down-1")]).await;
    post_batch(&client, &server, &[order("down-2")]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let live = get(&client, &server, "/api/v1/live").await;
    assert_eq!(live["behind"], 2, "{live}");
    let res = client
        .delete(format!("{}/api/v1/people/{victim}", server.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    server.stop();

    ch.start().await;
    let server = Server::start_with(&data, &flags);
    let at = evaluated(&client, &server).await;
    let recorded = get(
        &client,
        &server,
        &format!(
            "/api/v1/segments/{segment}/members/recorded?at={}&limit=10000",
            at.replace('+', "%2B")
        ),
    )
    .await;
    assert!(!ids(&recorded).contains(&victim), "{recorded}");
    eventually(120, "the deletion done in the warehouse", || async {
        (mutations_done(&[ch.url()], "seglab").await && query(&ch.url(), &rows_of).await == "0")
            .then_some(())
    })
    .await;
    let person = get(&client, &server, "/api/v1/people/down-2").await["person_id"].clone();
    let changes = get(
        &client,
        &server,
        "/api/v1/segments/recent_buyers/changes?limit=1000&after=0",
    )
    .await;
    let entry = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["person"] == person)
        .cloned()
        .unwrap_or_else(|| panic!("down-2 never entered: {changes}"));
    assert_eq!(entry["cause"], "warehouse");
    same_members(&client, &server, &at).await;
    server.stop();
    ch.stop();
}
