//! Campaigns in a running server: the decision thread (triggers and
//! decisions, woken by recorded membership changes and by the next due
//! instant), the sender (dispatch, on the async runtime), on-site decisions,
//! and what the API asks (preview, why, tracking).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use seglab_event::time::now_millis;
use seglab_live::rounds::Rounds;
use seglab_live::{LiveDb, Runner};
use seglab_segments::Segments;
use seglab_store::{Health, Store};
use serde::Serialize;

use crate::best::Shop;
use crate::db::{CampaignDb, NewSend, Pool, Status, StoredCampaign};
use crate::def::{ChannelKind, Trigger};
use crate::email::{Mailer, SmtpConfig};
use crate::plan::{Codes, Due, Env, Person, Planned, compose, decide_person};
use crate::send::Sender;
use crate::track::Tokens;
use crate::worker::{Round, TemplateCache, Worker};
use crate::{Error, Result, best};

/// How often best-sellers are computed again.
const BEST_SELLERS_EVERY: i64 = 10 * 60_000;
/// The longest the decision thread sleeps with nothing to do.
const IDLE: Duration = Duration::from_millis(500);

/// Where messages come from and how they leave.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// What links in messages start with (`http://127.0.0.1:8080`).
    pub base_url: String,
    /// The SMTP server for email (`None`: email waits until one is set).
    pub smtp: Option<SmtpConfig>,
}

