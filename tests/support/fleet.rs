//! `TestFleet`: real OpenSSH `sshd` hosts and `anvil` chain nodes on 127.0.0.1 for integration tests.
//!
//! Each SSH host gets its own port, ed25519 host key, `sshd_config`, pidfile, log and home directory (set
//! with `SetEnv HOME=…`, so `$HOME` differs per host while every host logs in as the current user). One
//! client key is authorized on every host; `known_hosts` lists every host key as `[127.0.0.1]:PORT`.
//! Each home holds `data/`, `backups/` (two gzip'd "postgres" dumps, the newest one hour old) and the
//! service marker `svc/app.running` that the inventory's `app` service tests for.
//!
//! Ownership: the fleet starts `sshd -D` and `anvil` as its own children and stops exactly those, by PID
//! (plus the per-connection processes that an sshd forked, found through /proc by parent PID and checked by
//! start time). Nothing is ever killed by name. A small watchdog (`sh` reading a pipe from this process)
//! also knows the PIDs, so a test process that dies without unwinding (SIGKILL, abort) leaves nothing
//! running behind it.
//!
//! A missing `sshd`, `ssh-keygen` or `anvil` is a panic that says how to install it: the suite never
//! skips a test because a peer is missing.
//!
//! Environment: `FLEETDECK_ANVIL` (path of anvil; default `<repo>/.tools/...`), `FLEETDECK_SSHD` (default
//! `/usr/sbin/sshd`), `FLEETDECK_KEEP_FLEET=1` keeps the fleet's directory for a post-mortem.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a peer may take to become ready before the test fails.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// SIGTERM → SIGKILL grace when stopping a process.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Where `scripts/test` installs anvil, relative to the repository root.
pub const ANVIL_IN_REPO: &str = ".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";
/// The command of the `app` service every test host carries: running while the marker file exists.
pub const APP_SERVICE_COMMAND: &str = r#"test -f "$HOME/svc/app.running""#;
/// The backup pattern of every test host.
pub const BACKUP_PATTERN: &str = "*-postgres-backup.sql.gz";

/// What to start.
#[derive(Clone, Copy, Debug, Default)]
pub struct FleetSpec {
    /// Number of OpenSSH hosts, named `h1`, `h2`, …
    pub ssh_hosts: usize,
    /// Number of anvil nodes.
    pub anvils: usize,
}

impl FleetSpec {
    /// `n` SSH hosts and no anvil.
    pub fn hosts(n: usize) -> Self {
        FleetSpec {
            ssh_hosts: n,
            anvils: 0,
        }
    }

    /// The same with `k` anvil nodes.
    pub fn with_anvils(self, k: usize) -> Self {
        FleetSpec { anvils: k, ..self }
    }
}

/// What a test may read about one SSH host.
#[derive(Clone, Debug)]
pub struct HostInfo {
    /// 0-based index.
    pub index: usize,
    /// Inventory name: `h{index + 1}`.
    pub name: String,
    /// Always 127.0.0.1.
    pub address: String,
    pub port: u16,
    /// `$HOME` of sessions on this host.
    pub home: PathBuf,
    /// PID of its `sshd -D` listener; `None` while stopped.
    pub pid: Option<u32>,
    /// The host's own directory (config, keys, pidfile, log, home).
    pub dir: PathBuf,
    pub config: PathBuf,
    /// Private host key path (the public one is `<this>.pub`).
    pub host_key: PathBuf,
    /// `ssh-ed25519 AAAA…` (no comment).
    pub host_public_key: String,
    /// sshd's stderr (LogLevel ERROR).
    pub log: PathBuf,
    /// Its `PidFile`: sshd -D writes its PID there (again after a SIGHUP re-exec); what the
    /// `harden-ssh` runbook signals to reload it.
    pub pidfile: PathBuf,
    pub backups_dir: PathBuf,
    /// While this file exists the inventory's `app` service is running.
    pub service_marker: PathBuf,
}

/// What a test may read about one anvil node.
#[derive(Clone, Debug)]
pub struct AnvilInfo {
    pub index: usize,
    pub port: u16,
    /// `http://127.0.0.1:PORT`
    pub rpc_url: String,
    /// `None` while stopped.
    pub pid: Option<u32>,
    pub log: PathBuf,
}

/// A host that is in the inventory but not in the fleet (a dead one, a silent one, …).
#[derive(Clone, Debug)]
pub struct ExtraHost {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub groups: Vec<String>,
    /// Raw `key = value` TOML lines added to this host's table (services, chain, …).
    pub toml: String,
}

impl ExtraHost {
    /// A host whose port refuses connections (nothing listens there).
    pub fn dead(name: &str) -> Self {
        ExtraHost {
            name: name.to_string(),
            address: "127.0.0.1".to_string(),
            port: closed_port(),
            groups: vec!["test".to_string(), "extra".to_string()],
            toml: String::new(),
        }
    }

    /// A host at `port` on 127.0.0.1 (e.g. [`TestFleet::silent_port`]).
    pub fn at_port(name: &str, port: u16) -> Self {
        ExtraHost {
            port,
            ..ExtraHost::dead(name)
        }
    }
}

