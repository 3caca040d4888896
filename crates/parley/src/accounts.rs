//! Accounts and sessions: signing technicians and admins in, and turning a
//! portal's widget token into an end user's session.
//!
//! This composes the identity primitives with the store; the web layer only
//! moves tokens between cookies, headers and these calls.

use crate::chat::names::TechnicianNames;
use crate::identity::{
    self, LoginLimiter, MasterKey, PasswordError, SealError, SessionToken, WidgetSecret,
    WidgetTokenError,
};
use crate::store::{
    Account, EndUser, NewAccount, NewEndUser, NewSession, Role, SessionOwner, Store, StoreError,
    Workspace, WorkspaceId, now_millis,
};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Wrong email or password; deliberately the same text for both.
    #[error("the email or password is not right")]
    BadCredentials,
    #[error(transparent)]
    RateLimited(#[from] identity::RetryAfter),
    #[error("the chat could not open: {0}")]
    WidgetToken(#[from] WidgetTokenError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("password hashing failed: {0}")]
    Hashing(#[from] PasswordError),
    #[error("the widget secret cannot be opened: {0}")]
    Sealed(#[from] SealError),
}

impl From<StoreError> for AccountError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(why) => AccountError::Conflict(why),
            other => AccountError::Store(other),
        }
    }
}

pub type AccountResult<T> = Result<T, AccountError>;

/// What the widget secret is sealed for: a sealed value opens only as this.
pub const WIDGET_SECRET_PURPOSE: &str = "workspace.widget_secret";

/// Who a session belongs to, resolved to the full row.
#[derive(Debug, Clone)]
pub enum SignedIn {
    Account(Account),
    EndUser(EndUser),
}

/// The account service. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    key: MasterKey,
    /// The workspace with its widget secret opened (the store keeps it sealed).
    workspace: Arc<RwLock<Workspace>>,
    limiter: Arc<LoginLimiter>,
    session_lifetime: Duration,
    widget_session_lifetime: Duration,
    hash_params: Option<identity::HashParams>,
    /// The chat's cache of technicians' names, told of every account change.
    names: TechnicianNames,
}

impl Accounts {
    /// Loads the default workspace (creating it with a new widget secret on
    /// first run) and opens its widget secret with the master key.
    pub async fn new(
        store: Arc<dyn Store>,
        key: MasterKey,
        session_lifetime: Duration,
        widget_session_lifetime: Duration,
    ) -> AccountResult<Self> {
        let fresh = key.seal(&WidgetSecret::generate().to_text(), WIDGET_SECRET_PURPOSE);
        let mut workspace = store.default_workspace(&fresh).await?;

        // Versions before sealing kept the secret in the clear: seal it now.
        if !workspace.widget_secret.starts_with("v1:") {
            let sealed = key.seal(&workspace.widget_secret, WIDGET_SECRET_PURPOSE);
            store.set_widget_secret(workspace.id, &sealed).await?;
            tracing::info!("sealed the widget secret that an earlier version stored in the clear");
        } else {
            workspace.widget_secret = key.open(&workspace.widget_secret, WIDGET_SECRET_PURPOSE)?;
        }

        Ok(Self {
            store,
            key,
            workspace: Arc::new(RwLock::new(workspace)),
            limiter: Arc::new(LoginLimiter::default()),
            session_lifetime,
            widget_session_lifetime,
            hash_params: None,
            names: TechnicianNames::default(),
        })
    }

    /// Shares the chat's cache of technicians' names, so that an account
    /// made here shows by its name at once rather than after the cache's
    /// lifetime.
    pub fn with_technician_names(mut self, names: TechnicianNames) -> Self {
        self.names = names;
        self
    }

    /// Uses cheap hashing parameters: for tests and the demo's seeded users,
    /// never for real accounts.
    pub fn with_cheap_hashing(mut self) -> Self {
        self.hash_params = Some(identity::password::cheap_params());
        self
    }

