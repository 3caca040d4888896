//! Lenient field decoders for what Halo really sends (see the evidence file,
//! section 2): ids as integers, floats (`18.0`) or numeric strings; `0` and `-1`
//! meaning "none" in reference fields; dates with 0 to 7 fractional digits, with
//! or without `Z`, and `1900-01-01`/`0001-01-01` meaning "not set"; booleans
//! sometimes as strings; `null` anywhere.
//!
//! Each function is meant for `#[serde(default, deserialize_with = "...")]` on a
//! model field, so a missing field and a `null` behave the same.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Dates up to this year are Halo's "not set" sentinels (`0001-01-01`,
/// `1899-12-30`, `1900-01-01`), not real dates.
const LAST_SENTINEL_YEAR: i32 = 1900;

/// A number from a JSON number or numeric string; `None` for null or "".
fn number(value: &Value) -> Result<Option<f64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("bad number {n}")),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| format!("expected a number, got \"{s}\"")),
        other => Err(format!("expected a number, got {other}")),
    }
}

/// An integer from a JSON integer, a float with no fraction or a numeric string.
fn integer(value: &Value) -> Result<Option<i64>, String> {
    if let Some(i) = value.as_i64() {
        return Ok(Some(i));
    }

    match number(value)? {
        None => Ok(None),
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            // Exact: the value is whole and well inside the range where f64
            // represents every integer.
            Ok(Some(f as i64))
        }
        Some(f) => Err(format!("expected a whole number, got {f}")),
    }
}

/// A record id; `null` or missing reads as 0.
pub fn id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let value = Value::deserialize(deserializer)?;
    integer(&value)
        .map(Option::unwrap_or_default)
        .map_err(D::Error::custom)
}

/// A count or code; `null` or missing reads as 0.
pub fn int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    id(deserializer)
}

/// An optional integer, kept as sent (0 and -1 included).
pub fn opt_int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    integer(&value).map_err(D::Error::custom)
}

/// A reference to another record, where Halo writes `0` or `-1` for "none"
/// (attachment `user_id: -1`, ticket `agent_id: 0`, user `linked_agent_id: 0`).
pub fn opt_ref<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    let id = integer(&value).map_err(D::Error::custom)?;
    Ok(id.filter(|id| *id > 0))
}

/// An optional floating-point number (durations, SLA times).
pub fn opt_float<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    number(&value).map_err(D::Error::custom)
}

/// Text; `null` reads as "", and numbers or booleans as their text.
pub fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(text(value).unwrap_or_default())
}

/// Optional text; `null` and blank text read as `None`.
pub fn opt_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(text(value).filter(|s| !s.trim().is_empty()))
}

fn text(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        // Arrays and objects are not text; keeping their JSON beats failing the
        // whole record over a field Parley only displays.
        other => Some(other.to_string()),
    }
}

/// A flag from `true`/`false`, `"true"`/`"false"` (any case), `1`/`0` or
/// `"Y"`/`"N"`; `null` reads as false.
pub fn boolean<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let value = Value::deserialize(deserializer)?;
    flag(&value)
        .map(Option::unwrap_or_default)
        .map_err(D::Error::custom)
}

/// An optional flag, as [`boolean`] but keeping `null` as `None`.
pub fn opt_boolean<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    flag(&value).map_err(D::Error::custom)
}

fn flag(value: &Value) -> Result<Option<bool>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) => Ok(Some(n.as_f64().is_some_and(|f| f != 0.0))),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "1" | "y" | "yes" => Ok(Some(true)),
            "false" | "0" | "n" | "no" => Ok(Some(false)),
            _ => Err(format!("expected true or false, got \"{s}\"")),
        },
        other => Err(format!("expected true or false, got {other}")),
    }
}

/// A date-time; `null`, "" and Halo's sentinel dates read as `None`.
pub fn opt_datetime<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(s) => parse_datetime(&s).map_err(D::Error::custom),
        other => Err(D::Error::custom(format!("expected a date, got {other}"))),
    }
}

