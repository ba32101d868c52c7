//! Alertmanager in the console: a task that reads its alerts and silences every
//! [`POLL_EVERY`] (each request bounded by [`crate::alert_source::FETCH_TIMEOUT`]) and sends
//! what it found to the event loop as an [`AmMsg`]; the silence `a` creates on an Alertmanager
//! row (a confirmation showing the matchers and the duration, then [`SilenceLauncher`]: role
//! and read-only checks, the audit log, the `POST`), and the state the Alerts and host panes
//! read it from ([`App::am_status`]).
//!
//! Nothing here runs on the drawing path: the network and the audit log are touched only by
//! spawned tasks, and the console learns their outcome as messages. Started by
//! `event_loop.rs` only when the inventory has `[alertmanager] url`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use tokio::sync::{Notify, mpsc};

use super::{Action, App};
use crate::alert_source::{self, SourceStatus};
use crate::audit::{Actor, AuditAction, AuditEntry, AuditLog};
use crate::inventory::{Fleet, HttpTarget};
use crate::runbook::Session;
use crate::view::{AlertOrigin, AlertPhase, AlertRow};

/// How often Alertmanager is read (and once at once when the console starts).
pub const POLL_EVERY: Duration = Duration::from_secs(15);

/// What the Alertmanager tasks tell the event loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmMsg {
    /// One poll finished at `at`: the snapshot, or why it could not be read.
    Polled {
        /// The alerts and silences, or the error's text.
        outcome: Result<alert_source::Snapshot, String>,
        /// When.
        at: SystemTime,
    },
    /// A silence asked for with `a` was created (its id) or not (why).
    Silenced(Result<String, String>),
}

/// A silence the operator confirmed, for the event loop to hand to a [`SilenceLauncher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceRequest {
    /// The alert's inventory host, if it maps to one.
    pub host: Option<String>,
    /// `alertname` (for messages and the audit record).
    pub alert: String,
    /// The labels the silence matches exactly.
    pub labels: BTreeMap<String, String>,
    /// How long it lasts (`[alertmanager] silence`).
    pub duration: Duration,
}

