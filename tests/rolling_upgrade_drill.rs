//! The shipped `rolling-upgrade` runbook on a 4-member consensus group (N = 4, F = 1) of real
//! test-fleet hosts, each running a real anvil chain node behind a version-switching wrapper
//! script, driven in a real terminal (tmux) through its typed confirmation.
//!
//! The wrapper (`$HOME/bin/node-ctl start|stop|version|upgrade VERSION|rollback`, written into
//! each host's home) starts anvil with a pidfile and `--state FILE`, so the chain height
//! survives restarts, and keeps the version in a file. A version whose name contains `broken`
//! starts a node that never produces a block (`--no-mining`): the health gate's "height
//! advancing" check is what must catch it. The inventory carries the wrapper as the `node`
//! service's command templates and the node's RPC as the host's chain.
//!
//! About the gate's lag check: anvil nodes do not peer, so the wrapper does what a real node's
//! sync does. On start, a working version asks the other members for their heights and mines
//! up to the best of them (`anvil_mine`), then produces a block a second like the others. A
//! member that comes back is therefore within a block or two of the group's best, and the gate
//! checks that with the inventory's ordinary `height_lag_warn = 5`; a broken version neither
//! syncs nor mines, so it falls behind and never advances, and the gate catches it.
//!
//! Cases, one fleet: (a) the happy path upgrades every member one by one through the health
//! gate; (b) a broken version is rolled back on the first member and the rollout stops, the
//! others untouched; (c) with one member already down the quorum guard refuses to take another
//! down — before asking for the typed confirmation — audited with its reason, and nothing
//! changes on any host.

mod support;

#[path = "runbook_drills/common.rs"]
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use support::fleet::{anvil_path, block_number, free_port, wait_until};
use support::{FleetSpec, InventoryOpts, TestFleet};

/// How long a prompt may take to show up.
const STEP: Duration = Duration::from_secs(60);
/// How long a whole rollout may take (four hosts, a 5 s gate interval each).
const ROLLOUT: Duration = Duration::from_secs(150);

const NODE_CTL: &str = r#"#!/bin/sh
# node-ctl: the version-switching wrapper of a drill node (a real anvil chain node).
# Usage: node-ctl start | stop | version | upgrade VERSION | rollback
anvil=@ANVIL@
port=@PORT@
peers="@PEERS@"
dir="$HOME/node"
pidfile="$dir/anvil.pid"

# A zombie (nothing reaps orphans in some containers) is not a running node.
alive() {
    [ -n "$1" ] && [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
}
answers() {
    curl -s -m 2 -X POST -H 'Content-Type: application/json' \
        --data '{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}' \
        "http://127.0.0.1:$port" | grep -q '"result"'
}
current() {
    [ -f "$pidfile" ] && cat "$pidfile"
}
rpc() {
    curl -s -m 2 -X POST -H 'Content-Type: application/json' --data "$2" "http://127.0.0.1:$1"
}
height() {
    h=$(rpc "$1" '{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}' |
        sed -n 's/.*"result":"\(0x[0-9a-fA-F]*\)".*/\1/p')
    [ -n "$h" ] && echo $((h))
}
# What a real node's sync does: catch up with the best height of the group.
catch_up() {
    mine=$(height "$port")
    best=$mine
    for p in $peers; do
        h=$(height "$p")
        [ -n "$h" ] && [ "$h" -gt "$best" ] && best=$h
    done
    n=$((best - mine))
    [ "$n" -gt 0 ] && rpc "$port" "{\"jsonrpc\":\"2.0\",\"method\":\"anvil_mine\",\"params\":[\"$(printf '0x%x' "$n")\"],\"id\":1}" >/dev/null
    echo "synced to height $best"
}

case "$1" in
version)
    echo "drill-node $(cat "$dir/version")"
    ;;
start)
    pid=$(current)
    if alive "$pid"; then
        echo "already running (pid $pid)"
        exit 0
    fi
    v=$(cat "$dir/version")
    case "$v" in
        *broken*) mining="--no-mining" ;;
        *) mining="--block-time 1" ;;
    esac
    "$anvil" --port "$port" --host 127.0.0.1 $mining --state "$dir/state.json" >>"$dir/anvil.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$pidfile"
    echo "$pid" >>"$dir/pids"
    i=0
    while [ $i -lt 200 ]; do
        if answers; then
            case "$v" in *broken*) ;; *) catch_up ;; esac
            echo "started $v (pid $pid)"
            exit 0
        fi
        if ! alive "$pid"; then
            echo "node $v exited while starting" >&2
            rm -f "$pidfile"
            exit 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "node $v does not answer on port $port" >&2
    exit 1
    ;;