/// Campaigns of a running server.
pub struct Campaigns {
    dir: PathBuf,
    store: Arc<Store>,
    segments: Arc<Segments>,
    live: Arc<Runner>,
    /// Handles for the API and the CLI.
    pub pool: Pool,
    /// On-site decisions' own handle (commits without an fsync each: an
    /// impression lost to a power cut is harmless).
    onsite: Mutex<CampaignDb>,
    settings: Settings,
    tokens: Tokens,
    shop: RwLock<(i64, Arc<Shop>)>,
    templates: Mutex<TemplateCache>,
    stop: AtomicBool,
    /// Rounds asked for and done, for [`Campaigns::catch_up`].
    rounds: Rounds,
    /// Wakes the sender when rows were decided `owed`.
    owed: Arc<tokio::sync::Notify>,
    /// Held by the decision thread during a round, and by a deletion of a
    /// person (so no round decides for someone being deleted).
    working: Mutex<()>,
    /// Failed rounds of the decision thread and of the sender (a full
    /// disk): logged once per run, retried after a backoff.
    deciding: Health,
    sending: Arc<Health>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Campaigns {
    /// Opens `campaigns.db` beside the store; nothing runs until `start`.
    /// Open it before the live thread starts: when `live.db` was rebuilt,
    /// the ledger's position in it is settled here first.
    pub fn open(
        store: Arc<Store>,
        segments: Arc<Segments>,
        live: Arc<Runner>,
        settings: Settings,
    ) -> Result<Arc<Campaigns>> {
        let dir = store.dir().to_owned();
        let pool = Pool::open_checked(&dir)?;
        let live_db = LiveDb::open(&dir)?;
        pool.with(|db| crate::trigger::start_cursor(db, &live_db))?;
        let secret = pool.with(|db| db.tracking_secret())?;
        let onsite = CampaignDb::open(&dir)?.relaxed()?;
        Ok(Arc::new(Campaigns {
            dir,
            store,
            segments,
            live,
            pool,
            onsite: Mutex::new(onsite),
            settings,
            tokens: Tokens::new(secret.as_bytes()),
            shop: RwLock::new((i64::MIN, Arc::new(Shop::default()))),
            templates: Mutex::new(TemplateCache::default()),
            stop: AtomicBool::new(false),
            rounds: Rounds::default(),
            owed: Arc::new(tokio::sync::Notify::new()),
            working: Mutex::new(()),
            deciding: Health::new(crate::db::CAMPAIGNS_DB_FILE, "deciding campaign sends"),
            sending: Arc::new(Health::new(
                crate::db::CAMPAIGNS_DB_FILE,
                "sending campaign messages",
            )),
            thread: Mutex::new(None),
        }))
    }

    /// The tokens that sign tracking and unsubscribe links.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// Best-sellers as of at most ten minutes ago.
    fn best_sellers(&self, now: i64) -> Arc<Shop> {
        {
            let shop = self.shop.read().unwrap_or_else(|e| e.into_inner());
            // Never computed: `i64::MIN`, which `now - ` would overflow.
            if now.saturating_sub(shop.0) < BEST_SELLERS_EVERY {
                return shop.1.clone();
            }
        }
        let fresh = Arc::new(best::compute(&self.segments, now));
        *self.shop.write().unwrap_or_else(|e| e.into_inner()) = (now, fresh.clone());
        fresh
    }

    fn env<'a>(&'a self, shop: &'a Shop) -> Env<'a> {
        Env {
            reader: self.store.reader(),
            segments: &self.segments,
            members: &*self.live,
            shop,
            base_url: &self.settings.base_url,
            tokens: &self.tokens,
        }
    }

    /// Starts the decision thread and, on `runtime`, the sender.
    pub fn start(self: &Arc<Campaigns>, runtime: &tokio::runtime::Handle) -> Result<()> {
        let live = LiveDb::open(&self.dir)?;
        let mut worker = Worker::open(&self.dir, &live, self.store.reader())?;
        let me = self.clone();
        let handle = std::thread::Builder::new()
            .name("seglab-campaigns".into())
            .spawn(move || me.run(&mut worker, &live))?;
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        let mailer = match &self.settings.smtp {
            Some(cfg) => Some(Mailer::new(cfg.clone()).map_err(|e| Error::Refused(e.to_string()))?),
            None => None,
        };
        let sender = Sender {
            from: self
                .settings
                .smtp
                .as_ref()
                .map(|c| c.from.clone())
                .unwrap_or_default(),
            mailer,
            http: Sender::http_client()?,
            base_url: self.settings.base_url.clone(),
            tokens: self.tokens.clone(),
            user_id: {
                let store = self.store.clone();
                Arc::new(move |person| store.reader().user_id(person).ok().flatten())
            },
        };
        let db = Arc::new(Mutex::new(CampaignDb::open(&self.dir)?.relaxed()?));
        let wake = self.owed.clone();
        let me = self.clone();
        let health = self.sending.clone();
        runtime.spawn(async move {
            let mut warned = false;
            while !me.stop.load(Ordering::Acquire) {
                let now = now_millis();
                let mut backoff = None;
                match sender.round(&db, now).await {
                    Ok((n, more)) => {
                        health.ok();
                        if more && n > 0 {
                            continue;
                        }
                    }
                    Err(e) => backoff = Some(health.failed(&e, e.is_storage_full())),
                }
                if sender.mailer.is_none() && !warned {
                    warned = true;
                    tracing::info!("no SMTP server configured: email campaigns wait (--smtp)");
                }
                let next = db
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .next_owed(sender.mailer.is_some())
                    .ok()
                    .flatten();
                let wait = next.map_or(1_000, |t| (t - now_millis()).clamp(10, 1_000));
                let wait = backoff.unwrap_or(Duration::from_millis(wait as u64));
                let _ = tokio::time::timeout(wait, wake.notified()).await;
            }
        });
        Ok(())
    }

    fn run(&self, worker: &mut Worker, live: &LiveDb) {
        let mut seen = self.live.recorded_count();
        while !self.stop.load(Ordering::Acquire) {
            let round = self.rounds.begin();
            let working = self.working.lock().unwrap_or_else(|e| e.into_inner());
            let now = now_millis();
            let best = self.best_sellers(now);
            // A bug in one round must not stop campaigns for good: the
            // round's transaction rolls back and the next one starts over.
            let round_result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                worker.round(&self.env(&best), live, now)
            }))
            .unwrap_or_else(|_| Err(Error::Corrupt("a campaign round panicked".into())));
            // Exposures go to the event store: refused while its disk is
            // full, they stay in the ledger and a later round stores them.
            let exposed = worker.exposures(&self.store);
            drop(working);
            let (next, backoff) = match round_result {
                Ok(r) => {
                    record_metrics(&r);
                    if r.owed() > 0 {
                        self.owed.notify_one();
                    }
                    match exposed {
                        Ok(_) => {
                            self.deciding.ok();
                            (r.next_due, None)
                        }
                        Err(e) => (
                            r.next_due,
                            Some(self.deciding.failed(&e, e.is_storage_full())),
                        ),
                    }
                }
                Err(e) => (None, Some(self.deciding.failed(&e, e.is_storage_full()))),
            };
            self.rounds.finish(round, false);
            if let Some(backoff) = backoff {
                let until = std::time::Instant::now() + backoff;
                while !self.stop.load(Ordering::Acquire) {
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    seen = self.live.wait_recorded(seen, left);
                }
                continue;
            }
            let wait = next.map_or(IDLE.as_millis() as i64, |t| t - now_millis());
            let wait = Duration::from_millis(wait.clamp(1, IDLE.as_millis() as i64) as u64);
            seen = self.live.wait_recorded(seen, wait);
        }
        self.rounds.close();
    }

    /// True when the latest round of the decision thread or of the sender
    /// could not write for want of space (both retry by themselves).
    pub fn storage_full(&self) -> bool {
        self.deciding.full() || self.sending.full()
    }

    /// Waits for a round that started after this call (so triggers recorded
    /// before it are decided); false after `timeout` or without a thread.
    pub fn catch_up(&self, timeout: Duration) -> bool {
        if self
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
        {
            return false;
        }
        self.live.catch_up(timeout);
        let ticket = self.rounds.request();
        // The decision thread waits for recorded membership changes: wake it.
        self.live.wake_followers();
        self.rounds.wait(ticket, timeout)
    }

    /// Deletes the rows of deleted people (ADR 0014) between two rounds,
    /// with no on-site decision in progress, then rebuilds `campaigns.db` so
    /// the deleted rows are gone from the files. Returns what was deleted
    /// and whether the file was rebuilt and its log emptied. A message
    /// already handed to its channel may still go out.
    pub fn forget(&self, persons: &[i64]) -> Result<(crate::db::Forgotten, bool)> {
        let _working = self.working.lock().unwrap_or_else(|e| e.into_inner());
        let _onsite = self.onsite.lock().unwrap_or_else(|e| e.into_inner());
        self.pool.with(|db| {
            let out = db.forget(persons)?;
            // The rows are gone; a rebuild that fails (no room for a copy of
            // the file) leaves their bytes until the next one.
            let erased = db.erase_deleted().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "campaigns.db could not be rebuilt after a deletion");
                false
            });
            Ok((out, erased))
        })
    }

    /// Stops the decision thread and the sender.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.live.wake_followers();
        self.owed.notify_one();
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle
            && h.join().is_err()
        {
            tracing::error!("the campaign thread panicked");
        }
    }

    /// What `campaign` would send `person` now, decided as the worker would
    /// (nothing is written; the coupon is a placeholder).
    pub fn preview(&self, campaign: &str, person: i64, now: i64) -> Result<Preview> {
        let best = self.best_sellers(now);
        self.pool
            .with(|db| preview(&self.env(&best), db, &self.templates, campaign, person, now))
    }

    /// The recorded decisions of `campaign` for `person`, and what would be
    /// decided now.
    pub fn why(&self, campaign: &str, person: i64, now: i64) -> Result<Why> {
        let preview = self.preview(campaign, person, now)?;
        let sends = self.pool.with(|db| {
            db.sends(&crate::db::LedgerFilter {
                campaign: Some(campaign.to_owned()),
                person: Some(person),
                limit: 100,
                ..Default::default()
            })
        })?;
        Ok(Why {
            sends,
            now: preview,
        })
    }

    /// The best on-site message for `person` at `placement` now: every
    /// decision campaign of that placement whose segment holds the person,
    /// decided with the policies (priority first); the winner is recorded as
    /// sent. `None`: nothing eligible.
    pub fn decide(&self, person: i64, placement: &str, now: i64) -> Result<Option<Decision>> {
        let best = self.best_sellers(now);
        let env = self.env(&best);
        let db = self.onsite.lock().unwrap_or_else(|e| e.into_inner());
        let campaigns: Vec<StoredCampaign> = db
            .campaigns()?
            .into_iter()
            .filter(|c| {
                matches!(&c.def.trigger, Trigger::Decision { placement: p } if p == placement)
                    && env.members.is_member(&c.def.segment, person)
            })
            .collect();
        if campaigns.is_empty() {
            return Ok(None);
        }
        let person = Person::load(&env, person)?;
        let policy = db.policy()?;
        let mut due: Vec<Due<'_>> = campaigns
            .iter()
            .map(|c| Due {
                row: None,
                campaign: c,
                due_at: now,
                variant: None,
            })
            .collect();
        due.sort_by(|a, b| {
            let (a, b) = (&a.campaign.def, &b.campaign.def);
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        let mut cache = self.templates.lock().unwrap_or_else(|e| e.into_inner());
        let mut templates = |c: &StoredCampaign| cache_get(&mut cache, c);
        let planned = db.atomically(|tx| {
            let mut rng = rand::rng();
            // One campaign at a time, in the policies' order: a campaign is
            // composed (and gives out a coupon) only when none before it can
            // be shown.
            for d in &due {
                let planned = decide_person(
                    &env,
                    &db,
                    &mut templates,
                    &policy,
                    &person,
                    std::slice::from_ref(d),
                    &mut Codes::Issue { tx, rng: &mut rng },
                    now,
                )?;
                let Some(win) = planned.into_iter().find(|p| p.status == Status::Owed) else {
                    continue;
                };
                let c = d.campaign;
                let send = NewSend {
                    campaign: c.name.clone(),
                    version: c.version,
                    person: person.id,
                    instance: format!("view:{now}:{:016x}", rand::random::<u64>()),
                    channel: ChannelKind::Onsite,
                    due_at: now,
                };
                let id = tx.insert_decided(&send, Status::Sent, &win.decided(), now)?;
                return Ok(Some((id, win)));
            }
            Ok(None)
        })?;
        Ok(planned.map(|(id, p)| Decision {
            send_id: id,
            campaign: p.campaign,
            variant: p.variant,
            step: p.step,
            subject: p.subject,
            html: p.html,
            text: p.text,
            coupon: p.coupon,
        }))
    }
}

fn cache_get(
    cache: &mut TemplateCache,
    c: &StoredCampaign,
) -> Result<Arc<crate::template::Templates>> {
    cache.get(c)
}

fn record_metrics(r: &Round) {
    metrics::counter!("seglab_campaign_triggered_total").increment(r.triggered as u64);
    for (outcome, n) in &r.decided {
        metrics::counter!("seglab_campaign_decisions_total", "outcome" => *outcome)
            .increment(*n as u64);
    }
}

/// An on-site answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub send_id: i64,
    pub campaign: String,
    pub variant: Option<String>,
    pub step: Option<String>,
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub coupon: Option<String>,
}