impl SilenceRequest {
    /// The matchers as the dialog and the audit record show them: `name="value", …`.
    pub fn matchers(&self) -> String {
        self.labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The polling task and the way to ask it for an early poll; stopped when dropped.
pub struct AlertPoll {
    target: HttpTarget,
    http: reqwest::Client,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
    tx: mpsc::UnboundedSender<AmMsg>,
}

impl AlertPoll {
    /// Starts polling the inventory's `[alertmanager]`, if it has one; results go to `tx`.
    pub fn start(fleet: &Arc<Fleet>, tx: mpsc::UnboundedSender<AmMsg>) -> Option<AlertPoll> {
        let target = fleet.alerts_out.alertmanager.clone()?;
        let http = reqwest::Client::builder()
            .timeout(alert_source::FETCH_TIMEOUT)
            .connect_timeout(alert_source::FETCH_TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(poll_loop(
            http.clone(),
            target.clone(),
            fleet.clone(),
            wake.clone(),
            tx.clone(),
        ));
        Some(AlertPoll {
            target,
            http,
            wake,
            task,
            tx,
        })
    }

    /// Polls now rather than at the next period (after a silence, so its row changes soon).
    pub fn poll_now(&self) {
        self.wake.notify_one();
    }

    /// Creates the silence off the UI task; the outcome comes back as [`AmMsg::Silenced`],
    /// followed by an early poll.
    pub fn silence(&self, launcher: &SilenceLauncher, request: SilenceRequest) {
        let launcher = launcher.clone();
        let (http, target, tx, wake) = (
            self.http.clone(),
            self.target.clone(),
            self.tx.clone(),
            self.wake.clone(),
        );
        tokio::spawn(async move {
            let result = launcher.silence(&http, &target, &request).await;
            let _ = tx.send(AmMsg::Silenced(result));
            wake.notify_one();
        });
    }
}

impl Drop for AlertPoll {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn poll_loop(
    http: reqwest::Client,
    target: HttpTarget,
    fleet: Arc<Fleet>,
    wake: Arc<Notify>,
    tx: mpsc::UnboundedSender<AmMsg>,
) {
    loop {
        // Bounded twice: each request has its timeout, and the whole poll the sum of both.
        let outcome = match tokio::time::timeout(
            alert_source::FETCH_TIMEOUT * 2,
            alert_source::fetch(&http, &target, &fleet.hosts),
        )
        .await
        {
            Ok(Ok(snapshot)) => Ok(snapshot),
            Ok(Err(e)) => Err(short_reason(&e)),
            Err(_) => Err("timed out".to_string()),
        };
        if tx
            .send(AmMsg::Polled {
                outcome,
                at: SystemTime::now(),
            })
            .is_err()
        {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL_EVERY) => {}
            () = wake.notified() => {}
        }
    }
}

/// The reason of a [`alert_source::SourceError`] without the URL repeated (the row says
/// "Alertmanager unreachable: …").
fn short_reason(e: &alert_source::SourceError) -> String {
    match e {
        alert_source::SourceError::Unreachable { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Creates silences for one operator: the checks every action has (a role that may act, not
/// read-only), refusals written as `denied`, and each silence as `alert.silence`.
#[derive(Clone)]
pub struct SilenceLauncher {
    /// Who acts, with their role and whether the console is read-only.
    pub session: Session,
    /// The audit log.
    pub audit_path: PathBuf,
}

impl SilenceLauncher {
    fn actor(&self) -> Actor {
        Actor::new(
            &self.session.operator,
            self.session.role.as_str(),
            crate::audit::detect_source(),
        )
    }

    /// Why this operator may not silence, if they may not.
    pub fn refusal(&self) -> Option<String> {
        if !self.session.role.may_write() {
            Some(format!(
                "{} is {}: only operators and admins may silence alerts",
                self.session.operator,
                self.session.role.as_str()
            ))
        } else if self.session.readonly {
            Some("read-only: a silence mutes the alert for everyone".to_string())
        } else {
            None
        }
    }

    /// Checks, opens the audit log (an unwritable log refuses the silence), creates the
    /// silence and records it with its outcome. Returns the silence's id, or why not.
    pub async fn silence(
        &self,
        http: &reqwest::Client,
        target: &HttpTarget,
        request: &SilenceRequest,
    ) -> Result<String, String> {
        let audit_target = request.host.as_deref().unwrap_or("alertmanager");
        let log = AuditLog::open(&self.audit_path)
            .map_err(|e| format!("audit log not writable, so no silence: {e}"))?;
        if let Some(reason) = self.refusal() {
            log.append(
                AuditEntry::new(&self.actor(), AuditAction::Denied)
                    .target(audit_target)
                    .command(AuditAction::AlertSilence.as_str())
                    .reason(&reason),
            )
            .map_err(|e| e.to_string())?;
            return Err(reason);
        }
        let created = alert_source::create_silence(
            http,
            target,
            &request.labels,
            request.duration,
            &self.session.operator,
        )
        .await
        .map_err(|e| e.to_string());
        let result = match &created {
            Ok(id) => format!("silence {id}"),
            Err(e) => format!("error: {e}"),
        };
        log.append(
            AuditEntry::new(&self.actor(), AuditAction::AlertSilence)
                .target(audit_target)
                .command(request.matchers())
                .reason(humantime::format_duration(request.duration).to_string())
                .result(result),
        )
        .map_err(|e| match &created {
            Ok(id) => format!("silence {id} created but not recorded: {e}"),
            Err(_) => e.to_string(),
        })?;
        created
    }
}

/// The console's Alertmanager state: what was read, the open confirmation, the request the
/// event loop is to carry out.
#[derive(Debug, Default)]
pub struct AmConsole {
    status: SourceStatus,
    /// `[alertmanager] silence`.
    silence_for: Duration,
    /// Why this operator may not silence (role, read-only), known before asking.
    refusal: Option<String>,
    /// The silence waiting for y/n.
    confirm: Option<SilenceRequest>,
    /// A confirmed silence, for the event loop.
    request: Option<SilenceRequest>,
}

impl App {
    /// Shows Alertmanager's alerts in this console; `a` on one silences it for `silence_for`.
    pub fn enable_alertmanager(&mut self, silence_for: Duration) {
        self.am = Some(AmConsole {
            silence_for,
            ..AmConsole::default()
        });
        self.invalidate();
    }

    /// This operator may not silence (their role, read-only): `a` asks no confirmation, and the
    /// launcher records the refusal as `denied`.
    pub fn refuse_silences(&mut self, reason: Option<String>) {
        if let Some(am) = &mut self.am {
            am.refusal = reason;
        }
    }

    /// What the console knows of Alertmanager (`None`: no `[alertmanager]`).
    pub fn am_status(&self) -> Option<&SourceStatus> {
        self.am.as_ref().map(|a| &a.status)
    }

    /// Alertmanager's alerts firing unmuted at the last good poll (0 while it is unreachable:
    /// its row says so).
    pub(super) fn am_firing(&self) -> usize {
        self.am_status()
            .filter(|s| s.error.is_none())
            .map_or(0, |s| {
                s.snapshot
                    .alerts
                    .iter()
                    .filter(|a| a.silenced_by.is_empty() && a.inhibited_by.is_empty())
                    .count()
            })
    }

    /// Folds in a message of the Alertmanager tasks.
    pub fn on_alertmanager(&mut self, msg: AmMsg) {
        let Some(am) = &mut self.am else { return };
        match msg {
            AmMsg::Polled { outcome, at } => am.status.record(outcome, at),
            AmMsg::Silenced(Ok(id)) => self.notify(format!("silenced: silence {id}"), false),
            AmMsg::Silenced(Err(e)) => self.notify(format!("silence not created: {e}"), true),
        }
        self.invalidate();
    }

    /// `a` on an Alertmanager row (already past the read-only check): opens the confirmation.
    pub(super) fn ask_silence(&mut self, row: &AlertRow) -> Option<Action> {
        let Some(am) = &mut self.am else { return None };
        let labels = match &row.source {
            AlertOrigin::Alertmanager { labels } => labels.clone(),
            AlertOrigin::Unreachable => {
                self.notify("Alertmanager is unreachable: nothing to silence", true);
                return None;
            }
            AlertOrigin::Fleetdeck => return None,
        };
        match &row.phase {
            AlertPhase::Silenced { .. } => {
                self.notify(format!("already {}", row.phase.text()), false);
                return None;
            }
            AlertPhase::Inhibited => {
                self.notify("inhibited by another alert: nothing to silence", false);
                return None;
            }
            _ => {}
        }
        let request = SilenceRequest {
            host: row.host.map(|h| self.fleet.hosts[h].name.clone()),
            alert: row.rule.clone(),
            labels,
            duration: am.silence_for,
        };
        if am.refusal.is_some() {
            // Nothing to confirm: the launcher refuses it, on the record.
            am.request = Some(request);
        } else {
            am.confirm = Some(request);
        }
        None
    }

    /// Whether the silence confirmation is open (it takes every key).
    pub fn silence_confirm_open(&self) -> bool {
        self.am.as_ref().is_some_and(|a| a.confirm.is_some())
    }

    /// A key while the confirmation is open: y/Enter confirms, n/Esc/Ctrl-C cancels.
    pub(super) fn silence_confirm_key(&mut self, key: KeyEvent) -> Option<Action> {
        let am = self.am.as_mut()?;
        let yes = match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => true,
            KeyCode::Char('n' | 'N') | KeyCode::Esc => false,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => false,
            _ => return None,
        };
        let request = am.confirm.take()?;
        if yes {
            let text = format!(
                "silencing {} for {}…",
                request.alert,
                human(request.duration)
            );
            am.request = Some(request);
            self.notify(text, false);
        } else {
            self.notify("not silenced", false);
        }
        None
    }

    /// The silence the operator confirmed, for the event loop to create.
    pub fn take_silence_request(&mut self) -> Option<SilenceRequest> {
        self.am.as_mut()?.request.take()
    }

    /// Draws the confirmation over `area`, if it is open.
    pub(super) fn render_silence_confirm(&self, frame: &mut Frame, area: Rect) {
        let Some(request) = self.am.as_ref().and_then(|a| a.confirm.as_ref()) else {
            return;
        };
        let t = &self.theme;
        let width = area.width.clamp(20, 80);
        let text = format!(
            "Silence {} in Alertmanager for {}, matching exactly:\n{}",
            if request.alert.is_empty() {
                "this alert"
            } else {
                request.alert.as_str()
            },
            human(request.duration),
            request.matchers()
        );
        // Enough lines for the wrapped matchers, within the screen.
        let inner_w = usize::from(width.saturating_sub(2)).max(1);
        let lines: usize = text
            .lines()
            .map(|l| l.chars().count().div_ceil(inner_w).max(1))
            .sum();
        let height = (lines as u16 + 4).min(area.height);
        let popup = Rect {
            x: area.x + (area.width.saturating_sub(width)) / 2,
            y: area.y + area.height.saturating_sub(height) / 2,
            width,
            height,
        };
        frame.render_widget(Clear, popup);
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(Style::new().fg(t.colour("border.focused")))
            .title(" Silence alert ");
        let inner = block.inner(popup);
        frame.render_widget(block, popup);
        let [body, _, help] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), body);
        frame.render_widget(
            Paragraph::new("y/Enter silence   n/Esc cancel")
                .style(Style::new().fg(t.colour("text.dim"))),
            help,
        );
    }
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn matchers_are_listed_in_label_order_quoted() {
        let r = SilenceRequest {
            host: Some("web-1".into()),
            alert: "DiskFull".into(),
            labels: [("instance", "web-1:9100"), ("alertname", "DiskFull")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            duration: Duration::from_secs(7200),
        };
        assert_eq!(
            r.matchers(),
            "alertname=\"DiskFull\", instance=\"web-1:9100\""
        );
    }

    fn launcher(role: crate::runbook::AccessRole, readonly: bool, dir: &Path) -> SilenceLauncher {
        SilenceLauncher {
            session: Session {
                operator: "bob".into(),
                role,
                readonly,
                interactive: true,
            },
            audit_path: dir.join("audit.jsonl"),
        }
    }

    fn request() -> SilenceRequest {
        SilenceRequest {
            host: Some("web-1".into()),
            alert: "DiskFull".into(),
            labels: [("alertname".to_string(), "DiskFull".to_string())].into(),
            duration: Duration::from_secs(60),
        }
    }

    /// A refused silence never reaches Alertmanager (the URL here answers nothing) and is on
    /// the record as `denied`.
    #[tokio::test]
    async fn a_role_that_may_not_act_or_read_only_is_refused_and_recorded() {
        use crate::runbook::AccessRole;
        let target = HttpTarget {
            url: "http://127.0.0.1:1".into(),
            auth: None,
        };
        let http = reqwest::Client::new();
        for (role, readonly, why) in [
            (AccessRole::Auditor, false, "bob is auditor"),
            (AccessRole::Operator, true, "read-only"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let l = launcher(role, readonly, dir.path());
            assert!(l.refusal().is_some_and(|r| r.contains(why)));
            let e = l.silence(&http, &target, &request()).await.unwrap_err();
            assert!(e.contains(why), "{e}");
            let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
            assert!(log.contains("\"denied\""), "{log}");
            assert!(log.contains("alert.silence"), "{log}");
            assert!(!log.contains("\"action\":\"alert.silence\""), "{log}");
        }
        assert_eq!(
            launcher(AccessRole::Operator, false, Path::new("/nonexistent")).refusal(),
            None
        );
    }

    /// An operator's failed request is still on the record, with the error.
    #[tokio::test]
    async fn a_failed_silence_is_recorded_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let l = launcher(crate::runbook::AccessRole::Operator, false, dir.path());
        let target = HttpTarget {
            url: "http://127.0.0.1:1".into(),
            auth: None,
        };
        let e = l
            .silence(&reqwest::Client::new(), &target, &request())
            .await
            .unwrap_err();
        assert!(e.contains("could not connect"), "{e}");
        let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
        assert!(log.contains("\"action\":\"alert.silence\""), "{log}");
        assert!(log.contains("error: Alertmanager"), "{log}");
    }
}