/// Choices for [`TestFleet::inventory_toml`]. `InventoryOpts::default()` gives the standard inventory.
#[derive(Clone, Debug)]
pub struct InventoryOpts {
    /// `[fleet] name`; default "testfleet".
    pub name: String,
    /// `[fleet] interval`; default "1s".
    pub interval: String,
    /// `[fleet] host_key_policy`; default "strict".
    pub host_key_policy: String,
    /// `[fleet] known_hosts`; `None` = the fleet's own known_hosts file.
    pub known_hosts: Option<Vec<PathBuf>>,
    /// `[ssh] user`; `None` = the current user.
    pub user: Option<String>,
    /// `[ssh] identity_files`; `None` = the fleet's client key.
    pub identity_files: Option<Vec<PathBuf>>,
    /// `[ssh] connect_timeout`; default "3s".
    pub connect_timeout: String,
    /// `[ssh] command_timeout`; default "5s".
    pub command_timeout: String,
    /// How many of the first hosts get a `chain` (host i uses anvil i % anvils); `None` = one per anvil.
    pub chain_hosts: Option<usize>,
    /// When set, every fleet host gets `consensus_group = "<this>"` and `role = "consensus"`.
    pub consensus_group: Option<String>,
    /// Raw `key = value` lines added to fleet host i's table (0-based index).
    pub host_toml: BTreeMap<usize, String>,
    /// Hosts outside the fleet, appended after the fleet's own.
    pub extra_hosts: Vec<ExtraHost>,
    /// Raw TOML appended at the end (e.g. a `[thresholds]` table).
    pub extra_toml: String,
}

impl Default for InventoryOpts {
    fn default() -> Self {
        InventoryOpts {
            name: "testfleet".to_string(),
            interval: "1s".to_string(),
            host_key_policy: "strict".to_string(),
            known_hosts: None,
            user: None,
            identity_files: None,
            connect_timeout: "3s".to_string(),
            command_timeout: "5s".to_string(),
            chain_hosts: None,
            consensus_group: None,
            host_toml: BTreeMap::new(),
            extra_hosts: Vec::new(),
            extra_toml: String::new(),
        }
    }
}

struct SshHost {
    name: String,
    port: u16,
    dir: PathBuf,
    home: PathBuf,
    config: PathBuf,
    host_key: PathBuf,
    host_public_key: String,
    pidfile: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// Variables sessions get besides `HOME` ([`TestFleet::set_host_env`]).
    env: Vec<(String, String)>,
    /// Lines appended to the generated sshd_config (`HostCertificate …`, `TrustedUserCAKeys …`).
    extra_config: String,
    /// Text replacements applied to the generated sshd_config ([`TestFleet::restart_host_replacing`]).
    replace: Vec<(String, String)>,
    /// Lines put before the generated sshd_config ([`TestFleet::restart_host_overriding`]).
    first_config: String,
}

struct AnvilNode {
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

/// A running fleet of real peers; everything it started stops when it is dropped.
pub struct TestFleet {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    user: String,
    client_key: PathBuf,
    known_hosts: PathBuf,
    sshd: PathBuf,
    per_source_penalties: bool,
    hosts: Vec<SshHost>,
    anvils: Vec<AnvilNode>,
    anvil_bin: Option<PathBuf>,
    silent: Vec<TcpListener>,
    watchdog: Option<Watchdog>,
    inventories: AtomicUsize,
}

impl TestFleet {
    /// Starts the fleet, or panics with the reason (and the peer's log).
    pub fn start(spec: FleetSpec) -> TestFleet {
        let sshd = sshd_path();
        require_tool("ssh-keygen", "openssh-client");
        require_tool("gzip", "gzip");
        let anvil_bin = (spec.anvils > 0).then(anvil_path);
        // sshd running as root needs its privilege-separation directory; elsewhere this fails harmlessly.
        let _ = fs::create_dir_all("/run/sshd");

        let dir = tempfile::Builder::new()
            .prefix("fleetdeck-fleet-")
            .tempdir()
            .expect("create the fleet's temporary directory");
        let root = dir.path().to_path_buf();
        let keep = std::env::var_os("FLEETDECK_KEEP_FLEET").is_some_and(|v| v == "1");
        let watchdog = Watchdog::spawn(&root, keep);

        let client_key = root.join("client_ed25519");
        keygen(&client_key);
        fs::copy(
            root.join("client_ed25519.pub"),
            root.join("authorized_keys"),
        )
        .expect("write authorized_keys");

        let gz = backup_gzip_bytes();
        let mut fleet = TestFleet {
            dir: Some(dir),
            known_hosts: root.join("known_hosts"),
            root,
            user: current_user(),
            client_key,
            sshd,
            per_source_penalties: false,
            hosts: Vec::new(),
            anvils: Vec::new(),
            anvil_bin,
            silent: Vec::new(),
            watchdog: Some(watchdog),
            inventories: AtomicUsize::new(0),
        };

        for i in 0..spec.ssh_hosts {
            let name = format!("h{}", i + 1);
            let hdir = fleet.root.join(&name);
            let home = hdir.join("home");
            for sub in ["data", "backups", "svc"] {
                fs::create_dir_all(home.join(sub)).expect("create the host's home");
            }
            fs::write(home.join("svc/app.running"), "running\n").expect("write service marker");
            write_backups(&home.join("backups"), &gz);
            let host_key = hdir.join("ssh_host_ed25519_key");
            keygen(&host_key);
            let host_public_key = public_key_of(&host_key);
            assert!(
                !home.to_string_lossy().contains(char::is_whitespace),
                "test home path must not contain whitespace: {}",
                home.display()
            );
            fleet.hosts.push(SshHost {
                config: hdir.join("sshd_config"),
                pidfile: hdir.join("sshd.pid"),
                log: hdir.join("sshd.log"),
                name,
                port: 0,
                dir: hdir,
                home,
                host_key,
                host_public_key,
                child: None,
                env: Vec::new(),
                extra_config: String::new(),
                replace: Vec::new(),
                first_config: String::new(),
            });
        }
        if let Some(first) = fleet.hosts.first() {
            fleet.per_source_penalties =
                sshd_has_per_source_penalties(&fleet.sshd, &first.host_key);
        }
        for i in 0..fleet.hosts.len() {
            fleet.launch_host(i, true);
        }
        fleet.write_plain_known_hosts();

        for j in 0..spec.anvils {
            fleet.anvils.push(AnvilNode {
                port: 0,
                log: fleet.root.join(format!("anvil{}.log", j + 1)),
                child: None,
            });
            fleet.launch_anvil(j, true);
        }
        fleet
    }

