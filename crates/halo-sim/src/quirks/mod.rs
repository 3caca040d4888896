//! Halo's habits that a client trips over, each in one place: case-insensitive
//! paths, `True`/`False` query booleans, ignored unknown parameters, list
//! wrappers and paging, model-state error bodies, and its date formats.

pub mod body;
pub mod dates;
pub mod paging;
pub mod path;
pub mod query;
pub mod text;
