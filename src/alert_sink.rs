//! fleetdeck's own alerts sent out: to Alertmanager (`POST /api/v2/alerts`) and to generic
//! Slack-compatible webhooks (`{"text": …}`), configured by `[alertmanager]` and `[[notify]]`
//! (docs/monitoring.md).
//!
//! Three layers, so the parts that decide can be tested without a network or a clock:
//! - [`Tracker`] turns successive views of the store's [`AlertBook`] into [`AlertNote`]s, one
//!   per transition (raised, reopened, escalated, resolved). It compares the book with what it
//!   saw last, so a front end calls it after any update without handing effects over.
//! - [`Outbox`] is one peer's queue: bounded (the oldest note is dropped, counted and logged),
//!   deduplicated (Alertmanager: one pending entry per label set, the latest wins; a firing
//!   alert is re-sent every [`REPOST_EVERY`] as Alertmanager expects, a resolved one once with
//!   `endsAt`), with exponential backoff while the peer fails. Its clock is a `Duration` the
//!   caller passes in.
//! - [`Notifier`] runs one tokio task per peer fed by a bounded channel: the caller never
//!   waits on the network (a full channel drops the note, counted and logged). State goes to
//!   the log (tracing) only, never to a terminal.
//!
//! Which front end sends is `[alertmanager] sender` ([`AlertSender`]): `serve` by default, so
//! open consoles never page twice.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::alerts::{AlertBook, AlertKey, AlertState};
use crate::health::Severity;
use crate::inventory::{AlertSender, Fleet, HttpAuth, HttpTarget, SecretSource};

/// How many notes a peer's queue (and its channel) holds before the oldest is dropped.
pub const QUEUE_CAPACITY: usize = 1024;
/// How often a firing alert is re-sent to Alertmanager (its `resolve_timeout` is 5 min).
pub const REPOST_EVERY: Duration = Duration::from_secs(60);
/// First retry delay after a failure; doubled per failure up to [`BACKOFF_MAX`].
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// One request's time limit.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A problem nobody had seen.
    Raised,
    /// A resolved alert failing again.
    Reopened,
    /// Its severity changed while firing (up, or back down).
    Escalated,
    /// The rule passes again.
    Resolved,
}

/// One alert transition, with what a peer needs to show it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertNote {
    /// Fleet name (`[fleet] name`).
    pub fleet: String,
    /// host / rule / subject.
    pub key: AlertKey,
    /// Severity now.
    pub severity: Severity,
    /// Latest message.
    pub message: String,
    /// Latest value, if any.
    pub value: Option<String>,
    /// What happened.
    pub transition: Transition,
    /// When this episode started.
    pub starts_at: SystemTime,
    /// When it resolved (resolved notes only).
    pub ends_at: Option<SystemTime>,
    /// When the transition was seen.
    pub at: SystemTime,
}

impl AlertNote {
    /// Whether the alert is firing after this transition.
    pub fn firing(&self) -> bool {
        self.transition != Transition::Resolved
    }

    /// Alertmanager's labels: `alertname` (the rule), `host`, `subject` (absent for the host
    /// as a whole, as an empty label is in Prometheus), `severity`, `fleet`.
    pub fn labels(&self) -> BTreeMap<&'static str, String> {
        let mut l = BTreeMap::new();
        l.insert("alertname", self.key.rule.clone());
        l.insert("host", self.key.host.clone());
        if !self.key.subject.is_empty() {
            l.insert("subject", self.key.subject.clone());
        }
        l.insert("severity", self.severity.as_str().to_string());
        l.insert("fleet", self.fleet.clone());
        l
    }

    /// The Alertmanager API v2 object (`startsAt`, and `endsAt` once resolved).
    pub fn alertmanager_json(&self) -> Value {
        let mut annotations = serde_json::Map::new();
        annotations.insert("summary".into(), Value::String(self.message.clone()));
        if let Some(v) = &self.value {
            annotations.insert("value".into(), Value::String(v.clone()));
        }
        let mut o = json!({
            "labels": self.labels(),
            "annotations": annotations,
            "startsAt": crate::report::rfc3339(self.starts_at),
        });
        if let Some(end) = self.ends_at {
            o["endsAt"] = Value::String(crate::report::rfc3339(end));
        }
        o
    }

    /// The Slack-compatible webhook body: `{"text": "…"}`.
    pub fn webhook_json(&self) -> Value {
        let what = match self.transition {
            Transition::Raised => "FIRING",
            Transition::Reopened => "FIRING again",
            Transition::Escalated => "SEVERITY CHANGED",
            Transition::Resolved => "RESOLVED",
        };
        let value = self
            .value
            .as_deref()
            .map(|v| format!(" ({v})"))
            .unwrap_or_default();
        json!({
            "text": format!(
                "[{}] {what} {} {}: {}{value}",
                self.fleet,
                self.severity.as_str(),
                self.key,
                self.message
            )
        })
    }
}

