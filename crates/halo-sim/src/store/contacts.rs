//! Creating and editing clients, sites and users (contacts).
//!
//! As in Halo, a new client gets a main site and a new site gets a
//! "General User", the catch-all contact integrations fall back on.

use chrono::Utc;

use super::{Client, Invalid, Refusals, Site, Store, User, plan_then_apply};

/// Name of the catch-all contact of every site.
pub const GENERAL_USER: &str = "General User";
/// Name of the site a new client gets.
pub const MAIN_SITE: &str = "Main";

/// What a client sent for one client record.
#[derive(Debug, Clone, Default)]
pub struct ClientDraft {
    pub id: Option<i64>,
    pub name: Option<String>,
    pub inactive: Option<bool>,
    pub notes: Option<String>,
    pub website: Option<String>,
    pub is_vip: Option<bool>,
}

/// What a client sent for one site.
#[derive(Debug, Clone, Default)]
pub struct SiteDraft {
    pub id: Option<i64>,
    pub name: Option<String>,
    pub client_id: Option<i64>,
    pub inactive: Option<bool>,
    pub phonenumber: Option<String>,
}

/// What a client sent for one user.
#[derive(Debug, Clone, Default)]
pub struct UserDraft {
    pub id: Option<i64>,
    pub name: Option<String>,
    pub firstname: Option<String>,
    pub surname: Option<String>,
    pub emailaddress: Option<String>,
    pub phonenumber: Option<String>,
    pub site_id: Option<i64>,
    pub client_id: Option<i64>,
    pub inactive: Option<bool>,
}

impl Store {
    /// Creates or updates every client in `drafts`, all or none; returns their ids.
    pub fn save_clients(&mut self, drafts: Vec<ClientDraft>) -> Result<Vec<i64>, Refusals> {
        plan_then_apply(self, drafts, Store::plan_client, Store::apply_client)
    }

    /// Creates or updates every site in `drafts`, all or none; returns their ids.
    pub fn save_sites(&mut self, drafts: Vec<SiteDraft>) -> Result<Vec<i64>, Refusals> {
        plan_then_apply(self, drafts, Store::plan_site, Store::apply_site)
    }

    /// Creates or updates every user in `drafts`, all or none; returns their ids.
    pub fn save_users(&mut self, drafts: Vec<UserDraft>) -> Result<Vec<i64>, Refusals> {
        plan_then_apply(self, drafts, Store::plan_user, Store::apply_user)
    }

    /// Adds a client with a main site and that site's General User.
    pub fn add_client(&mut self, client: Client, site_name: &str) -> i64 {
        let client_id = self.next_ids.client;
        self.next_ids.client += 1;
        self.clients.insert(
            client_id,
            Client {
                id: client_id,
                ..client
            },
        );

        let site_id = self.add_site(client_id, site_name, "");
        if let Some(client) = self.clients.get_mut(&client_id) {
            client.main_site_id = site_id;
        }
        client_id
    }

    /// Adds a site with its General User.
    pub fn add_site(&mut self, client_id: i64, name: &str, phonenumber: &str) -> i64 {
        let site_id = self.next_ids.site;
        self.next_ids.site += 1;
        let now = Utc::now();
        self.sites.insert(
            site_id,
            Site {
                id: site_id,
                name: name.to_owned(),
                client_id,
                inactive: false,
                phonenumber: phonenumber.to_owned(),
                sla_id: 1,
                created: now,
            },
        );

        self.add_user(UserDraft {
            name: Some(GENERAL_USER.to_owned()),
            firstname: Some("General".to_owned()),
            surname: Some("User".to_owned()),
            site_id: Some(site_id),
            ..UserDraft::default()
        });
        site_id
    }

    /// Adds a user at `draft.site_id` (which the caller has checked).
    pub fn add_user(&mut self, draft: UserDraft) -> i64 {
        let user_id = self.next_ids.user;
        self.next_ids.user += 1;
        let now = Utc::now();
        let firstname = draft.firstname.unwrap_or_default();
        let surname = draft.surname.unwrap_or_default();
        let name = draft
            .name
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| format!("{firstname} {surname}").trim().to_owned());

