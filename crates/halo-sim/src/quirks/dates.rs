//! Halo's date formats.
//!
//! Halo writes ticket and action timestamps in UTC with seven fractional digits
//! and a `Z` (`2024-06-20T14:45:15.9746271Z`), but the creation dates of users,
//! sites and clients without an offset and with trailing zeros trimmed
//! (`2022-09-26T16:15:38.897`). Unset dates are year-1900 or year-1 sentinels,
//! and a few fields use Delphi's zero date, 1899-12-30.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// "Not set" for deadline and target dates.
pub const UNSET_1900: &str = "1900-01-01T00:00:00";
/// "Not set" for `lastincomingemail`.
pub const UNSET_0001: &str = "0001-01-01T00:00:00";
/// "Not set" for audit and review dates.
pub const UNSET_1899: &str = "1899-12-30T00:00:00";
/// A time of day that was never set (`starttime`, `targettime`).
pub const MIDNIGHT: &str = "00:00:00";

/// A timestamp as Halo writes ticket and action dates: UTC, 7 fractional digits, `Z`.
pub fn utc7(at: DateTime<Utc>) -> String {
    let ticks = at.timestamp_subsec_nanos() / 100;
    format!("{}.{ticks:07}Z", at.format("%Y-%m-%dT%H:%M:%S"))
}

/// A timestamp as Halo writes SLA targets: UTC, milliseconds, `Z`.
pub fn utc3(at: DateTime<Utc>) -> String {
    format!("{}Z", at.format("%Y-%m-%dT%H:%M:%S%.3f"))
}

/// A timestamp as Halo writes record creation dates: no offset, trailing zeros
/// of the milliseconds trimmed, no fraction at all when it is zero.
pub fn local(at: DateTime<Utc>) -> String {
    let seconds = at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let millis = format!("{:03}", at.timestamp_subsec_millis());
    let millis = millis.trim_end_matches('0');

    if millis.is_empty() {
        seconds
    } else {
        format!("{seconds}.{millis}")
    }
}

/// Parses a date a client sends in a query (`lastupdatefromdate=...`): a date, or a
/// date-time with or without fraction and `Z`/offset. Values without an offset
/// are UTC, as Halo treats them.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }

    let naive = text.strip_suffix('Z').unwrap_or(text);
    if let Ok(at) = NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(at.and_utc());
    }
    if let Ok(at) = NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(at.and_utc());
    }
    NaiveDate::parse_from_str(naive, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn sample() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 20, 14, 45, 15).unwrap()
            + chrono::Duration::nanoseconds(974_627_100)
    }

    #[test]
    fn ticket_dates_carry_seven_digits_and_z() {
        assert_eq!(utc7(sample()), "2024-06-20T14:45:15.9746271Z");
        assert_eq!(utc3(sample()), "2024-06-20T14:45:15.974Z");
    }

    #[test]
    fn record_dates_have_no_offset_and_trimmed_fractions() {
        let at = Utc.with_ymd_and_hms(2019, 1, 9, 9, 37, 8).unwrap();

        assert_eq!(local(at), "2019-01-09T09:37:08");
        assert_eq!(
            local(at + chrono::Duration::milliseconds(700)),
            "2019-01-09T09:37:08.7"
        );
        assert_eq!(
            local(at + chrono::Duration::milliseconds(897)),
            "2019-01-09T09:37:08.897"
        );
    }

    #[test]
    fn query_dates_parse_in_the_shapes_clients_send() {
        let midnight = Utc.with_ymd_and_hms(2024, 6, 20, 0, 0, 0).unwrap();

        assert_eq!(parse("2024-06-20"), Some(midnight));
        assert_eq!(parse("2024-06-20T00:00:00"), Some(midnight));
        assert_eq!(parse("2024-06-20T00:00:00Z"), Some(midnight));
        assert_eq!(parse(&utc7(sample())), Some(sample()));
        assert_eq!(parse("yesterday"), None);
    }
}
