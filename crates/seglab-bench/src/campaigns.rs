//! `seglab bench campaigns`: what acting on segments costs, on the store of
//! `bench live` (the demo's people, the 50 segments) with `seglab serve` in a
//! child process and the test suite's real SMTP server (`tests/smtp/sink.py`,
//! aiosmtpd) on loopback. Two figures, each beside a baseline measured in the
//! same run:
//!
//! 1. an email broadcast: from its scheduled instant until every message is
//!    decided (policies, personalization ladder, coupon-free template render),
//!    written to the ledger, handed to SMTP and marked sent, in messages per
//!    second, against raw lettre sends of messages of the same shape to the
//!    same SMTP server over as many connections (target ≥ 2,000 messages/s);
//! 2. the on-site decision API with 50 decision campaigns on one placement,
//!    one per segment: p50 and p99 of `GET /api/v1/decide` for random people,
//!    against the HTTP floor (`GET /healthz` on the same connection) (target
//!    p99 < 5 ms).
//!
//! Every message is checked at the SMTP server: as many distinct
//! idempotency keys as people in the broadcast, none twice.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seglab_event::time::{format_timestamp, now_millis};
use serde_json::{Value, json};

use crate::StoreArgs;
use crate::common::{percentile, rate, sorted, verdict};
use crate::live::{FiftyStore, fifty_segments};
use crate::server::Server;

/// Connections to the SMTP server, for seglab (its default pool) and the
/// baseline alike.
const CONNECTIONS: usize = 16;

/// The placement every on-site campaign of the benchmark answers for.
const PLACEMENT: &str = "bench_banner";

/// What the benchmark is told.
pub struct Options {
    pub store: StoreArgs,
    /// People the broadcast goes to.
    pub messages: usize,
    /// On-site decisions timed.
    pub decisions: usize,
    /// Python with aiosmtpd (default: `SEGLAB_SMTP_PYTHON`, else
    /// `tests/smtp/.venv/bin/python`).
    pub python: Option<PathBuf>,
}

/// Runs the benchmark.
pub fn run(exe: &Path, o: Options) -> anyhow::Result<()> {
    let (python, script) = sink_paths(o.python.clone())?;
    let store = FiftyStore::open(exe, &o.store)?;
    let (people, events) = (store.segments.people(), store.segments.events());
    // The server loads its own; this process keeps only the folder.
    let FiftyStore {
        _tmp,
        data,
        reader,
        segments,
        ..
    } = store;
    drop((reader, segments));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // 1a. The baseline: raw lettre sends to their own SMTP server.
    let sink = Sink::start(&python, &script)?;
    let baseline = rt.block_on(raw_lettre(sink.port, o.messages))?;
    let base_stats = sink.stop()?;
    if base_stats.keys != o.messages {
        bail!(
            "the SMTP server got {} of the {} baseline messages",
            base_stats.keys,
            o.messages
        );
    }

    // 1b and 2: seglab. Each figure is printed once measured.
    let sink = Sink::start(&python, &script)?;
    let smtp = format!("smtp://127.0.0.1:{}", sink.port);
    let t = Instant::now();
    let server = Server::start_with(
        exe,
        &data,
        &["--smtp", &smtp, "--email-from", "shop@example.com"],
    )?;
    println!();
    println!(
        "campaigns: {} people, {} events, 50 segments; server ready in {:.1} s",
        rate(people as f64),
        rate(events as f64),
        t.elapsed().as_secs_f64()
    );
    let result = rt.block_on(async {
        let client = reqwest::Client::builder().build()?;
        let broadcast_s = broadcast(&client, &server, o.messages).await?;
        let seglab_rate = o.messages as f64 / broadcast_s;
        println!(
            "  email broadcast to {} people over SMTP on loopback (aiosmtpd, {CONNECTIONS} connections):",
            rate(o.messages as f64)
        );
        println!(
            "    baseline  raw lettre sends of built messages:   {:>9} messages/s",
            rate(baseline)
        );
        println!(
            "    seglab    decided, rendered, sent and marked:   {:>9} messages/s  ({broadcast_s:.1} s)",
            rate(seglab_rate),
        );
        println!(
            "    ratio     {:.2} × the baseline (target ≥ 2,000 messages/s: {})",
            seglab_rate / baseline,
            verdict(seglab_rate >= 2_000.0)
        );
        let (decide, floor, answered) =
            decisions(&client, &server, o.store.people, o.decisions).await?;
        let (decide, floor) = (sorted(decide), sorted(floor));
        let (p50, p99) = (percentile(&decide, 0.5), percentile(&decide, 0.99));
        println!(
            "  on-site decision, 50 campaigns on one placement ({} requests, {answered} answered with a message):",
            decide.len()
        );
        println!(
            "    baseline  GET /healthz:          p50 {:.3} ms, p99 {:.3} ms",
            percentile(&floor, 0.5),
            percentile(&floor, 0.99)
        );
        println!("    seglab    GET /api/v1/decide:    p50 {p50:.3} ms, p99 {p99:.3} ms");
        println!(
            "    ratio     p99 {:.1} × the HTTP floor (target p99 < 5 ms: {})",
            p99 / percentile(&floor, 0.99).max(1e-6),
            verdict(p99 < 5.0)
        );
        anyhow::Ok(())
    });
    server.stop()?;
    let stats = sink.stop()?;
    result?;
    if stats.keys != o.messages || stats.messages != o.messages {
        bail!(
            "the SMTP server got {} messages with {} distinct keys for {} people",
            stats.messages,
            stats.keys,
            o.messages
        );
    }
    println!(
        "  the SMTP server has each of the {} messages exactly once",
        rate(o.messages as f64)
    );
    Ok(())
}

