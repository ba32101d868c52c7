//! The shipped `disk-expansion` runbook on a real test-fleet host (OpenSSH sshd, logging in as
//! the test's user, root) whose chain node — a real anvil started by a small wrapper with its
//! state in the node's data directory — moves onto a "new disk": a tmpfs the test mounts in its
//! own temporary directory for the first cases, and for the happy path an ext4 image file the
//! runbook mounts itself (its `device` input: a loop device); the test unmounts both, after the
//! node is stopped. Driven through `fleetdeck run` in a real terminal (tmux), which answers the
//! typed confirmation.
//!
//! The wrapper (`$HOME/bin/node-ctl start|stop`) starts anvil with a pidfile outside the data
//! directory and `--state DATA/state.json`, so the chain height lives in the data directory and
//! survives a restart only if the data came along. The data directory also holds a storage-like
//! tree (files in subdirectories, a symbolic link) so the verified copy has something to compare.
//! The consensus leave/join commands append `removeNode HOST` / `addSealer HOST` to a file,
//! standing in for the FISCO BCOS console.
//!
//! Cases, one fleet, in this order (each leaves the host as the next one expects it):
//! (a) the host is the only voting member of its consensus group (N = 1, F = 0): the quorum
//!     guard refuses before any confirmation is asked, and nothing changes;
//! (b) a copy that silently loses a file (a `cp` earlier on the sessions' `PATH` deletes one
//!     from the copy): the verification fails, the host is rolled back — never switched, the old
//!     data directory intact and in place, the node running again and rejoined — and the run
//!     fails;
//! (c) the happy path, the runbook mounting the image: the data directory now lives on the new
//!     disk (a link to the copy there), the copy was verified, the node restarted from its moved
//!     state (height kept) and caught up (the gate and the `synced` wait), every step audited,
//!     the confirmation before the first command.

mod support;

#[path = "runbook_drills/common.rs"]
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;
use support::fleet::{anvil_path, block_number, free_port, wait_until};
use support::{FleetSpec, InventoryOpts, TestFleet};

/// How long a prompt may take to show up.
const STEP: Duration = Duration::from_secs(60);
/// How long a whole run may take (a gate with a 5 s interval, a synced wait).
const RUN: Duration = Duration::from_secs(150);

const NODE_CTL: &str = r#"#!/bin/sh
# node-ctl: a drill chain node (a real anvil) whose state lives in its data directory.
anvil=@ANVIL@
port=@PORT@
dir="$HOME/node"
pidfile="$dir/anvil.pid"
alive() {
    [ -n "$1" ] && [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
}
answers() {
    curl -s -m 2 -X POST -H 'Content-Type: application/json' \
        --data '{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}' \
        "http://127.0.0.1:$port" | grep -q '"result"'
}
case "$1" in
start)
    pid=$(cat "$pidfile" 2>/dev/null)
    if alive "$pid"; then echo "already running (pid $pid)"; exit 0; fi
    "$anvil" --port "$port" --host 127.0.0.1 --block-time 1 --state "$dir/data/state.json" \
        >>"$dir/anvil.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$pidfile"
    echo "$pid" >>"$dir/pids"
    i=0
    while [ $i -lt 200 ]; do
        if answers; then echo "started (pid $pid)"; exit 0; fi
        if ! alive "$pid"; then echo "node exited while starting" >&2; rm -f "$pidfile"; exit 1; fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "node does not answer on port $port" >&2
    exit 1
    ;;
stop)
    pid=$(cat "$pidfile" 2>/dev/null)
    if ! alive "$pid"; then rm -f "$pidfile"; echo "not running"; exit 0; fi
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
*)
    echo "usage: node-ctl start|stop" >&2
    exit 2
    ;;
esac
"#;

/// A copy tool that loses a file: the real `cp`, then one file of the copy deleted. Put first
/// on the sessions' `PATH` for the failure case.
const LOSSY_CP: &str = r#"#!/bin/sh
/bin/cp "$@" || exit $?
for last; do :; done
rm -f "$last/chaindata/000002.log"
"#;

/// The new disk: a tmpfs mounted in the test's directory, unmounted on drop (declared before
/// the node, so it is dropped after the node has stopped).
struct NewDisk {
    mount: PathBuf,
}

