//! Durations as the gateway writes and reads them: ISO 8601 with a `T` (`PT0H2M0S`, `PT90S`),
//! or an integer number of milliseconds, both as strings; exposed as `std::time::Duration`.

use std::time::Duration;

use crate::{Error, Result};

/// The runtime's "infinite" (`TimeSpan.MaxValue`): written for a timeout that was not set.
const INFINITE_MILLIS: u64 = 922_337_203_685_477;

/// Reads a duration the gateway wrote: ISO 8601 (`PT1H30M`, `P1DT2H`, `PT0.5S`) or
/// milliseconds (`"120000"`). The runtime's infinite (`P10675199DT02H48M05.4775807S`) reads
/// as `Duration::MAX`.
///
/// ```
/// use std::time::Duration;
/// use servicefabric_rest::duration::parse;
///
/// assert_eq!(parse("PT0H2M0S")?, Duration::from_secs(120));
/// assert_eq!(parse("PT1.5S")?, Duration::from_millis(1500));
/// assert_eq!(parse("120000")?, Duration::from_secs(120));
/// assert_eq!(parse("P10675199DT02H48M05.4775807S")?, Duration::MAX);
/// assert!(parse("P1D").is_err()); // the runtime's parser needs the `T`
/// # Ok::<(), servicefabric_rest::Error>(())
/// ```
pub fn parse(text: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(
            "duration",
            text,
            "ISO 8601 with a T (PT1H30M, PT90S) or a number of milliseconds",
        )
    };
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map(Duration::from_millis).map_err(|_| bad());
    }
    let rest = text.strip_prefix('P').ok_or_else(bad)?;
    let (days, time) = rest.split_once('T').ok_or_else(bad)?;
    let mut millis: u128 = 0;
    if !days.is_empty() {
        let days = days.strip_suffix('D').ok_or_else(bad)?;
        millis += days.parse::<u128>().map_err(|_| bad())? * 86_400_000;
    }
    let mut number = String::new();
    let mut any = false;
    for c in time.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'H' | 'M' | 'S' => {
                let unit: u128 = match c {
                    'H' => 3_600_000,
                    'M' => 60_000,
                    _ => 1_000,
                };
                let (whole, fraction) = number.split_once('.').unwrap_or((&number, ""));
                if whole.is_empty() || (c != 'S' && !fraction.is_empty()) {
                    return Err(bad());
                }
                millis += whole.parse::<u128>().map_err(|_| bad())? * unit;
                if !fraction.is_empty() {
                    let digits: String = fraction.chars().chain("000".chars()).take(3).collect();
                    millis += digits.parse::<u128>().map_err(|_| bad())?;
                }
                number.clear();
                any = true;
            }
            _ => return Err(bad()),
        }
    }
    if !number.is_empty() || (!any && days.is_empty()) {
        return Err(bad());
    }
    if millis >= u128::from(INFINITE_MILLIS) {
        return Ok(Duration::MAX);
    }
    u64::try_from(millis)
        .map(Duration::from_millis)
        .map_err(|_| bad())
}

/// Writes a duration as the runtime does (`PT0H2M0S`; milliseconds as a fraction of a
/// second). `Duration::MAX` is the runtime's infinite.
///
/// ```
/// use std::time::Duration;
/// use servicefabric_rest::duration::format;
///
/// assert_eq!(format(Duration::from_secs(120)), "PT0H2M0S");
/// assert_eq!(format(Duration::from_millis(90_500)), "PT0H1M30.5S");
/// ```
pub fn format(duration: Duration) -> String {
    if duration == Duration::MAX {
        return "P10675199DT02H48M05.4775807S".to_string();
    }
    let millis = duration.as_millis();
    let (hours, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1_000, rest % 1_000);
    if millis == 0 {
        format!("PT{hours}H{minutes}M{seconds}S")
    } else {
        let fraction = format!("{millis:03}");
        format!(
            "PT{hours}H{minutes}M{seconds}.{}S",
            fraction.trim_end_matches('0')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refusals() {
        for d in [0, 1, 999, 1_000, 61_001, 3_600_000, 86_400_000 * 3 + 5] {
            let d = Duration::from_millis(d);
            assert_eq!(parse(&format(d)).ok(), Some(d), "{}", format(d));
        }
        assert_eq!(parse("P1DT2H").ok(), Some(Duration::from_secs(26 * 3600)));
        for bad in [
            "", "P", "PT", "P1D", "PT1.5M", "PTS", "1.5", "PT1X", "-5", "PT1H2",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_or_refused(text in "\\PC{0,24}") {
            let _ = parse(&text);
        }
    }
}