/// Turns successive views of an [`AlertBook`] into transitions.
#[derive(Debug, Default)]
pub struct Tracker {
    /// Firing alerts as last seen: severity and episode start.
    seen: BTreeMap<AlertKey, (Severity, SystemTime)>,
}

impl Tracker {
    /// The transitions since the previous call. An alert that left the book while firing
    /// counts as resolved at `now`.
    pub fn diff(&mut self, fleet: &str, book: &AlertBook, now: SystemTime) -> Vec<AlertNote> {
        let mut notes = Vec::new();
        let mut still = BTreeMap::new();
        for t in book.list() {
            let note = |transition, ends_at| AlertNote {
                fleet: fleet.to_string(),
                key: t.key.clone(),
                severity: t.severity,
                message: t.message.clone(),
                value: t.value.clone(),
                transition,
                starts_at: t.since,
                ends_at,
                at: now,
            };
            let before = self.seen.get(&t.key);
            if t.state == AlertState::Resolved {
                if before.is_some() {
                    notes.push(note(
                        Transition::Resolved,
                        Some(t.resolved_at.unwrap_or(now)),
                    ));
                }
                continue;
            }
            match before {
                None => notes.push(note(Transition::Raised, None)),
                Some((_, since)) if *since != t.since => {
                    notes.push(note(Transition::Reopened, None))
                }
                Some((sev, _)) if *sev != t.severity => {
                    notes.push(note(Transition::Escalated, None))
                }
                Some(_) => {}
            }
            still.insert(t.key.clone(), (t.severity, t.since));
        }
        for (key, (severity, since)) in &self.seen {
            if !still.contains_key(key) && book.get(key).is_none() {
                notes.push(AlertNote {
                    fleet: fleet.to_string(),
                    key: key.clone(),
                    severity: *severity,
                    message: "no longer tracked".into(),
                    value: None,
                    transition: Transition::Resolved,
                    starts_at: *since,
                    ends_at: Some(now),
                    at: now,
                });
            }
        }
        self.seen = still;
        notes
    }
}

/// The retry delay after `failures` consecutive failures (1 s, 2 s, 4 s, … up to 60 s).
pub fn backoff(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << shift).min(BACKOFF_MAX)
}

/// What kind of peer an [`Outbox`] feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// Alertmanager: batches, one entry per label set, firing alerts re-sent.
    Alertmanager,
    /// A webhook: one POST per transition, in order.
    Webhook,
}

/// One peer's queue; `now` is any monotonic clock the caller keeps.
#[derive(Debug)]
pub struct Outbox {
    kind: PeerKind,
    capacity: usize,
    queue: VecDeque<AlertNote>,
    /// Alertmanager: what fires now, re-sent every [`REPOST_EVERY`].
    firing: BTreeMap<AlertKey, AlertNote>,
    last_repost: Duration,
    dropped: u64,
    failures: u32,
    next_try: Duration,
    /// What [`Outbox::take`] handed out: `Some(n)` for the first n queued, `None` a repost.
    inflight: Option<Option<usize>>,
}

