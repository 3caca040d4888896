//! The simulator's records rendered in Halo's JSON shapes: the field names,
//! number types (`site_id` as `18.0`), date formats and `-1`/`0`/year-1900
//! sentinels seen in captured Halo responses. Halo sends hundreds of fields
//! per object; these shapes carry the ones integrations read plus enough of
//! the constant rest that a client must cope with fields it does not know.

pub mod action;
pub mod attachment;
pub mod contact;
pub mod setup;
pub mod ticket;

use serde_json::{Map, Value};

/// Adds the fields of `part` (an object) to `object`. Shapes are built from
/// several `json!` parts because one macro call with a hundred keys would
/// exceed the macro recursion limit.
fn merge(object: &mut Map<String, Value>, part: Value) {
    if let Value::Object(fields) = part {
        object.extend(fields);
    }
}
