//! The table everything lives in, for one server or a cluster.

use crate::sql::ident;

/// Where the tables are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// One server: `events` is a `ReplacingMergeTree`.
    Single,
    /// A cluster named in the servers' `remote_servers`: every node holds its
    /// shard in `events_local`, and `events` is a `Distributed` table over
    /// them, sharded by person, so a person's rows live on one shard.
    Cluster { name: String },
}

/// The database seglab's tables live in.
///
/// One table, `events`, holds four kinds of rows (`kind`): behavioral
/// events (0), trait snapshots (1: a person's whole traits object, the latest
/// `seq` wins), model outputs (2: `name` is the model, `value` the output,
/// the latest `seq` wins) and the mark of a person left out of every query
/// (3: merged into another, whose rows now include theirs, or deleted, until
/// the mutation deleting their rows has run). Properties and traits are flattened into the
/// parallel arrays `p_path`, `p_kind`, `p_str`, `p_num`, `p_arr` (see
/// [`crate::rows`]). One table means one `GROUP BY person`, and no join
/// between shards.
///
/// Rows are deduplicated by `(person, kind, message_id)`: the table is a
/// `ReplacingMergeTree` with that sorting key, and queries read it with
/// `FINAL`, so a batch inserted twice counts once, before and after merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    database: String,
}

/// The columns, in the order of [`crate::rows::row_binary`].
pub(crate) const COLUMNS: &str = "\
    person Int64, \
    kind UInt8, \
    message_id String, \
    seq UInt64, \
    ts Int64, \
    name String, \
    value Float64, \
    p_path Array(String), \
    p_kind Array(UInt8), \
    p_str Array(String), \
    p_num Array(Float64), \
    p_arr Array(UInt8)";

impl Schema {
    /// Tables in `database` (letters, digits and `_`; other characters are dropped).
    pub fn new(database: &str) -> Schema {
        let database: String = database
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        Schema { database }
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// The table queries read and inserts write (`events`, local or distributed).
    pub fn table(&self) -> String {
        format!("{}.{}", ident(&self.database), ident("events"))
    }

    /// The statements that create the database and tables, in order. For a
    /// cluster they are run on every node (no `ON CLUSTER`: the cluster needs
    /// no ZooKeeper), which gives every node both its shard and the
    /// `Distributed` table, so any node answers queries.
    pub fn ddl(&self, topology: &Topology) -> Vec<String> {
        let db = ident(&self.database);
        let merge_tree = |table: &str| {
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.{} ({COLUMNS}) \
                 ENGINE = ReplacingMergeTree ORDER BY (person, kind, message_id)",
                ident(table)
            )
        };
        let mut out = vec![format!("CREATE DATABASE IF NOT EXISTS {db}")];
        match topology {
            Topology::Single => out.push(merge_tree("events")),
            Topology::Cluster { name } => {
                out.push(merge_tree("events_local"));
                out.push(format!(
                    "CREATE TABLE IF NOT EXISTS {db}.{} ({COLUMNS}) \
                     ENGINE = Distributed({}, {}, {}, intHash64(person))",
                    ident("events"),
                    ident(name),
                    ident(&self.database),
                    ident("events_local"),
                ));
            }
        }
        out
    }

    /// The statement that copies the behavioral events of `from` to `into`
    /// (an identity merge): the same rows, message ids included, so running
    /// it again changes nothing. Trait snapshots are not copied: the merged
    /// person's traits are a new snapshot of `into`.
    pub fn move_events(&self, from: i64, into: i64) -> String {
        let table = self.table();
        let rest = COLUMNS
            .split(',')
            .filter_map(|c| c.split_whitespace().next())
            .filter(|c| *c != "person")
            .collect::<Vec<_>>()
            .join(", ");
        // No alias `person` for the new id: ClickHouse would read the alias
        // in WHERE too.
        format!(
            "INSERT INTO {table} SELECT toInt64({into}), {rest} FROM {table} FINAL \
             WHERE person = {from} AND kind = {EVENT}",
            EVENT = crate::rows::EVENT
        )
    }