impl Outbox {
    /// An empty queue holding at most `capacity` notes.
    pub fn new(kind: PeerKind, capacity: usize, now: Duration) -> Outbox {
        Outbox {
            kind,
            capacity: capacity.max(1),
            queue: VecDeque::new(),
            firing: BTreeMap::new(),
            last_repost: now,
            dropped: 0,
            failures: 0,
            next_try: now,
            inflight: None,
        }
    }

    /// Notes dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Notes waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Consecutive failed sends.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Queues a transition.
    pub fn push(&mut self, note: AlertNote) {
        if self.kind == PeerKind::Alertmanager {
            // A severity change is a new label set: the old one is resolved explicitly, or
            // Alertmanager would keep paging for it until its own timeout.
            if let Some(old) = self.firing.get(&note.key)
                && old.severity != note.severity
            {
                let mut end = old.clone();
                end.transition = Transition::Resolved;
                end.ends_at = Some(note.at);
                end.at = note.at;
                self.enqueue(end);
            }
            if note.firing() {
                self.firing.insert(note.key.clone(), note.clone());
            } else {
                self.firing.remove(&note.key);
            }
        }
        self.enqueue(note);
    }

    fn enqueue(&mut self, note: AlertNote) {
        if self.kind == PeerKind::Alertmanager {
            // One pending entry per label set (not one being sent): the latest state wins.
            let sending = match self.inflight {
                Some(Some(n)) => n,
                _ => 0,
            };
            if let Some(slot) = self
                .queue
                .iter_mut()
                .skip(sending)
                .find(|q| q.key == note.key && q.severity == note.severity)
            {
                *slot = note;
                return;
            }
        }
        self.queue.push_back(note);
        while self.queue.len() > self.capacity {
            self.queue.pop_front();
            self.dropped += 1;
            if let Some(Some(n)) = &mut self.inflight {
                *n = n.saturating_sub(1);
            }
            tracing::warn!(
                dropped = self.dropped,
                capacity = self.capacity,
                "alert queue full: oldest alert notice dropped"
            );
        }
    }

    /// When [`Outbox::take`] next has something, if ever (without new notes).
    pub fn wake(&self) -> Option<Duration> {
        if !self.queue.is_empty() {
            Some(self.next_try)
        } else if self.kind == PeerKind::Alertmanager && !self.firing.is_empty() {
            Some(self.next_try.max(self.last_repost + REPOST_EVERY))
        } else {
            None
        }
    }

    /// What to send now, if anything; answer with [`Outbox::done`].
    pub fn take(&mut self, now: Duration) -> Option<Vec<AlertNote>> {
        if self.inflight.is_some() || now < self.next_try {
            return None;
        }
        match self.kind {
            PeerKind::Webhook => {
                let first = self.queue.front()?.clone();
                self.inflight = Some(Some(1));
                Some(vec![first])
            }
            PeerKind::Alertmanager if !self.queue.is_empty() => {
                self.inflight = Some(Some(self.queue.len()));
                Some(self.queue.iter().cloned().collect())
            }
            PeerKind::Alertmanager
                if !self.firing.is_empty() && now >= self.last_repost + REPOST_EVERY =>
            {
                self.inflight = Some(None);
                Some(self.firing.values().cloned().collect())
            }
            PeerKind::Alertmanager => None,
        }
    }

    /// The outcome of the batch [`Outbox::take`] gave: delivered, or retried after a backoff.
    pub fn done(&mut self, delivered: bool, now: Duration) {
        let Some(what) = self.inflight.take() else {
            return;
        };
        if delivered {
            self.failures = 0;
            self.next_try = now;
            match what {
                Some(n) => {
                    self.queue.drain(..n.min(self.queue.len()));
                }
                None => self.last_repost = now,
            }
        } else {
            self.failures = self.failures.saturating_add(1);
            self.next_try = now + backoff(self.failures);
        }
    }
}

/// Why sending could not start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A credential file or variable could not be read.
    #[error("cannot read the credentials of {url}: {message}")]
    Secret {
        /// The peer, redacted ([`redact`]).
        url: String,
        /// What failed (never the secret).
        message: String,
    },
}

