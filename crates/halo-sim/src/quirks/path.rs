//! Halo matches URL paths case-insensitively (`/api/Tickets`, `/API/tickets`).
//!
//! axum routes case-sensitively, so the front door folds every Halo path to
//! lower case (and drops a trailing slash) before the request reaches the
//! router, whose routes are all written in lower case. The query string is left
//! alone: its values are data, and its names are folded by [`super::query`].

use axum::http::Uri;
use axum::http::uri::PathAndQuery;

/// `uri` with its path folded to lower case and without a trailing slash.
/// The URI is returned unchanged if the folded form would not be a valid URI,
/// which cannot happen for a path that was valid before folding.
pub fn fold(uri: &Uri) -> Uri {
    let path = uri.path();
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let folded = trimmed.to_ascii_lowercase();
    let path_and_query = match uri.query() {
        Some(query) => format!("{folded}?{query}"),
        None => folded,
    };

    let mut parts = uri.clone().into_parts();
    match PathAndQuery::try_from(path_and_query) {
        Ok(path_and_query) => parts.path_and_query = Some(path_and_query),
        Err(_) => return uri.clone(),
    }
    Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

/// The endpoint a request is counted under: `tickets` for `/api/Tickets/12`,
/// `auth/token` for the token endpoint, the folded path otherwise.
pub fn endpoint(folded_path: &str) -> String {
    let path = folded_path.trim_start_matches('/');
    match path.split_once('/') {
        Some(("api", rest)) => rest.split('/').next().unwrap_or_default().to_owned(),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_lowercases_the_path_but_not_the_query() {
        let uri: Uri = "/API/Tickets/12/?Search=Printer".parse().unwrap();

        assert_eq!(fold(&uri), "/api/tickets/12?Search=Printer");
    }

    #[test]
    fn endpoints_name_the_resource() {
        assert_eq!(endpoint("/api/tickets/12"), "tickets");
        assert_eq!(endpoint("/api/agent/me"), "agent");
        assert_eq!(endpoint("/auth/token"), "auth/token");
        assert_eq!(endpoint("/favicon.ico"), "favicon.ico");
    }
}
