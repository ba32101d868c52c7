//! The ssh_config options that change how a connection is made (issue 11, item 4), against real
//! OpenSSH sshd hosts, through the real binary (`status --json`, `config check`), with OpenSSH's
//! own client as the oracle where it matters:
//!
//! - `IdentitiesOnly` with 8 keys in a real ssh-agent (started by the test, stopped by PID) and
//!   sshd's default `MaxAuthTries 6`, the right key 8th in the agent: without a configured key
//!   the login fails, as `ssh` fails; with `IdentityFile` the key is offered first and it logs in
//!   (as `ssh -v` shows: "Will attempt key" lists it first); with `IdentitiesOnly` only it is
//!   offered. With the right key only in a file (not in the agent), the agent's 7 decoys come
//!   first and the login fails, as for `ssh`, unless `IdentitiesOnly` keeps them out.
//! - `IdentityAgent`: a socket named in ssh_config is used without `SSH_AUTH_SOCK`; `none`
//!   keeps the agent out.
//! - `ConnectTimeout` honoured against a blackholed host (a network namespace): the reported
//!   error names the ssh_config timeout, not the fleet's; nothing is timed.
//! - `UserKnownHostsFile` (with `~`) used for verification; `StrictHostKeyChecking no` and
//!   `UserKnownHostsFile /dev/null` never weaken a strict fleet; `StrictHostKeyChecking yes`
//!   tightens an `accept-new` fleet.
//! - `config check` lists the options fleetdeck does not honour, per host, with file:line.
//! - What fleetdeck resolves for a host (HostName, Port, User, IdentityFile, IdentitiesOnly,
//!   ConnectTimeout, ServerAlive*) equals `ssh -G HOST` on the same file: `Include` globs,
//!   `Host` negation, `Match host`/`originalhost`/`user`/`localuser`/`final`, first value wins.
//!
//! Each command runs with its own `$HOME` (so `~/.ssh/config` is the test's) and its own
//! `SSH_AUTH_SOCK` (or none): nothing here touches the real user's config or agent.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::fleet::wait_until;
use support::{FleetSpec, InventoryOpts, NetnsHost, TestFleet};

