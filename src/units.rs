//! The few time forms several rooms print or compute with, written once: seconds since the
//! epoch and the one-unit short duration (`90s` → `1m`) that alert values, the status table and
//! the console's cells share.
//!
//! Pure functions, no clock (every time comes in), no terminal. Callers: `health`, `report`,
//! `view`, `store` and the console's cache keys.

use std::time::{Duration, SystemTime};

/// Whole seconds since the Unix epoch; times before it count as 0.
pub fn epoch_secs(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `90s` → `1m`, `7200s` → `2h`: the one unit an operator reads at a glance.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(Duration::from_secs(59)), "59s");
        assert_eq!(short_duration(Duration::from_secs(90)), "1m");
        assert_eq!(short_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(short_duration(Duration::from_secs(86400 * 3)), "3d");
    }

    #[test]
    fn epoch_seconds_floor_and_clamp() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_500);
        assert_eq!(epoch_secs(t), 1);
        assert_eq!(
            epoch_secs(SystemTime::UNIX_EPOCH - Duration::from_secs(5)),
            0
        );
    }
}
