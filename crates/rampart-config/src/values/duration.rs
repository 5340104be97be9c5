//! Durations written the way HAProxy and systemd users already write them:
//! a whole number followed by a unit, `"500ms"`, `"2s"`, `"1m"`, `"1h"`, `"1d"`.
//!
//! Deliberately small: no fractions (`"1.5s"` is `"1500ms"`), no compound
//! forms (`"1m30s"` is `"90s"`), no bare numbers. A bare number is the classic
//! HAProxy trap (`timeout connect 5000` is milliseconds, `5000` elsewhere may be
//! seconds), so the unit is always spelled out.

use std::time::Duration;

/// Units accepted by [`parse_duration`], with their length in milliseconds.
/// Sub-millisecond units are not offered: no timer in an L4 proxy is that fine.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parses `"<digits><unit>"` with unit one of `ms`, `s`, `m`, `h`, `d`.
///
/// The error is a sentence meant to be shown to the user as is, e.g.
/// ``missing unit in `5`: write 5s, 5ms, ...``.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() {
        return Err("empty duration: write a number and a unit, e.g. \"5s\"".to_string());
    }
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    if digits.is_empty() {
        return Err(match s.strip_prefix('-') {
            Some(_) => format!("negative duration `{s}`: durations are at least 0"),
            None => format!("invalid duration `{s}`: it must start with a whole number"),
        });
    }
    if unit.is_empty() {
        return Err(format!(
            "missing unit in `{s}`: write e.g. \"{s}s\" or \"{s}ms\" (units: {})",
            unit_list()
        ));
    }
    let Some(&(_, millis_per_unit)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        let hint = if unit.starts_with('.') {
            "; fractions are not supported, use a smaller unit (\"1500ms\" for 1.5s)"
        } else {
            ""
        };
        return Err(format!(
            "invalid unit `{unit}` in `{s}` (units: {}){hint}",
            unit_list()
        ));
    };
    let overflow = || format!("duration `{s}` is too large");
    let n: u64 = digits.parse().map_err(|_| overflow())?;
    let millis = n.checked_mul(millis_per_unit).ok_or_else(overflow)?;
    Ok(Duration::from_millis(millis))
}

fn unit_list() -> String {
    UNITS.iter().map(|(u, _)| *u).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        parse_duration(s).err().unwrap_or_default()
    }

    #[test]
    fn every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("007s"), Ok(Duration::from_secs(7)));
    }

    #[test]
    fn rejects_empty_negative_and_unitless() {
        assert!(err("").contains("empty"));
        assert!(err("-5s").contains("negative"));
        assert!(err("5").contains("missing unit"));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("+5s").is_err());
        assert!(parse_duration(" 5s").is_err());
        assert!(parse_duration("5s ").is_err());
    }

    #[test]
    fn rejects_unknown_units_fractions_and_compounds() {
        assert!(err("5sec").contains("invalid unit"));
        assert!(parse_duration("250us").is_err());
        assert!(err("1.5s").contains("fractions"));
        assert!(parse_duration("1m30s").is_err());
        assert!(parse_duration("5S").is_err());
    }

    #[test]
    fn rejects_overflow() {
        assert!(err("99999999999999999999s").contains("too large"));
        assert!(err("18446744073709551615d").contains("too large"));
        let max_ms = format!("{}ms", u64::MAX);
        assert_eq!(parse_duration(&max_ms), Ok(Duration::from_millis(u64::MAX)));
    }
}