stop)
    pid=$(current)
    if ! alive "$pid"; then
        rm -f "$pidfile"
        echo "not running"
        exit 0
    fi
    kill -TERM "$pid"
    i=0
    while alive "$pid" && [ $i -lt 150 ]; do
        i=$((i + 1))
        [ $i -eq 100 ] && kill -KILL "$pid"
        sleep 0.1
    done
    rm -f "$pidfile"
    echo "stopped (pid $pid)"
    ;;
upgrade)
    [ -n "$2" ] || { echo "usage: node-ctl upgrade VERSION" >&2; exit 2; }
    cp "$dir/version" "$dir/version.prev"
    printf '%s\n' "$2" >"$dir/version"
    echo "switched $(cat "$dir/version.prev") -> $2"
    ;;
rollback)
    [ -f "$dir/version.prev" ] || { echo "no previous version" >&2; exit 1; }
    mv "$dir/version.prev" "$dir/version"
    echo "switched back to $(cat "$dir/version")"
    ;;
*)
    echo "usage: node-ctl start|stop|version|upgrade VERSION|rollback" >&2
    exit 2
    ;;
esac
"#;

/// The drill nodes: one per host. Every anvil any wrapper ever started is stopped by PID on
/// drop (the wrapper lists them in `$HOME/node/pids`); they are not children of sshd once the
/// command that started them has ended, so the fleet's own cleanup cannot see them.
struct Nodes {
    homes: Vec<PathBuf>,
    ports: Vec<u16>,
}

