//! The short fuzz run, inside `cargo test` (so in CI): every target of `tests/fuzz_targets` over
//! its seed corpus, then over inputs proptest generates from it — seeds mutated byte-wise and
//! token-wise, seeds spliced together, and plain random bytes. A failure is shrunk by proptest
//! to a small input and printed; add it to the target's corpus when it is fixed.
//!
//! Seeds: `tests/fuzz_corpus/<target>/` (kept in the repository), plus the project's own files
//! of that kind (inventory fixtures and examples, shipped themes and runbooks). The long,
//! coverage-guided run is `scripts/fuzz` (cargo-fuzz over the same targets and seeds).
//!
//! The short run draws its inputs from a fixed seed, so it is the same on every run and machine.
//!
//! Environment: `FLEETDECK_FUZZ_CASES` (generated inputs per target; defaults to about a second's
//! worth each),
//! `FLEETDECK_FUZZ_SECONDS` (instead: keep generating for this long per target, and print the
//! number of executions), `FLEETDECK_FUZZ_WRITE_SEEDS=1` (rewrite the recorded `probe_script`
//! seeds by running the probe script on this machine).

mod fuzz_targets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Files directly in `dir` with one of `exts` (any file when `exts` is empty), sorted.
fn files_in(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| exts.is_empty() || p.extension().is_some_and(|e| exts.iter().any(|x| e == *x)))
        .collect();
    v.sort();
    v
}

/// The seed inputs of `target`: its corpus folder and the project's own files of that kind.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut paths = files_in(&repo().join("tests/fuzz_corpus").join(target), &[]);
    let extra: &[&str] = match target {
        "inventory" => &[
            "tests/fixtures/inventory/valid",
            "tests/fixtures/inventory/invalid",
            "assets",
            "examples",
        ],
        "theme" => &[
            "themes",
            "tests/fixtures/themes/valid",
            "tests/fixtures/themes/invalid",
        ],
        "runbook" => &[
            "runbooks",
            "tests/fixtures/runbooks/valid",
            "tests/fixtures/runbooks/invalid",
        ],
        _ => &[],
    };
    for dir in extra {
        paths.extend(files_in(&repo().join(dir), &["toml"]));
    }
    paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// Tokens worth inserting: the words and punctuation runs of the seeds, and generic trouble.
fn dictionary(seeds: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut words: Vec<Vec<u8>> = [
        "\n",
        "\r\n",
        "\"",
        "'",
        "'''",
        "\"\"\"",
        "\\",
        "\\u{0}",
        "[",
        "]",
        "[[",
        "]]",
        "{",
        "}",
        "=",
        ",",
        ".",
        "#",
        "0x",
        "-",
        "9999999999999999999999",
        "-1",
        "1e308",
        "nan",
        "inf",
        "true",
        "null",
        "\u{feff}",
        "é",
        "\u{202e}",
        "\t",
        " ",
        "\0",
        "\u{1F600}",
        "~/",
        "../",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for seed in seeds {
        let text = String::from_utf8_lossy(seed);
        for w in text.split(|c: char| c.is_whitespace() || c == ',' || c == '=') {
            if !w.is_empty() && w.len() <= 40 {
                words.push(w.as_bytes().to_vec());
            }
        }
    }
    words.sort();
    words.dedup();
    words
}

/// One edit of an input.
#[derive(Debug, Clone)]
enum Edit {
    Flip(Index, u8),
    Insert(Index, u8),
    Token(Index, Index),
    Delete(Index, usize),
    Duplicate(Index, usize),
    Truncate(Index),
    Splice(Index, Index, Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        4 => (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Edit::Token(i, t)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Edit::Delete(i, n)),
        1 => (any::<Index>(), 1usize..256).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(i, s, j)| Edit::Splice(i, s, j)),
    ]
}

