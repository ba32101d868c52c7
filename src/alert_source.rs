//! Alertmanager as a source: its active alerts and its silences read through API v2
//! (`GET /api/v2/alerts?active=true`, `GET /api/v2/silences`), each alert attached to an
//! inventory host, and the silence the console creates when an operator acks one
//! (`POST /api/v2/silences`). docs/monitoring.md describes the mapping.
//!
//! The parsing and mapping are pure functions over the reply bodies so they are tested with
//! recorded samples; [`fetch`] and [`create_silence`] are the thin network layer, sharing the
//! credential handling of the sending side ([`crate::alert_sink::authorize`]).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::alert_sink::{authorize, redact};
use crate::inventory::{Host, HttpTarget};

/// One request's time limit: a slow Alertmanager must not hold a poll for long.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why Alertmanager could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The request did not get an answer (the URL is redacted).
    #[error("Alertmanager {url}: {message}")]
    Unreachable {
        /// Redacted URL ([`redact`]).
        url: String,
        /// What failed: "could not connect", "timed out", "HTTP 500", …
        message: String,
    },
    /// The answer was not what API v2 documents.
    #[error("Alertmanager {url}: {what} is not {expected}: {message}")]
    BadReply {
        /// Redacted URL plus the API path.
        url: String,
        /// Which reply ("the alerts reply", "the silences reply").
        what: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The parser's message (line and column).
        message: String,
    },
    /// Credentials could not be read.
    #[error(transparent)]
    Credentials(#[from] crate::alert_sink::NotifyError),
}

/// An alert's state in Alertmanager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AmState {
    /// Firing and routed.
    Active,
    /// Silenced or inhibited.
    Suppressed,
    /// Received, not yet processed.
    Unprocessed,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlertStatusWire {
    state: AmState,
    #[serde(default)]
    silenced_by: Vec<String>,
    #[serde(default)]
    inhibited_by: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlertWire {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    fingerprint: String,
    status: AlertStatusWire,
}

/// One Alertmanager alert, attached to a host when its labels name one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmAlert {
    /// Inventory host name, or `None` for a fleet-level alert.
    pub host: Option<String>,
    /// `alertname` label (empty when absent).
    pub name: String,
    /// `severity` label (empty when absent).
    pub severity: String,
    /// `summary` annotation, else `description`, else empty.
    pub summary: String,
    /// All labels: what a silence created for this alert matches.
    pub labels: BTreeMap<String, String>,
    /// Alertmanager's fingerprint (identifies the alert across polls).
    pub fingerprint: String,
    /// `startsAt` as Alertmanager wrote it (RFC 3339).
    pub starts_at: String,
    /// Active, suppressed or unprocessed.
    pub state: AmState,
    /// Ids of the silences muting it.
    pub silenced_by: Vec<String>,
    /// Fingerprints of the alerts inhibiting it.
    pub inhibited_by: Vec<String>,
}

impl AmAlert {
    /// Muted by at least one silence.
    pub fn silenced(&self) -> bool {
        !self.silenced_by.is_empty()
    }
}

/// A silence's matcher, as API v2 writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Value or regular expression.
    pub value: String,
    /// `value` is a regular expression.
    #[serde(default)]
    pub is_regex: bool,
    /// `=` rather than `!=` (absent in old versions: equal).
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct SilenceStatusWire {
    state: String,
}

/// One silence in Alertmanager.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmSilence {
    /// Alertmanager's id.
    pub id: String,
    /// Its matchers.
    pub matchers: Vec<Matcher>,
    /// `startsAt` (RFC 3339).
    #[serde(default)]
    pub starts_at: String,
    /// `endsAt` (RFC 3339).
    #[serde(default)]
    pub ends_at: String,
    /// Who created it.
    #[serde(default)]
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// `active`, `pending` or `expired`.
    #[serde(deserialize_with = "silence_state")]
    pub status: String,
}

