//! Walking Halo's paged lists: `pageinate=true&page_size=S&page_no=P` (Halo's
//! spelling, pages from 1) until `record_count` records are in, a page comes
//! back short, or the server shows it ignores paging.

use serde::de::DeserializeOwned;

use crate::client::Request;
use crate::model::{ListResponse, Listed};
use crate::{HaloClient, HaloError};

/// The page size used when none is given: the largest Halo documents for tickets.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// A hard stop, so that a server that keeps answering full pages of new
/// records cannot keep the client walking forever.
const MAX_PAGES: u32 = 1000;

/// How much of a list to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Records per request (1 to 100 is safe everywhere).
    pub page_size: u32,
    /// Stop after this many records; `None` fetches them all.
    pub limit: Option<usize>,
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            page_size: DEFAULT_PAGE_SIZE,
            limit: None,
        }
    }
}

impl Paging {
    /// At most `limit` records, in pages no larger than needed.
    pub fn first(limit: usize) -> Self {
        let page_size = u32::try_from(limit)
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, DEFAULT_PAGE_SIZE);
        Self {
            page_size,
            limit: Some(limit),
        }
    }
}

impl HaloClient {
    /// Fetches the pages of `request` and returns their records in order.
    pub(crate) async fn get_pages<T>(
        &self,
        request: Request,
        paging: Paging,
    ) -> Result<Vec<T>, HaloError>
    where
        T: DeserializeOwned + Listed + PartialEq,
    {
        let page_size = paging.page_size.max(1);
        let page_len = usize::try_from(page_size).unwrap_or(usize::MAX);
        let limit = paging.limit.unwrap_or(usize::MAX);
        let mut records: Vec<T> = Vec::new();
        // Where the previous page starts in `records`, to spot a repeated page.
        let mut previous_start = 0;

        for page_no in 1..=MAX_PAGES {
            if records.len() >= limit {
                break;
            }

            let page: ListResponse<T> = self
                .get_json(
                    request
                        .clone()
                        .query("pageinate", "true")
                        .query("page_size", page_size)
                        .query("page_no", page_no),
                )
                .await?;
            let received = page.items.len();

            // A server that ignores paging sends everything at once, or the
            // same page again: either way there is nothing more to fetch.
            let repeated = page_no > 1 && received > 0 && records[previous_start..] == page.items;
            let wrong_page = page.page_no.is_some_and(|n| n != u64::from(page_no));
            if received > page_len || wrong_page || repeated {
                if page_no == 1 {
                    records.extend(page.items);
                }
                tracing::debug!(page_no, "Halo ignored paging; stopping");
                break;
            }

            previous_start = records.len();
            records.extend(page.items);
            let all_in = page
                .record_count
                .is_some_and(|total| u64::try_from(records.len()).unwrap_or(u64::MAX) >= total);
            if received < page_len || all_in {
                break;
            }
        }

        records.truncate(limit);
        Ok(records)
    }
}