    /// The fleet's directory (deleted on drop unless `FLEETDECK_KEEP_FLEET=1`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The user every host accepts (the current user).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The client's private ed25519 key (no passphrase), authorized on every host.
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    /// known_hosts with every host's key in plain `[127.0.0.1]:PORT ssh-ed25519 …` form.
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    pub fn anvil_count(&self) -> usize {
        self.anvils.len()
    }

    /// Host `i` (0-based; its name is `h{i+1}`).
    pub fn host(&self, i: usize) -> HostInfo {
        let h = &self.hosts[i];
        HostInfo {
            index: i,
            name: h.name.clone(),
            address: "127.0.0.1".to_string(),
            port: h.port,
            home: h.home.clone(),
            pid: h.child.as_ref().map(Child::id),
            dir: h.dir.clone(),
            config: h.config.clone(),
            host_key: h.host_key.clone(),
            host_public_key: h.host_public_key.clone(),
            log: h.log.clone(),
            pidfile: h.pidfile.clone(),
            backups_dir: h.home.join("backups"),
            service_marker: h.home.join("svc/app.running"),
        }
    }

    /// Anvil node `j` (0-based).
    pub fn anvil(&self, j: usize) -> AnvilInfo {
        let a = &self.anvils[j];
        AnvilInfo {
            index: j,
            port: a.port,
            rpc_url: format!("http://127.0.0.1:{}", a.port),
            pid: a.child.as_ref().map(Child::id),
            log: a.log.clone(),
        }
    }

    /// Stops host `i`: SIGTERM to its sshd and every process that sshd forked (open connections die too,
    /// as when a machine goes down), waits for them, and checks that the port refuses connections.
    pub fn stop_host(&mut self, i: usize) {
        let h = &mut self.hosts[i];
        let mut child = h
            .child
            .take()
            .unwrap_or_else(|| panic!("stop_host({i}): {} is not running", h.name));
        let pid = child.id();
        terminate(&mut [&mut child]);
        if let Some(wd) = self.watchdog.as_mut() {
            wd.del(pid);
        }
        let port = h.port;
        let name = h.name.clone();
        let _ = fs::remove_file(&h.pidfile);
        wait_until(Duration::from_secs(5), || !port_accepts(port))
            .unwrap_or_else(|| panic!("{name}: port {port} still accepts after its sshd stopped"));
    }

    /// Starts host `i` again on the same port with the same host key, config and home.
    pub fn start_host(&mut self, i: usize) {
        assert!(
            self.hosts[i].child.is_none(),
            "start_host({i}): {} is already running",
            self.hosts[i].name
        );
        self.launch_host(i, false);
    }

    /// Restarts host `i` (same port, key, home) with `lines` appended to its sshd_config, e.g.
    /// `HostCertificate …` or `TrustedUserCAKeys …`; they replace lines given before. sshd reads
    /// its host keys and certificates when it starts, so a changed certificate needs this too.
    pub fn restart_host_with(&mut self, i: usize, lines: &str) {
        if self.hosts[i].child.is_some() {
            self.stop_host(i);
        }
        let mut lines = lines.to_string();
        if !lines.is_empty() && !lines.ends_with('\n') {
            lines.push('\n');
        }
        self.hosts[i].extra_config = lines;
        self.launch_host(i, false);
    }

    /// Restarts host `i` (same port, key, home) with `from` replaced by `to` in its generated
    /// sshd_config — a host whose own setup differs, e.g. `PasswordAuthentication yes`, or
    /// `ListenAddress 127.0.0.1:PORT` that pins its listener whatever `Port` says. Replaces the
    /// replacements given before; an empty `from` clears them.
    pub fn restart_host_replacing(&mut self, i: usize, from: &str, to: &str) {
        if self.hosts[i].child.is_some() {
            self.stop_host(i);
        }
        self.hosts[i].replace = if from.is_empty() {
            Vec::new()
        } else {
            vec![(from.to_string(), to.to_string())]
        };
        self.launch_host(i, false);
    }

    /// Restarts host `i` (same port, key, home) with `lines` put *before* its generated sshd_config.
    /// sshd keeps the first value it reads of most keywords, so these override the defaults, e.g.
    /// `PasswordAuthentication yes` or `PermitRootLogin yes` for a weakly configured host; they
    /// replace lines given before. No `Match` block here: it would swallow the defaults after it.
    pub fn restart_host_overriding(&mut self, i: usize, lines: &str) {
        if self.hosts[i].child.is_some() {
            self.stop_host(i);
        }
        let mut lines = lines.to_string();
        if !lines.is_empty() && !lines.ends_with('\n') {
            lines.push('\n');
        }
        self.hosts[i].first_config = lines;
        self.launch_host(i, false);
    }

    /// Freezes host `i` (SIGSTOP to its sshd and its connection processes): the port still completes TCP
    /// handshakes but nothing answers, like a hung machine. [`TestFleet::thaw_host`] undoes it.
    pub fn freeze_host(&mut self, i: usize) {
        let pid = self.running_pid(i);
        for (p, _) in descendants(pid) {
            signal(p, "STOP");
        }
        signal(pid, "STOP");
    }

    /// Resumes a host frozen by [`TestFleet::freeze_host`].
    pub fn thaw_host(&mut self, i: usize) {
        let pid = self.running_pid(i);
        signal(pid, "CONT");
        for (p, _) in descendants(pid) {
            signal(p, "CONT");
        }
    }

    /// Stops anvil `j` (SIGTERM, then SIGKILL after a grace period) and waits for it.
    pub fn stop_anvil(&mut self, j: usize) {
        let a = &mut self.anvils[j];
        let mut child = a
            .child
            .take()
            .unwrap_or_else(|| panic!("stop_anvil({j}): anvil{} is not running", j + 1));
        let pid = child.id();
        terminate(&mut [&mut child]);
        if let Some(wd) = self.watchdog.as_mut() {
            wd.del(pid);
        }
    }