fn silence_state<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    SilenceStatusWire::deserialize(d).map(|s| s.state)
}

/// What one poll of Alertmanager found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Active (including silenced) alerts, each placed on a host or the fleet.
    pub alerts: Vec<AmAlert>,
    /// Silences that are active or pending (expired ones dropped).
    pub silences: Vec<AmSilence>,
}

/// What the console knows of Alertmanager: the last snapshot read and how the last poll went.
/// Kept by the console, read by the Alerts and host panes (`crate::view::external_alert_rows`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStatus {
    /// The last snapshot read.
    pub snapshot: Snapshot,
    /// When a poll last succeeded (`None`: never).
    pub last_ok: Option<SystemTime>,
    /// Why the last poll failed (`None`: it succeeded, or none has finished yet).
    pub error: Option<String>,
}

impl SourceStatus {
    /// Folds in one poll's outcome, finished at `at`.
    pub fn record(&mut self, outcome: Result<Snapshot, String>, at: SystemTime) {
        match outcome {
            Ok(snapshot) => {
                self.snapshot = snapshot;
                self.last_ok = Some(at);
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// The silence with this id, if it is still active or pending.
    pub fn silence(&self, id: &str) -> Option<&AmSilence> {
        self.snapshot.silences.iter().find(|s| s.id == id)
    }
}

fn bad(url: &str, what: &'static str, expected: &'static str, e: serde_json::Error) -> SourceError {
    SourceError::BadReply {
        url: url.to_string(),
        what,
        expected,
        message: e.to_string(),
    }
}

/// Parses a `GET /api/v2/alerts` reply and places each alert on a host of `hosts`.
/// `url` (redacted) names the source in errors.
pub fn parse_alerts(url: &str, body: &str, hosts: &[Host]) -> Result<Vec<AmAlert>, SourceError> {
    let wire: Vec<AlertWire> = serde_json::from_str(body).map_err(|e| {
        bad(
            url,
            "the alerts reply",
            "a JSON array of API v2 alerts (labels, status.state)",
            e,
        )
    })?;
    Ok(wire
        .into_iter()
        .map(|a| {
            let summary = a
                .annotations
                .get("summary")
                .or_else(|| a.annotations.get("description"))
                .cloned()
                .unwrap_or_default();
            AmAlert {
                host: place(&a.labels, hosts),
                name: a.labels.get("alertname").cloned().unwrap_or_default(),
                severity: a.labels.get("severity").cloned().unwrap_or_default(),
                summary,
                fingerprint: a.fingerprint,
                starts_at: a.starts_at,
                state: a.status.state,
                silenced_by: a.status.silenced_by,
                inhibited_by: a.status.inhibited_by,
                labels: a.labels,
            }
        })
        .collect())
}

/// Parses a `GET /api/v2/silences` reply, keeping the active and pending ones.
pub fn parse_silences(url: &str, body: &str) -> Result<Vec<AmSilence>, SourceError> {
    let all: Vec<AmSilence> = serde_json::from_str(body).map_err(|e| {
        bad(
            url,
            "the silences reply",
            "a JSON array of API v2 silences (id, matchers, status.state)",
            e,
        )
    })?;
    Ok(all.into_iter().filter(|s| s.status != "expired").collect())
}

/// The inventory host an alert is about: its `host` label equal to a host's name or
/// address, else its `instance` label (without `:port`, IPv6 brackets removed) equal to a
/// host's name or address. `None` leaves it fleet-level.
pub fn place(labels: &BTreeMap<String, String>, hosts: &[Host]) -> Option<String> {
    let find = |v: &str| {
        hosts
            .iter()
            .find(|h| h.name == v)
            .or_else(|| hosts.iter().find(|h| h.address == v))
            .map(|h| h.name.clone())
    };
    if let Some(h) = labels.get("host").and_then(|v| find(v)) {
        return Some(h);
    }
    labels
        .get("instance")
        .and_then(|v| find(v).or_else(|| find(strip_port(v))))
}

/// `host` of `host:port`, `[v6]:port` or `[v6]`; a bare IPv6 address is kept whole.
fn strip_port(instance: &str) -> &str {
    if let Some(rest) = instance.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match instance.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => instance,
    }
}

/// The `POST /api/v2/silences` body muting exactly `labels` (equality matchers) from `now`
/// for `duration`, created by `operator`.
pub fn silence_json(
    labels: &BTreeMap<String, String>,
    now: SystemTime,
    duration: Duration,
    operator: &str,
) -> Value {
    let matchers: Vec<Value> = labels
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v, "isRegex": false, "isEqual": true}))
        .collect();
    json!({
        "matchers": matchers,
        "startsAt": crate::report::rfc3339(now),
        "endsAt": crate::report::rfc3339(now + duration),
        "createdBy": operator,
        "comment": format!("acknowledged in fleetdeck by {operator}"),
    })
}

