//! `/api/Site`: a client's sites.

use crate::client::Request;
use crate::model::Site;
use crate::paging::Paging;
use crate::{HaloClient, HaloError};

impl HaloClient {
    /// The sites of a client.
    pub async fn list_sites(&self, client_id: i64) -> Result<Vec<Site>, HaloError> {
        let request = Request::get("Site").query("client_id", client_id);

        self.get_pages(request, Paging::default()).await
    }

    /// One site.
    pub async fn get_site(&self, id: i64) -> Result<Site, HaloError> {
        self.get_json(Request::get(format!("Site/{id}"))).await
    }
}