    /// Starts anvil `j` again on the same port (a fresh chain: its height restarts at 0).
    pub fn start_anvil(&mut self, j: usize) {
        assert!(
            self.anvils[j].child.is_none(),
            "start_anvil({j}): anvil{} is already running",
            j + 1
        );
        self.launch_anvil(j, false);
    }

    /// Current block height of anvil `j`.
    pub fn anvil_height(&self, j: usize) -> Result<u64, String> {
        block_number(self.anvils[j].port)
    }

    /// Makes the `app` service of host `i` running (marker present) or stopped (marker removed).
    pub fn set_service_running(&self, i: usize, running: bool) {
        let marker = self.hosts[i].home.join("svc/app.running");
        if running {
            fs::write(&marker, "running\n").expect("write service marker");
        } else if marker.exists() {
            fs::remove_file(&marker).expect("remove service marker");
        }
    }

    /// Gives every new session on host `i` these environment variables besides `HOME` (sshd's
    /// `SetEnv`, as a host's own setup would, e.g. `PGHOST` where its database listens), by
    /// restarting its sshd on the same port with the same key. Values must be plain words.
    pub fn set_host_env(&mut self, i: usize, vars: &[(&str, &str)]) {
        for (k, v) in vars {
            assert!(
                !k.is_empty()
                    && !format!("{k}{v}").contains(|c: char| c.is_whitespace() || c == '"'),
                "set_host_env: {k}={v} is not a plain word"
            );
        }
        self.hosts[i].env = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.stop_host(i);
        self.start_host(i);
    }