/// A private `$HOME` whose `.ssh/config` is the test's.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(ssh_config: &str) -> Home {
        let dir = tempfile::Builder::new()
            .prefix("fleetdeck-sshcfg-")
            .tempdir()
            .expect("create a home");
        fs::create_dir_all(dir.path().join(".ssh")).expect("create ~/.ssh");
        let home = Home { dir };
        home.set_config(ssh_config);
        home
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> PathBuf {
        self.path().join(".ssh/config")
    }

    fn set_config(&self, text: &str) {
        fs::write(self.config(), text).expect("write ~/.ssh/config");
    }

    /// `fleetdeck ARGS` in this home, with `agent` as its ssh-agent (or none).
    fn fleetdeck(&self, args: &[&str], agent: Option<&Agent>) -> Output {
        self.fleetdeck_logging(args, agent, "off")
    }

    /// The log file of commands run with a log level (`fleetdeck_logging`).
    fn log(&self) -> String {
        fs::read_to_string(self.path().join("state/fleetdeck/fleetdeck.log")).unwrap_or_default()
    }

    fn fleetdeck_logging(&self, args: &[&str], agent: Option<&Agent>, log: &str) -> Output {
        let mut cmd = Command::new(support::fleetdeck_bin());
        cmd.args(args)
            .env("HOME", self.path())
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("XDG_CONFIG_HOME", self.path().join("xdg"))
            .env("FLEETDECK_LOG", log)
            .env_remove("FLEETDECK_CONFIG")
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null());
        if let Some(a) = agent {
            cmd.env("SSH_AUTH_SOCK", &a.sock);
        }
        cmd.output().expect("run fleetdeck")
    }

    /// `status --json` of `inventory`: the host named `name`.
    fn status_of(&self, inventory: &Path, name: &str, agent: Option<&Agent>) -> Value {
        let out = self.fleetdeck(
            &["status", "--json", "--config", inventory.to_str().unwrap()],
            agent,
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "status --json printed no JSON ({e}); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        doc["hosts"]
            .as_array()
            .and_then(|hosts| hosts.iter().find(|h| h["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no host {name} in {doc}"))
    }
}

/// An `ssh-agent -D` of the test's own, stopped by PID on drop.
struct Agent {
    child: Child,
    sock: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let sock = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent (apt-get install openssh-client)");
        let agent = Agent { child, sock };
        wait_until(Duration::from_secs(10), || agent.sock.exists())
            .expect("ssh-agent did not create its socket within 10 s");
        agent
    }

    fn add(&self, key: &Path) {
        let out = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh-add");
        assert!(
            out.status.success(),
            "ssh-add {}: {}",
            key.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Agent {
    fn remove(&self, key: &Path) {
        let out = Command::new("ssh-add")
            .arg("-d")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh-add -d");
        assert!(
            out.status.success(),
            "ssh-add -d {}: {}",
            key.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Child::kill signals exactly this PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C"])
        .arg(path)
        .arg("-f")
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen {}", path.display());
}

/// OpenSSH's own client with the same `~/.ssh/config`, agent and known_hosts, verbose: whether
/// it logs in, and the keys it says it will attempt, in order.
fn oracle(home: &Home, fleet: &TestFleet, port: u16, agent: &Agent) -> (bool, Vec<String>) {
    let out = Command::new("ssh")
        .arg("-v")
        .arg("-F")
        .arg(home.config())
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            fleet.known_hosts().display()
        ))
        .args(["-o", "GlobalKnownHostsFile=/dev/null"])
        // A configured file that does not exist: keeps ssh off the real user's default keys
        // (it reads ~ from the password database, not $HOME), as fleetdeck's defaults under
        // the test's $HOME do not exist either.
        .arg("-o")
        .arg(format!("IdentityFile={}/.ssh/none", home.path().display()))
        .arg("-p")
        .arg(port.to_string())
        .arg("-l")
        .arg(fleet.user())
        .arg("127.0.0.1")
        .arg("true")
        .env("HOME", home.path())
        .env("SSH_AUTH_SOCK", &agent.sock)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let attempts = stderr
        .lines()
        .filter_map(|l| l.split_once("Will attempt key: ").map(|(_, k)| k))
        .map(|k| k.split_whitespace().next().unwrap_or("").to_string())
        .collect();
    (out.status.success(), attempts)
}

#[test]
fn identities_only_offers_the_configured_key_before_sshds_max_auth_tries() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let h1 = fleet.host(0);
    let keys = tempfile::tempdir().expect("key dir");
    let agent = Agent::start(keys.path());
    let decoys: Vec<PathBuf> = (1..=7)
        .map(|i| {
            let p = keys.path().join(format!("decoy{i}"));
            keygen(&p);
            agent.add(&p);
            p
        })
        .collect();
    // The one key the hosts accept goes in last: 8th, after sshd's 6 tries.
    let right = keys.path().join("right");
    fs::copy(fleet.client_key(), &right).expect("copy the client key");
    fs::copy(
        format!("{}.pub", fleet.client_key().display()),
        keys.path().join("right.pub"),
    )
    .expect("copy the client key's .pub");
    agent.add(&right);
    // No identity file from the inventory: what is offered comes from ssh_config and the agent.
    let inventory = fleet.write_inventory(&InventoryOpts {
        identity_files: Some(vec![]),
        ..InventoryOpts::default()
    });
    let home = Home::new("");

    // 1. Nothing configured: the agent's keys in its order, the 7th and 8th never reached.
    let (ssh_ok, attempts) = oracle(&home, &fleet, h1.port, &agent);
    assert!(
        !ssh_ok,
        "OpenSSH should fail too; it attempted {attempts:?}"
    );
    let h = home.status_of(&inventory, "h1", Some(&agent));
    assert_eq!(h["reachable"], false, "{h}");
    assert_eq!(h["error_kind"], "auth", "{h}");
    assert!(
        h["error"]
            .as_str()
            .unwrap()
            .contains("too many authentication failures"),
        "{}",
        h["error"]
    );

    // 2. IdentityFile without IdentitiesOnly: OpenSSH offers the configured key first (its
    //    agent copy), then the rest; so does fleetdeck.
    home.set_config(&format!(
        "Host 127.0.0.1\n  IdentityFile {}\n",
        right.display()
    ));
    let (ssh_ok, attempts) = oracle(&home, &fleet, h1.port, &agent);
    assert!(ssh_ok, "OpenSSH logs in; it attempted {attempts:?}");
    assert_eq!(
        attempts.first().map(PathBuf::from),
        Some(right.clone()),
        "OpenSSH attempts the configured key first: {attempts:?}"
    );
    assert!(attempts.len() > 1, "and the agent's others after it");
    let h = home.status_of(&inventory, "h1", Some(&agent));
    assert_eq!(h["reachable"], true, "{h}");

    // 3. IdentitiesOnly: only the configured key, whatever the agent holds.
    home.set_config(&format!(
        "Host 127.0.0.1\n  IdentitiesOnly yes\n  IdentityFile {}\n",
        right.display()
    ));
    let (ssh_ok, attempts) = oracle(&home, &fleet, h1.port, &agent);
    assert!(ssh_ok, "{attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|a| !decoys.iter().any(|d| Path::new(a) == d)),
        "OpenSSH offers no decoy with IdentitiesOnly: {attempts:?}"
    );
    let h = home.status_of(&inventory, "h1", Some(&agent));
    assert_eq!(h["reachable"], true, "{h}");

    // 4. IdentitiesOnly naming a decoy: the right key sits in the agent but is not offered.
    home.set_config(&format!(
        "Host 127.0.0.1\n  IdentitiesOnly yes\n  IdentityFile {}\n",
        decoys[0].display()
    ));
    let (ssh_ok, _) = oracle(&home, &fleet, h1.port, &agent);
    assert!(!ssh_ok);
    let h = home.status_of(&inventory, "h1", Some(&agent));
    assert_eq!(h["error_kind"], "auth", "{h}");

    // 5. The right key only as a file, the agent full of decoys: OpenSSH offers a file the
    //    agent does not hold after all the agent's keys, so without IdentitiesOnly both fail…
    agent.remove(&right);
    home.set_config(&format!(
        "Host 127.0.0.1\n  IdentityFile {}\n",
        right.display()
    ));
    let (ssh_ok, attempts) = oracle(&home, &fleet, h1.port, &agent);
    assert!(!ssh_ok, "{attempts:?}");
    let h = home.status_of(&inventory, "h1", Some(&agent));
    assert_eq!(h["error_kind"], "auth", "{h}");
    // …and with it the decoys stay out and the file's key logs in.
    home.set_config(&format!(
        "Host 127.0.0.1\n  IdentitiesOnly yes\n  IdentityFile {}\n",
        right.display()
    ));
    let (ssh_ok, attempts) = oracle(&home, &fleet, h1.port, &agent);
    assert!(ssh_ok, "{attempts:?}");
    let h = home.status_of(&inventory, "h1", Some(&agent));
    assert_eq!(h["reachable"], true, "{h}");
}

#[test]
fn identity_agent_names_the_agent_socket_or_turns_the_agent_off() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let dir = tempfile::tempdir().expect("agent dir");
    let agent = Agent::start(dir.path());
    agent.add(fleet.client_key());
    let inventory = fleet.write_inventory(&InventoryOpts {
        identity_files: Some(vec![]),
        ..InventoryOpts::default()
    });
    // No SSH_AUTH_SOCK at all: the agent is found only through IdentityAgent.
    let home = Home::new(&format!(
        "Host 127.0.0.1\n  IdentityAgent {}\n",
        agent.sock.display()
    ));
    let h = home.status_of(&inventory, "h1", None);
    assert_eq!(h["reachable"], true, "{h}");
    // IdentityAgent none: the agent of SSH_AUTH_SOCK is not used, and no other key exists.
    home.set_config("Host 127.0.0.1\n  IdentityAgent none\n");
    let h = home.status_of(&inventory, "h1", Some(&agent));
    assert_eq!(h["error_kind"], "auth", "{h}");
    // The same inventory and agent without that line log in (the refusal above is IdentityAgent's).
    home.set_config("");
    let h = home.status_of(&inventory, "h1", Some(&agent));
    assert_eq!(h["reachable"], true, "{h}");
}

#[test]
fn connect_timeout_from_ssh_config_bounds_a_blackholed_host() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let dark = NetnsHost::start(&fleet);
    let inventory = fleet.write_inventory(&InventoryOpts {
        // The fleet would wait 40 s; ssh_config says 1 s for this host.
        connect_timeout: "40s".into(),
        known_hosts: Some(vec![
            fleet.known_hosts().to_path_buf(),
            dark.known_hosts().to_path_buf(),
        ]),
        extra_hosts: vec![dark.extra_host("dark")],
        ..InventoryOpts::default()
    });
    // Reachable first (without the 1 s bound: under load a handshake may take longer).
    let home = Home::new("");
    let h = home.status_of(&inventory, "dark", None);
    assert_eq!(h["reachable"], true, "reachable before the blackhole: {h}");
    dark.blackhole();
    home.set_config(&format!("Host {}\n  ConnectTimeout 1\n", dark.address()));
    let h = home.status_of(&inventory, "dark", None);
    assert_eq!(h["reachable"], false, "{h}");
    assert_eq!(h["error_kind"], "timeout", "{h}");
    let error = h["error"].as_str().unwrap();
    assert!(
        error.contains("within 1s"),
        "the ssh_config ConnectTimeout, not the fleet's 40s: {error}"
    );
}

