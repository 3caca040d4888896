//! `/api/Agent`: technicians, as a bare array. Disabled agents and the
//! "Unassigned" pseudo-agent are left out unless `includedisabled=true` /
//! `includeunassigned=true`. `GET /api/Agent/me` is the agent the token's
//! application logs in as.

use axum::Json;
use axum::extract::{Extension, Path, State};
use serde_json::Value;

use super::{ApiError, like, record_id};
use crate::auth::Grant;
use crate::quirks::query::HaloQuery;
use crate::shape::setup;
use crate::state::Sim;
use crate::store::{Agent, UNASSIGNED_AGENT_ID};

/// `GET /api/Agent`.
pub async fn list(State(sim): State<Sim>, query: HaloQuery) -> Json<Value> {
    let search = query.text("search");
    let team_id = query.int("team_id");
    let team_name = query.text("team");
    let wanted = |agent: &&Agent| {
        (!agent.isdisabled || query.is_true("includedisabled"))
            && (agent.id != UNASSIGNED_AGENT_ID || query.is_true("includeunassigned"))
            && team_id.is_none_or(|id| agent.team_id == Some(id))
            && search.is_none_or(|text| like(&agent.name, text) || like(&agent.email, text))
    };

    let agents = sim.read(|store| {
        store
            .agents
            .values()
            .filter(wanted)
            .filter(|agent| {
                team_name.is_none_or(|name| {
                    let team = agent.team_id.and_then(|id| store.teams.get(&id));
                    team.is_some_and(|team| team.name.eq_ignore_ascii_case(name))
                })
            })
            .map(|agent| setup::agent(store, agent))
            .collect()
    });
    Json(Value::Array(agents))
}

/// `GET /api/Agent/{id}` and `GET /api/Agent/me`.
pub async fn one(
    State(sim): State<Sim>,
    Extension(grant): Extension<Grant>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let agent_id = if id.eq_ignore_ascii_case("me") {
        grant.agent_id
    } else {
        record_id(&id)?
    };

    sim.read(|store| {
        store
            .agents
            .get(&agent_id)
            .map(|agent| Json(setup::agent(store, agent)))
            .ok_or(ApiError::NotFound)
    })
}