    /// Backup files of host `i`, oldest first.
    pub fn backups(&self, i: usize) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.hosts[i].home.join("backups"))
            .expect("read backups dir")
            .map(|e| e.expect("read backups dir").path())
            .collect();
        v.sort();
        v
    }

    /// Sets the modification time of host `i`'s newest backup to `age` ago (e.g. 2 days to make it stale).
    pub fn set_newest_backup_age(&self, i: usize, age: Duration) {
        let newest = self.backups(i).pop().expect("host has backups");
        set_mtime(&newest, SystemTime::now() - age);
    }

    /// Writes a copy of known_hosts with hashed host names (`ssh-keygen -H`) and returns its path.
    pub fn write_known_hosts_hashed(&self) -> PathBuf {
        let path = self.root.join("known_hosts_hashed");
        fs::copy(&self.known_hosts, &path).expect("copy known_hosts");
        run(Command::new("ssh-keygen").arg("-H").arg("-f").arg(&path));
        let text = fs::read_to_string(&path).expect("read hashed known_hosts");
        assert!(
            text.lines().all(|l| l.starts_with("|1|")),
            "ssh-keygen -H left unhashed lines:\n{text}"
        );
        path
    }

    /// Writes a known_hosts where host `i`'s name carries another (valid, generated) ed25519 key and every
    /// other host its real key; returns its path. A strict client must refuse host `i`.
    pub fn known_hosts_with_wrong_key_for(&self, i: usize) -> PathBuf {
        let wrong = self.root.join("wrong_host_key");
        if !wrong.exists() {
            keygen(&wrong);
        }
        let wrong_pub = public_key_of(&wrong);
        let mut text = String::new();
        for (k, h) in self.hosts.iter().enumerate() {
            let key = if k == i {
                &wrong_pub
            } else {
                &h.host_public_key
            };
            let _ = writeln!(text, "[127.0.0.1]:{} {key}", h.port);
        }
        let path = self
            .root
            .join(format!("known_hosts_wrong_{}", self.hosts[i].name));
        fs::write(&path, text).expect("write known_hosts");
        path
    }

    /// A port on 127.0.0.1 that accepts TCP connections (kept in the kernel's backlog) but never answers:
    /// an SSH client waits for a banner that never comes. Lives as long as the fleet.
    pub fn silent_port(&mut self) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a silent port");
        let port = l.local_addr().expect("local addr").port();
        self.silent.push(l);
        port
    }

    /// The system `ssh` client set up for host `i` (strict host key checking against the fleet's
    /// known_hosts, the client key, batch mode); `remote` is the command to run there.
    pub fn ssh_command(&self, i: usize, remote: &str) -> Command {
        let h = &self.hosts[i];
        let mut c = Command::new("ssh");
        c.args(["-F", "/dev/null", "-i"])
            .arg(&self.client_key)
            .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "ConnectTimeout=5",
                "-o",
                "LogLevel=ERROR",
                "-p",
            ])
            .arg(h.port.to_string())
            .arg(format!("{}@127.0.0.1", self.user))
            .arg(remote)
            .stdin(Stdio::null());
        c
    }

    /// The fleetdeck inventory for this fleet (format in shared/DESIGN.md): `[fleet]` (name, interval,
    /// host_key_policy, known_hosts), `[ssh]` (user, identity_files, connect_timeout, command_timeout), and
    /// per host `h1..hN`: address 127.0.0.1, its port, groups `["test", "odd"|"even"]`, the `command`
    /// service `app`, disk `/`, the `postgres` backups in its home, and for the first hosts (one per anvil
    /// unless [`InventoryOpts::chain_hosts`] says otherwise) an `ethereum` chain whose RPC address is
    /// dialled from the host. Then [`InventoryOpts::extra_hosts`] and [`InventoryOpts::extra_toml`].
    pub fn inventory_toml(&self, opts: &InventoryOpts) -> String {
        let mut t = String::new();
        let known_hosts = opts
            .known_hosts
            .clone()
            .unwrap_or_else(|| vec![self.known_hosts.clone()]);
        let identity_files = opts
            .identity_files
            .clone()
            .unwrap_or_else(|| vec![self.client_key.clone()]);
        let user = opts.user.clone().unwrap_or_else(|| self.user.clone());
        let chain_hosts = opts.chain_hosts.unwrap_or(self.anvils.len());

        let _ = writeln!(
            t,
            "# fleetdeck inventory generated by tests/support (TestFleet)"
        );
        let _ = writeln!(t, "[fleet]");
        let _ = writeln!(t, "name = {}", toml_str(&opts.name));
        let _ = writeln!(t, "interval = {}", toml_str(&opts.interval));
        let _ = writeln!(t, "host_key_policy = {}", toml_str(&opts.host_key_policy));
        let _ = writeln!(t, "known_hosts = {}", toml_paths(&known_hosts));
        let _ = writeln!(t);
        let _ = writeln!(t, "[ssh]");
        let _ = writeln!(t, "user = {}", toml_str(&user));
        let _ = writeln!(t, "identity_files = {}", toml_paths(&identity_files));
        let _ = writeln!(t, "connect_timeout = {}", toml_str(&opts.connect_timeout));
        let _ = writeln!(t, "command_timeout = {}", toml_str(&opts.command_timeout));

        for (i, h) in self.hosts.iter().enumerate() {
            let parity = if (i + 1) % 2 == 1 { "odd" } else { "even" };
            let _ = writeln!(t);
            let _ = writeln!(t, "[[hosts]]");
            let _ = writeln!(t, "name = {}", toml_str(&h.name));
            let _ = writeln!(t, "address = \"127.0.0.1\"");
            let _ = writeln!(t, "port = {}", h.port);
            let _ = writeln!(t, "groups = [\"test\", \"{parity}\"]");
            if let Some(g) = &opts.consensus_group {
                let _ = writeln!(t, "consensus_group = {}", toml_str(g));
                let _ = writeln!(t, "role = \"consensus\"");
            }
            let _ = writeln!(
                t,
                "services = [{{ name = \"app\", kind = \"command\", command = {} }}]",
                toml_str(APP_SERVICE_COMMAND)
            );
            let _ = writeln!(t, "disks = [{{ mount = \"/\" }}]");
            // The hosts' `/` is this machine's disk, shared with builds and other tests: how full it
            // happens to be must not decide a test's status (a fresh clone at 89% full turned every
            // host "warning"), so only a disk that is really full counts, and the trend is off.
            let _ = writeln!(
                t,
                "thresholds = {{ disk_warn_percent = 99.0, disk_crit_percent = 99.9, disk_full_warn_days = 0 }}"
            );
            let _ = writeln!(
                t,
                "backups = [{{ name = \"postgres\", dir = {}, pattern = {}, every = \"24h\" }}]",
                toml_str(&h.home.join("backups").to_string_lossy()),
                toml_str(BACKUP_PATTERN)
            );
            if !self.anvils.is_empty() && i < chain_hosts {
                let port = self.anvils[i % self.anvils.len()].port;
                let _ = writeln!(
                    t,
                    "chain = {{ kind = \"ethereum\", rpc = \"http://127.0.0.1:{port}\" }}"
                );
            }
            if let Some(extra) = opts.host_toml.get(&i) {
                let _ = writeln!(t, "{}", extra.trim_end());
            }
        }
        for x in &opts.extra_hosts {
            let groups: Vec<String> = x.groups.iter().map(|g| toml_str(g)).collect();
            let _ = writeln!(t);
            let _ = writeln!(t, "[[hosts]]");
            let _ = writeln!(t, "name = {}", toml_str(&x.name));
            let _ = writeln!(t, "address = {}", toml_str(&x.address));
            let _ = writeln!(t, "port = {}", x.port);
            let _ = writeln!(t, "groups = [{}]", groups.join(", "));
            if !x.toml.trim().is_empty() {
                let _ = writeln!(t, "{}", x.toml.trim_end());
            }
        }
        if !opts.extra_toml.trim().is_empty() {
            let _ = writeln!(t);
            let _ = writeln!(t, "{}", opts.extra_toml.trim_end());
        }
        t
    }

    /// Writes [`TestFleet::inventory_toml`] to a new file in the fleet's directory and returns its path.
    pub fn write_inventory(&self, opts: &InventoryOpts) -> PathBuf {
        let n = self.inventories.fetch_add(1, Ordering::Relaxed) + 1;
        let path = self.root.join(format!("fleet-{n}.toml"));
        fs::write(&path, self.inventory_toml(opts)).expect("write inventory");
        path
    }

    fn running_pid(&self, i: usize) -> u32 {
        self.hosts[i]
            .child
            .as_ref()
            .map(Child::id)
            .unwrap_or_else(|| panic!("{} is not running", self.hosts[i].name))
    }

    fn write_plain_known_hosts(&self) {
        let mut text = String::new();
        for h in &self.hosts {
            let _ = writeln!(text, "[127.0.0.1]:{} {}", h.port, h.host_public_key);
        }
        fs::write(&self.known_hosts, text).expect("write known_hosts");
    }

    /// Starts host `i`'s sshd. With `new_port`, picks a free port (and retries on a lost race for it);
    /// otherwise reuses the host's port and fails if it is taken.
    fn launch_host(&mut self, i: usize, new_port: bool) {
        let attempts = if new_port { 5 } else { 1 };
        let authorized_keys = self.root.join("authorized_keys");
        for attempt in 1..=attempts {
            let h = &mut self.hosts[i];
            if new_port {
                h.port = free_port();
            }
            let mut config = sshd_config_text(
                h.port,
                &h.host_key,
                &h.pidfile,
                &authorized_keys,
                &h.home,
                self.per_source_penalties,
            );
            if !h.env.is_empty() {
                // sshd takes the first `SetEnv` only: the extra variables join HOME's line.
                let home = format!("SetEnv HOME={}\n", h.home.display());
                let extra: Vec<String> = h.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let with = format!("SetEnv HOME={} {}\n", h.home.display(), extra.join(" "));
                assert!(config.contains(&home), "sshd_config_text sets HOME");
                config = config.replace(&home, &with);
            }
            for (from, to) in &h.replace {
                assert!(
                    config.contains(from.as_str()),
                    "sshd_config of {} has no {from:?}",
                    h.name
                );
                config = config.replace(from.as_str(), to);
            }
            config.push_str(&h.extra_config);
            config.insert_str(0, &h.first_config);
            fs::write(&h.config, config).expect("write sshd_config");
            let _ = fs::remove_file(&h.pidfile);
            let log = fs::File::create(&h.log).expect("create sshd log");
            let child = Command::new(&self.sshd)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&h.config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.sshd.display()));
            let pid = child.id();
            if let Some(wd) = self.watchdog.as_mut() {
                wd.add(pid);
            }
            let mut child = child;
            let (port, pidfile, logp) = (h.port, h.pidfile.clone(), h.log.clone());
            // sshd writes its pidfile after its socket listens (and exits when it cannot bind), so our
            // PID in the pidfile means ready; a probing TCP connection would only add noise to its log.
            let outcome = wait_ready(&mut child, READY_TIMEOUT, || {
                fs::read_to_string(&pidfile).is_ok_and(|s| s.trim() == pid.to_string())
            });
            match outcome {
                Ready::Yes => {
                    h.child = Some(child);
                    return;
                }
                Ready::Exited(status) => {
                    if let Some(wd) = self.watchdog.as_mut() {
                        wd.del(pid);
                    }
                    let log = read_log(&logp);
                    if new_port && attempt < attempts && log.contains("Address already in use") {
                        continue;
                    }
                    panic!(
                        "sshd for {} (port {port}) exited with {status} before it was ready.\n\
                         config: {}\nlog:\n{log}",
                        h.name,
                        h.config.display()
                    );
                }
                Ready::TimedOut => {
                    terminate(&mut [&mut child]);
                    if let Some(wd) = self.watchdog.as_mut() {
                        wd.del(pid);
                    }
                    panic!(
                        "sshd for {} (port {port}) was not ready within {READY_TIMEOUT:?}.\n\
                         config: {}\nlog:\n{}",
                        h.name,
                        h.config.display(),
                        read_log(&logp)
                    );
                }
            }
        }
        unreachable!("the last attempt panics or returns");
    }

    fn launch_anvil(&mut self, j: usize, new_port: bool) {
        let bin = self
            .anvil_bin
            .clone()
            .expect("anvil path resolved at start");
        let attempts = if new_port { 5 } else { 1 };
        for attempt in 1..=attempts {
            let a = &mut self.anvils[j];
            if new_port {
                a.port = free_port();
            }
            let log = fs::File::create(&a.log).expect("create anvil log");
            let log2 = log.try_clone().expect("clone log handle");
            let mut child = Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port"])
                .arg(a.port.to_string())
                .args(["--block-time", "1", "--silent"])
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run anvil at {}: {e}", bin.display()));
            let pid = child.id();
            if let Some(wd) = self.watchdog.as_mut() {
                wd.add(pid);
            }
            let port = a.port;
            let logp = a.log.clone();
            match wait_ready(&mut child, READY_TIMEOUT, || block_number(port).is_ok()) {
                Ready::Yes => {
                    a.child = Some(child);
                    return;
                }
                Ready::Exited(status) => {
                    if let Some(wd) = self.watchdog.as_mut() {
                        wd.del(pid);
                    }
                    let log = read_log(&logp);
                    if new_port
                        && attempt < attempts
                        && (log.contains("in use") || log.contains("AddrInUse"))
                    {
                        continue;
                    }
                    panic!(
                        "anvil{} (port {port}) exited with {status} before it was ready.\nlog:\n{log}",
                        j + 1
                    );
                }
                Ready::TimedOut => {
                    terminate(&mut [&mut child]);
                    if let Some(wd) = self.watchdog.as_mut() {
                        wd.del(pid);
                    }
                    panic!(
                        "anvil{} (port {port}) did not answer eth_blockNumber within {READY_TIMEOUT:?}.\nlog:\n{}",
                        j + 1,
                        read_log(&logp)
                    );
                }
            }
        }
        unreachable!("the last attempt panics or returns");
    }
}

