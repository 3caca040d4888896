//! `parley keys rotate`: re-seals every secret under a new master key.
//!
//! With a key file, the new key is written beside it as `master.key.new`
//! first, the secrets are re-sealed in one transaction, and only then does the
//! new file replace the old. A rotation cut short is finished by running the
//! command again: it notices `master.key.new` and completes the swap. With
//! `PARLEY_MASTER_KEY`, the new key goes to a file the admin names, to be put
//! in the environment before the next start.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use parley::identity::seal::{KEY_FILE, write_private};
use parley::identity::{KeySource, MasterKey};
use parley::store::{self, SealedField, Store};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::serve::ServiceArgs;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-seal every stored secret under a new master key.
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    service: ServiceArgs,

    /// Where to write the new key when the current one comes from
    /// PARLEY_MASTER_KEY (required then; the file is created with mode 0600).
    #[arg(long, value_name = "FILE")]
    new_key_file: Option<PathBuf>,
}

pub async fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    let KeysCommand::Rotate(args) = command;
    let config = args.service.load()?;
    let store = store::open(&config.database_url())
        .await
        .context("could not open the database")?;
    let current = MasterKey::load(&config.data_dir).context("could not load the master key")?;

    let pending_path = config.data_dir.join(format!("{KEY_FILE}.new"));
    let new = match (current.source(), &args.new_key_file) {
        (KeySource::File(_), _) if pending_path.exists() => {
            println!(
                "Finishing a rotation that was cut short ({}).",
                pending_path.display()
            );
            MasterKey::from_file(&pending_path)?
        }
        (KeySource::File(_), _) => {
            let new = MasterKey::generate();
            write_private(&pending_path, &new.to_text())
                .with_context(|| format!("could not write {}", pending_path.display()))?;
            new
        }
        (_, Some(path)) => {
            let new = MasterKey::generate();
            write_private(path, &new.to_text())
                .with_context(|| format!("could not write {}", path.display()))?;
            new
        }
        (_, None) => bail!(
            "the master key comes from PARLEY_MASTER_KEY, so the new one needs a place to go: \
             pass --new-key-file FILE"
        ),
    };

    let count = reseal(&*store, &current, &new).await?;

    match current.source() {
        KeySource::File(path) => {
            std::fs::rename(&pending_path, path)
                .with_context(|| format!("could not move the new key into {}", path.display()))?;
            println!(
                "Re-sealed {count} secrets; {} now holds the new key ({}).",
                path.display(),
                new.id()
            );
        }
        _ => {
            let path = args.new_key_file.as_deref().unwrap_or(Path::new("?"));
            println!(
                "Re-sealed {count} secrets under the new key ({}), written to {}. Set \
                 PARLEY_MASTER_KEY to its contents before Parley starts again.",
                new.id(),
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens every sealed value with whichever key it is under (the current one,
/// or the new one for values a cut-short rotation already moved) and seals it
/// under the new key, all in one transaction.
async fn reseal(store: &dyn Store, current: &MasterKey, new: &MasterKey) -> anyhow::Result<usize> {
    let mut resealed = Vec::new();
    for (field, sealed) in store.sealed_fields().await? {
        let purpose = purpose(&field);
        let secret = current
            .open(&sealed, purpose)
            .or_else(|_| new.open(&sealed, purpose))
            .with_context(|| format!("could not open the {purpose} with the current key"))?;
        resealed.push((field, new.seal(&secret, purpose)));
    }

    let count = resealed.len();
    store.replace_sealed(resealed).await?;
    Ok(count)
}

fn purpose(field: &SealedField) -> &'static str {
    match field {
        SealedField::WidgetSecret(_) => parley::accounts::WIDGET_SECRET_PURPOSE,
        SealedField::ConnectorSecret(_) => parley::psa::connector::CLIENT_SECRET_PURPOSE,
        SealedField::WebhookSecret(_) => parley::sync::webhook::WEBHOOK_SECRET_PURPOSE,
    }
}
