//! The wrapper of Halo's list endpoints: `{"record_count": N, "tickets": [...]}`
//! for most, a bare array for `Agent`, `Status`, `TicketType`, `Priority` and
//! (probably) `Outcome`. [`ListResponse`] accepts either form for every
//! resource, because the evidence disagrees between clients for some of them.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::de as lenient;

/// A record type that Halo lists, and the key of its array in the wrapped form.
pub trait Listed {
    /// The key of the item array in the wrapper, e.g. `"tickets"`.
    const LIST_KEY: &'static str;
}

/// One page (or the whole) of a Halo list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListResponse<T> {
    /// Total matches on the server (`record_count`); `None` for a bare array.
    pub record_count: Option<u64>,
    /// The page number Halo says it returned, when paging.
    pub page_no: Option<u64>,
    /// The page size Halo says it used, when paging.
    pub page_size: Option<u64>,
    /// The records.
    pub items: Vec<T>,
}

impl<T> ListResponse<T> {
    /// The records, dropping the paging details.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }
}

impl<'de, T> Deserialize<'de> for ListResponse<T>
where
    T: Deserialize<'de> + Listed,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ListVisitor(PhantomData))
    }
}

/// A count in the wrapper, read leniently; negative counts are treated as absent.
#[derive(Deserialize)]
struct Count(#[serde(deserialize_with = "lenient::opt_int")] Option<i64>);

impl Count {
    fn get(self) -> Option<u64> {
        self.0.and_then(|n| u64::try_from(n).ok())
    }
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T> Visitor<'de> for ListVisitor<T>
where
    T: Deserialize<'de> + Listed,
{
    type Value = ListResponse<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array or an object with a \"{}\" array", T::LIST_KEY)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ListResponse {
            record_count: None,
            page_no: None,
            page_size: None,
            items: Vec::new(),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }

        Ok(ListResponse {
            record_count: None,
            page_no: None,
            page_size: None,
            items,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut items: Option<Vec<T>> = None;
        let mut record_count = None;
        let mut page_no = None;
        let mut page_size = None;
        let mut other_arrays = Vec::new();

        while let Some(key) = map.next_key::<String>()? {
            if key.eq_ignore_ascii_case(T::LIST_KEY) {
                items = Some(map.next_value::<Option<Vec<T>>>()?.unwrap_or_default());
                continue;
            }
            match key.to_ascii_lowercase().as_str() {
                "record_count" => record_count = map.next_value::<Count>()?.get(),
                "page_no" => page_no = map.next_value::<Count>()?.get(),
                "page_size" => page_size = map.next_value::<Count>()?.get(),
                _ => {
                    // Kept only in case the array sits under an unexpected key.
                    let value: Value = map.next_value()?;
                    if value.is_array() {
                        other_arrays.push(value);
                    }
                }
            }
        }

        let items = match items {
            Some(items) => items,
            None if other_arrays.len() == 1 => {
                Vec::<T>::deserialize(other_arrays.remove(0)).map_err(de::Error::custom)?
            }
            None if record_count.unwrap_or(0) == 0 => Vec::new(),
            None => {
                return Err(de::Error::custom(format!(
                    "the response has no \"{}\" list",
                    T::LIST_KEY
                )));
            }
        };

        Ok(ListResponse {
            record_count,
            page_no,
            page_size,
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Thing {
        id: i64,
    }

    impl Listed for Thing {
        const LIST_KEY: &'static str = "things";
    }

    fn decode(value: serde_json::Value) -> Result<ListResponse<Thing>, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn the_wrapped_form_gives_items_and_counts() {
        let list = decode(json!({
            "page_no": 2, "page_size": "2", "record_count": 5.0,
            "things": [{ "id": 3 }, { "id": 4 }], "ticket_id": 7,
        }))
        .expect("wrapped");

        assert_eq!(list.items, [Thing { id: 3 }, Thing { id: 4 }]);
        assert_eq!(list.record_count, Some(5));
        assert_eq!(list.page_no, Some(2));
        assert_eq!(list.page_size, Some(2));
    }

    #[test]
    fn the_bare_array_form_gives_items_without_counts() {
        let list = decode(json!([{ "id": 1 }, { "id": 2 }])).expect("bare");

        assert_eq!(list.items, [Thing { id: 1 }, Thing { id: 2 }]);
        assert_eq!(list.record_count, None);
    }

    #[test]
    fn the_key_matches_case_insensitively() {
        let list = decode(json!({ "Things": [{ "id": 9 }] })).expect("any case");

        assert_eq!(list.into_items(), [Thing { id: 9 }]);
    }

    #[test]
    fn a_single_array_under_another_key_is_used() {
        let list = decode(json!({ "record_count": 1, "records": [{ "id": 5 }] })).expect("found");

        assert_eq!(list.items, [Thing { id: 5 }]);
    }

    #[test]
    fn an_empty_wrapper_null_list_and_null_body_are_empty() {
        for value in [
            json!({ "record_count": 0 }),
            json!({ "things": null }),
            json!(null),
        ] {
            assert!(
                decode(value.clone()).expect("empty").items.is_empty(),
                "{value}"
            );
        }
    }

    #[test]
    fn a_wrapper_claiming_records_without_a_list_is_an_error() {
        let error = decode(json!({ "record_count": 3 })).expect_err("no list");

        assert!(error.to_string().contains("\"things\""), "{error}");
    }

    #[test]
    fn a_bad_item_fails_with_its_path() {
        let json = r#"{"record_count":2,"things":[{"id":1},{"id":"x"}]}"#;
        let mut deserializer = serde_json::Deserializer::from_str(json);

        let error = serde_path_to_error::deserialize::<_, ListResponse<Thing>>(&mut deserializer)
            .expect_err("bad id");

        assert_eq!(error.path().to_string(), "things[1].id");
    }
}
