//! Parsing and printing of durations, ages and sizes, shared by every output.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// Why a duration given on the command line or in the config file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    #[error("invalid duration {input:?}: use a number and a unit, e.g. 90m, 36h, 7d or 2w")]
    Syntax { input: String },
    #[error(
        "duration {input:?} is out of range: use whole seconds from 1s to 100 years \
         (e.g. 90m, 36h, 7d or 2w)"
    )]
    Range { input: String },
}

/// The longest age a duration may give: 100 of humantime's years (365.25 days).
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 31_557_600);

/// Parses `90m`, `36h`, `7d`, `2w` (and combinations such as `1d12h`) into a whole
/// number of seconds from 1s to 100 years. Zero or a fraction of a second would make
/// everything stale (or be cut to zero), and an age beyond 100 years is a typo.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let syntax = || DurationError::Syntax {
        input: input.to_string(),
    };
    let range = || DurationError::Range {
        input: input.to_string(),
    };
    let trimmed = input.trim();
    // A bare number is ambiguous (seconds? days?), so it is refused.
    if trimmed.is_empty() || trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(syntax());
    }
    let d = humantime::parse_duration(trimmed).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => range(),
        _ => syntax(),
    })?;
    if d < Duration::from_secs(1) || d.subsec_nanos() != 0 || d > MAX_DURATION {
        return Err(range());
    }
    Ok(d)
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

/// A bound as README states it, in exact binary units: `256 MiB`, `64 KiB`, `1000 bytes`.
pub fn binary_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// Human size in decimal units, as `docker system df` prints them: `999 B`,
/// `48 kB`, `612.05 MB`, `3.10 GB` (two decimals, none for a whole number).
/// A value that rounds to 1000 of a unit is shown as 1 of the next (`999999 B` is
/// `1 MB`, never `1000.00 kB`).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut unit = 0;
    let mut value = bytes as f64;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let mut digits = format!("{value:.2}");
    if digits.starts_with("1000") && unit < UNITS.len() - 1 {
        unit += 1;
        digits = format!("{:.2}", value / 1000.0);
    }
    let digits = digits.strip_suffix(".00").unwrap_or(&digits);
    format!("{digits} {}", UNITS[unit])
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
            assert!(matches!(e, DurationError::Syntax { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("90m, 36h, 7d or 2w"), "{bad}: {e}");
        }
    }

    #[test]
    fn refuses_zero_sub_second_and_absurd_durations_naming_the_range() {
        for bad in [
            "0s",
            "0d",
            "0m0s",
            "100ms",
            "999ms",
            "1500ms",
            "1s1ns",
            "101y",
            "5300w",
            "99999999999d",
            "999999999999999999999999s",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(matches!(e, DurationError::Range { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("from 1s to 100 years"), "{bad}: {e}");
        }
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("1000ms").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("100y").unwrap(), MAX_DURATION);
        assert_eq!(
            parse_duration("36500d").unwrap(),
            Duration::from_secs(36_500 * 86_400)
        );
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
        assert_eq!(format_size(999), "999 B");
        assert_eq!(format_size(1_000), "1 kB");
        assert_eq!(format_size(48_000), "48 kB");
        assert_eq!(format_size(612_050_000), "612.05 MB");
        assert_eq!(format_size(3_100_000_000), "3.10 GB");
        assert_eq!(format_size(u64::MAX), "18.45 EB");
    }

    #[test]
    fn a_size_never_rounds_up_to_a_thousand_of_its_unit() {
        // Just below each unit boundary, and around the rounding point.
        for unit in 1..=6u32 {
            let next = 1000u64.pow(unit);
            for bytes in [next - 1, next - next / 200_000, next - next / 100_000] {
                let s = format_size(bytes);
                assert!(!s.starts_with("1000"), "{bytes}: {s}");
            }
            assert!(!format_size(next).starts_with("1000"));
        }
        assert_eq!(format_size(999_999), "1 MB");
        assert_eq!(format_size(999_994), "999.99 kB");
        assert_eq!(format_size(999_995_000), "1 GB");
        assert_eq!(format_size(999_999_999_999), "1 TB");
    }

    #[test]
    fn sizes_print_as_before_away_from_the_unit_boundaries() {
        // The formatting people know (humansize's decimal units) is kept everywhere
        // rounding does not reach the next unit.
        let mut n: u64 = 1;
        while n < u64::MAX / 3 {
            for bytes in [n, n + 1, n / 2 * 3, n.saturating_mul(7).saturating_add(13)] {
                let ours = format_size(bytes);
                let theirs = humansize::format_size(bytes, humansize::DECIMAL);
                if !theirs.starts_with("1000") {
                    assert_eq!(ours, theirs, "{bytes}");
                }
            }
            n = n * 3 + 1;
        }
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