fn apply(mut data: Vec<u8>, edits: &[Edit], dict: &[Vec<u8>], seeds: &[Vec<u8>]) -> Vec<u8> {
    for e in edits {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
        match e {
            Edit::Flip(i, b) if !data.is_empty() => {
                let k = i.index(data.len());
                data[k] ^= b | 1;
            }
            Edit::Flip(..) => {}
            Edit::Insert(i, b) => {
                let k = at(i, data.len());
                data.insert(k, *b);
            }
            Edit::Token(i, t) => {
                let k = at(i, data.len());
                let tok = &dict[t.index(dict.len())];
                data.splice(k..k, tok.iter().copied());
            }
            Edit::Delete(i, n) if !data.is_empty() => {
                let k = i.index(data.len());
                let end = (k + n).min(data.len());
                data.drain(k..end);
            }
            Edit::Delete(..) => {}
            Edit::Duplicate(i, n) if !data.is_empty() => {
                let k = i.index(data.len());
                let end = (k + n).min(data.len());
                let piece = data[k..end].to_vec();
                data.splice(end..end, piece);
            }
            Edit::Duplicate(..) => {}
            Edit::Truncate(i) => {
                let k = at(i, data.len());
                data.truncate(k);
            }
            Edit::Splice(i, s, j) => {
                let other = &seeds[s.index(seeds.len())];
                if !other.is_empty() {
                    let from = j.index(other.len());
                    let k = at(i, data.len());
                    let tail = data.split_off(k);
                    data.extend_from_slice(&other[from..]);
                    data.extend(tail);
                }
            }
        }
        // Keep inputs small enough that a case costs microseconds, not seconds.
        data.truncate(64 * 1024);
    }
    data
}

fn inputs(seeds: Vec<Vec<u8>>, dict: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let mutated = {
        let seeds2 = seeds.clone();
        (select(seeds.clone()), prop::collection::vec(edit(), 1..12))
            .prop_map(move |(seed, edits)| apply(seed, &edits, &dict, &seeds2))
    };
    prop_oneof![
        6 => mutated,
        1 => prop::collection::vec(any::<u8>(), 0..2048),
        1 => select(seeds),
    ]
    .boxed()
}

/// Generated inputs per target in the short run: about a second each in a debug build.
fn default_cases(target: &str) -> u32 {
    match target {
        // Each case writes a file four times and fsyncs it twice.
        "known_hosts" => 1000,
        // Parse, lint and five renderings per case.
        "runbook" => 500,
        "probe_script" => 800,
        _ => 1500,
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

thread_local! {
    /// Set while a target runs: proptest catches and reports its panics (and replays them while
    /// shrinking), so the default hook's message for each one would only be noise.
    static IN_TARGET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn quiet_panics_inside_targets() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_TARGET.with(std::cell::Cell::get) {
                default(info);
            }
        }));
    });
}

/// Runs `name` over its seeds, then over generated inputs; returns the number of executions.
fn fuzz(name: &str) -> u64 {
    quiet_panics_inside_targets();
    let target = fuzz_targets::target(name);
    let seeds = seeds(name);
    assert!(
        !seeds.is_empty(),
        "no seeds for fuzz target {name}: add files to tests/fuzz_corpus/{name}/"
    );
    for (i, s) in seeds.iter().enumerate() {
        target(s);
        let _ = i;
    }
    let dict = dictionary(&seeds);
    let strategy = inputs(seeds.clone(), dict);
    let mut executions = seeds.len() as u64;
    let budget = env_u64("FLEETDECK_FUZZ_SECONDS").map(Duration::from_secs);
    let cases = env_u64("FLEETDECK_FUZZ_CASES").map_or_else(|| default_cases(name), |n| n as u32);
    let started = Instant::now();
    loop {
        let batch = if budget.is_some() { 20_000 } else { cases };
        let config = Config {
            cases: batch,
            failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
            ..Config::default()
        };
        // The short run in CI is the same every time (a fixed seed); a timed run explores.
        let mut runner = if budget.is_some() {
            TestRunner::new(config)
        } else {
            TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
        };
        let result = runner.run(&strategy, |input| {
            IN_TARGET.with(|q| q.set(true));
            let outcome = std::panic::catch_unwind(|| target(&input));
            IN_TARGET.with(|q| q.set(false));
            match outcome {
                Ok(()) => Ok(()),
                Err(panic) => Err(TestCaseError::fail(
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panic".to_string()),
                )),
            }
        });
        if let Err(e) = result {
            panic!("fuzz target {name} failed: {e}");
        }
        executions += u64::from(batch);
        match budget {
            Some(b) if started.elapsed() < b => continue,
            _ => break,
        }
    }
    if budget.is_some() {
        println!(
            "fuzz {name}: {executions} executions in {:.0?}, 0 crashes",
            started.elapsed()
        );
    }
    executions
}

#[test]
fn inventory() {
    fuzz("inventory");
}

#[test]
fn theme() {
    fuzz("theme");
}