/// What a person would get from a campaign now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    pub campaign: String,
    pub person: i64,
    /// Whether the person is in the campaign's segment now.
    pub member: bool,
    pub decision: Planned,
}

/// Recorded decisions and what would be decided now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Why {
    pub sends: Vec<crate::db::SendRow>,
    pub now: Preview,
}

/// Decides `campaign` for `person` at `now` without writing (see
/// [`Campaigns::preview`]); the CLI calls it with recorded memberships.
pub fn preview(
    env: &Env<'_>,
    db: &CampaignDb,
    templates: &Mutex<TemplateCache>,
    campaign: &str,
    person: i64,
    now: i64,
) -> Result<Preview> {
    let c = db
        .campaign(campaign)?
        .ok_or_else(|| Error::NotFound(campaign.to_owned()))?;
    let member = env.members.is_member(&c.def.segment, person);
    let p = Person::load(env, person)?;
    let policy = db.policy()?;
    // As if its trigger fired now: membership is reported beside, not decided.
    let mut fired = c.clone();
    if let Trigger::Entry {
        still_in_segment, ..
    } = &mut fired.def.trigger
    {
        *still_in_segment = false;
    }
    let due = [Due {
        row: None,
        campaign: &fired,
        due_at: now,
        variant: None,
    }];
    let mut cache = templates.lock().unwrap_or_else(|e| e.into_inner());
    let decision = {
        let mut templates = |c: &StoredCampaign| cache_get(&mut cache, c);
        decide_person(
            env,
            db,
            &mut templates,
            &policy,
            &p,
            &due,
            &mut Codes::Preview,
            now,
        )?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Corrupt("no decision".into()))?
    };
    // Whatever the policies say now, show the message it would carry.
    let decision = if decision.status == Status::Owed || decision.subject.is_some() {
        decision
    } else {
        match cache_get(&mut cache, &fired) {
            Ok(t) => {
                let mut shown = compose(
                    env,
                    &t,
                    &due[0],
                    &p,
                    &mut Codes::Preview,
                    String::new(),
                    now,
                )?;
                shown.status = decision.status;
                shown.rule = decision.rule;
                shown.explanation = decision.explanation;
                shown.due_again = decision.due_again;
                shown
            }
            Err(_) => decision,
        }
    };
    Ok(Preview {
        campaign: c.name,
        person,
        member,
        decision,
    })
}