fn base(target: &HttpTarget) -> &str {
    target.url.trim_end_matches('/')
}

fn failed(url: &str, e: &reqwest::Error) -> SourceError {
    // reqwest's error text can carry the URL, which may hold a token: keep only the kind.
    let message = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "reply could not be read"
    } else {
        "request failed"
    };
    SourceError::Unreachable {
        url: url.to_string(),
        message: message.into(),
    }
}

async fn get(
    http: &reqwest::Client,
    target: &HttpTarget,
    path: &str,
) -> Result<String, SourceError> {
    let shown = format!("{}{path}", redact(&target.url));
    let request = authorize(http.get(format!("{}{path}", base(target))), target)?;
    let reply = request.send().await.map_err(|e| failed(&shown, &e))?;
    if !reply.status().is_success() {
        return Err(SourceError::Unreachable {
            url: shown,
            message: format!("HTTP {}", reply.status().as_u16()),
        });
    }
    reply.text().await.map_err(|e| failed(&shown, &e))
}

/// Reads the active alerts and the silences of the Alertmanager at `target`.
pub async fn fetch(
    http: &reqwest::Client,
    target: &HttpTarget,
    hosts: &[Host],
) -> Result<Snapshot, SourceError> {
    const ALERTS: &str = "/api/v2/alerts?active=true";
    const SILENCES: &str = "/api/v2/silences";
    let body = get(http, target, ALERTS).await?;
    let alerts = parse_alerts(&format!("{}{ALERTS}", redact(&target.url)), &body, hosts)?;
    let body = get(http, target, SILENCES).await?;
    let silences = parse_silences(&format!("{}{SILENCES}", redact(&target.url)), &body)?;
    Ok(Snapshot { alerts, silences })
}

/// Creates a silence matching `labels` and returns its id.
pub async fn create_silence(
    http: &reqwest::Client,
    target: &HttpTarget,
    labels: &BTreeMap<String, String>,
    duration: Duration,
    operator: &str,
) -> Result<String, SourceError> {
    #[derive(Deserialize)]
    struct Created {
        #[serde(rename = "silenceID")]
        silence_id: String,
    }
    let shown = format!("{}/api/v2/silences", redact(&target.url));
    let body = silence_json(labels, SystemTime::now(), duration, operator);
    let request = authorize(
        http.post(format!("{}/api/v2/silences", base(target)))
            .json(&body),
        target,
    )?;
    let reply = request.send().await.map_err(|e| failed(&shown, &e))?;
    if !reply.status().is_success() {
        return Err(SourceError::Unreachable {
            url: shown,
            message: format!("HTTP {}", reply.status().as_u16()),
        });
    }
    let text = reply.text().await.map_err(|e| failed(&shown, &e))?;
    serde_json::from_str::<Created>(&text)
        .map(|c| c.silence_id)
        .map_err(|e| bad(&shown, "the silence reply", "{\"silenceID\": \"…\"}", e))
}

#[cfg(test)]
mod tests;