#[test]
fn probe_parsers() {
    fuzz("probe_parsers");
}

#[test]
fn probe_script() {
    fuzz("probe_script");
}

#[test]
fn rpc_reply() {
    fuzz("rpc_reply");
}

#[test]
fn known_hosts() {
    fuzz("known_hosts");
}

#[test]
fn runbook() {
    fuzz("runbook");
}

#[test]
fn every_target_has_a_test_and_a_seed_corpus() {
    let tests = [
        "inventory",
        "theme",
        "probe_parsers",
        "probe_script",
        "rpc_reply",
        "known_hosts",
        "runbook",
    ];
    for (name, _) in fuzz_targets::TARGETS {
        assert!(
            tests.contains(name),
            "fuzz target {name} has no #[test] here"
        );
        let dir = repo().join("tests/fuzz_corpus").join(name);
        assert!(
            !files_in(&dir, &[]).is_empty(),
            "{} holds no seed",
            dir.display()
        );
    }
}

/// With `FLEETDECK_FUZZ_WRITE_SEEDS=1`, records what the probe script really prints on this
/// machine as `probe_script` seeds (the marker replaced by the marker byte); otherwise checks
/// that such recorded seeds exist.
#[test]
fn probe_script_seeds_are_recorded_output() {
    let dir = repo().join("tests/fuzz_corpus/probe_script");
    if std::env::var_os("FLEETDECK_FUZZ_WRITE_SEEDS").is_some_and(|v| v == "1") {
        record_probe_script_seeds(&dir);
    }
    assert!(
        files_in(&dir, &[]).iter().any(|p| p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("recorded-"))),
        "no recorded probe script output in {}: run with FLEETDECK_FUZZ_WRITE_SEEDS=1",
        dir.display()
    );
}

fn record_probe_script_seeds(dir: &Path) {
    use fleetdeck::transport::local::LocalHost;
    use fleetdeck::transport::{ExecRequest, Transport};
    let fleet = fleetdeck::inventory::load_fleet_from_str(
        fuzz_targets::SCRIPT_HOST,
        fleetdeck::inventory::ConfigSource::Embedded,
    )
    .unwrap();
    let script = fleetdeck::probe::script::build(&fleet.hosts[0]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt
        .block_on(Transport::Local(LocalHost::new()).exec(&ExecRequest {
            command: "sh -s".into(),
            stdin: Some(script.text().as_bytes().to_vec()),
            timeout: Duration::from_secs(60),
            max_output: 1 << 20,
        }))
        .unwrap();
    let marker = script.marker().as_bytes();
    let squash = |bytes: &[u8]| -> Vec<u8> {
        let mut v = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(marker) {
                v.push(fuzz_targets::MARKER_BYTE);
                i += marker.len();
            } else {
                v.push(bytes[i]);
                i += 1;
            }
        }
        v
    };
    let status = match out.status {
        Some(0) => 0,
        Some(s) => 128 + s.min(127) as u8,
        None => 128,
    };
    let mut seed = vec![status, 0];
    seed.extend(squash(&out.stdout));
    seed.push(fuzz_targets::STDERR_BYTE);
    seed.extend(squash(&out.stderr));
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("recorded-this-machine"), &seed).unwrap();
    // Each section's body is also a real output of one probe command: a seed for the parsers.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsers = dir.parent().unwrap().join("probe_parsers");
    let mut current: Option<(String, String)> = None;
    for line in stdout.split('\n') {
        let framed = line.strip_prefix(script.marker()).map(str::trim);
        match framed.map(|f| f.split(' ').collect::<Vec<_>>()).as_deref() {
            Some(["begin", id]) => current = Some((id.to_string(), String::new())),
            Some(["end", ..]) => {
                if let Some((id, body)) = current.take()
                    && !body.trim().is_empty()
                {
                    std::fs::write(parsers.join(format!("recorded-{id}")), body).unwrap();
                }
            }
            _ => {
                if let Some((_, body)) = current.as_mut() {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    // The same, cut in the middle (a truncated batch) and with the script killed.
    let half = seed.len() / 2;
    let mut cut = seed[..half].to_vec();
    cut[1] = 250;
    std::fs::write(dir.join("recorded-truncated"), &cut).unwrap();
    let mut killed = seed[..half].to_vec();
    killed[0] = 128;
    std::fs::write(dir.join("recorded-killed"), &killed).unwrap();
}
