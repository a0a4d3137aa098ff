//! Prometheus metrics: events accepted and rejected (by reason), duplicates,
//! commit latency and batch sizes.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once) and returns its handle.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("seglab_ingest_batch_events".into()),
                    &[1.0, 5.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0],
                )
            })
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed");
        }
        metrics::describe_counter!("seglab_events_accepted_total", "events stored, by source");
        metrics::describe_counter!(
            "seglab_events_duplicate_total",
            "events dropped because their message id was already stored"
        );
        metrics::describe_counter!(
            "seglab_events_rejected_total",
            "events of accepted requests that were not stored, by reason (deleted_person: \
             the id of a deleted person)"
        );
        metrics::describe_counter!(
            "seglab_people_deleted_total",
            "people deleted (with everyone merged into them)"
        );
        metrics::describe_counter!(
            "seglab_requests_rejected_total",
            "ingestion requests refused, by reason (error code)"
        );
        metrics::describe_histogram!(
            "seglab_ingest_commit_seconds",
            "time from handing a batch to the store until it is durable"
        );
        metrics::describe_histogram!("seglab_ingest_batch_events", "events per ingestion request");
        metrics::describe_counter!(
            "seglab_live_changes_total",
            "segment entries and exits recorded, by kind (entered, exited)"
        );
        metrics::describe_histogram!(
            "seglab_live_step_seconds",
            "time of one live step: load what was committed, fire due timers, record changes"
        );
        metrics::describe_gauge!(
            "seglab_live_behind_events",
            "events committed but not yet applied to live memberships"
        );
        metrics::describe_gauge!(
            "seglab_live_timers",
            "people with a pending membership timer"
        );
        metrics::describe_gauge!(
            "seglab_storage_full",
            "1 while the latest write to a database (db) failed for want of space"
        );
        metrics::describe_counter!(
            "seglab_webhook_attempts_total",
            "webhook delivery attempts, by outcome (delivered, failed, given_up)"
        );
        handle
    })
}

pub(crate) fn accepted(source: &'static str, stored: usize, duplicates: usize) {
    metrics::counter!("seglab_events_accepted_total", "source" => source).increment(stored as u64);
    metrics::counter!("seglab_events_duplicate_total").increment(duplicates as u64);
}

/// Events dropped because they carry the id of a deleted person (answered
/// 200 all the same: SDKs would resend anything else).
pub(crate) fn dropped_deleted(events: usize) {
    if events > 0 {
        metrics::counter!("seglab_events_rejected_total", "reason" => "deleted_person")
            .increment(events as u64);
    }
}

/// Events older than the retention when they arrived (ADR 0016).
pub(crate) fn dropped_expired(events: usize) {
    if events > 0 {
        metrics::counter!("seglab_events_rejected_total", "reason" => "expired")
            .increment(events as u64);
    }
}

pub(crate) fn rejected(reason: &'static str) {
    metrics::counter!("seglab_requests_rejected_total", "reason" => reason).increment(1);
}

pub(crate) fn storage_full(db: &'static str, full: bool) {
    metrics::gauge!("seglab_storage_full", "db" => db).set(if full { 1.0 } else { 0.0 });
}

pub(crate) fn committed(seconds: f64, events: usize) {
    metrics::histogram!("seglab_ingest_commit_seconds").record(seconds);
    metrics::histogram!("seglab_ingest_batch_events").record(events as f64);
}
