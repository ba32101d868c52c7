//! The inventory key `jump`: which jump hosts (bastions) a host is reached through.
//!
//! `jump` is written like OpenSSH's `ProxyJump`: one hop or a chain `"a,b"` (outermost first),
//! each hop another inventory host's name or `[user@]host[:port]`; `"none"` means a direct
//! connection whatever `~/.ssh/config` says. It may sit in `[ssh]`, a profile or a host; the
//! host's own wins, then its profile's, then `[ssh]`'s.
//!
//! This module owns the hop syntax ([`parse_hop`], shared with the transport's route
//! resolution) and the checks that need the whole fleet: an inventory host used as a hop must be
//! an SSH host, a host may not jump through itself, and the jump hosts' own jumps may not form a
//! cycle. An inherited `jump` (from `[ssh]` or a profile) skips the host it names: with
//! `[ssh] jump = "bastion"` the bastion itself is not reached through itself, and with `"a,b"`
//! host `b` is reached through `a` only. Pure: no files, no network. Caller:
//! [`super::resolve`].

use std::collections::HashMap;
use std::ops::Range;

use super::{Host, Jump, TransportKind};
use crate::diag::{Located, Source};

/// One hop of a `jump` or `ProxyJump` chain, split as OpenSSH does: `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopSpec {
    /// The user before `@`, when given.
    pub user: Option<String>,
    /// The host: an inventory name, an ssh_config alias, a name or an address.
    pub host: String,
    /// The port after `:`, when given.
    pub port: Option<u16>,
}

/// Splits `[user@]host[:port]` (an IPv6 address in brackets: `[::1]:22`); the reason when the
/// text cannot be a hop.
pub fn parse_hop(text: &str) -> Result<HopSpec, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty hop".into());
    }
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | ',' | '/'))
    {
        return Err(format!("{bad:?} cannot appear in a host name"));
    }
    let (user, rest) = match text.rsplit_once('@') {
        Some(("", _)) => return Err("an empty user before `@`".into()),
        Some((u, r)) => (Some(u.to_owned()), r),
        None => (None, text),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return Err("an IPv6 address opened with `[` but not closed with `]`".into());
        };
        match after {
            "" => (addr, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (addr, Some(p)),
                None => return Err(format!("unexpected {after:?} after `]`")),
            },
        }
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err("no host name".into());
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("port {p:?} is not a number from 1 to 65535")),
        },
    };
    Ok(HopSpec {
        user,
        host: host.to_owned(),
        port,
    })
}

/// Splits a `jump` value into hops (`"none"` alone is [`Jump::None`]); the reason when a hop
/// cannot be one.
pub(super) fn parse_jump(text: &str) -> Result<Jump, String> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("none") {
        return Ok(Jump::None);
    }
    let mut hops = Vec::new();
    for (i, hop) in trimmed.split(',').enumerate() {
        let hop = hop.trim();
        if hop.eq_ignore_ascii_case("none") {
            return Err(
                "\"none\" cannot be one hop of a chain: write `jump = \"none\"` alone \
                        for a direct connection"
                    .into(),
            );
        }
        if let Err(why) = parse_hop(hop) {
            return Err(format!("hop {} ({hop:?}): {why}", i + 1));
        }
        hops.push(hop.to_owned());
    }
    Ok(Jump::Via(hops))
}

/// Where a host's `jump` came from, for messages and for the inherited-chain rule.
#[derive(Debug, Clone)]
pub(super) struct JumpOrigin {
    /// The span of the `jump` value that applies to the host.
    pub(super) span: Range<usize>,
    /// Whether the host wrote it itself (else it came from its profile or `[ssh]`).
    pub(super) own: bool,
}

/// Applies the inherited-chain rule and checks every host's `jump` against the whole fleet.
/// `origins[i]` is where host `i`'s `jump` was written (`None` when it has none).
pub(super) fn check_fleet(
    src: &Source<'_>,
    hosts: &mut [Host],
    origins: &[Option<JumpOrigin>],
) -> Result<(), Located> {
    let index: HashMap<String, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.clone(), i))
        .collect();
    // An inherited chain skips the host it names: the hops before it are its route.
    for (i, origin) in origins.iter().enumerate() {
        let Some(origin) = origin else { continue };
        if origin.own {
            continue;
        }
        if let Some(Jump::Via(hops)) = &hosts[i].jump
            && let Some(at) = hops.iter().position(|h| *h == hosts[i].name)
        {
            hosts[i].jump = if at == 0 {
                None
            } else {
                Some(Jump::Via(hops[..at].to_vec()))
            };
        }
    }
    for (i, origin) in origins.iter().enumerate() {
        let (Some(origin), Some(Jump::Via(hops))) = (origin, &hosts[i].jump) else {
            continue;
        };
        let name = &hosts[i].name;
        for hop in hops {
            if hop == name {
                return Err(src.at(
                    origin.span.clone(),
                    format!(
                        "host {name:?} jumps through itself: `jump` lists {hop:?}; expected \
                         other hosts (its bastions), or \"none\""
                    ),
                ));
            }
            if let Some(&j) = index.get(hop.as_str())
                && hosts[j].transport != TransportKind::Ssh
            {
                return Err(src.at(
                    origin.span.clone(),
                    format!(
                        "host {name:?} jumps through {hop:?}, a local host: a jump host must be \
                         reached over SSH"
                    ),
                ));
            }
        }
    }
    // A host's route starts with its first hop's own route: follow first hops to find a cycle.
    for (start, origin) in origins.iter().enumerate() {
        let Some(origin) = origin else { continue };
        let mut path = vec![start];
        let mut at = start;
        while let Some(Jump::Via(hops)) = &hosts[at].jump {
            let Some(&next) = hops.first().and_then(|h| index.get(h.as_str())) else {
                break;
            };
            if let Some(pos) = path.iter().position(|&p| p == next) {
                let mut names: Vec<&str> = path[pos..]
                    .iter()
                    .map(|&p| hosts[p].name.as_str())
                    .collect();
                names.push(hosts[next].name.as_str());
                return Err(src.at(
                    origin.span.clone(),
                    format!(
                        "jump hosts form a cycle: {}; expected a chain that ends at a host \
                         reached directly",
                        names.join(" → ")
                    ),
                ));
            }
            path.push(next);
            at = next;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_split_like_openssh() {
        assert_eq!(
            parse_hop("ops@bastion:2222").unwrap(),
            HopSpec {
                user: Some("ops".into()),
                host: "bastion".into(),
                port: Some(2222)
            }
        );
        assert_eq!(
            parse_hop("bastion-1").unwrap(),
            HopSpec {
                user: None,
                host: "bastion-1".into(),
                port: None
            }
        );
        assert_eq!(
            parse_hop("root@[fd00::1]:22").unwrap(),
            HopSpec {
                user: Some("root".into()),
                host: "fd00::1".into(),
                port: Some(22)
            }
        );
        for bad in ["", "a b", "@h", "h:0", "h:x", "[::1", "u@", "h/x"] {
            assert!(parse_hop(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn jump_values_parse_to_chains_or_none() {
        assert_eq!(parse_jump("none").unwrap(), Jump::None);
        assert_eq!(
            parse_jump("a, u@b:2").unwrap(),
            Jump::Via(vec!["a".into(), "u@b:2".into()])
        );
        assert!(parse_jump("a,none").unwrap_err().contains("alone"));
        assert!(parse_jump("a,,b").unwrap_err().contains("hop 2"));
    }
}