/// A peer ready to be posted to.
#[derive(Clone)]
struct Peer {
    kind: PeerKind,
    /// Redacted, for the log.
    url: String,
    post_url: String,
    auth: Option<ReadAuth>,
}

#[derive(Clone)]
enum ReadAuth {
    Basic(String, String),
    Bearer(String),
}

impl ReadAuth {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            ReadAuth::Basic(u, p) => request.basic_auth(u, Some(p)),
            ReadAuth::Bearer(t) => request.bearer_auth(t),
        }
    }
}

/// Adds `target`'s credentials (read now from their file or variable) to `request`; the
/// reading side ([`crate::alert_source`]) shares this with the sending side.
pub fn authorize(
    request: reqwest::RequestBuilder,
    target: &HttpTarget,
) -> Result<reqwest::RequestBuilder, NotifyError> {
    let p = peer(PeerKind::Alertmanager, target)?;
    Ok(match &p.auth {
        None => request,
        Some(a) => a.apply(request),
    })
}

/// `scheme://host[:port]` of `url`: what logs and errors name, since a webhook's path or query
/// often is its secret (Slack's `/services/T…/B…/…`) and userinfo may hold a password.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let hidden = if rest.len() > authority.len() || authority.contains('@') {
        "/…"
    } else {
        ""
    };
    format!("{scheme}://{host}{hidden}")
}

fn read_secret(source: &SecretSource, url: &str) -> Result<String, NotifyError> {
    let err = |message: String| NotifyError::Secret {
        url: redact(url),
        message,
    };
    match source {
        SecretSource::File(p) => std::fs::read_to_string(p)
            .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|e| err(format!("{}: {e}", p.display()))),
        SecretSource::Env(v) => {
            std::env::var(v).map_err(|_| err(format!("environment variable {v} is not set")))
        }
    }
}

fn peer(kind: PeerKind, t: &HttpTarget) -> Result<Peer, NotifyError> {
    let auth = match &t.auth {
        None => None,
        Some(HttpAuth::Basic { username, password }) => Some(ReadAuth::Basic(
            username.clone(),
            read_secret(password, &t.url)?,
        )),
        Some(HttpAuth::Bearer(s)) => Some(ReadAuth::Bearer(read_secret(s, &t.url)?)),
    };
    let post_url = match kind {
        PeerKind::Alertmanager => format!("{}/api/v2/alerts", t.url.trim_end_matches('/')),
        PeerKind::Webhook => t.url.clone(),
    };
    Ok(Peer {
        kind,
        url: redact(&t.url),
        post_url,
        auth,
    })
}

/// The sending side a front end holds: notes in, tasks deliver.
pub struct Notifier {
    fleet: String,
    tracker: Tracker,
    peers: Vec<mpsc::Sender<AlertNote>>,
    dropped: u64,
}

impl Notifier {
    /// Starts one delivery task per configured peer when `front` is the fleet's sender;
    /// `Ok(None)` when nothing is configured or another front end sends. Needs a tokio runtime.
    pub fn start(fleet: &Fleet, front: AlertSender) -> Result<Option<Notifier>, NotifyError> {
        let out = &fleet.alerts_out;
        if out.sender != front || (out.alertmanager.is_none() && out.webhooks.is_empty()) {
            return Ok(None);
        }
        let mut peers = Vec::new();
        if let Some(am) = &out.alertmanager {
            peers.push(peer(PeerKind::Alertmanager, am)?);
        }
        for w in &out.webhooks {
            peers.push(peer(PeerKind::Webhook, w)?);
        }
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let senders = peers
            .into_iter()
            .map(|p| {
                let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
                tracing::info!(peer = %p.url, kind = ?p.kind, "sending fleetdeck alerts");
                tokio::spawn(deliver(p, http.clone(), rx));
                tx
            })
            .collect();
        Ok(Some(Notifier {
            fleet: fleet.name.clone(),
            tracker: Tracker::default(),
            peers: senders,
            dropped: 0,
        }))
    }

