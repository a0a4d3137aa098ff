//! Live membership against a real store: events, time, merges, restarts,
//! history and webhooks.

mod agree;
mod history;
mod live;
mod repair;
mod support;
mod webhooks;
