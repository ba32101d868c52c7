//! Runbook inputs: checking a value against its declared type (and pattern, choices, the
//! fleet's hosts) and filling defaults.
//!
//! Shared by the linter (`load`, which checks defaults and example values), the dry-run plan
//! and the engine (values given up front and answers to prompts), so it sits below all three
//! and imports none of them. Pure.

use std::collections::BTreeMap;

use super::hosts::HostInfo;
use super::{Input, InputType, Runbook};

/// The pattern anchored to the whole value.
pub(crate) fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

/// `value` when it matches the input's `pattern` (if any), else why not.
fn matches_pattern(input: &Input, value: &str) -> Result<String, String> {
    if let Some(p) = &input.pattern {
        let re = regex::Regex::new(&anchored(p)).map_err(|e| format!("invalid pattern: {e}"))?;
        if !re.is_match(value) {
            return Err(if input.secret {
                format!("the value does not match the pattern /{p}/")
            } else {
                format!("{value:?} does not match the pattern /{p}/")
            });
        }
    }
    Ok(value.to_owned())
}

/// Checks one input value; returns its canonical spelling. `fleet` (when given) is the list
/// `host` inputs must come from.
pub(crate) fn validate_input(
    input: &Input,
    value: &str,
    fleet: Option<&[HostInfo]>,
) -> Result<String, String> {
    match input.kind {
        InputType::Path => {
            // Relative to what? The SSH session's working directory is an accident of the
            // host's setup: a host path names its root, or the home with `~`.
            if !(value.starts_with('/') || value.starts_with('~')) {
                return Err(format!(
                    "{value:?} is not a host path: start it with / or ~ (the login user's home)"
                ));
            }
            crate::host_path::shell_word(value)?;
            matches_pattern(input, value)
        }
        InputType::String => matches_pattern(input, value),
        InputType::Int => value
            .trim()
            .parse::<i64>()
            .map(|i| i.to_string())
            .map_err(|_| format!("{value:?} is not a whole number")),
        InputType::Bool => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => Ok("true".to_owned()),
            "false" | "no" | "n" | "0" => Ok("false".to_owned()),
            _ => Err(format!("{value:?} is not true or false")),
        },
        InputType::Choice => {
            if input.choices.iter().any(|c| c == value) {
                Ok(value.to_owned())
            } else {
                Err(format!(
                    "{value:?} is not one of {}",
                    input.choices.join(", ")
                ))
            }
        }
        InputType::Duration => humantime::parse_duration(value.trim())
            .map(|_| value.trim().to_owned())
            .map_err(|_| format!("{value:?} is not a duration like \"30s\", \"15m\"")),
        InputType::Host => match fleet {
            Some(fleet) if !fleet.iter().any(|h| h.name == value) => {
                Err(format!("{value:?} is not a host of the inventory"))
            }
            _ => Ok(value.to_owned()),
        },
    }
}

/// Validates the given inputs against the runbook: unknown names and bad values are errors;
/// defaults fill what was not given. Returns the values and the required inputs still missing.
pub(crate) fn validate_inputs(
    runbook: &Runbook,
    given: &BTreeMap<String, String>,
    fleet: &[HostInfo],
) -> Result<(BTreeMap<String, String>, Vec<String>), String> {
    for name in given.keys() {
        if runbook.input(name).is_none() {
            let known: Vec<&str> = runbook.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(if known.is_empty() {
                format!(
                    "unknown input `{name}`: runbook `{}` takes no inputs",
                    runbook.name
                )
            } else {
                format!(
                    "unknown input `{name}`: runbook `{}` takes {}",
                    runbook.name,
                    known.join(", ")
                )
            });
        }
    }
    let mut values = BTreeMap::new();
    let mut missing = Vec::new();
    for input in &runbook.inputs {
        match given.get(&input.name) {
            Some(v) => {
                let v = validate_input(input, v, Some(fleet))
                    .map_err(|e| format!("invalid input `{}`: {e}", input.name))?;
                values.insert(input.name.clone(), v);
            }
            None => match &input.default {
                Some(d) => {
                    values.insert(input.name.clone(), d.clone());
                }
                None if input.required => missing.push(input.name.clone()),
                None => {
                    values.insert(input.name.clone(), String::new());
                }
            },
        }
    }
    Ok((values, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_input(pattern: Option<&str>) -> Input {
        Input {
            name: "dir".into(),
            prompt: "Directory".into(),
            kind: InputType::Path,
            pattern: pattern.map(str::to_owned),
            choices: Vec::new(),
            default: None,
            required: true,
            secret: false,
        }
    }

    #[test]
    fn a_path_is_absolute_or_home_relative_and_kept_as_written() {
        let input = path_input(None);
        for ok in ["/srv/backups", "~", "~/backups", "~postgres/backups", "/"] {
            assert_eq!(validate_input(&input, ok, None).as_deref(), Ok(ok));
        }
        for bad in ["backups", "./backups", "", "-rf"] {
            let err = validate_input(&input, bad, None).unwrap_err();
            assert!(err.contains("is not a host path"), "{bad}: {err}");
        }
        assert!(validate_input(&input, "/a\0b", None).is_err(), "NUL");
        let input = path_input(Some("(/|~/).+"));
        assert!(validate_input(&input, "~/x", None).is_ok());
        assert!(
            validate_input(&input, "~", None).is_err(),
            "the pattern still applies"
        );
    }
}
