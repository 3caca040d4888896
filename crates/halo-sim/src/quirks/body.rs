//! POST bodies the way Halo binds them.
//!
//! Halo's write endpoints take a JSON array of objects and bind each one
//! leniently, as Newtonsoft.Json does: numbers may come as numeric strings,
//! strings may come as numbers, booleans as `0`/`1` or `"true"`, property names
//! in any case. What cannot be bound is reported as a model-state dictionary
//! keyed by the element's path, e.g. `{"[0].client_id": ["Could not convert
//! ..."]}`, which is the shape clients (n8n among them) read from a Halo 400.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// Errors keyed by path (`[0].ticket_id`), Halo's 400 body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ModelState(BTreeMap<String, Vec<String>>);

impl ModelState {
    /// An error about the body as a whole (bad JSON, not an array).
    pub fn body(message: impl Into<String>) -> ModelState {
        let mut state = ModelState::default();
        state.add(String::new(), message);
        state
    }

    /// An error about `field` of element `index`.
    pub fn field(index: usize, field: &str, message: impl Into<String>) -> ModelState {
        let mut state = ModelState::default();
        state.add(path(index, field), message);
        state
    }

    /// Adds `message` under `key`.
    pub fn add(&mut self, key: String, message: impl Into<String>) {
        self.0.entry(key).or_default().push(message.into());
    }

    /// Whether no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Merges `other` into `self`.
    pub fn extend(&mut self, other: ModelState) {
        for (key, messages) in other.0 {
            self.0.entry(key).or_default().extend(messages);
        }
    }
}

/// The model-state key of `field` in element `index`.
fn path(index: usize, field: &str) -> String {
    format!("[{index}].{field}")
}

/// Parses a body that must be a non-empty JSON array of objects.
pub fn parse_array(bytes: &[u8]) -> Result<Vec<Map<String, Value>>, ModelState> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| {
        ModelState::body(format!(
            "Unexpected character encountered while parsing value. Line {}, position {}.",
            error.line(),
            error.column()
        ))
    })?;

    let Value::Array(elements) = value else {
        return Err(ModelState::body(
            "Cannot deserialize the current JSON value into a list because the type \
             requires a JSON array (e.g. [{...}]) to deserialize correctly.",
        ));
    };
    if elements.is_empty() {
        return Err(ModelState::body(
            "The request body holds no object to save.",
        ));
    }

    let mut errors = ModelState::default();
    let mut objects = Vec::with_capacity(elements.len());
    for (index, element) in elements.into_iter().enumerate() {
        match element {
            Value::Object(object) => objects.push(object),
            other => errors.add(
                format!("[{index}]"),
                format!("Cannot convert {} to an object.", kind(&other)),
            ),
        }
    }

    if errors.is_empty() {
        Ok(objects)
    } else {
        Err(errors)
    }
}