impl NewDisk {
    fn mount(at: PathBuf) -> NewDisk {
        fs::create_dir_all(&at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m", "fleetdeck-newdisk"])
            .arg(&at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount a tmpfs at {} (the test runs as root, see docs/testing.md): {}",
            at.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        NewDisk { mount: at }
    }

    /// The filesystem `path` lives on, as `stat -f` names it (follows links).
    fn fs_type(path: &Path) -> String {
        let out = Command::new("stat")
            .args(["-f", "-L", "-c", "%T"])
            .arg(path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// A second new disk for the happy path: an ext4 image file that the runbook itself mounts (its
/// `device` input; `mount` sets up the loop device). Unmounted on drop if mounted.
struct DiskImage {
    image: PathBuf,
    mount: PathBuf,
}

impl DiskImage {
    fn create(image: PathBuf, mount: PathBuf) -> DiskImage {
        let ok = Command::new("truncate")
            .args(["-s", "64M"])
            .arg(&image)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "truncate -s 64M {}", image.display());
        let out = Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&image)
            .output()
            .unwrap_or_else(|e| panic!("mkfs.ext4 not found ({e}): apt-get install e2fsprogs"));
        assert!(
            out.status.success(),
            "mkfs.ext4 {}: {}",
            image.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        DiskImage { image, mount }
    }

    fn is_mounted(&self) -> bool {
        Command::new("mountpoint")
            .arg("-q")
            .arg(&self.mount)
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for DiskImage {
    fn drop(&mut self) {
        if self.is_mounted() {
            let ok = Command::new("umount")
                .arg(&self.mount)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
            }
        }
    }
}

impl Drop for NewDisk {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mount)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a process of a failed test): detach it so nothing stays mounted.
            let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        }
    }
}

/// The drill node of host h1. Every anvil the wrapper started is stopped by PID on drop.
struct Node {
    home: PathBuf,
    port: u16,
}

impl Node {
    fn install(fleet: &TestFleet) -> Node {
        let home = fleet.host(0).home;
        let port = free_port();
        fs::create_dir_all(home.join("bin")).unwrap();
        fs::create_dir_all(home.join("node/data/chaindata/archive")).unwrap();
        let script = NODE_CTL
            .replace(
                "@ANVIL@",
                &shlex::try_quote(&anvil_path().display().to_string()).unwrap(),
            )
            .replace("@PORT@", &port.to_string());
        let ctl = home.join("bin/node-ctl");
        fs::write(&ctl, script).unwrap();
        fs::set_permissions(&ctl, fs::Permissions::from_mode(0o755)).unwrap();
        // A storage-like tree beside the chain state: what a verified copy must carry whole.
        let data = home.join("node/data");
        let blob: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(data.join("chaindata/000001.sst"), &blob).unwrap();
        fs::write(data.join("chaindata/000002.log"), &blob[..4096]).unwrap();
        fs::write(data.join("chaindata/CURRENT"), "MANIFEST-000003\n").unwrap();
        fs::write(data.join("chaindata/archive/old.sst"), &blob[..999]).unwrap();
        fs::write(data.join(".lock"), "").unwrap();
        std::os::unix::fs::symlink("chaindata/CURRENT", data.join("LATEST")).unwrap();
        let node = Node { home, port };
        node.ctl("start");
        node
    }

    fn ctl(&self, args: &str) -> String {
        on_host_home(&self.home, &format!("\"$HOME/bin/node-ctl\" {args}"))
    }

    fn data(&self) -> PathBuf {
        self.home.join("node/data")
    }

    fn pid(&self) -> Option<String> {
        fs::read_to_string(self.home.join("node/anvil.pid"))
            .ok()
            .map(|p| p.trim().to_string())
    }

    fn height(&self) -> u64 {
        block_number(self.port).unwrap_or_else(|e| panic!("the node does not answer: {e}"))
    }

    /// The node answers and its height goes up.
    fn assert_producing(&self) {
        let first = self.height();
        wait_until(Duration::from_secs(15), || {
            block_number(self.port).is_ok_and(|h| h > first)
        })
        .unwrap_or_else(|| panic!("the node stays at height {first}"));
    }

    /// What the consensus commands recorded (the stand-in console's log).
    fn console(&self) -> String {
        fs::read_to_string(self.home.join("node/console.log")).unwrap_or_default()
    }

