//! `/api/Client`: customer companies.

use crate::client::Request;
use crate::model::Client;
use crate::paging::Paging;
use crate::{HaloClient, HaloError};

/// Filters for listing clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientQuery {
    /// Name match ("like").
    pub search: Option<String>,
    pub include_inactive: bool,
    pub paging: Paging,
}

impl HaloClient {
    /// Clients matching `query`.
    pub async fn list_clients(&self, query: &ClientQuery) -> Result<Vec<Client>, HaloError> {
        let request = Request::get("Client")
            .query_opt("search", query.search.as_deref())
            .flag("includeinactive", query.include_inactive);

        self.get_pages(request, query.paging).await
    }

    /// Clients whose name matches `text`, at most `limit`.
    pub async fn search_clients(&self, text: &str, limit: usize) -> Result<Vec<Client>, HaloError> {
        let query = ClientQuery {
            search: Some(text.to_owned()),
            paging: Paging::first(limit),
            ..ClientQuery::default()
        };
        self.list_clients(&query).await
    }

    /// One client.
    pub async fn get_client(&self, id: i64) -> Result<Client, HaloError> {
        self.get_json(Request::get(format!("Client/{id}"))).await
    }
}
