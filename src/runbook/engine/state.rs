//! The run's private state: where a run stands ([`Phase`], [`StepState`]), what is in flight
//! ([`ExecSlot`], [`Attempt`], [`Poll`]), a rolling step's progress ([`RollingState`]), and the
//! two small helpers every handler passes around ([`Fx`], the effects of one call; [`Flow`],
//! where to go next). Serialised with the [`super::Run`] for resume; never shown to callers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::questions::Confirmed;
use super::types::{Effect, HostResult};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Purpose {
    /// A check, action or wait attempt.
    Step,
    /// A rolling sub-step (`rollback` = from the rollback list).
    Sub { rollback: bool, sub: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ExecSlot {
    pub(super) index: usize,
    pub(super) visit: u32,
    pub(super) host: String,
    pub(super) purpose: Purpose,
    pub(super) display: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum Then {
    Begin,
    Resume {
        index: usize,
        unknown: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum Phase {
    Inputs {
        pending: Vec<String>,
        then: Then,
    },
    Step {
        index: usize,
        visit: u32,
        state: StepState,
    },
    Unknown {
        index: usize,
        reason: String,
    },
    Suspended {
        at: Option<usize>,
        reason: String,
        unknown: Option<String>,
        inputs: Vec<String>,
    },
    Finished,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Attempt {
    /// Hosts still to report.
    pub(super) pending: BTreeSet<String>,
    /// Exec id → host.
    pub(super) execs: BTreeMap<u64, String>,
    /// Host → result.
    pub(super) results: BTreeMap<String, HostResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Poll {
    pub(super) deadline: SystemTime,
    pub(super) next_at: Option<SystemTime>,
    pub(super) tries: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum StepState {
    Confirm {
        hosts: Vec<String>,
        expected: String,
    },
    Attempt {
        attempt: Attempt,
        poll: Option<Poll>,
    },
    Choose {
        preselected: Option<String>,
    },
    Manual,
    Note,
    Waiting {
        until: SystemTime,
    },
    Notifying,
    Rolling(Box<RollingState>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct RollingState {
    pub(super) order: Vec<String>,
    pub(super) pending: Vec<String>,
    pub(super) done: Vec<String>,
    pub(super) failed: Vec<(String, String)>,
    pub(super) active: BTreeMap<String, HostRun>,
    pub(super) stopping: bool,
    pub(super) confirming: Option<String>,
    pub(super) pause_until: Option<SystemTime>,
    #[serde(skip)]
    pub(super) confirmed: Option<Confirmed>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct HostRun {
    pub(super) rollback: bool,
    pub(super) sub: usize,
    pub(super) stage: HostStage,
    pub(super) failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum HostStage {
    Exec(u64),
    Sleep(SystemTime),
    Probe,
    Gate {
        deadline: SystemTime,
        baseline: Option<u64>,
        next_at: Option<SystemTime>,
        last: String,
    },
}

/// Effects of one call, in order.
#[derive(Default)]
pub(super) struct Fx {
    pub(super) effects: Vec<Effect>,
    /// A command or a notification is among them.
    pub(super) acted: bool,
}

impl Fx {
    pub(super) fn push(&mut self, e: Effect) {
        self.acted |= matches!(e, Effect::Exec { .. } | Effect::Notify { .. });
        self.effects.push(e);
    }
}

/// Result of entering or finishing a step: where to go next.
pub(super) enum Flow {
    /// Wait for an event.
    Stay,
    /// Enter this step (`len` = ran off the end: success).
    Goto(usize),
    /// Already finished.
    Done,
}
