//! Parsing and printing of durations, ages and sizes, shared by every output.

use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {input:?}: use a number and a unit, e.g. 90m, 36h, 7d or 2w")]
pub struct DurationError {
    pub input: String,
}

/// Parses `90m`, `36h`, `7d`, `2w` (and combinations such as `1d12h`).
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = || DurationError {
        input: input.to_string(),
    };
    let trimmed = input.trim();
    // A bare number is ambiguous (seconds? days?), so it is refused.
    if trimmed.is_empty() || trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(err());
    }
    humantime::parse_duration(trimmed).map_err(|_| err())
}

/// The shortest exact form of a duration: `7d`, `36h`, `90m`, `45s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    const UNITS: [(u64, &str); 4] = [(604_800, "w"), (86_400, "d"), (3_600, "h"), (60, "m")];
    if secs == 0 {
        return "0s".to_string();
    }
    for (unit, suffix) in UNITS {
        if secs.is_multiple_of(unit) {
            // Weeks read oddly for anything but whole weeks of 2 or more.
            if suffix == "w" && secs / unit < 2 {
                continue;
            }
            return format!("{}{}", secs / unit, suffix);
        }
    }
    format!("{secs}s")
}

/// A compact age such as `3d`, `5h`, `12m`, `40s` (no suffix).
pub fn format_span(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m", s / 60),
        3_600..=86_399 => format!("{}h", s / 3_600),
        86_400..=31_535_999 => format!("{}d", s / 86_400),
        _ => format!("{}y", s / 31_536_000),
    }
}

/// "3d ago", "just now", or "-" when unknown.
pub fn format_age(then: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match then {
        None => "-".to_string(),
        Some(t) => {
            let secs = (now - t).num_seconds();
            if secs < 0 {
                // Clock skew between daemon and us: say so rather than print a negative age.
                format!("in {}", format_span(-secs))
            } else if secs < 5 {
                "just now".to_string()
            } else {
                format!("{} ago", format_span(secs))
            }
        }
    }
}

/// Adds sizes without overflowing: sizes come from outside, and a garbage one must
/// not wrap a total around or panic.
pub fn sum_bytes(sizes: impl IntoIterator<Item = u64>) -> u64 {
    sizes.into_iter().fold(0, u64::saturating_add)
}

/// "1 entry", "3 entries".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Human size in decimal units, as `docker system df` prints them.
pub fn format_size(bytes: u64) -> String {
    humansize::format_size(bytes, humansize::DECIMAL)
}

/// RFC 3339 UTC with second precision, as every JSON time is printed.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid size {input:?}: use a number and a unit, e.g. 10GB, 500MB or 10GiB")]
pub struct SizeError {
    pub input: String,
}

/// Parses `10GB`, `500 MB`, `1.5GB` (decimal units, as sizes are printed) and `10GiB`
/// (binary units) into bytes.
pub fn parse_size(input: &str) -> Result<u64, SizeError> {
    let err = || SizeError {
        input: input.to_string(),
    };
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(err)?; // a bare number is ambiguous (bytes? GB?), so it is refused
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().map_err(|_| err())?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(err()),
    };
    let bytes = number * factor as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(err());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_the_documented_units() {
        assert_eq!(parse_duration("90m").unwrap(), Duration::from_secs(5_400));
        assert_eq!(parse_duration("36h").unwrap(), Duration::from_secs(129_600));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(1_209_600)
        );
        assert_eq!(
            parse_duration("1d12h").unwrap(),
            Duration::from_secs(129_600)
        );
    }

    #[test]
    fn refuses_ambiguous_or_garbage_durations() {
        for bad in ["", "7", "seven days", "-3d", "7x"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.to_string().contains("90m, 36h, 7d or 2w"), "{bad}: {e}");
        }
    }

    #[test]
    fn formats_durations_in_their_shortest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(604_800)), "7d");
        assert_eq!(format_duration(Duration::from_secs(1_209_600)), "2w");
        assert_eq!(format_duration(Duration::from_secs(129_600)), "36h");
        assert_eq!(format_duration(Duration::from_secs(5_400)), "90m");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
    }

    #[test]
    fn ages_read_like_a_person_would_say_them() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        let ago = |s: i64| Some(now - chrono::Duration::seconds(s));
        assert_eq!(format_age(ago(3 * 86_400 + 5), now), "3d ago");
        assert_eq!(format_age(ago(7_200), now), "2h ago");
        assert_eq!(format_age(ago(2), now), "just now");
        assert_eq!(format_age(ago(-120), now), "in 2m");
        assert_eq!(format_age(None, now), "-");
        assert_eq!(format_age(ago(400 * 86_400), now), "1y ago");
    }

    #[test]
    fn sums_of_garbage_sizes_saturate() {
        assert_eq!(sum_bytes([u64::MAX, 5]), u64::MAX);
        assert_eq!(sum_bytes([2, 3]), 5);
    }

    #[test]
    fn sizes_use_docker_units() {
        assert_eq!(format_size(3_145_728), "3.15 MB");
        assert_eq!(format_size(0), "0 B");
    }

    #[test]
    fn parses_sizes_in_decimal_and_binary_units() {
        assert_eq!(parse_size("10GB").unwrap(), 10_000_000_000);
        assert_eq!(parse_size("10 gb").unwrap(), 10_000_000_000);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_size("10GiB").unwrap(), 10_737_418_240);
        assert_eq!(parse_size("0B").unwrap(), 0);
        for bad in ["", "10", "GB", "10XB", "1.2.3GB", "-1GB", "1e30TB"] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.to_string().contains("10GB, 500MB or 10GiB"), "{bad}: {e}");
        }
    }
}
