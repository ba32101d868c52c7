//! `NetnsHost`: a real OpenSSH sshd in a network namespace the test creates, reached over a veth
//! pair on a private /30, whose traffic can be dropped with nftables: a **blackholed** host, where
//! a TCP connect hangs instead of being refused.
//!
//! Loopback cannot blackhole (a SYN to 127.0.0.1 is answered or refused by the kernel at once), so
//! the host lives in its own namespace: `ip netns add`, a veth pair, `10.231.X.Y/30` (the host side
//! `.1`, the namespace side `.2`), and `ip netns exec NS sshd -D -f CONFIG` with the same config text
//! as the loopback fleet ([`super::fleet::sshd_config_text`]) listening on the namespace address.
//! [`NetnsHost::blackhole`] loads an nftables table inside the namespace that drops every packet in
//! and out; [`NetnsHost::restore`] deletes it. Traffic only ever goes to the namespace's own address.
//!
//! Names are unique per test run (`fdt-<pid>-<n>`, veth `fd<pid>a<n>`/`fd<pid>b<n>`), anything left
//! under such a name by a run that died is deleted first, namespaces left by test processes that no
//! longer exist are swept, and a watchdog (`sh` reading a pipe from this process) tears everything
//! down if this process dies without unwinding. `Drop` stops the namespace's processes by PID (the
//! ones `ip netns pids` lists: only ours run there), deletes the nftables table, the namespace and
//! the veth, whatever happened in the test.
//!
//! For jump hosts the namespace is also a private network behind a bastion: the namespace's sshd
//! (on its veth address, reachable from here) is the bastion, and [`NetnsHost::spawn_inner`]
//! starts more sshds on the namespace's *own* 127.0.0.1, which nothing outside the namespace can
//! reach — only through the bastion. [`NetnsHost::stop_sshd`] kills the bastion with every
//! connection it serves; [`NetnsHost::start_sshd`] brings it back on the same address and key.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables); `scripts/test` installs nftables. A missing
//! tool is a panic that says so, never a skip.

use std::fs;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::fleet::{ExtraHost, TestFleet, sshd_config_text, sshd_path};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Prefix of every namespace this helper makes (the sweep only ever touches these).
const NS_PREFIX: &str = "fdt-";
/// The nftables table that blackholes the namespace.
const NFT_TABLE: &str = "fleetdeck_blackhole";
/// Port sshd listens on inside the namespace: the real default, so known_hosts names the host
/// by its bare address, as for most production hosts.
const SSH_PORT: u16 = 22;
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A test host in its own network namespace; everything is torn down on drop.
pub struct NetnsHost {
    ns: String,
    veth_host: String,
    host_addr: Ipv4Addr,
    ns_addr: Ipv4Addr,
    dir: tempfile::TempDir,
    host_public_key: String,
    known_hosts: PathBuf,
    sshd: Option<Child>,
    sshd_config: PathBuf,
    watchdog: Option<(Child, ChildStdin)>,
}

impl NetnsHost {
    /// Starts an sshd in a new namespace that accepts `fleet`'s client key (its
    /// `authorized_keys`), with its own host key recorded in [`NetnsHost::known_hosts`].
    pub fn start(fleet: &TestFleet) -> NetnsHost {
        Self::start_with(fleet, "")
    }

