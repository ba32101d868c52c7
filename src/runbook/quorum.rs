//! The quorum guard of rolling steps: in a BFT consensus group of N voting members,
//! N = 3F + 1 tolerates F faulty members, so never more than F = ⌊(N − 1) / 3⌋ may be down at
//! once — counting the members that were already unhealthy before the step, not only the ones
//! the rollout takes down.
//!
//! This module owns that arithmetic and the wording of a refusal. A batch is formed from the
//! hosts still to roll, in order, up to the batch size, stopping at the first host that would
//! push a group past F; if even the first host cannot go, the batch is refused with a reason
//! naming the group, N, F, who is already down and what would go down. Only voting members
//! (role `consensus`) count; observers and free nodes never limit a batch. A member whose
//! health is not known counts as down: the guard must never guess in the unsafe direction.
//!
//! Pure functions over sets of names. Callers: [`super::engine`] before every rolling batch —
//! the first one before a dangerous rolling step asks for its typed confirmation, so nobody is
//! asked to confirm a batch the guard refuses — and its property tests.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Consensus groups: group name → its voting members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    groups: BTreeMap<String, BTreeSet<String>>,
    group_of: BTreeMap<String, String>,
}

impl Membership {
    /// Builds the membership from (host, consensus group, is a voting member) triples.
    pub fn new<'a>(hosts: impl IntoIterator<Item = (&'a str, Option<&'a str>, bool)>) -> Self {
        let mut m = Self::default();
        for (host, group, voting) in hosts {
            if let (Some(group), true) = (group, voting) {
                m.groups
                    .entry(group.to_owned())
                    .or_default()
                    .insert(host.to_owned());
                m.group_of.insert(host.to_owned(), group.to_owned());
            }
        }
        m
    }

    /// The consensus group `host` votes in, if any.
    pub fn group_of(&self, host: &str) -> Option<&str> {
        self.group_of.get(host).map(String::as_str)
    }

    /// The voting members of `group`.
    pub fn members(&self, group: &str) -> Option<&BTreeSet<String>> {
        self.groups.get(group)
    }
}

/// F for a group of `n` voting members: ⌊(n − 1) / 3⌋ (0 for fewer than 4).
pub fn tolerated(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

/// Why a batch may not go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The consensus group that would lose quorum.
    pub group: String,
    /// Its voting members.
    pub n: usize,
    /// Members it tolerates down.
    pub f: usize,
    /// Members already down (unhealthy, unknown, failed or in flight), sorted.
    pub already_down: Vec<String>,
    /// Members the batch would take down on top of those.
    pub would_go_down: Vec<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let down = if self.already_down.is_empty() {
            "none".to_owned()
        } else {
            self.already_down.join(", ")
        };
        let total = self.already_down.len() + self.would_go_down.len();
        write!(
            f,
            "quorum guard: consensus group `{}` has N = {} voting members and tolerates F = {} \
             down; already down: {}; ",
            self.group, self.n, self.f, down,
        )?;
        if self.would_go_down.is_empty() {
            write!(
                f,
                "that is more than F already, so no member may be touched"
            )
        } else {
            write!(
                f,
                "taking {} down would make {} down",
                self.would_go_down.join(", "),
                total
            )
        }
    }
}

/// Checks that taking `batch` down, with `down` already down, keeps every group within F.
pub fn check(
    batch: &[String],
    membership: &Membership,
    down: &BTreeSet<String>,
) -> Result<(), Refusal> {
    let mut touched: BTreeSet<&str> = BTreeSet::new();
    for host in batch {
        if let Some(g) = membership.group_of(host) {
            touched.insert(g);
        }
    }
    for group in touched {
        let Some(members) = membership.members(group) else {
            continue;
        };
        let already: Vec<String> = members
            .iter()
            .filter(|m| down.contains(*m))
            .cloned()
            .collect();
        let extra: Vec<String> = batch
            .iter()
            .filter(|h| members.contains(*h) && !down.contains(*h))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let f = tolerated(members.len());
        if already.len() + extra.len() > f {
            return Err(Refusal {
                group: group.to_owned(),
                n: members.len(),
                f,
                already_down: already,
                would_go_down: extra,
            });
        }
    }
    Ok(())
}

/// The next batch: the longest prefix of `pending` of at most `size` hosts that [`check`]
/// accepts. Refused when not even the first pending host may go down.
pub fn next_batch(
    pending: &[String],
    size: usize,
    membership: &Membership,
    down: &BTreeSet<String>,
) -> Result<Vec<String>, Refusal> {
    let mut batch: Vec<String> = Vec::new();
    for host in pending.iter().take(size.max(1)) {
        batch.push(host.clone());
        if let Err(refusal) = check(&batch, membership, down) {
            batch.pop();
            if batch.is_empty() {
                return Err(refusal);
            }
            break;
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn set(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn group(n: usize) -> Membership {
        let hosts: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        Membership::new(hosts.iter().map(|h| (h.as_str(), Some("g0"), true)))
    }

    #[test]
    fn tolerated_faults() {
        let table = [
            (0, 0),
            (1, 0),
            (2, 0),
            (3, 0),
            (4, 1),
            (5, 1),
            (6, 1),
            (7, 2),
            (9, 2),
            (10, 3),
            (100, 33),
        ];
        for (n, f) in table {
            assert_eq!(tolerated(n), f, "N = {n}");
        }
    }

    #[test]
    fn batches_are_limited_to_f() {
        let m = group(7);
        let pending = names(&["n1", "n2", "n3", "n4"]);
        assert_eq!(
            next_batch(&pending, 3, &m, &set(&[])).unwrap(),
            names(&["n1", "n2"])
        );
        assert_eq!(
            next_batch(&pending, 3, &m, &set(&["n7"])).unwrap(),
            names(&["n1"])
        );
        // An already-down member going through the rollout adds nothing.
        assert_eq!(
            next_batch(&pending, 3, &m, &set(&["n2"])).unwrap(),
            names(&["n1", "n2"])
        );
    }

    #[test]
    fn refusal_names_the_group_and_the_hosts() {
        let m = group(4);
        let err = next_batch(&names(&["n1", "n2"]), 1, &m, &set(&["n3"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "quorum guard: consensus group `g0` has N = 4 voting members and tolerates F = 1 \
             down; already down: n3; taking n1 down would make 2 down"
        );
        let err = next_batch(&names(&["n1"]), 1, &group(3), &set(&[])).unwrap_err();
        assert_eq!(err.f, 0);
        assert_eq!(err.already_down, Vec::<String>::new());
    }

    #[test]
    fn observers_and_free_hosts_never_limit_a_batch() {
        let m = Membership::new([
            ("c1", Some("g"), true),
            ("c2", Some("g"), true),
            ("c3", Some("g"), true),
            ("c4", Some("g"), true),
            ("o1", Some("g"), false),
            ("free", None, false),
        ]);
        let batch = next_batch(&names(&["o1", "free", "c1", "c2"]), 4, &m, &set(&[])).unwrap();
        assert_eq!(batch, names(&["o1", "free", "c1"]));
    }

    #[test]
    fn a_group_already_past_f_refuses_even_its_down_members() {
        let m = group(4);
        let err = next_batch(&names(&["n1"]), 1, &m, &set(&["n1", "n2"])).unwrap_err();
        assert_eq!(err.already_down, names(&["n1", "n2"]));
        assert!(err.would_go_down.is_empty());
    }
}
