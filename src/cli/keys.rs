//! `madbus keys create|list|revoke|rotate`: API keys per group, in the data dir's store.
//! A running server picks up changes within a second. A new key is printed once, alone on
//! stdout (so scripts can capture it); everything else goes to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::gateway::keys::{self, check_group};
use crate::store::{Store, StoreUrl};
use crate::time::{Duration, Millis};

#[derive(clap::Args)]
pub struct KeysArgs {
    /// Where the store lives (as for `serve`).
    #[arg(
        long,
        env = "MADBUS_DATA_DIR",
        default_value = "./madbus-data",
        global = true
    )]
    data_dir: PathBuf,
    /// The store, as a URL: `sqlite:DIR` (default: the SQLite file in --data-dir).
    #[arg(long, env = "MADBUS_STORE", global = true)]
    store: Option<StoreUrl>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a key for a group and print it (once).
    Create {
        #[arg(long)]
        group: String,
        /// Valid for this long (default: until revoked).
        #[arg(long)]
        expires: Option<Duration>,
    },
    /// List keys (ids, groups, dates, status; never the keys).
    List,
    /// Revoke a key by its id.
    Revoke { id: String },
    /// Make a new key for a group; the group's other keys stop working after the grace.
    Rotate {
        #[arg(long)]
        group: String,
        #[arg(long, default_value = "1h")]
        grace: Duration,
        /// Validity of the new key (default: until revoked).
        #[arg(long)]
        expires: Option<Duration>,
    },
}

pub fn run(args: KeysArgs) -> ExitCode {
    let done = super::block_on(
        async { execute(args).await.map_err(anyhow::Error::msg) },
        ExitCode::FAILURE,
    );
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

async fn execute(args: KeysArgs) -> Result<(), String> {
    let store = StoreUrl::choose(args.store, &args.data_dir)
        .open()
        .await
        .map_err(|e| e.to_string())?;
    let now = Millis::now();
    match args.command {
        KeysCommand::Create { group, expires } => {
            check_group(&group)?;
            create(&*store, &group, now, expires).await?;
        }
        KeysCommand::List => {
            let list = store.list_keys().await.map_err(|e| e.to_string())?;
            eprintln!(
                "{:<10} {:<20} {:<25} {:<25} status",
                "id", "group", "created", "expires"
            );
            for k in list {
                let status = if k.revoked_at.is_some() {
                    "revoked"
                } else if k.expires_at.is_some_and(|t| t <= now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<10} {:<20} {:<25} {:<25} {status}",
                    k.id,
                    k.group,
                    k.created_at.to_rfc3339(),
                    k.expires_at.map_or("never".into(), |t| t.to_rfc3339()),
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !store
                .revoke_key(&id, now)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!(
                    "no active key with id {id:?} (see `madbus keys list`)"
                ));
            }
            eprintln!("revoked key {id}");
        }
        KeysCommand::Rotate {
            group,
            grace,
            expires,
        } => {
            check_group(&group)?;
            let new_id = create(&*store, &group, now, expires).await?;
            let until = now.saturating_add(grace);
            let n = store
                .expire_group_keys(&group, &new_id, until)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("{n} older key(s) of group {group} stop working at {until}");
        }
    }
    Ok(())
}

/// Makes and stores a key, prints it; returns its id.
async fn create(
    store: &dyn Store,
    group: &str,
    now: Millis,
    expires: Option<Duration>,
) -> Result<String, String> {
    let new = keys::generate(group, now, expires);
    store
        .insert_key(new.record.clone())
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", new.key);
    eprintln!(
        "created key {} for group {group} (expires: {}); it is shown only now",
        new.record.id,
        new.record
            .expires_at
            .map_or("never".into(), |t| t.to_rfc3339())
    );
    Ok(new.record.id)
}