impl Drop for TestFleet {
    fn drop(&mut self) {
        // Stop the watchdog first: it must not act on PIDs this process reaps below.
        if let Some(wd) = self.watchdog.take() {
            wd.disarm();
        }
        let mut children: Vec<&mut Child> = self
            .hosts
            .iter_mut()
            .filter_map(|h| h.child.as_mut())
            .chain(self.anvils.iter_mut().filter_map(|a| a.child.as_mut()))
            .collect();
        terminate(&mut children);
        for h in &mut self.hosts {
            h.child = None;
        }
        for a in &mut self.anvils {
            a.child = None;
        }
        let keep = std::env::var_os("FLEETDECK_KEEP_FLEET").is_some_and(|v| v == "1");
        if std::thread::panicking() {
            for h in &self.hosts {
                let log = read_log(&h.log);
                if !log.trim().is_empty() {
                    eprintln!("--- sshd log of {} (port {}):\n{log}", h.name, h.port);
                }
            }
        }
        if keep && let Some(dir) = self.dir.take() {
            let path = dir.keep();
            eprintln!(
                "FLEETDECK_KEEP_FLEET=1: test fleet kept in {}",
                path.display()
            );
        }
    }
}

/// The `sshd_config` of one test host (scripts/test-fleet writes the same text).
pub fn sshd_config_text(
    port: u16,
    host_key: &Path,
    pidfile: &Path,
    authorized_keys: &Path,
    home: &Path,
    per_source_penalties_option: bool,
) -> String {
    let mut c = format!(
        "# sshd for a fleetdeck test host (tests/support/fleet.rs)\n\
         Port {port}\n\
         ListenAddress 127.0.0.1\n\
         HostKey {}\n\
         PidFile {}\n\
         AuthorizedKeysFile {}\n\
         UsePAM no\n\
         StrictModes no\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\n\
         AllowTcpForwarding local\n\
         MaxSessions 10\n\
         SetEnv HOME={}\n\
         LogLevel ERROR\n",
        host_key.display(),
        pidfile.display(),
        authorized_keys.display(),
        home.display(),
    );
    if per_source_penalties_option {
        c.push_str("PerSourcePenalties no\n");
    }
    c
}

