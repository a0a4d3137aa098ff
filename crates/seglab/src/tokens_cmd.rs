//! `seglab tokens create|list|revoke`: admin tokens with a scope, beside a
//! running server (it sees a new token at its first use and a revocation
//! within a second).

use std::path::Path;

use anyhow::bail;
use seglab_event::time::format_timestamp;
use seglab_store::{Reader, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScopeArg {
    /// Reads, and previews that change nothing.
    Read,
    /// Everything.
    Full,
}

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Scope {
        match s {
            ScopeArg::Read => Scope::Read,
            ScopeArg::Full => Scope::Full,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum TokensCommand {
    /// Create an admin token and print it (the only time it is shown).
    Create {
        name: String,
        /// What it may do.
        #[arg(long)]
        scope: ScopeArg,
    },
    /// List admin tokens: name, scope, created, last used, revoked.
    List,
    /// Revoke the admin token named NAME.
    Revoke { name: String },
}

pub fn run(data: &Path, command: TokensCommand) -> anyhow::Result<()> {
    let reader = Reader::create(data)?;
    match command {
        TokensCommand::Create { name, scope } => {
            let name = name.trim();
            if name.is_empty() {
                bail!("a token needs a name");
            }
            let (record, token) = reader.create_token(name, scope.into())?;
            println!("{token}");
            eprintln!(
                "admin token {:?} with the {} scope: shown once, keep it now",
                record.name, record.scope
            );
        }
        TokensCommand::List => {
            print!("{}", table(&reader.list_tokens()?));
        }
        TokensCommand::Revoke { name } => {
            if !reader.revoke_token(&name)? {
                bail!("no active admin token named {name:?}");
            }
            println!("revoked {name} (a running server refuses it within a second)");
        }
    }
    Ok(())
}

fn table(tokens: &[seglab_store::AdminToken]) -> String {
    let when = |t: Option<i64>| t.map(format_timestamp).unwrap_or_else(|| "-".into());
    let mut out = format!(
        "{:<20} {:<5} {:<26} {:<26} revoked\n",
        "name", "scope", "created", "last used"
    );
    for t in tokens {
        out.push_str(&format!(
            "{:<20} {:<5} {:<26} {:<26} {}\n",
            t.name,
            t.scope,
            format_timestamp(t.created_at),
            when(t.last_used_at),
            when(t.revoked_at)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_shows_scope_and_revocation() {
        let tokens = [
            seglab_store::AdminToken {
                id: 1,
                name: "ci".into(),
                scope: Scope::Read,
                created_at: 0,
                last_used_at: None,
                revoked_at: Some(60_000),
            },
            seglab_store::AdminToken {
                id: 2,
                name: "ops".into(),
                scope: Scope::Full,
                created_at: 0,
                last_used_at: Some(120_000),
                revoked_at: None,
            },
        ];
        let text = table(&tokens);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("name") && lines[0].contains("last used"));
        assert!(
            lines[1].starts_with("ci ") && lines[1].contains(" read "),
            "{text}"
        );
        assert!(lines[1].ends_with(&format_timestamp(60_000)), "{text}");
        assert!(
            lines[2].contains(" full ") && lines[2].ends_with(" -"),
            "{text}"
        );
        assert!(lines[2].contains(&format_timestamp(120_000)), "{text}");
        // Columns line up under their headings.
        let at = lines[0].find("created").unwrap();
        assert_eq!(lines[1].find("1970").unwrap(), at, "{text}");
    }
}