/// Reads every element with `read`, collecting all binding errors.
pub fn read_all<T>(
    objects: &[Map<String, Value>],
    read: impl Fn(&mut Element<'_>) -> T,
) -> Result<Vec<T>, ModelState> {
    let mut errors = ModelState::default();
    let mut values = Vec::with_capacity(objects.len());

    for (index, object) in objects.iter().enumerate() {
        let mut element = Element {
            index,
            object,
            errors: ModelState::default(),
        };
        values.push(read(&mut element));
        errors.extend(element.errors);
    }

    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

/// One element of a POST array, read field by field.
#[derive(Debug)]
pub struct Element<'a> {
    index: usize,
    object: &'a Map<String, Value>,
    errors: ModelState,
}

impl Element<'_> {
    /// The raw value of `field` (name matched case-insensitively); `null` counts
    /// as absent, as it binds to the default in Halo.
    pub fn raw(&self, field: &str) -> Option<&Value> {
        self.object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(field))
            .map(|(_, value)| value)
            .filter(|value| !value.is_null())
    }

    /// An integer field: a JSON integer, a float with no fraction, or a numeric string.
    pub fn int(&mut self, field: &str) -> Option<i64> {
        let value = self.raw(field)?;
        let parsed = match value {
            Value::Number(number) => number.as_i64().or_else(|| {
                number
                    .as_f64()
                    .filter(|float| float.fract() == 0.0 && float.abs() < 9.0e15)
                    .map(|float| float as i64)
            }),
            Value::String(text) if text.trim().is_empty() => return None,
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };

        if parsed.is_none() {
            let message = format!(
                "Could not convert {} to integer: {value}. Path '{}'.",
                kind(value),
                path(self.index, field)
            );
            self.errors.add(path(self.index, field), message);
        }
        parsed
    }

    /// A number field that may hold a fraction.
    pub fn float(&mut self, field: &str) -> Option<f64> {
        let value = self.raw(field)?;
        let parsed = match value {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };

        if parsed.is_none() {
            let message = format!(
                "Could not convert {} to double: {value}. Path '{}'.",
                kind(value),
                path(self.index, field)
            );
            self.errors.add(path(self.index, field), message);
        }
        parsed
    }

    /// A text field; numbers and booleans bind as their text, as in .NET.
    pub fn text(&mut self, field: &str) -> Option<String> {
        let value = self.raw(field)?;
        match value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(if *flag { "True" } else { "False" }.to_owned()),
            _ => {
                let message = format!(
                    "Unexpected {} when reading string. Path '{}'.",
                    kind(value),
                    path(self.index, field)
                );
                self.errors.add(path(self.index, field), message);
                None
            }
        }
    }

    /// A boolean field: `true`/`false`, `"true"`/`"False"`, or `0`/`1`.
    pub fn flag(&mut self, field: &str) -> Option<bool> {
        let value = self.raw(field)?;
        let parsed = match value {
            Value::Bool(flag) => Some(*flag),
            Value::Number(number) => number.as_i64().map(|n| n != 0),
            Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        };

        if parsed.is_none() {
            let message = format!(
                "Could not convert {} to boolean: {value}. Path '{}'.",
                kind(value),
                path(self.index, field)
            );
            self.errors.add(path(self.index, field), message);
        }
        parsed
    }

    /// An array field, kept as raw values.
    pub fn array(&mut self, field: &str) -> Option<Vec<Value>> {
        let value = self.raw(field)?;
        match value {
            Value::Array(items) => Some(items.clone()),
            other => {
                let message = format!(
                    "Cannot deserialize {} into a list. Path '{}'.",
                    kind(other),
                    path(self.index, field)
                );
                self.errors.add(path(self.index, field), message);
                None
            }
        }
    }

    /// The `id`s of an array of `{"id": N}` objects, e.g. `attachments` on a ticket.
    pub fn ids(&mut self, field: &str) -> Option<Vec<i64>> {
        let items = self.array(field)?;
        let mut ids = Vec::with_capacity(items.len());

        for (position, item) in items.iter().enumerate() {
            match item.get("id").and_then(Value::as_i64) {
                Some(id) => ids.push(id),
                None => {
                    let key = format!("{}[{position}].id", path(self.index, field));
                    self.errors.add(key, "An id is required.");
                }
            }
        }
        Some(ids)
    }
}

/// How Newtonsoft names a JSON token kind in its messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn objects(value: Value) -> Vec<Map<String, Value>> {
        parse_array(value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn malformed_json_and_single_objects_are_model_state_errors() {
        let garbage = parse_array(b"[{").unwrap_err();
        let single = parse_array(br#"{"summary": "x"}"#).unwrap_err();
        let empty = parse_array(b"[]").unwrap_err();

        for error in [garbage, single, empty] {
            let body = serde_json::to_value(&error).unwrap();
            assert!(body[""][0].is_string(), "{body}");
        }
    }

    #[test]
    fn fields_bind_leniently_and_case_insensitively() {
        let objects = objects(json!([{
            "Client_ID": "12", "site_id": 18.0, "summary": 42,
            "onhold": "True", "important": 1, "agent_id": null
        }]));

        let read = read_all(&objects, |element| {
            (
                element.int("client_id"),
                element.int("site_id"),
                element.text("summary"),
                element.flag("onhold"),
                element.flag("important"),
                element.int("agent_id"),
            )
        })
        .unwrap();

        assert_eq!(
            read[0],
            (
                Some(12),
                Some(18),
                Some("42".to_owned()),
                Some(true),
                Some(true),
                None
            )
        );
    }

    #[test]
    fn binding_errors_are_keyed_by_element_path() {
        let objects = objects(json!([{"id": 1}, {"client_id": "twelve", "onhold": "maybe"}]));

        let error = read_all(&objects, |element| {
            (element.int("client_id"), element.flag("onhold"))
        })
        .unwrap_err();
        let body = serde_json::to_value(&error).unwrap();

        assert!(
            body["[1].client_id"][0]
                .as_str()
                .unwrap()
                .contains("twelve")
        );
        assert!(body["[1].onhold"][0].is_string());
        assert!(body.get("[0].client_id").is_none());
    }
}
