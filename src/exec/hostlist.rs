//! Folding host names into ranges, as ClusterShell's `nodeset -f` and pdsh's `dshbak -c` print
//! them: `h01 h02 h03 h07` → `h[01-03,07]`.
//!
//! Each name is split at its *last* run of digits into a prefix, the number and a suffix
//! (`rack2-node07.dc` → `rack2-node`, `07`, `.dc`). Names with the same prefix and suffix share
//! one bracket; consecutive numbers of the same width become a range. Zero padding is kept
//! exactly: `h01`–`h03` fold to `h[01-03]`, while `h1` and `h01` stay two different names
//! (`h[1,01]`), and `h9 h10` fold to `h[9-10]` (no padding on either). Names without digits are
//! printed as they are. The result lists the pieces in the order their first name came, so a
//! group keeps inventory order.
//!
//! Why not a crate: the `hostlist` crate only expands (and pulls clap 2 and an old nom); no
//! maintained crate folds. This is small, pure and tested here.

use std::collections::BTreeMap;

/// One name split at its last digit run.
struct Split<'a> {
    prefix: &'a str,
    digits: &'a str,
    suffix: &'a str,
}

fn split(name: &str) -> Option<Split<'_>> {
    let bytes = name.as_bytes();
    let end = bytes.iter().rposition(u8::is_ascii_digit)? + 1;
    let start = bytes[..end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    Some(Split {
        prefix: &name[..start],
        digits: &name[start..end],
        suffix: &name[end..],
    })
}

/// A number as written: its value and the width it must be printed with (`None` = as is,
/// without padding; `Some(w)` = zero-padded to `w` digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Num {
    value: u128,
    pad: Option<usize>,
}

impl Num {
    fn parse(digits: &str) -> Option<Num> {
        let value = digits.parse::<u128>().ok()?;
        let pad = (digits.len() > 1 && digits.starts_with('0')).then_some(digits.len());
        Some(Num { value, pad })
    }

    fn render(self) -> String {
        match self.pad {
            Some(w) => format!("{:0w$}", self.value),
            None => self.value.to_string(),
        }
    }

    /// Whether `next` continues a range ending at `self`: the next value, written the same way.
    /// An unpadded number continues a padded range when it is exactly as wide (`h09 h10`).
    fn continued_by(self, next: Num) -> bool {
        if self.value.checked_add(1) != Some(next.value) {
            return false;
        }
        match (self.pad, next.pad) {
            (a, b) if a == b => true,
            (Some(w), None) => next.value.to_string().len() == w,
            _ => false,
        }
    }
}

/// Folds `names` into one line: `h[01-03,07],db1,web[1-2]`. Duplicates are folded away.
pub fn fold<S: AsRef<str>>(names: &[S]) -> String {
    // (prefix, suffix) → numbers, in first-appearance order of the pieces.
    let mut order: Vec<Piece> = Vec::new();
    let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
    for name in names {
        let name = name.as_ref();
        let parsed = split(name).and_then(|s| Num::parse(s.digits).map(|n| (s, n)));
        match parsed {
            Some((s, num)) => {
                let key = (s.prefix.to_owned(), s.suffix.to_owned());
                let at = *index.entry(key).or_insert_with(|| {
                    order.push(Piece::Numbered {
                        prefix: s.prefix.to_owned(),
                        suffix: s.suffix.to_owned(),
                        nums: Vec::new(),
                    });
                    order.len() - 1
                });
                if let Piece::Numbered { nums, .. } = &mut order[at] {
                    nums.push(num);
                }
            }
            None => {
                if !order
                    .iter()
                    .any(|p| matches!(p, Piece::Plain(n) if n == name))
                {
                    order.push(Piece::Plain(name.to_owned()));
                }
            }
        }
    }
    order
        .into_iter()
        .map(Piece::render)
        .collect::<Vec<_>>()
        .join(",")
}

enum Piece {
    Plain(String),
    Numbered {
        prefix: String,
        suffix: String,
        nums: Vec<Num>,
    },
}

impl Piece {
    fn render(self) -> String {
        match self {
            Piece::Plain(name) => name,
            Piece::Numbered {
                prefix,
                suffix,
                mut nums,
            } => {
                nums.sort_by_key(|n| (n.value, n.pad));
                nums.dedup();
                if let [one] = nums.as_slice() {
                    return format!("{prefix}{}{suffix}", one.render());
                }
                let mut ranges: Vec<(Num, Num)> = Vec::new();
                for n in nums {
                    match ranges.last_mut() {
                        Some((_, last)) if last.continued_by(n) => *last = n,
                        _ => ranges.push((n, n)),
                    }
                }
                let inner = ranges
                    .iter()
                    .map(|(a, b)| {
                        if a == b {
                            a.render()
                        } else {
                            format!("{}-{}", a.render(), b.render())
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                format!("{prefix}[{inner}]{suffix}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn consecutive_numbers_fold_into_ranges() {
        assert_eq!(fold(&["h01", "h02", "h03", "h07"]), "h[01-03,07]");
        assert_eq!(fold(&["h1", "h2", "h3"]), "h[1-3]");
        assert_eq!(fold(&["h1", "h3", "h5"]), "h[1,3,5]");
        assert_eq!(fold(&["h3", "h1", "h2"]), "h[1-3]");
    }

    #[test]
    fn a_single_name_is_printed_as_it_is() {
        assert_eq!(fold(&["h1"]), "h1");
        assert_eq!(fold(&["db-primary"]), "db-primary");
        assert_eq!(fold::<&str>(&[]), "");
    }

    #[test]
    fn zero_padding_is_kept_exactly() {
        assert_eq!(fold(&["h001", "h002", "h010"]), "h[001-002,010]");
        assert_eq!(fold(&["h1", "h01"]), "h[1,01]");
        assert_eq!(fold(&["h9", "h10", "h11"]), "h[9-11]");
        // 09 is padded to two digits, 10 needs no padding at width two: one range.
        assert_eq!(fold(&["h08", "h09", "h10"]), "h[08-10]");
        // 9 and 010 are written differently from the numbers around them.
        assert_eq!(fold(&["h8", "h9", "h010"]), "h[8-9,010]");
        assert_eq!(fold(&["n0", "n1"]), "n[0-1]");
        assert_eq!(fold(&["n00", "n01"]), "n[00-01]");
    }

    #[test]
    fn mixed_names_keep_their_first_appearance_order() {
        assert_eq!(
            fold(&["web1", "db1", "web2", "db2", "bastion", "web3"]),
            "web[1-3],db[1-2],bastion"
        );
    }

    #[test]
    fn the_last_digit_run_is_the_one_that_folds() {
        assert_eq!(
            fold(&["rack1-node01", "rack1-node02", "rack2-node01"]),
            "rack1-node[01-02],rack2-node01"
        );
        assert_eq!(
            fold(&["dvn-aws-1.prod", "dvn-aws-2.prod", "dvn-gcp-1.prod"]),
            "dvn-aws-[1-2].prod,dvn-gcp-1.prod"
        );
    }

    #[test]
    fn duplicates_fold_away() {
        assert_eq!(fold(&["h1", "h1", "h2", "x", "x"]), "h[1-2],x");
    }

    #[test]
    fn huge_numbers_do_not_panic() {
        let big = format!("h{}", "9".repeat(60));
        assert_eq!(fold(&[big.as_str()]), big);
        assert_eq!(
            fold(&["h18446744073709551615", "h18446744073709551616"]),
            "h[18446744073709551615-18446744073709551616]"
        );
    }
}