/// Parses a Halo date-time: RFC 3339 (`Z` or an offset) or without offset (then
/// UTC), 0 to 7 (or more) fractional digits, or a bare date. Year 1900 and
/// earlier is Halo's "not set" and reads as `None`.
pub fn parse_datetime(text: &str) -> Result<Option<DateTime<Utc>>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }

    let parsed = DateTime::parse_from_rfc3339(text)
        .map(|dt| dt.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|dt| dt.and_utc())
        })
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|date| date.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .map_err(|_| format!("expected a date like 2024-06-20T14:45:15Z, got \"{text}\""))?;

    if chrono::Datelike::year(&parsed) <= LAST_SENTINEL_YEAR {
        return Ok(None);
    }
    Ok(Some(parsed))
}

/// A list that may be `null` (read as empty).
pub fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike};
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "id")]
        id: i64,
        #[serde(default, deserialize_with = "opt_int")]
        count: Option<i64>,
        #[serde(default, deserialize_with = "opt_ref")]
        owner: Option<i64>,
        #[serde(default, deserialize_with = "opt_float")]
        hours: Option<f64>,
        #[serde(default, deserialize_with = "string")]
        name: String,
        #[serde(default, deserialize_with = "opt_string")]
        email: Option<String>,
        #[serde(default, deserialize_with = "boolean")]
        flag: bool,
        #[serde(default, deserialize_with = "opt_boolean")]
        maybe: Option<bool>,
        #[serde(default, deserialize_with = "opt_datetime")]
        when: Option<DateTime<Utc>>,
        #[serde(default, deserialize_with = "list")]
        tags: Vec<String>,
    }

    fn probe(value: serde_json::Value) -> Probe {
        serde_json::from_value(value).expect("lenient decoding accepts it")
    }

    #[test]
    fn ids_arrive_as_integers_floats_or_numeric_strings() {
        for value in [
            json!(18),
            json!(18.0),
            json!("18"),
            json!(" 18 "),
            json!("18.0"),
        ] {
            assert_eq!(probe(json!({ "id": value })).id, 18, "{value}");
        }
    }

    #[test]
    fn a_fractional_id_is_an_error_naming_the_value() {
        let error = serde_json::from_value::<Probe>(json!({ "id": 18.5 })).expect_err("not whole");

        assert!(error.to_string().contains("18.5"), "{error}");
    }

    #[test]
    fn a_non_numeric_id_is_an_error() {
        assert!(serde_json::from_value::<Probe>(json!({ "id": "abc" })).is_err());
        assert!(serde_json::from_value::<Probe>(json!({ "id": [1] })).is_err());
    }

    #[test]
    fn null_and_missing_fields_read_as_defaults() {
        let from_nulls = probe(json!({
            "id": null, "count": null, "owner": null, "hours": null, "name": null,
            "email": null, "flag": null, "maybe": null, "when": null, "tags": null,
        }));
        let from_nothing = probe(json!({}));

        for p in [from_nulls, from_nothing] {
            assert_eq!(p.id, 0);
            assert_eq!(p.count, None);
            assert_eq!(p.owner, None);
            assert_eq!(p.hours, None);
            assert_eq!(p.name, "");
            assert_eq!(p.email, None);
            assert!(!p.flag);
            assert_eq!(p.maybe, None);
            assert_eq!(p.when, None);
            assert!(p.tags.is_empty());
        }
    }

    #[test]
    fn zero_and_minus_one_references_mean_none_but_plain_ints_keep_them() {
        assert_eq!(probe(json!({ "owner": -1 })).owner, None);
        assert_eq!(probe(json!({ "owner": 0 })).owner, None);
        assert_eq!(probe(json!({ "owner": "0" })).owner, None);
        assert_eq!(probe(json!({ "owner": 13 })).owner, Some(13));
        assert_eq!(probe(json!({ "count": -1 })).count, Some(-1));
        assert_eq!(probe(json!({ "count": 0 })).count, Some(0));
    }

    #[test]
    fn floats_accept_negative_zero_and_strings() {
        assert_eq!(probe(json!({ "hours": -0.0 })).hours, Some(0.0));
        assert_eq!(probe(json!({ "hours": "1.5" })).hours, Some(1.5));
    }

    #[test]
    fn text_accepts_numbers_and_blank_optional_text_is_none() {
        assert_eq!(
            probe(json!({ "name": 380_271_314_777_i64 })).name,
            "380271314777"
        );
        assert_eq!(probe(json!({ "email": "" })).email, None);
        assert_eq!(probe(json!({ "email": "  " })).email, None);
        assert_eq!(
            probe(json!({ "email": "a@b.c" })).email.as_deref(),
            Some("a@b.c")
        );
    }

    #[test]
    fn booleans_arrive_in_many_spellings() {
        for (value, expected) in [
            (json!(true), true),
            (json!("True"), true),
            (json!("true"), true),
            (json!(1), true),
            (json!("Y"), true),
            (json!(false), false),
            (json!("False"), false),
            (json!(0), false),
            (json!("N"), false),
        ] {
            assert_eq!(probe(json!({ "flag": value })).flag, expected, "{value}");
        }
        assert!(serde_json::from_value::<Probe>(json!({ "flag": "maybe" })).is_err());
    }

    #[test]
    fn dates_with_zero_to_seven_fraction_digits_with_or_without_z() {
        let cases = [
            ("2024-06-20T14:45:15.9746271Z", 974_627_100),
            ("2024-06-20T14:45:15.975Z", 975_000_000),
            ("2024-06-20T14:45:15.897", 897_000_000),
            ("2024-06-20T14:45:15", 0),
            ("2024-06-20T14:45:15Z", 0),
            ("2024-06-20T14:45:15.5+00:00", 500_000_000),
        ];

        for (text, nanos) in cases {
            let parsed = parse_datetime(text).expect(text).expect("a real date");
            assert_eq!(
                (
                    parsed.year(),
                    parsed.month(),
                    parsed.day(),
                    parsed.hour(),
                    parsed.second()
                ),
                (2024, 6, 20, 14, 15),
                "{text}"
            );
            assert_eq!(parsed.nanosecond(), nanos, "{text}");
        }
    }

    #[test]
    fn a_date_without_offset_is_utc_and_offsets_are_converted() {
        let naive = parse_datetime("2022-09-26T16:15:38").expect("valid");
        let offset = parse_datetime("2022-09-26T18:15:38+02:00").expect("valid");
        let expected = Utc.with_ymd_and_hms(2022, 9, 26, 16, 15, 38).single();

        assert_eq!(naive, expected);
        assert_eq!(offset, expected);
    }

    #[test]
    fn sentinel_dates_and_blank_read_as_none() {
        for text in [
            "1900-01-01T00:00:00",
            "0001-01-01T00:00:00",
            "1899-12-30T00:00:00",
            "",
        ] {
            assert_eq!(parse_datetime(text), Ok(None), "{text:?}");
        }
        assert_eq!(probe(json!({ "when": "1900-01-01T00:00:00" })).when, None);
    }

    #[test]
    fn a_bare_date_is_midnight_utc() {
        let parsed = parse_datetime("2024-05-27").expect("valid");

        assert_eq!(parsed, Utc.with_ymd_and_hms(2024, 5, 27, 0, 0, 0).single());
    }

    #[test]
    fn an_unreadable_date_is_an_error_quoting_it() {
        let error = parse_datetime("next tuesday").expect_err("not a date");

        assert!(error.contains("next tuesday"), "{error}");
        assert!(serde_json::from_value::<Probe>(json!({ "when": 5 })).is_err());
    }
}