    /// The table that holds the rows themselves, where mutations run:
    /// `events` on one server, each node's `events_local` on a cluster (a
    /// `Distributed` table cannot be altered).
    pub fn shard_table(&self, topology: &Topology) -> String {
        let name = match topology {
            Topology::Single => "events",
            Topology::Cluster { .. } => "events_local",
        };
        format!("{}.{}", ident(&self.database), ident(name))
    }

    /// The mutation that deletes every row of `persons` (deleted people:
    /// their events, trait snapshots, model outputs and marks, copies made
    /// by merges included, since those are under the person merged into),
    /// to run on every node. Asynchronous: [`Row::deleted`] marks hide them
    /// meanwhile. `None` for no person.
    ///
    /// [`Row::deleted`]: crate::rows::Row::deleted
    pub fn delete_persons(&self, topology: &Topology, persons: &[i64]) -> Option<String> {
        if persons.is_empty() {
            return None;
        }
        let list = persons
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        Some(format!(
            "ALTER TABLE {} DELETE WHERE person IN ({list})",
            self.shard_table(topology)
        ))
    }

    /// The mutation that deletes the behavioral events before `cutoff`
    /// (event retention), to run on every node. Trait snapshots, model
    /// outputs and marks have no time and stay. Asynchronous: queries leave
    /// the events out meanwhile ([`crate::Query::events_from`]).
    pub fn delete_events_before(&self, topology: &Topology, cutoff: i64) -> String {
        format!(
            "ALTER TABLE {} DELETE WHERE kind = {EVENT} AND ts < {cutoff}",
            self.shard_table(topology),
            EVENT = crate::rows::EVENT
        )
    }

    /// The query counting this node's mutations of the tables still running.
    pub fn mutations_running(&self, topology: &Topology) -> String {
        let table = match topology {
            Topology::Single => "events",
            Topology::Cluster { .. } => "events_local",
        };
        format!(
            "SELECT count() FROM system.mutations WHERE database = {} AND table = {} \
             AND is_done = 0",
            crate::sql::string(&self.database),
            crate::sql::string(table)
        )
    }

    /// The statement that drops the database.
    pub fn drop(&self) -> String {
        format!("DROP DATABASE IF EXISTS {}", ident(&self.database))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ddl_shards_by_person() {
        let s = Schema::new("seg-lab");
        assert_eq!(s.table(), "`seglab`.`events`");
        let ddl = s.ddl(&Topology::Cluster {
            name: "seglab".into(),
        });
        assert_eq!(ddl.len(), 3);
        assert!(
            ddl[2].contains("Distributed(`seglab`, `seglab`, `events_local`, intHash64(person))")
        );
        assert_eq!(s.ddl(&Topology::Single).len(), 2);
    }

    #[test]
    fn mutations_run_where_the_rows_are() {
        let s = Schema::new("seglab");
        let cluster = Topology::Cluster {
            name: "seglab".into(),
        };
        assert_eq!(s.delete_persons(&Topology::Single, &[]), None);
        assert_eq!(
            s.delete_persons(&Topology::Single, &[3, 7]).unwrap(),
            "ALTER TABLE `seglab`.`events` DELETE WHERE person IN (3, 7)"
        );
        assert_eq!(
            s.delete_persons(&cluster, &[3]).unwrap(),
            "ALTER TABLE `seglab`.`events_local` DELETE WHERE person IN (3)"
        );
        assert_eq!(
            s.delete_events_before(&cluster, 1_000),
            "ALTER TABLE `seglab`.`events_local` DELETE WHERE kind = 0 AND ts < 1000"
        );
        assert!(
            s.mutations_running(&cluster)
                .contains("table = 'events_local'")
        );
    }

    #[test]
    fn moving_events_names_every_column_but_person() {
        let sql = Schema::new("seglab").move_events(7, 3);
        assert!(sql.starts_with(
            "INSERT INTO `seglab`.`events` SELECT toInt64(3), kind, message_id, seq, ts, name, value, p_path, p_kind, p_str, p_num, p_arr FROM"
        ), "{sql}");
        assert!(sql.ends_with("WHERE person = 7 AND kind = 0"), "{sql}");
    }
}