// ---------------------------------------------------------------------------------------------------
// Free functions useful to tests.

/// A port on 127.0.0.1 that was free a moment ago (not handed out twice by this process).
pub fn free_port() -> u16 {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(|| Mutex::new(HashSet::new()));
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local addr").port();
        drop(l);
        if given.lock().expect("port set").insert(port) {
            return port;
        }
    }
}

/// A port on 127.0.0.1 where nothing listens (connections are refused).
pub fn closed_port() -> u16 {
    free_port()
}

/// Whether a TCP connection to 127.0.0.1:`port` succeeds.
pub fn port_accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// Polls `f` every 20 ms until it returns true or `timeout` passes; `Some(())` when it did.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return Some(());
        }
        if Instant::now() >= deadline {
            return None;
        }
        sleep(Duration::from_millis(20));
    }
}

/// One JSON-RPC call over plain HTTP/1.1 to 127.0.0.1:`port`; `params` is JSON text (`[]`).
/// Returns the `result`, or the error (transport, HTTP status, or the JSON-RPC `error` object).
pub fn rpc_call(port: u16, method: &str, params: &str) -> Result<serde_json::Value, String> {
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("malformed HTTP response: {raw:?}"))?;
    let status = head.lines().next().unwrap_or("");
    if !status.contains(" 200") {
        return Err(format!("HTTP status {status:?}"));
    }
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("bad JSON {body:?}: {e}"))?;
    if let Some(err) = v.get("error") {
        return Err(format!("JSON-RPC error {err}"));
    }
    v.get("result")
        .cloned()
        .ok_or_else(|| format!("no result in {body:?}"))
}

/// `eth_blockNumber` of the node at 127.0.0.1:`port`.
pub fn block_number(port: u16) -> Result<u64, String> {
    let v = rpc_call(port, "eth_blockNumber", "[]")?;
    let hex = v.as_str().ok_or_else(|| format!("not a string: {v}"))?;
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).map_err(|e| format!("{hex:?}: {e}"))
}

/// The user tests log in as: `$USER`, else `id -un`.
pub fn current_user() -> String {
    match std::env::var("USER") {
        Ok(u) if !u.is_empty() => u,
        _ => run(Command::new("id").arg("-un")).trim().to_string(),
    }
}

/// Path of the anvil binary: `$FLEETDECK_ANVIL`, else `<repo>/.tools/…`. Panics when it is missing.
pub fn anvil_path() -> PathBuf {
    let path = std::env::var_os("FLEETDECK_ANVIL")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(ANVIL_IN_REPO));
    assert!(
        path.is_file(),
        "anvil not found at {}: run scripts/test, which installs it \
         (npm install --prefix .tools --no-save @foundry-rs/anvil-linux-amd64@1.7.1)",
        path.display()
    );
    path
}

/// Path of sshd: `$FLEETDECK_SSHD`, else /usr/sbin/sshd. Panics when it is missing.
pub fn sshd_path() -> PathBuf {
    let path = std::env::var_os("FLEETDECK_SSHD")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/sshd"));
    assert!(
        path.is_file(),
        "sshd not found at {}: run scripts/test, which installs it (apt-get install openssh-server)",
        path.display()
    );
    path
}

/// A TOML basic string.
pub fn toml_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

// ---------------------------------------------------------------------------------------------------
// Internals.

fn toml_paths(paths: &[PathBuf]) -> String {
    let items: Vec<String> = paths
        .iter()
        .map(|p| toml_str(&p.to_string_lossy()))
        .collect();
    format!("[{}]", items.join(", "))
}

fn require_tool(tool: &str, package: &str) {
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

/// Runs a command, panics with its stderr if it fails, returns stdout.
fn run(cmd: &mut Command) -> String {
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args([
            "-t",
            "ed25519",
            "-N",
            "",
            "-q",
            "-C",
            "fleetdeck-test",
            "-f",
        ])
        .arg(path));
}

/// `ssh-ed25519 AAAA…` of a key generated by [`keygen`], without the comment.
fn public_key_of(private: &Path) -> String {
    let mut p = private.as_os_str().to_owned();
    p.push(".pub");
    let text = fs::read_to_string(&p).expect("read public key");
    let fields: Vec<&str> = text.split_whitespace().take(2).collect();
    assert_eq!(fields.len(), 2, "malformed public key {text:?}");
    fields.join(" ")
}

/// Whether this sshd accepts `PerSourcePenalties` (OpenSSH 9.8 and later; 9.2 refuses the keyword).
/// Asked once per process.
fn sshd_has_per_source_penalties(sshd: &Path, host_key: &Path) -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| sshd_supports(sshd, host_key, "PerSourcePenalties=no"))
}

