//! `/api/Users`: end users (contacts).

use crate::client::Request;
use crate::model::User;
use crate::paging::Paging;
use crate::{HaloClient, HaloError};

/// Filters for listing users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Name or email match ("like").
    pub search: Option<String>,
    pub client_id: Option<i64>,
    pub site_id: Option<i64>,
    pub include_inactive: bool,
    pub paging: Paging,
}

impl HaloClient {
    /// Users matching `query`.
    pub async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, HaloError> {
        let request = Request::get("Users")
            .query_opt("search", query.search.as_deref())
            .query_opt("client_id", query.client_id)
            .query_opt("site_id", query.site_id)
            .flag("includeinactive", query.include_inactive);

        self.get_pages(request, query.paging).await
    }

    /// Users whose email address is exactly `email` (ignoring case). Halo's
    /// search is a "like" match, so its hits are filtered here.
    pub async fn find_users_by_email(&self, email: &str) -> Result<Vec<User>, HaloError> {
        let email = email.trim();
        let query = UserQuery {
            search: Some(email.to_owned()),
            ..UserQuery::default()
        };

        let users = self.list_users(&query).await?;
        Ok(users
            .into_iter()
            .filter(|user| {
                user.emailaddress
                    .as_deref()
                    .is_some_and(|address| address.trim().eq_ignore_ascii_case(email))
            })
            .collect())
    }

    /// One user.
    pub async fn get_user(&self, id: i64) -> Result<User, HaloError> {
        self.get_json(Request::get(format!("Users/{id}"))).await
    }
}
