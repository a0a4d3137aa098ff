//! Where the warehouse is: `clickhouse://HOST[:PORT][,HOST[:PORT]…][/DATABASE][?cluster=NAME]`.

use seglab_clickhouse::{Client, Schema, Topology};

use crate::Error;

/// ClickHouse's HTTP port when the address names none.
pub const DEFAULT_PORT: u16 = 8123;
/// The database when the address names none.
pub const DEFAULT_DATABASE: &str = "seglab";

/// A parsed warehouse address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Every node's HTTP address (`http://host:port`); the first answers
    /// queries and takes inserts, and on a cluster every node gets the
    /// tables.
    pub nodes: Vec<String>,
    pub database: String,
    pub topology: Topology,
}

impl std::str::FromStr for Target {
    type Err = Error;

    fn from_str(url: &str) -> Result<Target, Error> {
        let bad = |why: &str| Error::Url {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let rest = url
            .trim()
            .strip_prefix("clickhouse://")
            .ok_or_else(|| bad("it must start with clickhouse://"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
        if hosts.contains('@') {
            return Err(bad("user names and passwords are not supported"));
        }
        let mut nodes = Vec::new();
        for host in hosts.split(',') {
            let host = host.trim();
            if host.is_empty() {
                return Err(bad("a host is missing"));
            }
            let (name, port) = match host.rsplit_once(':') {
                // `[::1]:8123`; a bare IPv6 address has no port.
                Some((name, port)) if !name.contains(':') || name.ends_with(']') => {
                    let port: u16 = port
                        .parse()
                        .map_err(|_| bad(&format!("{port:?} is not a port")))?;
                    (name, port)
                }
                _ => (host, DEFAULT_PORT),
            };
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '/') {
                return Err(bad(&format!("{name:?} is not a host")));
            }
            nodes.push(format!("http://{name}:{port}"));
        }
        let mut database = path.trim_matches('/').to_owned();
        let mut cluster = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "cluster" if !value.is_empty() => cluster = Some(value.to_owned()),
                "database" if !value.is_empty() => database = value.to_owned(),
                "cluster" | "database" => return Err(bad(&format!("{key} needs a value"))),
                other => {
                    return Err(bad(&format!(
                        "unknown parameter {other:?} (known: cluster, database)"
                    )));
                }
            }
        }
        if database.is_empty() {
            database = DEFAULT_DATABASE.to_owned();
        }
        if !database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad(&format!(
                "database {database:?} must be letters, digits and _"
            )));
        }
        Ok(Target {
            nodes,
            database,
            topology: match cluster {
                Some(name) => Topology::Cluster { name },
                None => Topology::Single,
            },
        })
    }
}

impl Target {
    pub fn schema(&self) -> Schema {
        Schema::new(&self.database)
    }

    /// A client per node.
    pub fn clients(&self) -> Vec<Client> {
        self.nodes.iter().map(|n| Client::new(n)).collect()
    }

    /// The client of the first node; on a cluster, inserts through it wait
    /// until the shards have them.
    pub fn entry(&self) -> Client {
        let c = Client::new(&self.nodes[0]);
        match self.topology {
            Topology::Single => c,
            Topology::Cluster { .. } => c.with_setting("insert_distributed_sync", "1"),
        }
    }

    /// What the export cursor is tied to: another warehouse starts over.
    pub fn key(&self) -> String {
        let cluster = match &self.topology {
            Topology::Single => String::new(),
            Topology::Cluster { name } => name.clone(),
        };
        format!("{}/{}?{cluster}", self.nodes.join(","), self.database)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Target, String> {
        url.parse::<Target>().map_err(|e| e.to_string())
    }

    #[test]
    fn one_server_with_defaults() {
        let t = parse("clickhouse://127.0.0.1").unwrap();
        assert_eq!(t.nodes, vec!["http://127.0.0.1:8123"]);
        assert_eq!(t.database, "seglab");
        assert_eq!(t.topology, Topology::Single);
        let t = parse("clickhouse://ch.internal:18123/analytics").unwrap();
        assert_eq!(t.nodes, vec!["http://ch.internal:18123"]);
        assert_eq!(t.database, "analytics");
    }

    #[test]
    fn a_cluster_lists_its_nodes() {
        let t = parse("clickhouse://127.0.0.1:18124,127.0.0.1:18125/?cluster=seglab&database=s2")
            .unwrap();
        assert_eq!(t.nodes.len(), 2);
        assert_eq!(t.database, "s2");
        assert_eq!(
            t.topology,
            Topology::Cluster {
                name: "seglab".into()
            }
        );
    }

    #[test]
    fn bad_addresses_say_why() {
        for (url, why) in [
            ("http://127.0.0.1:8123", "must start with clickhouse://"),
            ("clickhouse://", "a host is missing"),
            ("clickhouse://a:b", "\"b\" is not a port"),
            ("clickhouse://a:99999", "is not a port"),
            ("clickhouse://a/x?shard=1", "unknown parameter \"shard\""),
            ("clickhouse://a/x-y", "must be letters, digits and _"),
            ("clickhouse://u:p@a", "user names and passwords"),
            ("clickhouse://a?cluster=", "cluster needs a value"),
        ] {
            let err = parse(url).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
            assert!(err.contains(url), "{url}: {err}");
        }
    }
}