/// Whether this sshd accepts `option` (`sshd -t` with it on the command line).
fn sshd_supports(sshd: &Path, host_key: &Path, option: &str) -> bool {
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

/// Real gzip content for the backup files (made once per process).
fn backup_gzip_bytes() -> Vec<u8> {
    static GZ: OnceLock<Vec<u8>> = OnceLock::new();
    GZ.get_or_init(|| {
        let mut child = Command::new("gzip")
            .args(["-n", "-c"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run gzip");
        let dump = "-- PostgreSQL database dump (fleetdeck test fixture)\n\
                    CREATE TABLE t (id integer PRIMARY KEY, v text);\n\
                    INSERT INTO t VALUES (1, 'one'), (2, 'two');\n";
        child
            .stdin
            .take()
            .expect("gzip stdin")
            .write_all(dump.repeat(20).as_bytes())
            .expect("feed gzip");
        let out = child.wait_with_output().expect("wait for gzip");
        assert!(out.status.success(), "gzip failed");
        out.stdout
    })
    .clone()
}

/// Two backups named after their UTC dates: one 25 h old, the newest 1 h old.
fn write_backups(dir: &Path, gz: &[u8]) {
    let now = SystemTime::now();
    for hours in [25u64, 1] {
        let t = now - Duration::from_secs(hours * 3600);
        let secs = t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
        let (y, m, d) = civil_from_days((secs / 86_400) as i64);
        let path = dir.join(format!("{y:04}{m:02}{d:02}-postgres-backup.sql.gz"));
        fs::write(&path, gz).expect("write backup");
        set_mtime(&path, t);
    }
}

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

/// Days since 1970-01-01 → (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn dechunk(body: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest
            .split_once("\r\n")
            .ok_or_else(|| format!("bad chunked body {body:?}"))?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size in {body:?}: {e}"))?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = after
            .get(..size)
            .ok_or_else(|| format!("short chunk in {body:?}"))?;
        out.push_str(chunk);
        rest = after[size..].trim_start_matches("\r\n");
    }
}

fn read_log(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

enum Ready {
    Yes,
    Exited(std::process::ExitStatus),
    TimedOut,
}

fn wait_ready(child: &mut Child, timeout: Duration, mut ready: impl FnMut() -> bool) -> Ready {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Ready::Exited(status);
        }
        if ready() {
            // It may have died between the two checks (e.g. someone else answered on that port).
            return match child.try_wait() {
                Ok(Some(status)) => Ready::Exited(status),
                _ => Ready::Yes,
            };
        }
        if Instant::now() >= deadline {
            return Ready::TimedOut;
        }
        sleep(Duration::from_millis(20));
    }
}

/// Sends `kill -SIG pid`; true when the signal was delivered.
fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// (state, ppid, start time) from /proc/PID/stat.
fn proc_stat(pid: u32) -> Option<(char, u32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let state = f.first()?.chars().next()?;
    let ppid = f.get(1)?.parse().ok()?;
    let start = f.get(19)?.parse().ok()?;
    Some((state, ppid, start))
}

/// Every live descendant of `root`, with its start time (to recognise it later despite PID reuse).
fn descendants(root: u32) -> Vec<(u32, u64)> {
    let mut procs: Vec<(u32, u32, u64)> = Vec::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((state, ppid, start)) = proc_stat(pid)
                && state != 'Z'
            {
                procs.push((pid, ppid, start));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, start) in &procs {
            if ppid == parent && !out.iter().any(|&(p, _)| p == pid) {
                out.push((pid, start));
                frontier.push(pid);
            }
        }
    }
    out
}

/// Whether `pid` is still the live process that started at `start`.
fn same_process_alive(pid: u32, start: u64) -> bool {
    matches!(proc_stat(pid), Some((state, _, s)) if s == start && state != 'Z')
}

/// Stops children we own and everything they forked: SIGCONT + SIGTERM, a grace period, then SIGKILL.
/// Waits for (reaps) every child.
fn terminate(children: &mut [&mut Child]) {
    let mut forked: Vec<(u32, u64)> = Vec::new();
    for c in children.iter() {
        forked.extend(descendants(c.id()));
    }
    for c in children.iter() {
        signal(c.id(), "CONT");
        signal(c.id(), "TERM");
    }
    for &(p, start) in &forked {
        if same_process_alive(p, start) {
            signal(p, "CONT");
            signal(p, "TERM");
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    for c in children.iter_mut() {
        loop {
            match c.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                Ok(None) => sleep(Duration::from_millis(10)),
            }
        }
    }
    while Instant::now() < deadline && forked.iter().any(|&(p, s)| same_process_alive(p, s)) {
        sleep(Duration::from_millis(10));
    }
    for &(p, start) in &forked {
        if same_process_alive(p, start) {
            signal(p, "KILL");
        }
    }
}

/// Kills our peers if this process dies without running `Drop` (SIGKILL, abort): an `sh` that reads
/// `add PID` / `del PID` lines from a pipe and, at end of input (this process is gone), stops the PIDs
/// it still holds and removes the fleet's directory. `disarm` kills it before a normal cleanup.
struct Watchdog {
    child: Child,
    stdin: ChildStdin,
}

const WATCHDOG_SCRIPT: &str = r#"
dir=$1 keep=$2 pids=
while read -r op pid; do
  case $op in
    add) pids="$pids $pid" ;;
    del) new=; for p in $pids; do [ "$p" = "$pid" ] || new="$new $p"; done; pids=$new ;;
  esac
done
[ -n "$pids" ] || exit 0
for p in $pids; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
sleep 2
for p in $pids; do kill -KILL "$p" 2>/dev/null; done
if [ "$keep" != 1 ]; then
  case $dir in /*/fleetdeck-fleet-*) rm -rf "$dir" ;; esac
fi
"#;

impl Watchdog {
    fn spawn(dir: &Path, keep: bool) -> Watchdog {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("fleetdeck-test-watchdog")
            .arg(dir)
            .arg(if keep { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the fleet watchdog (sh)");
        let stdin = child.stdin.take().expect("watchdog stdin");
        Watchdog { child, stdin }
    }

    fn add(&mut self, pid: u32) {
        let _ = writeln!(self.stdin, "add {pid}");
    }

    fn del(&mut self, pid: u32) {
        let _ = writeln!(self.stdin, "del {pid}");
    }

    fn disarm(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