#[test]
fn user_known_hosts_file_is_used_and_never_weakens_the_fleets_policy() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let empty = fleet.root().join("empty_known_hosts");
    fs::write(&empty, "").expect("write an empty known_hosts");
    let strict = fleet.write_inventory(&InventoryOpts {
        known_hosts: Some(vec![empty.clone()]),
        ..InventoryOpts::default()
    });
    let home = Home::new("");
    fs::copy(
        fleet.known_hosts(),
        home.path().join(".ssh/fleet_known_hosts"),
    )
    .expect("copy known_hosts");

    // The fleet's own file does not know the host: refused.
    let h = home.status_of(&strict, "h1", None);
    assert_eq!(h["error_kind"], "host-key-unknown", "{h}");

    // ssh_config's UserKnownHostsFile (with ~) knows it: verified against it, reached.
    home.set_config("Host 127.0.0.1\n  UserKnownHostsFile /nonexistent ~/.ssh/fleet_known_hosts\n");
    let h = home.status_of(&strict, "h1", None);
    assert_eq!(h["reachable"], true, "{h}");

    // StrictHostKeyChecking no + /dev/null: the strict fleet still refuses the unknown key, and
    // nothing was recorded anywhere.
    home.set_config("Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n");
    let h = home.status_of(&strict, "h1", None);
    assert_eq!(h["error_kind"], "host-key-unknown", "{h}");
    assert_eq!(fs::read_to_string(&empty).unwrap(), "", "nothing accepted");

    // StrictHostKeyChecking yes tightens an accept-new fleet: refused, nothing recorded.
    let accept_new = fleet.write_inventory(&InventoryOpts {
        known_hosts: Some(vec![empty.clone()]),
        host_key_policy: "accept-new".into(),
        ..InventoryOpts::default()
    });
    home.set_config("Host 127.0.0.1\n  StrictHostKeyChecking yes\n");
    let h = home.status_of(&accept_new, "h1", None);
    assert_eq!(h["error_kind"], "host-key-unknown", "{h}");
    assert_eq!(fs::read_to_string(&empty).unwrap(), "");
    // Without it, the same fleet accepts and records the key (the test above is not vacuous).
    home.set_config("");
    let h = home.status_of(&accept_new, "h1", None);
    assert_eq!(h["reachable"], true, "{h}");
    assert!(!fs::read_to_string(&empty).unwrap().is_empty());
}

