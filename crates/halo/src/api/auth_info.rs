//! `/api/authinfo`: anonymous discovery of the authorisation server.

use crate::client::Request;
use crate::model::AuthInfo;
use crate::{HaloClient, HaloError};

impl HaloClient {
    /// What Halo says about where to authenticate. Needs no token, so it also
    /// tells whether the site answers like Halo at all.
    pub async fn auth_info(&self) -> Result<AuthInfo, HaloError> {
        self.get_json_anonymous(Request::get("authinfo")).await
    }
}