    pub fn workspace(&self) -> Workspace {
        self.workspace
            .read()
            .expect("the workspace lock is never held across a panic")
            .clone()
    }

    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace().id
    }

    /// Whether the first-run wizard's account step is still open.
    pub async fn needs_first_admin(&self) -> AccountResult<bool> {
        Ok(self.store.count_admins(self.workspace_id()).await? == 0)
    }

    /// Creates an account after checking the email and the password policy.
    pub async fn create(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password: &str,
    ) -> AccountResult<Account> {
        let new = self.new_account(email, name, role, password)?;
        let account = self.store.create_account(new).await?;
        self.names.forget(account.workspace_id);
        tracing::info!(account.id = account.id, role = %account.role, "account created");
        Ok(account)
    }

    /// Creates the first admin, only while there is none: the wizard's
    /// account step closes for good once it has run. The store checks and
    /// inserts in one transaction, so racing submissions (on any instance)
    /// create one admin at most.
    pub async fn create_first_admin(
        &self,
        email: &str,
        name: &str,
        password: &str,
    ) -> AccountResult<Account> {
        let new = self.new_account(email, name, Role::Admin, password)?;
        let Some(account) = self.store.create_first_admin(new).await? else {
            return Err(AccountError::Conflict(
                "an admin already exists; sign in instead".to_owned(),
            ));
        };
        self.names.forget(account.workspace_id);
        tracing::info!(account.id = account.id, "first admin created");
        Ok(account)
    }

    /// Checks what a new account needs and hashes its password.
    fn new_account(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password: &str,
    ) -> AccountResult<NewAccount> {
        let email = normalise_email(email)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(AccountError::Invalid("a name is needed".to_owned()));
        }
        identity::check_new_password(password)
            .map_err(|why| AccountError::Invalid(why.to_string()))?;

        Ok(NewAccount {
            workspace_id: self.workspace_id(),
            email,
            name: name.to_owned(),
            role,
            password_hash: self.hash(password)?,
        })
    }

    /// Checks a password, within the sign-in rate limit, and opens a session.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        address: IpAddr,
    ) -> AccountResult<(Account, SessionToken)> {
        let email = email.trim().to_lowercase();
        let now = Instant::now();
        self.limiter.check(&email, address, now)?;

        let account = match self
            .store
            .account_by_email(self.workspace_id(), &email)
            .await
        {
            Ok(account) => Some(account),
            Err(StoreError::NotFound(_)) => None,
            Err(other) => return Err(other.into()),
        };
        let verified = match &account {
            Some(account) => identity::verify_password(password, &account.password_hash)?,
            None => {
                // As slow as a real check, so timing does not tell which
                // emails have accounts.
                identity::verify_dummy_password(password);
                false
            }
        };
        let Some(account) = account.filter(|_| verified) else {
            self.limiter.record_failure(&email, address, now);
            tracing::warn!(%address, "failed sign-in");
            return Err(AccountError::BadCredentials);
        };

        self.limiter.record_success(&email, address);
        let token = self
            .open_session(SessionOwner::Account(account.id), self.session_lifetime)
            .await?;
        tracing::info!(account.id = account.id, "signed in");
        Ok((account, token))
    }

    /// Changes a password after checking the current one, and signs the
    /// account out of every other session.
    pub async fn change_password(
        &self,
        account: &Account,
        current_session: &str,
        current: &str,
        new: &str,
    ) -> AccountResult<()> {
        if !identity::verify_password(current, &account.password_hash)? {
            return Err(AccountError::Invalid(
                "the current password is not right".to_owned(),
            ));
        }
        identity::check_new_password(new).map_err(|why| AccountError::Invalid(why.to_string()))?;

        let hash = self.hash(new)?;
        self.store.set_password_hash(account.id, &hash).await?;
        self.store
            .delete_other_sessions(account.id, &identity::token_digest(current_session))
            .await?;
        tracing::info!(account.id = account.id, "password changed");
        Ok(())
    }

    /// Verifies a portal's widget token and opens the end user's session.
    pub async fn widget_session(
        &self,
        widget_token: &str,
    ) -> AccountResult<(EndUser, SessionToken, i64)> {
        let secret = WidgetSecret::parse(&self.workspace().widget_secret).map_err(|why| {
            AccountError::Invalid(format!("the widget secret is unusable: {why}"))
        })?;
        let claims =
            identity::verify_widget_token(widget_token, secret.as_bytes(), chrono::Utc::now())
                .inspect_err(|why| tracing::warn!(reason = %why, "widget token refused"))?;

        let end_user = self
            .store
            .upsert_end_user(NewEndUser {
                workspace_id: self.workspace_id(),
                email: claims.email,
                name: claims.name,
                subject: claims.sub,
            })
            .await?;
        let token = self
            .open_session(
                SessionOwner::EndUser(end_user.id),
                self.widget_session_lifetime,
            )
            .await?;
        let expires_at = now_millis() + millis(self.widget_session_lifetime);
        tracing::info!(end_user.id = end_user.id, "widget session opened");
        Ok((end_user, token, expires_at))
    }

    /// Who a session token belongs to, if it is live.
    pub async fn resolve(&self, token: &str) -> AccountResult<Option<SignedIn>> {
        let session = match self
            .store
            .session(&identity::token_digest(token), now_millis())
            .await
        {
            Ok(session) => session,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(other) => return Err(other.into()),
        };

        let signed_in = match session.owner {
            SessionOwner::Account(id) => self
                .store
                .account(session.workspace_id, id)
                .await
                .map(SignedIn::Account),
            SessionOwner::EndUser(id) => self
                .store
                .end_user(session.workspace_id, id)
                .await
                .map(SignedIn::EndUser),
        };
        match signed_in {
            Ok(who) => Ok(Some(who)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    pub async fn sign_out(&self, token: &str) -> AccountResult<()> {
        self.store
            .delete_session(&identity::token_digest(token))
            .await?;
        Ok(())
    }

    /// Replaces the widget secret; tokens signed with the old one stop working.
    pub async fn rotate_widget_secret(&self) -> AccountResult<String> {
        let secret = WidgetSecret::generate().to_text();
        self.store
            .set_widget_secret(
                self.workspace_id(),
                &self.key.seal(&secret, WIDGET_SECRET_PURPOSE),
            )
            .await?;
        self.workspace
            .write()
            .expect("the workspace lock is never held across a panic")
            .widget_secret = secret.clone();
        tracing::info!("widget secret rotated");
        Ok(secret)
    }

    async fn open_session(
        &self,
        owner: SessionOwner,
        lifetime: Duration,
    ) -> AccountResult<SessionToken> {
        let token = SessionToken::generate();
        self.store
            .create_session(NewSession {
                token_digest: token.digest(),
                workspace_id: self.workspace_id(),
                owner,
                expires_at: now_millis() + millis(lifetime),
            })
            .await?;
        Ok(token)
    }

    fn hash(&self, password: &str) -> AccountResult<String> {
        Ok(match &self.hash_params {
            Some(params) => identity::hash_password_with(password, params)?,
            None => identity::hash_password(password)?,
        })
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Trims and lower-cases an email, refusing what cannot be one.
pub fn normalise_email(email: &str) -> AccountResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    });
    if !valid || email.chars().any(char::is_whitespace) {
        return Err(AccountError::Invalid(format!(
            "`{email}` is not an email address"
        )));
    }
    Ok(email)
}