    /// Hands the transitions since the last call to the delivery tasks; never waits.
    pub fn observe(&mut self, book: &AlertBook, now: SystemTime) {
        for note in self.tracker.diff(&self.fleet, book, now) {
            for tx in &self.peers {
                if tx.try_send(note.clone()).is_err() {
                    self.dropped += 1;
                    tracing::warn!(dropped = self.dropped, alert = %note.key, "alert channel full: notice dropped");
                }
            }
        }
    }
}

/// One peer's delivery loop: notes in from the channel, POSTs out, backoff on failure.
async fn deliver(peer: Peer, http: reqwest::Client, mut rx: mpsc::Receiver<AlertNote>) {
    let origin = tokio::time::Instant::now();
    let clock = || origin.elapsed();
    let mut outbox = Outbox::new(peer.kind, QUEUE_CAPACITY, clock());
    loop {
        while let Some(batch) = outbox.take(clock()) {
            match post(&peer, &http, &batch).await {
                Sent::Delivered => {
                    if outbox.failures() > 0 {
                        tracing::info!(peer = %peer.url, "alert peer reachable again");
                    }
                    tracing::debug!(peer = %peer.url, sent = batch.len(), "alerts delivered");
                    outbox.done(true, clock());
                }
                Sent::Rejected(e) => {
                    // The peer understood and refused (a 4xx other than 408/429): sending the
                    // same body again cannot help, and it would hold up every later notice.
                    tracing::error!(
                        peer = %peer.url,
                        error = %e,
                        dropped = batch.len(),
                        "alert notices rejected by the peer; dropped"
                    );
                    outbox.done(true, clock());
                }
                Sent::Failed(e) => {
                    tracing::warn!(
                        peer = %peer.url,
                        error = %e,
                        failures = outbox.failures() + 1,
                        queued = outbox.len(),
                        retry_in = ?backoff(outbox.failures() + 1),
                        "alert delivery failed; will retry"
                    );
                    outbox.done(false, clock());
                }
            }
        }
        let wake = outbox.wake();
        tokio::select! {
            note = rx.recv() => match note {
                Some(n) => {
                    outbox.push(n);
                    while let Ok(more) = rx.try_recv() {
                        outbox.push(more);
                    }
                }
                None => return,
            },
            () = sleep_until(origin, wake) => {}
        }
    }
}

async fn sleep_until(origin: tokio::time::Instant, at: Option<Duration>) {
    match at {
        Some(at) => tokio::time::sleep_until(origin + at).await,
        None => std::future::pending().await,
    }
}

/// How one POST went.
enum Sent {
    /// 2xx.
    Delivered,
    /// A 4xx other than 408/429: the peer will never take this body.
    Rejected(String),
    /// Connection, timeout, 408, 429 or 5xx: worth retrying.
    Failed(String),
}

/// Whether an HTTP status means "never with this body" rather than "not now".
pub fn is_permanent_rejection(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

async fn post(peer: &Peer, http: &reqwest::Client, batch: &[AlertNote]) -> Sent {
    let body = match peer.kind {
        PeerKind::Alertmanager => {
            Value::Array(batch.iter().map(AlertNote::alertmanager_json).collect())
        }
        PeerKind::Webhook => match batch.first() {
            Some(n) => n.webhook_json(),
            None => return Sent::Delivered,
        },
    };
    let request = peer.auth.as_ref().map_or_else(
        || http.post(&peer.post_url).json(&body),
        |a| a.apply(http.post(&peer.post_url).json(&body)),
    );
    match request.send().await {
        Ok(reply) if reply.status().is_success() => Sent::Delivered,
        Ok(reply) if is_permanent_rejection(reply.status().as_u16()) => {
            Sent::Rejected(format!("HTTP {}", reply.status().as_u16()))
        }
        Ok(reply) => Sent::Failed(format!("HTTP {}", reply.status().as_u16())),
        // reqwest's error text can carry the URL, which may hold a token: keep only the kind.
        Err(e) if e.is_timeout() => Sent::Failed("timed out".into()),
        Err(e) if e.is_connect() => Sent::Failed("could not connect".into()),
        Err(_) => Sent::Failed("request failed".into()),
    }
}

#[cfg(test)]
mod tests;
