//! Deleting people (ADR 0014) and expired events (ADR 0016) from the
//! warehouse.
//!
//! ClickHouse deletes rows with mutations (`ALTER TABLE … DELETE`, since
//! 18.x), which run in the background, part by part. So what must go is
//! first left out of every query, at once, and then deleted:
//!
//! - a deleted person gets a mark of the kind queries leave out (the same
//!   as a merged person's), then a mutation on every node deletes all their
//!   rows, the mark included. The store lists them
//!   ([`Reader::warehouse_erasures`]) from the deletion's transaction until
//!   both are sent, so a stop or a warehouse that is away only delays it.
//! - expired events: evaluations leave out the events before the store's
//!   cutoff ([`seglab_clickhouse::Query::events_from`]), then a mutation on
//!   every node deletes them; the cursor file remembers the cutoff sent.
//!
//! Sending a mutation again is harmless (it finds nothing more to delete).

use std::path::Path;

use seglab_clickhouse::rows::Row;
use seglab_store::Reader;

use crate::{Cursor, Error, Target};

/// People per mutation: the statement lists them.
const PEOPLE_PER_MUTATION: usize = 1_000;

/// Hides the people the store deleted since and sends the mutations that
/// delete their rows; returns how many.
pub async fn people(reader: &Reader, target: &Target) -> Result<usize, Error> {
    let persons = reader.warehouse_erasures()?;
    if persons.is_empty() {
        return Ok(0);
    }
    let schema = target.schema();
    let marks: Vec<Row> = persons.iter().map(|&p| Row::deleted(p)).collect();
    // On a cluster the insert waits until the shards have the marks, so
    // every mutation below finds them too.
    target.entry().insert(&schema.table(), &marks).await?;
    for chunk in persons.chunks(PEOPLE_PER_MUTATION) {
        if let Some(sql) = schema.delete_persons(&target.topology, chunk) {
            for client in target.clients() {
                client.execute(&sql).await?;
            }
        }
    }
    reader.warehouse_erasures_done(&persons)?;
    tracing::info!(
        persons = persons.len(),
        "deleted people left out of the warehouse; their rows are being deleted there"
    );
    Ok(persons.len())
}

/// Sends the mutation deleting the events before the cutoff the recorded
/// memberships follow, when it was not sent yet; returns whether it did.
pub async fn expired(target: &Target, dir: &Path, cursor: &mut Cursor) -> Result<bool, Error> {
    let Some(cutoff) = cursor.expired_before else {
        return Ok(false);
    };
    if cursor.deleted_before.is_some_and(|d| d >= cutoff) {
        return Ok(false);
    }
    let sql = target
        .schema()
        .delete_events_before(&target.topology, cutoff);
    for client in target.clients() {
        client.execute(&sql).await?;
    }
    cursor.deleted_before = Some(cutoff);
    cursor.save(dir)?;
    tracing::info!(
        cutoff,
        "expired events are being deleted from the warehouse"
    );
    Ok(true)
}
