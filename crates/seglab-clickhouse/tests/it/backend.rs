//! The servers under test, and loading a world of people into one.

use seglab_clickhouse::rows::Row;
use seglab_clickhouse::{Client, Schema, Topology};
use seglab_engine::reference::RefPerson;
use std::collections::HashMap;

/// One way to run ClickHouse.
pub struct Backend {
    pub name: &'static str,
    /// The node queries and inserts go to first; for a cluster, every node.
    pub nodes: Vec<Client>,
    pub topology: Topology,
}

/// The backend named by `var`, or `None` (skipped, or a panic when required).
pub fn backend(which: &str) -> Option<Backend> {
    let (var, name, topology) = match which {
        "single" => ("SEGLAB_CLICKHOUSE_SINGLE", "single", Topology::Single),
        "cluster" => (
            "SEGLAB_CLICKHOUSE_CLUSTER",
            "cluster",
            Topology::Cluster {
                name: "seglab".into(),
            },
        ),
        _ => ("SEGLAB_CLICKHOUSE_CHDB", "chdb", Topology::Single),
    };
    let required = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("SEGLAB_REQUIRE_CLICKHOUSE").is_ok_and(|v| v == "1");
    match std::env::var(var) {
        Ok(urls) if !urls.trim().is_empty() => Some(Backend {
            name,
            nodes: urls.split(',').map(|u| Client::new(u.trim())).collect(),
            topology,
        }),
        _ if required => {
            panic!("{var} is not set: start the servers with tests/clickhouse/start.sh")
        }
        _ => {
            eprintln!("skipped: {var} is not set (eval \"$(bash tests/clickhouse/start.sh)\")");
            None
        }
    }
}

impl Backend {
    /// The client queries go to.
    pub fn entry(&self) -> &Client {
        &self.nodes[0]
    }

    /// A fresh database with the schema, on every node.
    pub async fn create(&self, database: &str) -> Schema {
        let schema = Schema::new(database);
        for node in &self.nodes {
            node.execute(&schema.drop()).await.unwrap();
            for stmt in schema.ddl(&self.topology) {
                node.execute(&stmt)
                    .await
                    .unwrap_or_else(|e| panic!("{stmt}: {e}"));
            }
        }
        schema
    }

    pub async fn drop(&self, schema: &Schema) {
        for node in &self.nodes {
            node.execute(&schema.drop()).await.unwrap();
        }
    }

    /// Inserts rows; a cluster's `Distributed` table forwards them to the
    /// shards before answering.
    pub async fn insert(&self, schema: &Schema, rows: &[Row]) {
        let client = match self.topology {
            Topology::Single => self.entry().clone(),
            Topology::Cluster { .. } => self.entry().with_setting("insert_distributed_sync", "1"),
        };
        for chunk in rows.chunks(20_000) {
            client.insert(&schema.table(), chunk).await.unwrap();
        }
    }
}

/// The rows of a world: every person's traits (an empty object too: it is how
/// a person with no events exists), events in the order given, predictions.
pub fn rows_of(people: &[RefPerson], predictions: &HashMap<String, HashMap<i64, f64>>) -> Vec<Row> {
    let mut rows = Vec::new();
    for p in people {
        rows.push(Row::traits(p.id, 1, &p.traits));
        for (i, e) in p.events.iter().enumerate() {
            rows.push(Row::event(
                p.id,
                &format!("m{}-{i}", p.id),
                i as u64,
                e.ts,
                &e.name,
                &e.props,
            ));
        }
        for (model, values) in predictions {
            if let Some(x) = values.get(&p.id) {
                rows.push(Row::prediction(p.id, model, 1, *x));
            }
        }
    }
    rows
}