    /// The inventory: h1 runs the node (a `process` service with the wrapper's templates) and
    /// its chain; `group` makes it a voting member of that consensus group.
    fn inventory(&self, group: Option<&str>) -> InventoryOpts {
        let mut opts = InventoryOpts {
            command_timeout: "20s".to_string(),
            ..InventoryOpts::default()
        };
        opts.extra_toml
            .push_str("[thresholds]\nheight_lag_warn = 5\n\n");
        let ctl = self.home.join("bin/node-ctl").display().to_string();
        let pidfile = self.home.join("node/anvil.pid").display().to_string();
        let mut host = format!(
            "profile = \"node\"\nchain = {{ kind = \"ethereum\", rpc = \"http://127.0.0.1:{}\" }}",
            self.port
        );
        if let Some(g) = group {
            host.push_str(&format!(
                "\nconsensus_group = {}\nrole = \"consensus\"",
                toml_str(g)
            ));
        }
        opts.host_toml.insert(0, host);
        opts.extra_toml.push_str(&format!(
            "[profiles.node]\nservices = [{{ name = \"node\", kind = \"process\", pidfile = {}, start = {}, stop = {} }}]\n",
            toml_str(&pidfile),
            toml_str(&format!("{ctl} start")),
            toml_str(&format!("{ctl} stop")),
        ));
        opts
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let pids = fs::read_to_string(self.home.join("node/pids")).unwrap_or_default();
        for pid in pids.split_whitespace() {
            let proc = Path::new("/proc").join(pid);
            let ours = fs::read(proc.join("cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("anvil") && c.contains(&format!("--port\0{}\0", self.port))
            });
            let zombie = |proc: &Path| {
                fs::read_to_string(proc.join("status")).is_ok_and(|s| {
                    s.lines()
                        .any(|l| l.starts_with("State:") && l.contains('Z'))
                })
            };
            if !ours || zombie(&proc) {
                continue;
            }
            let _ = Command::new("kill").args(["-TERM", pid]).status();
            if wait_until(Duration::from_secs(3), || !proc.exists() || zombie(&proc)).is_none() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
    }
}

/// Every file, directory and link under `dir` with its content (files) or target (links): a
/// fingerprint that shows any change.
fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                out.push((rel, format!("-> {}", fs::read_link(&p).unwrap().display())));
            } else if meta.is_dir() {
                out.push((rel.clone(), "dir".into()));
                walk(root, &p, out);
            } else {
                let bytes = fs::read(&p).unwrap();
                out.push((
                    rel,
                    format!("{} bytes, sum {}", bytes.len(), checksum(&bytes)),
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// [`tree`] without the chain state file, which the node rewrites whenever it stops.
fn without_state(tree: Vec<(String, String)>) -> Vec<(String, String)> {
    tree.into_iter()
        .filter(|(p, _)| p != "state.json")
        .collect()
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn args(node: &Node, mount: &Path, device: Option<&Path>) -> Vec<String> {
    let leave = r#"printf 'removeNode %s\n' "$1" >>"$HOME/node/console.log""#;
    let join = r#"printf 'addSealer %s\n' "$1" >>"$HOME/node/console.log""#;
    [
        "run".to_string(),
        "disk-expansion".into(),
        "--hosts".into(),
        "h1".into(),
        "--var".into(),
        "service=node".into(),
        "--var".into(),
        format!("data_dir={}", node.data().display()),
        "--var".into(),
        format!("new_disk={}", mount.display()),
        "--var".into(),
        format!("new_data_dir={}", mount.join("node0-data").display()),
        "--var".into(),
        format!(
            "device={}",
            device.map(|d| d.display().to_string()).unwrap_or_default()
        ),
        "--var".into(),
        format!("leave_command={leave}"),
        "--var".into(),
        format!("join_command={join}"),
        "--var".into(),
        "catch_up_timeout=60s".into(),
        "--var".into(),
        "pause=0s".into(),
    ]
    .to_vec()
}

/// Records of the run started last for `disk-expansion`.
fn last_run(d: &Drill) -> Vec<Value> {
    let records = d.audit();
    let run = runs_of(&records, "disk-expansion")
        .pop()
        .expect("a disk-expansion run");
    records_of_run(&records, &run)
        .into_iter()
        .cloned()
        .collect()
}

fn exec_steps(run: &[&Value]) -> Vec<String> {
    run.iter()
        .filter(|r| field(r, "action") == "exec")
        .map(|r| field(r, "step").to_string())
        .collect()
}

/// The `exec.result` of the last exec of `step`.
fn result_of<'a>(run: &[&'a Value], step: &str) -> Option<&'a Value> {
    run.iter()
        .rev()
        .find(|r| field(r, "action") == "exec.result" && field(r, "step") == step)
        .copied()
}

#[test]
fn disk_expansion_moves_a_chain_nodes_data_to_a_new_disk() {
    let mut d = Drill::new(TestFleet::start(FleetSpec::hosts(1)));
    let disk = NewDisk::mount(d.fleet.root().join("newdisk"));
    let image = DiskImage::create(
        d.fleet.root().join("newdisk2.img"),
        d.fleet.root().join("newdisk2"),
    );
    let node = Node::install(&d.fleet);
    node.assert_producing();

    // --- (a) the only voting member of its group: the quorum guard refuses -------------------
    d.set_inventory(&node.inventory(Some("group0")));
    let before = tree(&node.data());
    let pid = node.pid();
    // No audit log yet: nothing has run.
    assert!(!d.audit_path().exists());
    let a = args(&node, &disk.mount, None);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut t = d.terminal(&a);
    let history = t.expect("refused: quorum guard", STEP);
    assert_eq!(t.exit_code(STEP), 1, "{history}");
    let history = t.history();
    assert!(
        !history.contains("to confirm"),
        "a confirmation was asked before the refusal:\n{history}"
    );
    assert_eq!(node.pid(), pid, "the node was not stopped");
    assert_eq!(tree(&node.data()), before, "the data did not change");
    assert!(node.console().is_empty(), "no consensus command ran");
    let records = d.audit();
    let new: Vec<&Value> = records.iter().collect();
    let denied = new
        .iter()
        .find(|r| field(r, "action") == "denied")
        .unwrap_or_else(|| panic!("no denied record: {:?}", actions(&new)));
    assert_eq!(field(denied, "step"), "expand");
    assert!(
        field(denied, "reason").contains("N = 1") && field(denied, "reason").contains("F = 0"),
        "{denied}"
    );
    assert!(
        !exec_steps(&new).iter().any(|s| s.starts_with("expand")),
        "nothing of the expansion ran"
    );

    // --- (b) a copy that loses a file: verification fails, rolled back before switching --------
    d.set_inventory(&node.inventory(None));
    let fault_bin = node.home.join("fault-bin");
    fs::create_dir_all(&fault_bin).unwrap();
    fs::write(fault_bin.join("cp"), LOSSY_CP).unwrap();
    fs::set_permissions(fault_bin.join("cp"), fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        fault_bin.display()
    );
    d.fleet.set_host_env(0, &[("PATH", &path)]);
    let before = without_state(tree(&node.data()));
    let a = args(&node, &disk.mount, None);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut t = d.terminal(&a);
    let screen = t.expect("DANGEROUS step `expand`", STEP);
    assert!(screen.contains("quorum guard on"), "{screen}");
    t.answer("Type h1 to confirm", "h1", STEP);
    let code = t.exit_code(RUN);
    let history = t.history();
    assert_eq!(code, 1, "a failed verification fails the run:\n{history}");
    let data = node.data();
    assert!(
        !fs::symlink_metadata(&data)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the data directory was not switched"
    );
    assert_eq!(
        without_state(tree(&data)),
        before,
        "the old data directory is intact"
    );
    assert!(data.join("state.json").is_file(), "the chain state stayed");
    let failed_copies: Vec<_> = fs::read_dir(&disk.mount)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        failed_copies.len() == 1 && failed_copies[0].starts_with("node0-data.failed-"),
        "the bad copy was kept aside, not used: {failed_copies:?}"
    );
    node.assert_producing();
    assert_eq!(
        node.console(),
        "removeNode h1\naddSealer h1\n",
        "left consensus, and rejoined by the rollback"
    );
    let run = last_run(&d);
    let run: Vec<&Value> = run.iter().collect();
    assert_confirm_precedes_exec(&run, &["expand"]);
    let verify = result_of(&run, "expand.verify").expect("the verification ran");
    assert_eq!(field(verify, "result"), "exit 1", "{verify}");
    let steps = exec_steps(&run);
    assert!(
        !steps.iter().any(|s| s == "expand.switch"),
        "nothing switched: {steps:?}"
    );
    let rollback = run
        .iter()
        .find(|r| field(r, "action") == "rollback")
        .unwrap_or_else(|| panic!("no rollback record: {:?}", actions(&run)));
    assert_eq!(field(rollback, "target"), "h1");
    for step in [
        "expand.rollback.stop-again",
        "expand.rollback.restore",
        "expand.rollback.start-again",
        "expand.rollback.rejoin",
    ] {
        let r = result_of(&run, step).unwrap_or_else(|| panic!("{step} did not run: {steps:?}"));
        assert_eq!(field(r, "result"), "exit 0", "{r}");
    }
    let finish = run
        .iter()
        .find(|r| field(r, "action") == "runbook.finish")
        .unwrap();
    assert_eq!(field(finish, "result"), "failed");

    // --- (c) the happy path -----------------------------------------------------------------
    d.fleet.set_host_env(0, &[]);
    fs::remove_file(node.home.join("node/console.log")).unwrap();
    let height_before = node.height();
    let before = without_state(tree(&node.data()));
    // This time the runbook mounts the new disk itself: an ext4 image (a loop device).
    assert!(!image.is_mounted());
    let a = args(&node, &image.mount, Some(&image.image));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut t = d.terminal(&a);
    t.answer("Type h1 to confirm", "h1", STEP);
    let code = t.exit_code(RUN);
    let history = t.history();
    assert_eq!(code, 0, "the expansion failed:\n{history}");
    assert!(image.is_mounted(), "the runbook mounted the new disk");

    // The data path is a link to the copy on the new disk; the old directory is kept aside.
    let new_dir = image.mount.join("node0-data");
    assert_eq!(fs::read_link(&data).unwrap(), new_dir);
    assert_eq!(
        NewDisk::fs_type(&data),
        "ext2/ext3",
        "the data lives on the new disk (ext4)"
    );
    let kept: Vec<_> = fs::read_dir(node.home.join("node"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("data.pre-expansion-"))
        .collect();
    assert_eq!(kept.len(), 1, "the old directory is kept: {kept:?}");
    let old = without_state(tree(&node.home.join("node").join(&kept[0])));
    assert_eq!(old, before, "the old directory is untouched");
    // The copy holds everything the original held (the node has written to it since).
    let copy = tree(&new_dir);
    for entry in &before {
        assert!(copy.contains(entry), "{entry:?} is missing from the copy");
    }
    assert!(
        new_dir.join("state.json").is_file(),
        "the chain state moved"
    );
    // Restarted from its moved state, and caught up.
    node.assert_producing();
    assert!(
        node.height() >= height_before,
        "the node kept its chain: height {} < {height_before}",
        node.height()
    );
    assert_eq!(node.console(), "removeNode h1\naddSealer h1\n");

    let run = last_run(&d);
    let run: Vec<&Value> = run.iter().collect();
    assert_confirm_precedes_exec(&run, &["expand"]);
    let steps = exec_steps(&run);
    let order = [
        "expand.leave",
        "expand.stop",
        "expand.mount",
        "expand.space",
        "expand.copy",
        "expand.verify",
        "expand.switch",
        "expand.start",
        "expand.join",
    ];
    let got: Vec<&str> = steps
        .iter()
        .map(String::as_str)
        .filter(|s| s.starts_with("expand."))
        .collect();
    assert_eq!(got, order, "every sub-step once, in the manual's order");
    let verify = result_of(&run, "expand.verify").unwrap();
    assert_eq!(field(verify, "result"), "exit 0", "{verify}");
    let gate = run
        .iter()
        .find(|r| field(r, "action") == "gate.passed")
        .unwrap_or_else(|| panic!("no gate.passed record: {:?}", actions(&run)));
    assert_eq!(field(gate, "target"), "h1");
    assert!(field(gate, "result").contains("advancing"), "{gate}");
    let caught_up = run
        .iter()
        .find(|r| field(r, "action") == "step.result" && field(r, "step") == "caught-up")
        .expect("the synced wait ran");
    assert_eq!(field(caught_up, "result"), "passed", "{caught_up}");
    let finish = run
        .iter()
        .find(|r| field(r, "action") == "runbook.finish")
        .unwrap();
    assert_eq!(field(finish, "result"), "success");
    assert!(
        history.contains("copy verified"),
        "the verification's output is shown:\n{history}"
    );
    d.assert_audit_intact();

    // The run's timeline for the change record: who confirmed, every command, the gate.
    let id = field(run[0], "run").to_string();
    let out = d.run(&["audit", "timeline", &id, "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tl: Value = serde_json::from_slice(&out.stdout).expect("the timeline as JSON");
    let events = tl["events"].as_array().unwrap();
    let confirm = events
        .iter()
        .find(|e| e["kind"] == "confirm")
        .unwrap_or_else(|| panic!("the confirmation is in the timeline: {tl}"));
    assert_eq!(confirm["event"], "confirmed expand");
    assert_eq!(confirm["actor"], d.fleet.user());
    let verify = events
        .iter()
        .find(|e| e["kind"] == "exec" && e["step"] == "expand.verify")
        .unwrap();
    assert_eq!(verify["event"], "command on h1: exit 0");
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "gate" && e["event"] == "health gate passed on h1"),
        "{tl}"
    );
    assert_eq!(tl["resolved"], field(finish, "time"));

    // The node stops before the new disk is unmounted (drop order), so it must let go of it.
    drop(node);
}
