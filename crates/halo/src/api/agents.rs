//! `/api/Agent`: technicians, and the agent the application logs in as.

use crate::client::Request;
use crate::model::{Agent, ListResponse};
use crate::{HaloClient, HaloError};

/// Filters for listing agents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentQuery {
    /// Name, email or phone match ("like").
    pub search: Option<String>,
    pub team_id: Option<i64>,
    pub include_disabled: bool,
}

impl HaloClient {
    /// Agents matching `query` (Halo returns them all at once, unpaged).
    pub async fn list_agents(&self, query: &AgentQuery) -> Result<Vec<Agent>, HaloError> {
        let request = Request::get("Agent")
            .query_opt("search", query.search.as_deref())
            .query_opt("team_id", query.team_id)
            .flag("includedisabled", query.include_disabled);

        let list: ListResponse<Agent> = self.get_json(request).await?;
        Ok(list.into_items())
    }

    /// Agents whose name, email or phone matches `text`.
    pub async fn search_agents(&self, text: &str) -> Result<Vec<Agent>, HaloError> {
        let query = AgentQuery {
            search: Some(text.to_owned()),
            ..AgentQuery::default()
        };
        self.list_agents(&query).await
    }

    /// One agent.
    pub async fn get_agent(&self, id: i64) -> Result<Agent, HaloError> {
        self.get_json(Request::get(format!("Agent/{id}"))).await
    }

    /// The agent the application logs in as.
    pub async fn agent_me(&self) -> Result<Agent, HaloError> {
        self.get_json(Request::get("Agent/me")).await
    }
}