#[test]
fn config_check_lists_the_options_fleetdeck_does_not_honour_per_host() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let inventory = fleet.write_inventory(&InventoryOpts::default());
    let text_of_config = "Match originalhost 127.0.0.1 exec \"test -e /tmp\"\n  User someone\n\
         Host 127.0.0.1\n  KexAlgorithms curve25519-sha256\n  LocalForward 5432 localhost:5432\n\
         \x20 PKCS11Provider /usr/lib/opensc-pkcs11.so\n  GSSAPIAuthentication yes\n\
         \x20 StrictHostKeyChecking no\n  Compression no\n  LogLevel QUIET\n";
    let home = Home::new(text_of_config);
    let out = home.fleetdeck(
        &["config", "check", "--config", inventory.to_str().unwrap()],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let cfg = home.config().display().to_string();
    let section = text
        .split_once("ssh_config options not honoured")
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no unhonoured section in:\n{text}"));
    // Both hosts have the same list: printed once for both.
    assert!(section.contains("  every SSH host (2):\n"), "{section}");
    for expected in [
        format!("KexAlgorithms curve25519-sha256 ({cfg}:4): "),
        format!("LocalForward 5432 localhost:5432 ({cfg}:5): fleetdeck sets up no forwardings"),
        format!("PKCS11Provider /usr/lib/opensc-pkcs11.so ({cfg}:6): "),
        format!("GSSAPIAuthentication yes ({cfg}:7): "),
        format!(
            "StrictHostKeyChecking no ({cfg}:8): the fleet's host key policy (strict) is stricter and wins"
        ),
        format!("Match exec test -e /tmp ({cfg}:1): fleetdeck cannot evaluate this criterion"),
    ] {
        assert!(
            section.contains(&expected),
            "missing {expected:?} in:\n{section}"
        );
    }
    for quiet in ["Compression", "LogLevel"] {
        assert!(
            !section.contains(&format!("{quiet} ")),
            "{quiet} has no effect and must not be listed:\n{section}"
        );
    }

    // A line ssh itself would refuse: config check says where, and fails.
    home.set_config("Host 127.0.0.1\n  Port\n");
    let out = home.fleetdeck(
        &["config", "check", "--config", inventory.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{cfg}:2: no argument after keyword \"Port\"")),
        "{stderr}"
    );
    home.set_config(text_of_config);

    // The connection log says it once per host.
    home.fleetdeck_logging(
        &["status", "--config", inventory.to_str().unwrap()],
        None,
        "warn",
    );
    let log = home.log();
    for host in ["h1", "h2"] {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("ssh_config options not honoured") && l.contains(&format!("host={host}"))
            })
            .collect();
        assert_eq!(lines.len(), 1, "{host} in the log:\n{log}");
        assert!(
            lines[0].contains("KexAlgorithms curve25519-sha256"),
            "{}",
            lines[0]
        );
    }
}

