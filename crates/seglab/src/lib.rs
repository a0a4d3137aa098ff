//! The `seglab` binary's commands, as a library so tests can call them.

pub mod backup_cmd;
pub mod campaigns_cmd;
pub mod cli;
pub mod config;
pub mod demo_cmd;
pub mod experiments_cmd;
pub mod import;
pub mod insights_cmd;
pub mod live_cmd;
pub mod people_cmd;
pub mod segments_cmd;
pub mod serve;
pub mod tokens_cmd;
