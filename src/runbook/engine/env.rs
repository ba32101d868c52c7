//! The engine's template environment: [`Env`] renders a step's commands, regexes, display text
//! and webhook requests from the inputs, the fleet's host info, the run's stamp and the
//! decisions taken so far. Shared with the dry-run plan (`runbook::plan`), so `--dry-run` shows
//! exactly what a run would execute. Also the run's durations and secret masking.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use super::Run;
use crate::runbook::hosts::HostInfo;
use crate::runbook::template::{self, Context, Rendered, Values};
use crate::runbook::{Dur, HostSel, Notify, Runbook};

pub(crate) struct Env<'a> {
    pub(crate) runbook: &'a Runbook,
    pub(crate) fleet: &'a [HostInfo],
    pub(crate) targets: &'a [String],
    pub(crate) inputs: &'a BTreeMap<String, String>,
    pub(crate) stamp: String,
    pub(crate) decisions: BTreeMap<String, String>,
}

pub(crate) struct NotifyRequest {
    pub(crate) url: String,
    pub(crate) display_url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: serde_json::Value,
    pub(crate) display_body: serde_json::Value,
}

impl Env<'_> {
    pub(super) fn host(&self, name: &str) -> Option<&HostInfo> {
        self.fleet.iter().find(|h| h.name == name)
    }

    pub(crate) fn hosts_for(&self, sel: &HostSel) -> Vec<String> {
        match sel {
            HostSel::All => self.targets.to_vec(),
            HostSel::First => self.targets.iter().take(1).cloned().collect(),
            HostSel::Input(name) => self
                .inputs
                .get(name)
                .filter(|v| !v.is_empty())
                .cloned()
                .into_iter()
                .collect(),
        }
    }

    pub(super) fn render(
        &self,
        host: Option<&str>,
        text: &str,
        context: Context,
    ) -> Result<Rendered, String> {
        let info = match host {
            Some(h) => Some(
                self.host(h)
                    .ok_or_else(|| format!("host {h:?} is not in the inventory"))?,
            ),
            None => None,
        };
        let runbook = self.runbook;
        let secret = |n: &str| runbook.input(n).is_some_and(|i| i.secret);
        let path = |n: &str| {
            runbook
                .input(n)
                .is_some_and(|i| i.kind == crate::runbook::InputType::Path)
        };
        let values = Values {
            host: info,
            targets: self.targets,
            inputs: self.inputs,
            secret: &secret,
            path: &path,
            stamp: &self.stamp,
            decisions: &self.decisions,
        };
        template::render(text, context, &values)
    }

    pub(crate) fn command(&self, host: &str, text: &str) -> Result<Rendered, String> {
        self.render(Some(host), text, Context::Command)
    }

    pub(super) fn regex(&self, host: &str, text: &str) -> Result<String, String> {
        self.render(Some(host), text, Context::Regex)
            .map(|r| r.real)
    }

    /// Display text; a template that cannot render is shown as written.
    pub(crate) fn display(&self, text: &str) -> String {
        self.render(None, text, Context::Display)
            .map(|r| r.display)
            .unwrap_or_else(|_| text.to_owned())
    }

    pub(crate) fn notify(&self, n: &Notify) -> Result<NotifyRequest, String> {
        let (url, display_url) = match crate::runbook::load::single_placeholder(&n.url) {
            // A whole URL from an input (a webhook URL is often itself the secret).
            Some(_) => {
                let r = self.render(None, &n.url, Context::Request)?;
                if r.real.is_empty() {
                    return Err("no webhook URL was given".to_owned());
                }
                if !(r.real.starts_with("https://") || r.real.starts_with("http://")) {
                    return Err(format!(
                        "the notify URL {} is not an http:// or https:// URL",
                        r.display
                    ));
                }
                (r.real, r.display)
            }
            None => {
                let r = self.render(None, &n.url, Context::Url)?;
                (r.real, r.display)
            }
        };
        let mut headers = Vec::new();
        for (name, value) in &n.headers {
            headers.push((
                name.clone(),
                self.render(None, value, Context::Request)?.real,
            ));
        }
        let body = self.json(&n.body, true)?;
        let display_body = self.json(&n.body, false)?;
        Ok(NotifyRequest {
            url,
            display_url,
            headers,
            body,
            display_body,
        })
    }

    pub(super) fn json(
        &self,
        value: &serde_json::Value,
        real: bool,
    ) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        Ok(match value {
            Value::String(s) => {
                let r = self.render(None, s, Context::Request)?;
                Value::String(if real { r.real } else { r.display })
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.json(v, real))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.json(v, real)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// `run.stamp`: UTC `YYYYMMDDHHMMSS` of `now`.
pub(crate) fn stamp(now: SystemTime) -> String {
    let t = time::OffsetDateTime::from(now);
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    t.format(&format)
        .unwrap_or_else(|_| "00000000000000".to_owned())
}

/// Indices of the steps reachable from `start` (all branches).
pub(crate) fn reachable_from(runbook: &Runbook, start: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        if i >= runbook.steps.len() || !seen.insert(i) {
            continue;
        }
        stack.extend(runbook.successors(i));
    }
    seen
}

impl Run {
    pub(super) fn with_env<T>(&self, f: impl FnOnce(&Env<'_>) -> T) -> T {
        let inputs = self.all_inputs();
        let env = Env {
            runbook: &self.runbook,
            fleet: &self.fleet,
            targets: &self.targets,
            inputs: &inputs,
            stamp: self.stamp.clone(),
            decisions: self.decisions(),
        };
        f(&env)
    }

    pub(super) fn dur(&self, d: &Dur) -> Duration {
        d.resolve(&self.inputs)
    }

    pub(super) fn dur_opt(&self, d: &Option<Dur>) -> Option<Duration> {
        d.as_ref().map(|d| self.dur(d))
    }

    /// Choice step id → label taken at its latest visit.
    pub(super) fn decisions(&self) -> BTreeMap<String, String> {
        self.records
            .iter()
            .filter_map(|r| r.decision.clone().map(|d| (r.step.clone(), d)))
            .collect()
    }

    pub(super) fn mask(&self, text: &str) -> String {
        template::mask_secrets(text, self.secrets.values())
    }
}