/// `ssh -G HOST` (OpenSSH's effective config) as keyword → values.
fn ssh_g(config: &Path, host: &str) -> std::collections::HashMap<String, Vec<String>> {
    let out = Command::new("ssh")
        .arg("-F")
        .arg(config)
        .arg("-G")
        .arg(host)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh -G");
    assert!(
        out.status.success(),
        "ssh -G {host}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map = std::collections::HashMap::<String, Vec<String>>::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((k, v)) = line.split_once(' ') {
            map.entry(k.to_string()).or_default().push(v.to_string());
        }
    }
    map
}

#[test]
fn hosts_resolve_as_ssh_dash_g_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    fs::create_dir_all(dir.path().join("conf.d")).unwrap();
    fs::write(
        dir.path().join("conf.d/10-db.conf"),
        "Host db*\n  User dba\n  IdentityFile /keys/db\nMatch host *.internal\n  ServerAliveInterval 20\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("conf.d/20-db.conf"),
        "Host db*\n  User never\n  Port 2202\n",
    )
    .unwrap();
    let config = dir.path().join("config");
    fs::write(
        &config,
        format!(
            "Include {d}/conf.d/*.conf\n\
             Host web? !web9\n  HostName %h.example.net\n  Port=2201\n  IdentitiesOnly yes\n\
             Host db1\n  HostName db1.internal\n\
             Match originalhost db2 !host *.internal\n  ConnectTimeout 9\n\
             Match host *.example.net\n  ServerAliveInterval 5\n  ServerAliveCountMax 7\n\
             Match final host *.example.net\n  IdentityFile /keys/final\n  User \"late user\"\n\
             Match user root,!nobody localuser *\n  IdentityFile /keys/anyone\n\
             Host *\n  ConnectTimeout 30\n  User everyone\n  IdentityFile /keys/all\n\
             Host web1.example.net\n  IdentityFile /keys/by-hostname-in-the-final-pass\n"
        ),
    )
    .unwrap();
    let parsed = fleetdeck::transport::ssh::SshConfig::read(&config, Some(dir.path()))
        .expect("parse")
        .expect("exists");
    let hosts = ["web1", "web9", "db1", "db2", "other"];
    let mut inventory = String::from("[fleet]\nname = \"t\"\n");
    for h in hosts {
        inventory.push_str(&format!("[[hosts]]\nname = \"{h}\"\naddress = \"{h}\"\n"));
    }
    let fleet = fleetdeck::inventory::load_fleet_from_str(
        &inventory,
        fleetdeck::inventory::ConfigSource::Embedded,
    )
    .expect("inventory");
    for (host, address) in fleet.hosts.iter().zip(hosts) {
        let ours = fleetdeck::transport::ssh::resolve_target(&fleet, host, Some(&parsed));
        let g = ssh_g(&config, address);
        let one = |k: &str| {
            g.get(k)
                .and_then(|v| v.first())
                .cloned()
                .unwrap_or_default()
        };
        let at = format!("{address}: ours {ours:?}\nssh -G {g:?}");
        assert_eq!(ours.address, one("hostname"), "{at}");
        assert_eq!(ours.port.to_string(), one("port"), "{at}");
        assert_eq!(ours.user, one("user"), "{at}");
        assert_eq!(ours.identities_only, one("identitiesonly") == "yes", "{at}");
        match one("connecttimeout").as_str() {
            "none" => assert_eq!(ours.connect_timeout, fleet.ssh.connect_timeout, "{at}"),
            secs => assert_eq!(ours.connect_timeout.as_secs().to_string(), secs, "{at}"),
        }
        match one("serveraliveinterval").as_str() {
            "0" => assert_eq!(
                ours.keepalive_interval,
                Some(Duration::from_secs(15)),
                "unset: fleetdeck's own default; {at}"
            ),
            secs => {
                assert_eq!(
                    ours.keepalive_interval.map(|d| d.as_secs().to_string()),
                    Some(secs.to_string()),
                    "{at}"
                );
                assert_eq!(
                    ours.keepalive_max.to_string(),
                    one("serveralivecountmax"),
                    "{at}"
                );
            }
        }
        let theirs: Vec<PathBuf> = g["identityfile"].iter().map(PathBuf::from).collect();
        assert_eq!(ours.identity_files, theirs, "{at}");
    }
}