        self.users.insert(
            user_id,
            User {
                id: user_id,
                name,
                firstname,
                surname,
                emailaddress: draft.emailaddress.unwrap_or_default(),
                phonenumber: draft.phonenumber.unwrap_or_default(),
                site_id: draft.site_id.unwrap_or(0),
                inactive: draft.inactive.unwrap_or(false),
                is_important: false,
                created: now,
                updated: now,
            },
        );
        user_id
    }

    fn plan_client(&self, draft: ClientDraft) -> Result<ClientDraft, Invalid> {
        if let Some(client_id) = draft.id.filter(|id| *id > 0)
            && !self.clients.contains_key(&client_id)
        {
            return Err(Invalid::new(
                "id",
                format!("Client {client_id} does not exist."),
            ));
        }
        let creates = draft.id.is_none_or(|id| id <= 0);
        let blank_name = draft
            .name
            .as_deref()
            .is_none_or(|name| name.trim().is_empty());
        if (creates || draft.name.is_some()) && blank_name {
            return Err(Invalid::new("name", "A name is required."));
        }
        Ok(draft)
    }

    fn apply_client(&mut self, draft: ClientDraft) -> i64 {
        if let Some(client) = draft.id.and_then(|id| self.clients.get_mut(&id)) {
            if let Some(name) = draft.name {
                client.name = name;
            }
            if let Some(inactive) = draft.inactive {
                client.inactive = inactive;
            }
            if let Some(notes) = draft.notes {
                client.notes = notes;
            }
            if let Some(website) = draft.website {
                client.website = website;
            }
            if let Some(is_vip) = draft.is_vip {
                client.is_vip = is_vip;
            }
            return client.id;
        }

        let client = Client {
            id: 0,
            name: draft.name.unwrap_or_default(),
            inactive: draft.inactive.unwrap_or(false),
            main_site_id: 0,
            colour: String::new(),
            notes: draft.notes.unwrap_or_default(),
            website: draft.website.unwrap_or_default(),
            is_vip: draft.is_vip.unwrap_or(false),
            created: Utc::now(),
        };
        self.add_client(client, MAIN_SITE)
    }

    fn plan_site(&self, draft: SiteDraft) -> Result<SiteDraft, Invalid> {
        if let Some(site_id) = draft.id.filter(|id| *id > 0) {
            if !self.sites.contains_key(&site_id) {
                return Err(Invalid::new(
                    "id",
                    format!("Site {site_id} does not exist."),
                ));
            }
        } else {
            if draft
                .name
                .as_deref()
                .is_none_or(|name| name.trim().is_empty())
            {
                return Err(Invalid::new("name", "A name is required."));
            }
            if draft.client_id.is_none_or(|id| id <= 0) {
                return Err(Invalid::new("client_id", "A client_id is required."));
            }
        }
        if let Some(client_id) = draft.client_id.filter(|id| *id > 0)
            && !self.clients.contains_key(&client_id)
        {
            return Err(Invalid::new(
                "client_id",
                format!("Client {client_id} does not exist."),
            ));
        }
        Ok(draft)
    }

    fn apply_site(&mut self, draft: SiteDraft) -> i64 {
        if let Some(site) = draft.id.and_then(|id| self.sites.get_mut(&id)) {
            if let Some(name) = draft.name {
                site.name = name;
            }
            if let Some(client_id) = draft.client_id.filter(|id| *id > 0) {
                site.client_id = client_id;
            }
            if let Some(inactive) = draft.inactive {
                site.inactive = inactive;
            }
            if let Some(phonenumber) = draft.phonenumber {
                site.phonenumber = phonenumber;
            }
            return site.id;
        }

        let name = draft.name.unwrap_or_default();
        let phonenumber = draft.phonenumber.unwrap_or_default();
        self.add_site(draft.client_id.unwrap_or(0), &name, &phonenumber)
    }

    fn plan_user(&self, mut draft: UserDraft) -> Result<UserDraft, Invalid> {
        if let Some(user_id) = draft.id.filter(|id| *id > 0)
            && !self.users.contains_key(&user_id)
        {
            return Err(Invalid::new(
                "id",
                format!("User {user_id} does not exist."),
            ));
        }

        if let Some(site_id) = draft.site_id.filter(|id| *id > 0) {
            if !self.sites.contains_key(&site_id) {
                return Err(Invalid::new(
                    "site_id",
                    format!("Site {site_id} does not exist."),
                ));
            }
        } else if let Some(client_id) = draft.client_id.filter(|id| *id > 0) {
            let client = self.clients.get(&client_id).ok_or_else(|| {
                Invalid::new("client_id", format!("Client {client_id} does not exist."))
            })?;
            draft.site_id = Some(client.main_site_id);
        }

        let creates = draft.id.is_none_or(|id| id <= 0);
        if creates {
            if draft.site_id.is_none_or(|id| id <= 0) {
                return Err(Invalid::new(
                    "site_id",
                    "A site_id or client_id is required.",
                ));
            }
            let nameless = [&draft.name, &draft.firstname, &draft.surname]
                .iter()
                .all(|part| part.as_deref().is_none_or(|text| text.trim().is_empty()));
            if nameless {
                return Err(Invalid::new("name", "A name is required."));
            }
        }
        Ok(draft)
    }

    fn apply_user(&mut self, draft: UserDraft) -> i64 {
        let Some(user) = draft.id.and_then(|id| self.users.get_mut(&id)) else {
            return self.add_user(draft);
        };

        if let Some(name) = draft.name {
            user.name = name;
        }
        if let Some(firstname) = draft.firstname {
            user.firstname = firstname;
        }
        if let Some(surname) = draft.surname {
            user.surname = surname;
        }
        if let Some(emailaddress) = draft.emailaddress {
            user.emailaddress = emailaddress;
        }
        if let Some(phonenumber) = draft.phonenumber {
            user.phonenumber = phonenumber;
        }
        if let Some(site_id) = draft.site_id.filter(|id| *id > 0) {
            user.site_id = site_id;
        }
        if let Some(inactive) = draft.inactive {
            user.inactive = inactive;
        }
        user.updated = Utc::now();
        user.id
    }
}