    /// [`NetnsHost::start`] with `extra` lines appended to the sshd's config (e.g.
    /// `PermitOpen 127.0.0.1:2202` for a bastion that may forward to one place only).
    pub fn start_with(fleet: &TestFleet, extra: &str) -> NetnsHost {
        require_root_and_tools();
        sweep_leftovers();
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let ns = format!("{NS_PREFIX}{pid}-{n}");
        let veth_host = format!("fd{pid}a{n}");
        let veth_ns = format!("fd{pid}b{n}");
        // Whatever an earlier process with our PID left under these names goes first.
        quiet(Command::new("ip").args(["netns", "del", &ns]));
        quiet(Command::new("ip").args(["link", "del", &veth_host]));

        let (host_addr, ns_addr) = free_slash30(pid, n);
        let dir = tempfile::Builder::new()
            .prefix("fleetdeck-netns-")
            .tempdir()
            .expect("create the namespace host's directory");
        let watchdog = spawn_watchdog(&ns, &veth_host);

        ip(&["netns", "add", &ns]);
        ip(&[
            "link", "add", &veth_host, "type", "veth", "peer", "name", &veth_ns,
        ]);
        ip(&["link", "set", &veth_ns, "netns", &ns]);
        ip(&["addr", "add", &format!("{host_addr}/30"), "dev", &veth_host]);
        ip(&["link", "set", &veth_host, "up"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ns_addr}/30"),
            "dev",
            &veth_ns,
        ]);
        ip(&["-n", &ns, "link", "set", &veth_ns, "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);

        let root = dir.path();
        let home = root.join("home");
        fs::create_dir_all(home.join("svc")).expect("create the namespace host's home");
        let host_key = root.join("ssh_host_ed25519_key");
        run(Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "fleetdeck-netns",
                "-f",
            ])
            .arg(&host_key));
        let host_public_key = {
            let text = fs::read_to_string(root.join("ssh_host_ed25519_key.pub"))
                .expect("read the host's public key");
            text.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let known_hosts = root.join("known_hosts");
        fs::write(&known_hosts, format!("{ns_addr} {host_public_key}\n"))
            .expect("write known_hosts");

        let sshd = sshd_path();
        let config = root.join("sshd_config");
        let pidfile = root.join("sshd.pid");
        let penalties = sshd_accepts(&sshd, &host_key, "PerSourcePenalties=no");
        let text = sshd_config_text(
            SSH_PORT,
            &host_key,
            &pidfile,
            &fleet.root().join("authorized_keys"),
            &home,
            penalties,
        )
        .replace(
            "ListenAddress 127.0.0.1",
            &format!("ListenAddress {ns_addr}"),
        ) + extra;
        fs::write(&config, text).expect("write sshd_config");

        let mut host = NetnsHost {
            ns,
            veth_host,
            host_addr,
            ns_addr,
            dir,
            host_public_key,
            known_hosts,
            sshd: None,
            sshd_config: config,
            watchdog: Some(watchdog),
        };
        host.start_sshd();
        host
    }

    /// Starts the namespace's sshd (again, after [`NetnsHost::stop_sshd`]).
    pub fn start_sshd(&mut self) {
        assert!(self.sshd.is_none(), "the sshd of {} is running", self.ns);
        let root = self.dir.path();
        self.sshd = Some(spawn_sshd_in(
            &self.ns,
            &self.sshd_config,
            &root.join("sshd.pid"),
            &root.join("sshd.log"),
        ));
    }

    /// Kills the namespace's sshd and every connection it serves (its whole process tree), as
    /// if the machine went away: clients see their connections close, and new ones refused.
    pub fn stop_sshd(&mut self) {
        let mut child = self.sshd.take().expect("the namespace's sshd is running");
        kill_tree(child.id());
        let _ = child.wait();
    }

