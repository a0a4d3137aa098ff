//! The SQL against the reference evaluator and the native engine, on real
//! ClickHouse servers: one 18.16 server, a 2-shard 18.16 cluster, and a
//! current ClickHouse in chDB. `tests/clickhouse/start.sh` starts them and
//! prints their addresses (`SEGLAB_CLICKHOUSE_SINGLE`, `…_CLUSTER`,
//! `…_CHDB`); without one, its tests are skipped with a message, or fail
//! when `CI=true` or `SEGLAB_REQUIRE_CLICKHOUSE=1`.

mod backend;
mod starter;
mod worlds;