/// Python and `sink.py`, or how to get them.
fn sink_paths(python: Option<PathBuf>) -> anyhow::Result<(PathBuf, PathBuf)> {
    let script = PathBuf::from("tests/smtp/sink.py");
    if !script.exists() {
        bail!("run this from the repository: tests/smtp/sink.py (the SMTP server) is not here");
    }
    let python = python
        .or_else(|| std::env::var_os("SEGLAB_SMTP_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("tests/smtp/.venv/bin/python"));
    if !python.exists() {
        bail!(
            "no Python with aiosmtpd at {}: run `bash tests/smtp/setup.sh` or pass --python",
            python.display()
        );
    }
    Ok((python, script))
}

/// The SMTP server in a child process, writing what it accepts to a file.
struct Sink {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Kept open: the server prints its statistics when it stops.
    stdout: BufReader<ChildStdout>,
    port: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

/// What the SMTP server received.
struct Received {
    messages: usize,
    keys: usize,
}

impl Sink {
    fn start(python: &Path, script: &Path) -> anyhow::Result<Sink> {
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("messages.jsonl");
        let mut child = Command::new(python)
            .arg(script)
            .args(["--port", "0", "--out"])
            .arg(&out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the SMTP server")?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("the SMTP server said {line:?}, not its port"))?;
        Ok(Sink {
            stdin: child.stdin.take(),
            stdout,
            child,
            port,
            out,
            _dir: dir,
        })
    }

    /// Stops the server (it flushes first) and counts what it received.
    fn stop(mut self) -> anyhow::Result<Received> {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let mut said = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut said)?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the SMTP server failed: {status} {said}");
        }
        let mut keys = HashSet::new();
        let mut messages = 0;
        for line in BufReader::new(std::fs::File::open(&self.out)?).lines() {
            let v: Value = serde_json::from_str(&line?)?;
            messages += 1;
            keys.insert(v["idempotency_key"].as_str().unwrap_or_default().to_owned());
        }
        Ok(Received {
            messages,
            keys: keys.len(),
        })
    }
}

/// A message the size and shape of the broadcast's (text and HTML).
fn raw_message(i: usize) -> anyhow::Result<Message> {
    let name = format!("Customer {i}");
    let products: String = (0..5)
        .map(|p| format!("<li><a href=\"https://shop.example.com/p/{p}\">Product {p}</a></li>"))
        .collect();
    let html = format!(
        "<html><body><p>Hi {name},</p><p>Here is what sells best right now:</p><ul>{products}</ul>\
         <p><a href=\"http://127.0.0.1/u/{i}\">Unsubscribe</a></p></body></html>"
    );
    let text = format!(
        "Hi {name},\nHere is what sells best right now.\nUnsubscribe: http://127.0.0.1/u/{i}"
    );
    let to: Mailbox = format!("user-{i:07}@example.com").parse()?;
    Ok(Message::builder()
        .from("shop@example.com".parse()?)
        .to(to)
        .subject(format!("News for {name}"))
        .raw_header(lettre::message::header::HeaderValue::new(
            lettre::message::header::HeaderName::new_from_ascii_str("X-Seglab-Idempotency-Key"),
            format!("raw-{i}"),
        ))
        .multipart(MultiPart::alternative_plain_html(text, html))?)
}

/// Sends `n` built messages with lettre's own pooled transport, as many at
/// once as seglab's pool allows; messages per second.
async fn raw_lettre(port: u16, n: usize) -> anyhow::Result<f64> {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .pool_config(PoolConfig::new().max_size(CONNECTIONS as u32))
        .build();
    let messages = (0..n)
        .map(raw_message)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let started = Instant::now();
    let mut sent = futures_util::stream::iter(messages)
        .map(|m| {
            let transport = &transport;
            async move { transport.send(m).await }
        })
        .buffer_unordered(CONNECTIONS);
    while let Some(r) = sent.next().await {
        r.context("a raw lettre send")?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn admin(
    client: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = client
        .request(method.clone(), format!("{}{path}", server.url))
        .bearer_auth("bench");
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await?;
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{method} {path}: {status} {v}");
    }
    Ok(v)
}

/// Waits until the live engine has applied every committed event.
async fn live_caught_up(client: &reqwest::Client, server: &Server) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let v = admin(client, server, reqwest::Method::GET, "/api/v1/live", None).await?;
        if v["behind"].as_i64() == Some(0) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the live engine did not catch up within 10 minutes: {v}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Marks `n` people for this run's broadcast (an identify with a `bench_run`
/// trait), saves the segment of them and a broadcast to it a moment later;
/// returns the seconds from its instant until the ledger has every message
/// sent.
async fn broadcast(client: &reqwest::Client, server: &Server, n: usize) -> anyhow::Result<f64> {
    let run = now_millis().to_string();
    let people: Vec<usize> = (0..n).collect();
    for chunk in people.chunks(500) {
        let batch: Vec<Value> = chunk
            .iter()
            .map(|i| {
                let user = format!("user-{i:07}");
                json!({"type": "identify", "userId": user, "messageId": format!("bench-mail-{run}-{i}"),
                       "traits": {"email": format!("{user}@example.com"), "bench_run": run}})
            })
            .collect();
        let res = client
            .post(format!("{}/v1/batch", server.url))
            .basic_auth(&server.key, Some(""))
            .json(&json!({ "batch": batch }))
            .send()
            .await?;
        if res.status() != 200 {
            bail!("identifying the broadcast's people: {}", res.status());
        }
    }
    // Saved, or replaced when a kept store has it from an earlier run.
    let segment =
        json!({"source": format!("segment bench_broadcast = trait.bench_run = \"{run}\"\n")});
    let created = client
        .post(format!("{}/api/v1/segments", server.url))
        .bearer_auth("bench")
        .json(&segment)
        .send()
        .await?;
    if created.status() == reqwest::StatusCode::CONFLICT {
        admin(
            client,
            server,
            reqwest::Method::PUT,
            "/api/v1/segments/bench_broadcast",
            Some(segment),
        )
        .await?;
    } else if !created.status().is_success() {
        bail!(
            "saving the broadcast's segment: {} {}",
            created.status(),
            created.text().await?
        );
    }
    live_caught_up(client, server).await?;
    let at = now_millis() + 2_000;
    // A campaign of this run's own: its ledger counts only this broadcast.
    let name = format!("bench_mail_{run}");
    let source = format!(
        r#"[[campaign]]
name = "{name}"
segment = "bench_broadcast"
channel = "email"
transactional = true
[campaign.trigger]
on = "schedule"
at = "{at}"
[campaign.personalize]
product_views = 2
category_views = 3
within = "14d"
[[campaign.message]]
subject = "{{% if pick.product %}}Still thinking about {{{{ pick.product.name }}}}?{{% else %}}News for {{{{ person.traits.name | default('you') }}}}{{% endif %}}"
html = """<html><body><p>Hi {{{{ person.traits.name | default("there") }}}},</p>
<ul>{{% for p in pick.products %}}<li><a href="https://shop.example.com/p/{{{{ p.id }}}}">{{{{ p.name | default(p.id) }}}}</a></li>{{% endfor %}}</ul>
<p><a href="{{{{ links.unsubscribe }}}}">Unsubscribe</a></p></body></html>"""
text = """Hi {{{{ person.traits.name | default("there") }}}}, here is what sells best right now.
Unsubscribe: {{{{ links.unsubscribe }}}}"""
"#,
        at = format_timestamp(at)
    );
    admin(
        client,
        server,
        reqwest::Method::POST,
        "/api/v1/campaigns",
        Some(json!({ "source": source })),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(3_600);
    loop {
        let v = admin(
            client,
            server,
            reqwest::Method::GET,
            "/api/v1/campaigns",
            None,
        )
        .await?;
        let sends = v["campaigns"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == name.as_str()))
            .map(|c| c["sends"].clone())
            .unwrap_or(Value::Null);
        let sent = sends["sent"].as_u64().unwrap_or(0) as usize;
        if sent >= n {
            break;
        }
        for bad in ["failed", "bounced", "skipped", "suppressed"] {
            if sends[bad].as_u64().unwrap_or(0) > 0 {
                bail!("the broadcast has {bad} sends: {sends}");
            }
        }
        if Instant::now() > deadline {
            bail!("the broadcast did not finish within an hour: {sends}");
        }
        // The list counts the ledger by status (a scan): asking often would
        // take CPU from the broadcast it measures.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok((now_millis() - at) as f64 / 1e3)
}

/// Saves 50 on-site campaigns for one placement, one per segment of `bench
/// live`, then times `count` decisions for random people and as many
/// `/healthz` round trips; the decision times, the floor's, and how many
/// answers held a message.
async fn decisions(
    client: &reqwest::Client,
    server: &Server,
    people: usize,
    count: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>, usize)> {
    let source = fifty_segments();
    let names: Vec<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix("segment ")?.split_whitespace().next())
        .collect();
    let mut toml = String::new();
    for (i, name) in names.iter().enumerate() {
        let ladder = if i % 2 == 0 {
            "[campaign.personalize]\nproduct_views = 1\ncategory_views = 2\nwithin = \"14d\"\n"
        } else {
            ""
        };
        toml.push_str(&format!(
            r#"[[campaign]]
name = "bench_onsite_{i:02}"
segment = "{name}"
channel = "onsite"
priority = {i}
[campaign.trigger]
on = "decision"
placement = "{PLACEMENT}"
{ladder}[[campaign.message]]
subject = "{{% if pick.product %}}{{{{ pick.product.name }}}} for you{{% else %}}Picked for you{{% endif %}}"
html = """<a class="banner" href="https://shop.example.com/">{{% for p in pick.products %}}{{{{ p.name | default(p.id) }}}} {{% endfor %}}</a>"""

"#
        ));
    }
    admin(
        client,
        server,
        reqwest::Method::POST,
        "/api/v1/campaigns",
        Some(json!({ "source": toml })),
    )
    .await?;
    let mut rng = StdRng::seed_from_u64(now_millis() as u64);
    let (mut decide, mut floor) = (Vec::with_capacity(count), Vec::with_capacity(count));
    let mut answered = 0;
    let mut missing = 0;
    while decide.len() < count {
        let user = format!("user-{:07}", rng.random_range(0..people.max(1)));
        let t = Instant::now();
        let res = client
            .get(format!(
                "{}/api/v1/decide?person={user}&placement={PLACEMENT}",
                server.url
            ))
            .bearer_auth("bench")
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if status == 404 {
            // An anonymous person of the demo has no user id.
            missing += 1;
            if missing > 10 * count {
                bail!("no person found for {missing} user ids");
            }
            continue;
        }
        if !status.is_success() {
            bail!("decide for {user}: {status} {body}");
        }
        answered += usize::from(!body["decision"].is_null());
        decide.push(ms);
        let t = Instant::now();
        let res = client.get(format!("{}/healthz", server.url)).send().await?;
        res.bytes().await?;
        floor.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((decide, floor, answered))
}
