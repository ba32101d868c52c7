//! Grouping the per-host results of one ad-hoc command the way `clush -b` and `dshbak -c` do:
//! hosts whose output (stdout, stderr, how much was cut) and exit status are identical are one
//! group, shown once under its folded host list ([`super::hostlist::fold`]). The largest group
//! comes first, ties in inventory order (by each group's first host); so the odd ones out come
//! after the majority. Hosts that could not run the command (unreachable, timed out, cancelled,
//! an error) are not grouped: they are listed with their reason, in inventory order.
//!
//! Pure, and works on any subset of results, so the console can regroup as results arrive.

use std::collections::HashMap;

use super::hostlist;
use super::{HostOutcome, HostResult, NotRun};

/// Hosts that ran the command and answered the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The hosts' inventory indices, in inventory order.
    pub indices: Vec<usize>,
    /// Their names, in the same order.
    pub names: Vec<String>,
    /// The exit status they share (`None`: killed by a signal, no status).
    pub exit_code: Option<u32>,
    /// The stdout they share (as kept under the output cap).
    pub stdout: Vec<u8>,
    /// The stderr they share.
    pub stderr: Vec<u8>,
    /// Bytes each of them had cut by the output cap (0: none).
    pub dropped_bytes: u64,
}

impl Group {
    /// The host list folded into ranges: `h[01-03,07]`.
    pub fn folded(&self) -> String {
        hostlist::fold(&self.names)
    }
}

/// A host that did not run the command to the end, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// Inventory index.
    pub index: usize,
    /// Host name.
    pub name: String,
    /// Why.
    pub not_run: NotRun,
}

/// Every result, grouped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grouped {
    /// Groups of identical answers, largest first, ties in inventory order.
    pub groups: Vec<Group>,
    /// Hosts that did not run the command to the end, in inventory order.
    pub missing: Vec<Missing>,
}

impl Grouped {
    /// Whether the answers disagree: more than one group, or hosts missing beside a group.
    pub fn has_odd_ones_out(&self) -> bool {
        self.groups.len() > 1 || (!self.groups.is_empty() && !self.missing.is_empty())
    }
}

/// What makes two hosts' answers the same: exit status, stdout, stderr, bytes cut.
type Answer<'a> = (Option<u32>, &'a [u8], &'a [u8], u64);

/// Groups `results` (in any order).
pub fn group(results: &[HostResult]) -> Grouped {
    let mut sorted: Vec<&HostResult> = results.iter().collect();
    sorted.sort_by_key(|r| r.index);
    let mut groups: Vec<Group> = Vec::new();
    let mut by_answer: HashMap<Answer<'_>, usize> = HashMap::new();
    let mut missing = Vec::new();
    for r in sorted {
        match &r.outcome {
            HostOutcome::Ran(ran) => {
                let key = (
                    ran.exit_code,
                    ran.stdout.as_slice(),
                    ran.stderr.as_slice(),
                    ran.dropped_bytes,
                );
                match by_answer.get(&key) {
                    Some(&g) => {
                        groups[g].indices.push(r.index);
                        groups[g].names.push(r.name.clone());
                    }
                    None => {
                        by_answer.insert(key, groups.len());
                        groups.push(Group {
                            indices: vec![r.index],
                            names: vec![r.name.clone()],
                            exit_code: ran.exit_code,
                            stdout: ran.stdout.clone(),
                            stderr: ran.stderr.clone(),
                            dropped_bytes: ran.dropped_bytes,
                        });
                    }
                }
            }
            HostOutcome::NotRun(not_run) => missing.push(Missing {
                index: r.index,
                name: r.name.clone(),
                not_run: not_run.clone(),
            }),
        }
    }
    // Stable: equal sizes keep the order of their first host.
    groups.sort_by_key(|g| std::cmp::Reverse(g.indices.len()));
    Grouped { groups, missing }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::exec::{NotRunKind, Ran};

    fn ran(index: usize, exit: u32, out: &str) -> HostResult {
        HostResult {
            index,
            name: format!("h{}", index + 1),
            duration: Duration::from_millis(5),
            outcome: HostOutcome::Ran(Ran {
                exit_code: Some(exit),
                stdout: out.as_bytes().to_vec(),
                stderr: Vec::new(),
                dropped_bytes: 0,
            }),
        }
    }

    fn down(index: usize) -> HostResult {
        HostResult {
            index,
            name: format!("h{}", index + 1),
            duration: Duration::ZERO,
            outcome: HostOutcome::NotRun(NotRun {
                kind: NotRunKind::Unreachable,
                reason: "connection refused".into(),
            }),
        }
    }

    #[test]
    fn identical_answers_group_and_the_odd_one_comes_after() {
        let results = vec![
            ran(3, 0, "a\n"),
            ran(0, 0, "a\n"),
            ran(1, 0, "b\n"),
            ran(2, 0, "a\n"),
            down(4),
        ];
        let g = group(&results);
        assert_eq!(g.groups.len(), 2);
        assert_eq!(g.groups[0].names, ["h1", "h3", "h4"]);
        assert_eq!(g.groups[0].folded(), "h[1,3-4]");
        assert_eq!(g.groups[1].names, ["h2"]);
        assert_eq!(g.missing.len(), 1);
        assert_eq!(g.missing[0].name, "h5");
        assert!(g.has_odd_ones_out());
    }

    #[test]
    fn same_output_different_exit_status_is_two_groups() {
        let g = group(&[ran(0, 0, "x"), ran(1, 1, "x")]);
        assert_eq!(g.groups.len(), 2);
    }

    #[test]
    fn stderr_and_truncation_are_part_of_the_answer() {
        let mut a = ran(0, 0, "x");
        let mut b = ran(1, 0, "x");
        if let HostOutcome::Ran(r) = &mut a.outcome {
            r.stderr = b"warn".to_vec();
        }
        assert_eq!(group(&[a.clone(), b.clone()]).groups.len(), 2);
        if let HostOutcome::Ran(r) = &mut b.outcome {
            r.stderr = b"warn".to_vec();
            r.dropped_bytes = 10;
        }
        assert_eq!(group(&[a, b]).groups.len(), 2);
    }

    #[test]
    fn ties_keep_inventory_order() {
        let g = group(&[ran(2, 0, "c"), ran(1, 0, "b"), ran(0, 0, "a")]);
        let firsts: Vec<_> = g.groups.iter().map(|g| g.names[0].as_str()).collect();
        assert_eq!(firsts, ["h1", "h2", "h3"]);
        assert!(g.has_odd_ones_out());
    }

    #[test]
    fn all_alike_has_no_odd_one_out() {
        let g = group(&[ran(0, 0, "a"), ran(1, 0, "a")]);
        assert_eq!(g.groups.len(), 1);
        assert!(!g.has_odd_ones_out());
        assert!(!group(&[]).has_odd_ones_out());
    }
}