    /// Starts another sshd inside the namespace on the namespace's own `127.0.0.1:port`, which
    /// only processes in the namespace (the bastion's sshd) can reach; `extra` lines are added
    /// to its config. It accepts `fleet`'s client key.
    pub fn spawn_inner(&self, fleet: &TestFleet, port: u16, extra: &str) -> InnerSshd {
        let dir = self.dir.path().join(format!("inner-{port}"));
        fs::create_dir_all(dir.join("home")).expect("create the inner host's directory");
        let host_key = dir.join("ssh_host_ed25519_key");
        run(Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "fleetdeck-inner",
                "-f",
            ])
            .arg(&host_key));
        let public = fs::read_to_string(dir.join("ssh_host_ed25519_key.pub"))
            .expect("read the inner host's public key");
        let public: String = public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let config = dir.join("sshd_config");
        let pidfile = dir.join("sshd.pid");
        let penalties = sshd_accepts(&sshd_path(), &host_key, "PerSourcePenalties=no");
        let text = sshd_config_text(
            port,
            &host_key,
            &pidfile,
            &fleet.root().join("authorized_keys"),
            &dir.join("home"),
            penalties,
        ) + extra;
        fs::write(&config, text).expect("write the inner sshd_config");
        let child = spawn_sshd_in(&self.ns, &config, &pidfile, &dir.join("sshd.log"));
        InnerSshd {
            port,
            known_hosts_line: format!("[127.0.0.1]:{port} {public}"),
            child: Some(child),
        }
    }

    /// Established TCP connections to the namespace's sshd (the bastion), counted by `ss` on
    /// the bastion's side.
    pub fn bastion_connections(&self) -> usize {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "ss",
                "-tnH",
                "state",
                "established",
            ])
            .arg(format!("( sport = :{SSH_PORT} )"))
            .stdin(Stdio::null())
            .output()
            .expect("run ss in the namespace");
        assert!(
            out.status.success(),
            "ss failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&format!("{}:{SSH_PORT}", self.ns_addr)))
            .count()
    }

    /// The namespace's address (where sshd listens).
    pub fn address(&self) -> String {
        self.ns_addr.to_string()
    }

    /// This machine's end of the veth pair.
    pub fn gateway(&self) -> String {
        self.host_addr.to_string()
    }

    /// sshd's port inside the namespace.
    pub fn port(&self) -> u16 {
        SSH_PORT
    }

    /// The namespace's name (for `ip netns exec` in a test).
    pub fn namespace(&self) -> &str {
        &self.ns
    }

    /// A known_hosts file listing this host's key under its bare address (port 22).
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// `ssh-ed25519 AAAA…` of this host.
    pub fn host_public_key(&self) -> &str {
        &self.host_public_key
    }

    /// `$HOME` of sessions on this host.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The inventory entry for this host (a disk and a command service, so a poll does real work).
    pub fn extra_host(&self, name: &str) -> ExtraHost {
        ExtraHost {
            name: name.to_string(),
            address: self.address(),
            port: SSH_PORT,
            groups: vec!["test".to_string(), "netns".to_string()],
            toml: "disks = [{ mount = \"/\" }]\n\
                   services = [{ name = \"app\", kind = \"command\", command = \"true\" }]"
                .to_string(),
        }
    }

    /// Drops every packet into and out of the namespace: a connect to it now hangs (no RST, no
    /// ICMP), and an established connection goes silent.
    pub fn blackhole(&self) {
        let rules = format!(
            "table inet {NFT_TABLE} {{\n\
             \tchain input {{ type filter hook input priority -10; policy drop; }}\n\
             \tchain output {{ type filter hook output priority -10; policy drop; }}\n\
             }}\n"
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nft in the namespace");
        child
            .stdin
            .take()
            .expect("nft stdin")
            .write_all(rules.as_bytes())
            .expect("feed nft");
        let out = child.wait_with_output().expect("wait for nft");
        assert!(
            out.status.success(),
            "nft -f failed in {}: {}",
            self.ns,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Undoes [`NetnsHost::blackhole`].
    pub fn restore(&self) {
        run(Command::new("ip").args([
            "netns", "exec", &self.ns, "nft", "delete", "table", "inet", NFT_TABLE,
        ]));
    }

    /// Whether the blackhole table is loaded (read back from nftables, not remembered).
    pub fn is_blackholed(&self) -> bool {
        Command::new("ip")
            .args([
                "netns", "exec", &self.ns, "nft", "list", "table", "inet", NFT_TABLE,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for NetnsHost {
    fn drop(&mut self) {
        quiet(Command::new("ip").args([
            "netns", "exec", &self.ns, "nft", "delete", "table", "inet", NFT_TABLE,
        ]));
        if let Some(mut sshd) = self.sshd.take() {
            let _ = sshd.kill();
            let _ = sshd.wait();
        }
        // sshd's per-connection processes outlive the listener; only our processes run in the
        // namespace, so every PID it lists is one of ours.
        stop_namespace_pids(&self.ns);
        quiet(Command::new("ip").args(["netns", "del", &self.ns]));
        quiet(Command::new("ip").args(["link", "del", &self.veth_host]));
        if let Some((mut child, stdin)) = self.watchdog.take() {
            // Disarm first: its teardown is for a process that died without getting here.
            let _ = child.kill();
            let _ = child.wait();
            drop(stdin);
        }
    }
}

/// An extra sshd inside a namespace (see [`NetnsHost::spawn_inner`]); stopped with its whole
/// process tree on drop (the namespace's own teardown would get it too).
pub struct InnerSshd {
    /// Its port on the namespace's 127.0.0.1.
    pub port: u16,
    /// `[127.0.0.1]:PORT ssh-ed25519 AAAA…` for a known_hosts file.
    pub known_hosts_line: String,
    child: Option<Child>,
}

impl Drop for InnerSshd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_tree(child.id());
            let _ = child.wait();
        }
    }
}

/// Runs `sshd -D -f CONFIG` inside namespace `ns` and waits until it listens (its pidfile).
fn spawn_sshd_in(ns: &str, config: &Path, pidfile: &Path, log: &Path) -> Child {
    let sshd = sshd_path();
    let _ = fs::remove_file(pidfile);
    let stderr = fs::File::create(log).expect("create the sshd log");
    // `ip netns exec` enters the namespace and execs sshd: the child's PID is sshd's.
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(&sshd)
        .args(["-D", "-e", "-f"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run ip netns exec … {}: {e}", sshd.display()));
    let pid = child.id();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "sshd in namespace {ns} exited with {status} before it was ready; log:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        // sshd writes its pidfile once it listens.
        if fs::read_to_string(pidfile).is_ok_and(|s| s.trim() == pid.to_string()) {
            return child;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sshd in namespace {ns} not ready within {READY_TIMEOUT:?}; log:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        sleep(Duration::from_millis(20));
    }
}

/// SIGKILLs `pid` and all its descendants (children first collected, so none is reparented
/// out of reach).
fn kill_tree(pid: u32) {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        let children =
            fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        all.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
        i += 1;
    }
    // Stop the tree top-down so no parent forks a new child while its children die.
    for p in &all {
        kill(*p, "STOP");
    }
    for p in &all {
        kill(*p, "KILL");
    }
}

/// Tears the namespace down if this process dies without running `Drop` (SIGKILL, abort): the
/// `sh` waits for end of input on its pipe from us.
const WATCHDOG_SCRIPT: &str = r#"
ns=$1 veth=$2
while read -r _; do :; done
for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
ip netns del "$ns" 2>/dev/null
ip link del "$veth" 2>/dev/null
exit 0
"#;

fn spawn_watchdog(ns: &str, veth: &str) -> (Child, ChildStdin) {
    let mut child = Command::new("sh")
        .args(["-c", WATCHDOG_SCRIPT, "fleetdeck-netns-watchdog", ns, veth])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the namespace watchdog (sh)");
    let stdin = child.stdin.take().expect("watchdog stdin");
    (child, stdin)
}

/// SIGTERM, a short grace, then SIGKILL to every process in namespace `ns`.
fn stop_namespace_pids(ns: &str) {
    let pids = |ns: &str| -> Vec<u32> {
        Command::new("ip")
            .args(["netns", "pids", ns])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let first = pids(ns);
    if first.is_empty() {
        return;
    }
    for p in &first {
        kill(*p, "TERM");
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !pids(ns).is_empty() {
        sleep(Duration::from_millis(20));
    }
    for p in pids(ns) {
        kill(p, "KILL");
    }
}

/// Deletes namespaces named by this helper whose test process no longer exists.
fn sweep_leftovers() {
    let Ok(out) = Command::new("ip")
        .args(["netns", "list"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(owner) = name
            .strip_prefix(NS_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        stop_namespace_pids(name);
        quiet(Command::new("ip").args(["netns", "del", name]));
    }
}

/// A /30 in 10.231.0.0/16 that no interface on this machine uses: (this side, namespace side).
fn free_slash30(pid: u32, n: usize) -> (Ipv4Addr, Ipv4Addr) {
    let used = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let blocks = 1u32 << 14; // /30 blocks in a /16
    let start = (pid.wrapping_mul(31).wrapping_add(n as u32 * 7)) % blocks;
    for k in 0..blocks {
        let block = (start + k) % blocks;
        let base = u32::from(Ipv4Addr::new(10, 231, 0, 0)) + block * 4;
        let (a, b) = (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2));
        if !used.contains(&format!("inet {a}/")) && !used.contains(&format!("inet {b}/")) {
            return (a, b);
        }
    }
    panic!("no free /30 left in 10.231.0.0/16")
}

fn require_root_and_tools() {
    let uid = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_default();
    assert_eq!(
        uid, "0",
        "a network-namespace test host needs root (ip netns add); CI and scripts/test run as root"
    );
    for (tool, package) in [
        ("ip", "iproute2"),
        ("nft", "nftables"),
        ("ssh-keygen", "openssh-client"),
    ] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "{tool} not found: run scripts/test, which installs it (apt-get install {package})"
        );
    }
}

fn sshd_accepts(sshd: &Path, host_key: &Path, option: &str) -> bool {
    Command::new(sshd)
        .args(["-t", "-f", "/dev/null", "-h"])
        .arg(host_key)
        .args(["-o", option])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

fn kill(pid: u32, sig: &str) {
    quiet(
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string()),
    );
}

/// Runs a command, panics with its stderr when it fails.
fn run(cmd: &mut Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a command for its effect only (cleanup: a missing object is fine).
fn quiet(cmd: &mut Command) {
    let _ = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