impl Nodes {
    fn install(fleet: &TestFleet) -> Nodes {
        let anvil = anvil_path();
        let curl = std::process::Command::new("sh")
            .args(["-c", "command -v curl"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            curl,
            "curl not found: the drill nodes' wrapper asks anvil for its height with it \
             (apt-get install curl)"
        );
        let homes: Vec<PathBuf> = (0..fleet.host_count())
            .map(|i| fleet.host(i).home)
            .collect();
        let ports: Vec<u16> = homes.iter().map(|_| free_port()).collect();
        for (i, home) in homes.iter().enumerate() {
            let port = ports[i];
            let peers: Vec<String> = ports
                .iter()
                .filter(|p| **p != port)
                .map(u16::to_string)
                .collect();
            fs::create_dir_all(home.join("bin")).unwrap();
            fs::create_dir_all(home.join("node")).unwrap();
            let script = NODE_CTL
                .replace(
                    "@ANVIL@",
                    &shlex::try_quote(&anvil.display().to_string()).unwrap(),
                )
                .replace("@PORT@", &port.to_string())
                .replace("@PEERS@", &peers.join(" "));
            let path = home.join("bin/node-ctl");
            fs::write(&path, script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            fs::write(home.join("node/version"), "1.0.0\n").unwrap();
        }
        let nodes = Nodes { homes, ports };
        for i in 0..nodes.homes.len() {
            nodes.ctl(i, "start");
        }
        nodes
    }

    /// Runs the wrapper of host `i` with that host's `$HOME`.
    fn ctl(&self, i: usize, args: &str) -> String {
        on_host_home(&self.homes[i], &format!("\"$HOME/bin/node-ctl\" {args}"))
    }

    fn version(&self, i: usize) -> String {
        fs::read_to_string(self.homes[i].join("node/version"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn versions(&self) -> Vec<String> {
        (0..self.homes.len()).map(|i| self.version(i)).collect()
    }

    /// PID of the running node of host `i` (`None` when stopped).
    fn pid(&self, i: usize) -> Option<String> {
        fs::read_to_string(self.homes[i].join("node/anvil.pid"))
            .ok()
            .map(|p| p.trim().to_string())
    }

    fn pids(&self) -> Vec<Option<String>> {
        (0..self.homes.len()).map(|i| self.pid(i)).collect()
    }

    /// The node of host `i` answers and its height goes up.
    fn assert_producing(&self, i: usize) {
        let port = self.ports[i];
        let first = block_number(port)
            .unwrap_or_else(|e| panic!("node of h{} does not answer: {e}", i + 1));
        wait_until(Duration::from_secs(15), || {
            block_number(port).is_ok_and(|h| h > first)
        })
        .unwrap_or_else(|| panic!("node of h{} stays at height {first}", i + 1));
    }

    /// The inventory: the consensus group, each host's `node` service with the wrapper as its
    /// command templates and its node's RPC as its chain.
    fn inventory(&self) -> InventoryOpts {
        let mut opts = InventoryOpts {
            consensus_group: Some("group0".to_string()),
            // Polls, gates and execs share each host's connection; keep slow moments from
            // reading as failures.
            command_timeout: "20s".to_string(),
            ..InventoryOpts::default()
        };
        opts.extra_toml
            .push_str("[thresholds]\nheight_lag_warn = 5\n\n");
        for (i, home) in self.homes.iter().enumerate() {
            let ctl = home.join("bin/node-ctl").display().to_string();
            let pidfile = home.join("node/anvil.pid").display().to_string();
            opts.host_toml.insert(
                i,
                format!(
                    "profile = \"node-{i}\"\nchain = {{ kind = \"ethereum\", rpc = \"http://127.0.0.1:{}\" }}",
                    self.ports[i]
                ),
            );
            opts.extra_toml.push_str(&format!(
                "[profiles.node-{i}]\nservices = [{{ name = \"node\", kind = \"process\", pidfile = {}, \
                 start = {}, stop = {}, version = {}, upgrade = {}, rollback = {} }}]\n\n",
                toml_str(&pidfile),
                toml_str(&format!("{ctl} start")),
                toml_str(&format!("{ctl} stop")),
                toml_str(&format!("{ctl} version")),
                toml_str(&format!("{ctl} upgrade {{{{version}}}}")),
                toml_str(&format!("{ctl} rollback")),
            ));
        }
        opts
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for (home, port) in self.homes.iter().zip(&self.ports) {
            let pids = fs::read_to_string(home.join("node/pids")).unwrap_or_default();
            for pid in pids.split_whitespace() {
                let proc = Path::new("/proc").join(pid);
                let ours = fs::read(proc.join("cmdline")).is_ok_and(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.contains("anvil") && c.contains(&format!("--port\0{port}\0"))
                });
                let zombie = fs::read_to_string(proc.join("status")).is_ok_and(|s| {
                    s.lines()
                        .any(|l| l.starts_with("State:") && l.contains('Z'))
                });
                if !ours || zombie {
                    continue;
                }
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", pid])
                    .status();
                let gone = wait_until(Duration::from_secs(3), || {
                    !proc.exists()
                        || fs::read_to_string(proc.join("status")).is_ok_and(|s| {
                            s.lines()
                                .any(|l| l.starts_with("State:") && l.contains('Z'))
                        })
                });
                if gone.is_none() {
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", pid])
                        .status();
                }
            }
        }
    }
}

/// `fleetdeck run rolling-upgrade` arguments for `version`.
fn rollout_args(version: &str, backup_dir: &Path, webhook: &str) -> Vec<String> {
    [
        "run",
        "rolling-upgrade",
        "--group",
        "group0",
        "--var",
        &format!("version={version}"),
        "--var",
        "service=node",
        "--var",
        &format!("backup_dir={}", backup_dir.display()),
        "--var",
        &format!("webhook_url={webhook}"),
        "--var",
        "pause=0s",
        "--var",
        "gate_timeout=12s",
        "--var",
        "watch=1s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Records of the run started last for `rolling-upgrade`.
fn last_run(d: &Drill) -> Vec<serde_json::Value> {
    let records = d.audit();
    let run = runs_of(&records, "rolling-upgrade")
        .pop()
        .expect("a rolling-upgrade run");
    records_of_run(&records, &run)
        .into_iter()
        .cloned()
        .collect()
}

fn execs_on(run: &[&serde_json::Value], host: &str, prefix: &str) -> usize {
    run.iter()
        .filter(|r| {
            field(r, "action") == "exec"
                && field(r, "target") == host
                && field(r, "step").starts_with(prefix)
        })
        .count()
}

#[test]
fn rolling_upgrade_of_a_consensus_group() {
    let mut d = Drill::new(TestFleet::start(FleetSpec::hosts(4)));
    let nodes = Nodes::install(&d.fleet);
    d.set_inventory(&nodes.inventory());
    // A fresh backup where the pre-check looks for one (every host sees this directory).
    let backup_dir = d.fleet.root().join("drill-backups");
    fs::create_dir_all(&backup_dir).unwrap();
    fs::write(
        backup_dir.join("20260101000000-postgres-backup.sql.gz"),
        vec![0x1f; 512],
    )
    .unwrap();
    let hook = Webhook::start();
    let token = "xoxb-8c1f0e-drill-webhook-secret";
    let webhook = format!("http://127.0.0.1:{}/hooks/{token}", hook.port);
    for i in 0..4 {
        nodes.assert_producing(i);
    }

    // The dry run shows every host's commands and masks the webhook URL.
    let mut dry = rollout_args("2.0.0", &backup_dir, &webhook);
    dry.push("--dry-run".into());
    let dry: Vec<&str> = dry.iter().map(String::as_str).collect();
    let out = d.run(&dry);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (i, home) in nodes.homes.iter().enumerate() {
        let ctl = home.join("bin/node-ctl").display().to_string();
        assert!(
            printed.contains(&format!("{ctl} upgrade 2.0.0")),
            "h{}'s upgrade command:\n{printed}",
            i + 1
        );
    }
    assert!(
        !printed.contains(token),
        "the dry run printed the secret webhook URL:\n{printed}"
    );
    assert_eq!(
        nodes.versions(),
        ["1.0.0"; 4],
        "the dry run changed nothing"
    );

    // --- (a) happy path: every member, one by one, through the health gate ---------------------
    let args = rollout_args("2.0.0", &backup_dir, &webhook);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut t = d.terminal(&args);
    t.answer("Press Enter when done", "", STEP);
    let screen = t.expect("DANGEROUS step `upgrade`", STEP);
    assert!(screen.contains("quorum guard on"), "{screen}");
    t.answer("Type 4 to confirm", "4", STEP);
    t.answer("Press Enter when done", "", ROLLOUT);
    let code = t.exit_code(STEP);
    assert_eq!(code, 0, "happy path failed:\n{}", t.history());
    assert_eq!(nodes.versions(), ["2.0.0"; 4]);
    for i in 0..4 {
        nodes.assert_producing(i);
    }
    let run = last_run(&d);
    let run: Vec<&serde_json::Value> = run.iter().collect();
    assert_confirm_precedes_exec(&run, &["upgrade"]);
    let gates: Vec<&str> = run
        .iter()
        .filter(|r| field(r, "action") == "gate.passed")
        .map(|r| field(r, "target"))
        .collect();
    assert_eq!(
        gates,
        ["h1", "h2", "h3", "h4"],
        "each member passed the gate, in order"
    );
    // One by one: a member is touched only after the previous one passed its gate.
    for k in 1..4 {
        let host = format!("h{}", k + 1);
        let prev = format!("h{k}");
        let gate_prev = run
            .iter()
            .position(|r| field(r, "action") == "gate.passed" && field(r, "target") == prev)
            .unwrap();
        let first_exec = run
            .iter()
            .position(|r| {
                field(r, "action") == "exec"
                    && field(r, "target") == host
                    && field(r, "step").starts_with("upgrade.")
            })
            .unwrap();
        assert!(
            gate_prev < first_exec,
            "{host} was touched before {prev} passed its gate"
        );
    }
    let passed = run
        .iter()
        .find(|r| field(r, "action") == "gate.passed")
        .unwrap();
    assert!(field(passed, "result").contains("advancing"), "{passed}");
    // The webhook got the start and the completion notices.
    let got = hook.wait_for(2, STEP);
    assert!(
        got.iter()
            .all(|r| r.request_line.starts_with(&format!("POST /hooks/{token} ")))
    );
    let bodies: Vec<serde_json::Value> = got
        .iter()
        .map(|r| serde_json::from_str(&r.body).expect("JSON body"))
        .collect();
    assert!(
        bodies[0]["text"]
            .as_str()
            .unwrap()
            .contains("Rolling upgrade of node to 2.0.0 starts")
    );
    assert!(bodies[1]["text"].as_str().unwrap().contains("finished"));

    // --- (b) a broken version: the first member is rolled back, the rollout stops -------------
    let pids_before = nodes.pids();
    let args = rollout_args("3.0.0-broken", &backup_dir, &webhook);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut t = d.terminal(&args);
    t.answer("Press Enter when done", "", STEP);
    t.answer("Type 4 to confirm", "4", STEP);
    let code = t.exit_code(ROLLOUT);
    let history = t.history();
    assert_eq!(code, 1, "a failed rollout fails the run:\n{history}");
    assert!(
        history.contains("stopped at the first failure"),
        "{history}"
    );
    assert_eq!(
        nodes.versions(),
        ["2.0.0"; 4],
        "h1 rolled back, the others untouched"
    );
    nodes.assert_producing(0);
    assert_eq!(
        &nodes.pids()[1..],
        &pids_before[1..],
        "h2..h4 kept their running nodes"
    );
    let run = last_run(&d);
    let run: Vec<&serde_json::Value> = run.iter().collect();
    let failed = run
        .iter()
        .find(|r| field(r, "action") == "gate.failed")
        .unwrap_or_else(|| panic!("no gate.failed record: {:?}", actions(&run)));
    assert_eq!(field(failed, "target"), "h1");
    assert!(
        field(failed, "reason").contains("has not advanced"),
        "{failed}"
    );
    let rollback = run
        .iter()
        .position(|r| field(r, "action") == "rollback")
        .expect("a rollback record");
    assert_eq!(field(run[rollback], "target"), "h1");
    assert!(
        execs_on(&run, "h1", "upgrade.rollback.") >= 2,
        "h1's rollback commands ran"
    );
    for host in ["h2", "h3", "h4"] {
        assert_eq!(execs_on(&run, host, "upgrade."), 0, "{host} was touched");
    }

    // --- (c) one member already down: the quorum guard refuses ------------------------------
    nodes.ctl(1, "stop");
    let pids_before = nodes.pids();
    assert_eq!(pids_before[1], None);
    let audit_before = d.audit().len();
    let args = rollout_args("3.0.0", &backup_dir, &webhook);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut t = d.terminal(&args);
    t.answer("Press Enter when done", "", STEP);
    // The guard is evaluated before the typed confirmation: the operator is never asked to
    // confirm a batch that is refused anyway.
    let history = t.expect("refused: quorum guard", STEP);
    assert_eq!(t.exit_code(STEP), 1, "{history}");
    let history = t.history();
    for prompt in ["to confirm", "DANGEROUS step `upgrade`"] {
        assert!(
            !history.contains(prompt),
            "a confirmation was asked before the refusal ({prompt:?}):\n{history}"
        );
    }
    assert_eq!(nodes.versions(), ["2.0.0"; 4], "nothing changed");
    assert_eq!(nodes.pids(), pids_before, "no node was stopped or started");
    let records = d.audit();
    let new: Vec<&serde_json::Value> = records[audit_before..].iter().collect();
    let denied = new
        .iter()
        .find(|r| field(r, "action") == "denied")
        .unwrap_or_else(|| panic!("no denied record: {:?}", actions(&new)));
    let reason = field(denied, "reason");
    assert_eq!(field(denied, "step"), "upgrade");
    for part in [
        "quorum guard",
        "group0",
        "N = 4",
        "F = 1",
        "already down: h2",
        "taking h1 down",
    ] {
        assert!(reason.contains(part), "the refusal says {part:?}: {reason}");
    }
    assert!(
        !new.iter()
            .any(|r| field(r, "action") == "exec" && field(r, "step").starts_with("upgrade")),
        "nothing of the rollout ran"
    );
    assert!(
        !new.iter().any(|r| field(r, "action") == "confirm"),
        "no confirmation was recorded: {:?}",
        actions(&new)
    );

    // The chain of records is intact, and the webhook URL (a secret) is in no record or log.
    d.assert_audit_intact();
    let mut files = files_under(&d.state_home);
    files.retain(|(p, _)| p.file_name().is_some_and(|n| n != "fleet.toml"));
    assert_secret_absent(token, &files);
}
