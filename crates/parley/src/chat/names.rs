//! The help desk's names as views show them, kept for a few seconds so that
//! posting a message does not read every account of the workspace.
//!
//! Names are for display only: who may see or do what is decided from the
//! store, never from here. A stale name is therefore harmless, and staleness
//! is bounded three ways: an entry lives [`NAMES_TTL`] at most (a rename on
//! another instance, or by the CLI, shows within it), an account change
//! through this process forgets the workspace's entry at once, and a
//! technician the entry does not know (an account created elsewhere since)
//! reloads it.

use crate::store::{AccountId, Store, StoreResult, WorkspaceId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a workspace's names are used before they are read again.
pub const NAMES_TTL: Duration = Duration::from_secs(5);

/// Technicians' names by account id.
pub type TechnicianMap = Arc<HashMap<AccountId, String>>;

/// The cache. Cloning shares it, so the chat service and the account
/// service can hold the same one.
#[derive(Debug, Clone)]
pub struct TechnicianNames {
    inner: Arc<Mutex<Inner>>,
    ttl: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<WorkspaceId, Entry>,
    /// Moves on at every [`TechnicianNames::forget`], so that a read which
    /// began before a change cannot put its older names back afterwards.
    generation: u64,
}

#[derive(Debug)]
struct Entry {
    names: TechnicianMap,
    loaded: Instant,
}

impl Default for TechnicianNames {
    fn default() -> Self {
        Self::new(NAMES_TTL)
    }
}

impl TechnicianNames {
    pub fn new(ttl: Duration) -> Self {
        Self {
            inner: Arc::default(),
            ttl,
        }
    }

    /// The workspace's technicians' names, from the cache while it is fresh
    /// and knows every id in `wanted`, from the store otherwise.
    pub async fn get(
        &self,
        store: &dyn Store,
        workspace: WorkspaceId,
        wanted: &[AccountId],
    ) -> StoreResult<TechnicianMap> {
        let generation = {
            let inner = self.lock();
            if let Some(entry) = inner.entries.get(&workspace)
                && entry.loaded.elapsed() < self.ttl
                && wanted.iter().all(|id| entry.names.contains_key(id))
            {
                return Ok(entry.names.clone());
            }
            inner.generation
        };

        let names: TechnicianMap = Arc::new(
            store
                .accounts(workspace)
                .await?
                .into_iter()
                .map(|account| (account.id, account.name))
                .collect(),
        );

        let mut inner = self.lock();
        if inner.generation == generation {
            inner.entries.insert(
                workspace,
                Entry {
                    names: names.clone(),
                    loaded: Instant::now(),
                },
            );
        }
        Ok(names)
    }

    /// Drops the workspace's names: an account was created, renamed or
    /// removed here, and the next view must show it as it is now.
    pub fn forget(&self, workspace: WorkspaceId) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.remove(&workspace);
    }

    /// Every change to the map is a single insert or remove, so it stays
    /// consistent even if a holder panicked.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewAccount, Role};
    use crate::testing::TestDatabase;

    fn account(workspace_id: WorkspaceId, email: &str, name: &str) -> NewAccount {
        NewAccount {
            workspace_id,
            email: email.to_owned(),
            name: name.to_owned(),
            role: Role::Technician,
            password_hash: "unused".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_fresh_entry_is_used_and_a_forgotten_one_is_read_again() {
        let db = TestDatabase::sqlite();
        let store: Arc<dyn Store> = Arc::from(db.open().await.unwrap());
        let ws = store.default_workspace("secret").await.unwrap().id;
        let alex = store
            .create_account(account(ws, "alex@msp.example", "Alex"))
            .await
            .unwrap();
        // Long enough that only `forget` or a miss can refresh it in a test.
        let names = TechnicianNames::new(Duration::from_secs(3600));

        let first = names.get(&*store, ws, &[alex.id]).await.unwrap();
        let sam = store
            .create_account(account(ws, "sam@msp.example", "Sam"))
            .await
            .unwrap();
        let cached = names.get(&*store, ws, &[]).await.unwrap();
        names.forget(ws);
        let reread = names.get(&*store, ws, &[]).await.unwrap();

        assert_eq!(first.get(&alex.id).map(String::as_str), Some("Alex"));
        assert!(Arc::ptr_eq(&first, &cached), "the entry was read again");
        assert_eq!(reread.get(&sam.id).map(String::as_str), Some("Sam"));
    }

    #[tokio::test]
    async fn a_technician_the_entry_does_not_know_reloads_it() {
        let db = TestDatabase::sqlite();
        let store: Arc<dyn Store> = Arc::from(db.open().await.unwrap());
        let ws = store.default_workspace("secret").await.unwrap().id;
        let names = TechnicianNames::new(Duration::from_secs(3600));

        names.get(&*store, ws, &[]).await.unwrap();
        let sam = store
            .create_account(account(ws, "sam@msp.example", "Sam"))
            .await
            .unwrap();
        let seen = names.get(&*store, ws, &[sam.id]).await.unwrap();

        assert_eq!(seen.get(&sam.id).map(String::as_str), Some("Sam"));
    }
}
