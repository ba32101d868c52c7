//! How a runbook run reads as text: one line per effect the engine emits. Shared by the
//! headless `fleetdeck run` (`src/cli/tty.rs`) and the console's runbook pane, so both tell a run
//! the same way. Pure: it formats, it does not print, and the clock comes in as `now`.

use std::time::SystemTime;

use crate::runbook::Effect;

/// One line of progress for `effect` (`None` for effects that show nothing).
pub fn progress_line(effect: &Effect, now: SystemTime) -> Option<String> {
    let left = |t: SystemTime| t.duration_since(now).unwrap_or_default().as_secs();
    Some(match effect {
        Effect::StepStarted { step, title, kind } => format!("\n▶ [{step}] {title} ({kind})"),
        Effect::StepFinished {
            step,
            status,
            summary,
        } => format!("  {status:?} [{step}] {summary}"),
        Effect::Exec { host, display, .. } | Effect::Reconnect { host, display, .. } => {
            format!("  $ {host}: {display}")
        }
        Effect::InventoryPort { host, port, .. } => {
            format!("  ✎ inventory: writing port {port} of {host}")
        }
        Effect::Wait { until, .. } => format!("  … waiting {}s", left(*until)),
        Effect::StartTimer {
            title, deadline, ..
        } => {
            let secs = left(*deadline);
            format!("  ⏱ {title}: {}m{:02}s left", secs / 60, secs % 60)
        }
        Effect::TimerExpired { step } => format!("  ⏱ timer `{step}` ran out"),
        Effect::StopTimer { step, met } => format!(
            "  ⏱ timer `{step}` stopped ({})",
            if *met { "met" } else { "missed" }
        ),
        Effect::Notify { display_url, .. } => format!("  → notify {display_url}"),
        Effect::Refused { reason } => format!("  ✗ refused: {reason}"),
        Effect::Suspended { step, reason } => format!(
            "\n⏸ suspended at {}: {reason}",
            step.as_deref().unwrap_or("start")
        ),
        Effect::Finished { outcome } => {
            format!("\n■ {}: {}", outcome.kind.as_str(), outcome.message)
        }
        _ => return None,
    })
}
