//! List wrappers and paging.
//!
//! Most Halo lists come wrapped as `{"record_count": N, "<things>": [...]}`,
//! where `record_count` counts every match, not just the page. With
//! `pageinate=true` (Halo's spelling) `page_size` and `page_no` (1-based) pick
//! a page and are echoed in the wrapper; without it `count` caps the list.
//! Setup lists (agents, statuses, ...) are bare arrays and are not paged.

use serde_json::{Map, Value, json};

use super::query::HaloQuery;

/// Page size when `pageinate=true` comes without `page_size`.
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// Which part of a list a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    skip: usize,
    take: Option<usize>,
    page: Option<Page>,
}

/// A page asked for with `pageinate=true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub number: usize,
    /// Items per page.
    pub size: usize,
}

impl Window {
    /// Reads `pageinate`, `page_size`, `page_no` and `count`.
    pub fn from_query(query: &HaloQuery) -> Window {
        let positive = |name| {
            query
                .int(name)
                .filter(|value| *value > 0)
                .and_then(|value| usize::try_from(value).ok())
        };

        if query.is_true("pageinate") {
            let size = positive("page_size").unwrap_or(DEFAULT_PAGE_SIZE);
            let number = positive("page_no").unwrap_or(1);
            return Window {
                skip: (number - 1).saturating_mul(size),
                take: Some(size),
                page: Some(Page { number, size }),
            };
        }

        Window {
            skip: 0,
            take: positive("count"),
            page: None,
        }
    }

    /// The page, if the request asked for one.
    pub fn page(&self) -> Option<Page> {
        self.page
    }

    /// The part of `items` inside the window.
    pub fn apply<T>(&self, items: Vec<T>) -> Vec<T> {
        let take = self.take.unwrap_or(usize::MAX);
        items.into_iter().skip(self.skip).take(take).collect()
    }
}

/// A wrapped list: `{record_count, <name>: page_items}` plus `page_no`/`page_size`
/// when paging. `total` counts every match; `page_items` are the ones inside
/// the window (see [`Window::apply`]), already rendered.
pub fn wrap(
    name: &str,
    total: usize,
    page_items: Vec<Value>,
    window: Window,
) -> Map<String, Value> {
    let mut wrapper = Map::new();

    if let Some(page) = window.page() {
        wrapper.insert("page_no".into(), json!(page.number));
        wrapper.insert("page_size".into(), json!(page.size));
    }
    wrapper.insert("record_count".into(), json!(total));
    wrapper.insert(name.into(), Value::Array(page_items));
    wrapper
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(pairs: &[(&str, &str)]) -> Window {
        Window::from_query(&HaloQuery::from_pairs(
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        ))
    }

    fn wrapped(name: &str, n: i64, window: Window) -> Value {
        let all: Vec<Value> = (1..=n).map(|i| json!(i)).collect();
        let total = all.len();
        Value::Object(wrap(name, total, window.apply(all), window))
    }

    #[test]
    fn pages_are_one_based_and_echoed() {
        let wrapped = wrapped(
            "tickets",
            5,
            window(&[("pageinate", "True"), ("page_size", "2"), ("page_no", "3")]),
        );

        assert_eq!(
            wrapped,
            json!({"record_count": 5, "page_no": 3, "page_size": 2, "tickets": [5]})
        );
    }

    #[test]
    fn count_caps_without_paging_and_keeps_the_total() {
        let wrapped = wrapped("users", 5, window(&[("count", "2")]));

        assert_eq!(wrapped, json!({"record_count": 5, "users": [1, 2]}));
    }

    #[test]
    fn paging_parameters_without_pageinate_are_ignored() {
        let wrapped = wrapped(
            "clients",
            3,
            window(&[("page_size", "1"), ("page_no", "2")]),
        );

        assert_eq!(wrapped["clients"], json!([1, 2, 3]));
        assert!(wrapped.get("page_no").is_none());
    }
}
