//! `seglab people delete ID` and `seglab people undelete-id ID` (ADR 0014).
//!
//! With no server on the data folder, the command opens it and deletes
//! everything itself. With `seglab serve` running, whose memory holds the
//! person too, it asks that server (`DELETE /api/v1/people/{id}`) at the
//! address the server wrote into the folder's lock file, with the admin
//! token the configuration gives (else the one the store keeps).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use seglab_campaign::CampaignDb;
use seglab_live::LiveDb;
use seglab_server::erase::Deletion;
use seglab_store::{Durability, PersonId, Reader, Store};
use serde_json::Value;

use crate::config::Config;

/// Deletes the person `id` leads to; returns what was deleted, as the API
/// answers it.
pub fn delete(config: &Config, id: &str) -> anyhow::Result<Value> {
    // Refuses a folder with no store in it (rather than making one).
    Reader::open(&config.data)?;
    match Store::open(&config.data, Durability::Full) {
        Ok(store) => {
            let deletion =
                delete_here(&store, id)?.with_context(|| format!("no person with id {id:?}"))?;
            Ok(deletion.to_json())
        }
        Err(seglab_store::Error::Locked(_)) => {
            let (status, body) = ask_server(config, reqwest::Method::DELETE, "people", id)?;
            match status.as_u16() {
                200 => Ok(body),
                _ => bail!("{}", message(&body)),
            }
        }
        Err(e) => Err(e).with_context(|| format!("opening {}", config.data.display())),
    }
}

/// Lets `id` (or an email address) of a deleted person in again; false when
/// it was not refused.
pub fn undelete_id(config: &Config, id: &str) -> anyhow::Result<bool> {
    Reader::open(&config.data)?;
    match Store::open(&config.data, Durability::Full) {
        Ok(store) => Ok(store.lift_tombstone(id)?),
        Err(seglab_store::Error::Locked(_)) => {
            let (status, body) = ask_server(config, reqwest::Method::DELETE, "tombstones", id)?;
            match status.as_u16() {
                204 => Ok(true),
                404 => Ok(false),
                _ => bail!("{}", message(&body)),
            }
        }
        Err(e) => Err(e).with_context(|| format!("opening {}", config.data.display())),
    }
}

/// Deletes in a data folder no server holds: the store, then `live.db` and
/// `campaigns.db` (with any deletion an interrupted server left half done),
/// and the engine's snapshot (the next start loads from the store).
fn delete_here(store: &Store, id: &str) -> anyhow::Result<Option<Deletion>> {
    let started = Instant::now();
    let Some(forgotten) = store.forget(id)? else {
        return Ok(None);
    };
    let dir = store.dir();
    let mut persons = store.reader().pending_erasures()?;
    persons.extend(&forgotten.persons);
    persons.sort_unstable();
    persons.dedup();
    let (live, campaigns, erased) = erase_beside(dir, &persons)?;
    seglab_segments::snapshot::remove(dir)?;
    store.reader().erasures_done(&persons)?;
    Ok(Some(Deletion {
        erased: erased && forgotten.erased,
        set_aside: seglab_live::db::set_aside_files(dir),
        store: forgotten,
        live,
        campaigns,
        took: started.elapsed(),
    }))
}

fn erase_beside(
    dir: &Path,
    persons: &[PersonId],
) -> anyhow::Result<(seglab_live::Forgotten, seglab_campaign::db::Forgotten, bool)> {
    let mut live = LiveDb::open(dir)?;
    let l = live.forget(persons)?;
    // The rows are gone; a rebuild that fails (no room for a copy of the
    // file) leaves their bytes until the next one: said in the summary.
    let live_erased = live.erase_deleted().unwrap_or(false);
    let mut db = CampaignDb::open(dir)?;
    let c = db.forget(persons)?;
    let campaigns_erased = db.erase_deleted().unwrap_or(false);
    Ok((l, c, live_erased && campaigns_erased))
}

/// `method /api/v1/{resource}/{id}` on the server holding the data folder.
fn ask_server(
    config: &Config,
    method: reqwest::Method,
    resource: &str,
    id: &str,
) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let dir = &config.data;
    let Some(base) = seglab_store::running_server(dir) else {
        bail!(
            "another seglab process is writing to {} (an import?): run this again once it is done",
            dir.display()
        );
    };
    let token = match &config.server.admin_token {
        Some(t) => t.clone(),
        None => Reader::open(dir)?.admin_token()?,
    };
    let mut url =
        reqwest::Url::parse(&base).with_context(|| format!("the server's address {base:?}"))?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("the server's address {base:?} cannot take a path"))?
        .extend(["api", "v1", resource, id]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let res = reqwest::Client::builder()
            // A deletion rebuilds every database: it can take a while.
            .timeout(Duration::from_secs(3600))
            .build()?
            .request(method, url.clone())
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| {
                format!(
                    "`seglab serve` holds {} but does not answer at {base}; \
                     send DELETE {url} with the admin token to it",
                    dir.display()
                )
            })?;
        let status = res.status();
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    })
}

/// The message of an error answer.
fn message(body: &Value) -> String {
    match body["message"].as_str() {
        Some(m) => m.to_owned(),
        None => format!("the server answered {body}"),
    }
}

/// What a deletion did, for people.
pub fn summary(d: &Value) -> String {
    let n = |k: &str| d["deleted"][k].as_u64().unwrap_or(0);
    let persons = d["persons"].as_array().map_or(1, Vec::len);
    let mut s = format!(
        "deleted person {}{}\n",
        d["person_id"],
        match persons {
            1 => String::new(),
            2 => " and the person merged into them".into(),
            p => format!(" and the {} people merged into them", p - 1),
        }
    );
    s += &format!(
        "  seglab.db     {} events, {} ids, {} traits, {} merges\n",
        n("events"),
        n("identities"),
        n("traits"),
        n("merges")
    );
    s += &format!(
        "  live.db       {} membership changes, {} webhook deliveries, {} timers\n",
        n("membership_changes"),
        n("webhook_deliveries"),
        n("timers")
    );
    s += &format!(
        "  campaigns.db  {} sends, {} coupons, {} suppressions\n",
        n("sends"),
        n("coupons"),
        n("suppressions")
    );
    s += &format!(
        "{} ids and addresses are refused from now on (`seglab people undelete-id ID` lets one in again)\n",
        d["tombstones"].as_u64().unwrap_or(0)
    );
    if d["erased"] != true {
        s += "warning: a database could not be rebuilt (a reader kept its log open, or no room \
              for a copy): the deleted rows' bytes may remain in the files until the next deletion\n";
    }
    for f in d["set_aside"].as_array().into_iter().flatten() {
        s += &format!(
            "warning: {} (a damaged live.db set aside) may still hold them: remove it once examined\n",
            f.as_str().unwrap_or_default()
        );
    }
    s += &format!(
        "took {:.1}s\n",
        d["took_ms"].as_u64().unwrap_or(0) as f64 / 1000.0
    );
    s
}
