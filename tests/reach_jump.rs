//! Reaching hosts through jump hosts and ProxyCommand, against real OpenSSH servers.
//!
//! Every test builds a private network: a namespace whose sshd on the veth address is the
//! bastion, and target sshds on the namespace's *own* 127.0.0.1, which nothing outside the
//! namespace can reach (each test first shows a direct connect to them fails). fleetdeck reaches
//! them through the bastion — one hop, a chain of two, via the inventory's `jump`, ssh_config's
//! `ProxyJump` and a `ProxyCommand` running the real OpenSSH client — over **one** connection to
//! the bastion however many targets sit behind it (counted with `ss` on the bastion's side). When
//! the bastion dies, every host behind it shows the same cause, "via bastion NAME: …", and they
//! come back by themselves when it returns. Needs root (network namespaces), as
//! tests/support/netns.rs says.

mod support;

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fleetdeck::inventory::{Fleet, load_fleet};
use fleetdeck::observation::{Observation, UnreachableKind};
use fleetdeck::poller;
use fleetdeck::transport::Transport;
use fleetdeck::transport::ssh::{NoPrompt, SshShared};
use support::netns::InnerSshd;
use support::{FleetSpec, NetnsHost, TestFleet, Tmux};

const WAIT: Duration = Duration::from_secs(60);

/// A bastion in a namespace and targets behind it.
struct Net {
    fleet: TestFleet,
    ns: NetnsHost,
    inner: Vec<InnerSshd>,
}

impl Net {
    /// A bastion (extra sshd config lines `bastion_extra`) and one target sshd per port.
    fn start(bastion_extra: &str, ports: &[u16]) -> Net {
        let fleet = TestFleet::start(FleetSpec::hosts(0));
        let ns = NetnsHost::start_with(&fleet, bastion_extra);
        let inner = ports
            .iter()
            .map(|&p| ns.spawn_inner(&fleet, p, ""))
            .collect();
        Net { fleet, ns, inner }
    }

    fn known_hosts(&self) -> PathBuf {
        let path = self.fleet.root().join("reach_known_hosts");
        let mut text = std::fs::read_to_string(self.ns.known_hosts()).unwrap();
        for i in &self.inner {
            let _ = writeln!(text, "{}", i.known_hosts_line);
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// An inventory: `[ssh]` pointing at `ssh_config` (written even when empty, so the
    /// machine's own ~/.ssh/config plays no part), then `hosts` as raw TOML.
    fn inventory(&self, ssh_config: &str, hosts: &str) -> PathBuf {
        let n = std::fs::read_dir(self.fleet.root()).unwrap().count();
        let cfg = self.fleet.root().join(format!("ssh_config-{n}"));
        std::fs::write(&cfg, ssh_config).unwrap();
        let path = self.fleet.root().join(format!("reach-{n}.toml"));
        let text = format!(
            "[fleet]\nname = \"reach\"\ninterval = \"1s\"\nknown_hosts = [{kh:?}]\n\n\
             [ssh]\nuser = {user:?}\nidentity_files = [{key:?}]\nconnect_timeout = \"5s\"\n\
             command_timeout = \"10s\"\nconfig_file = {cfg:?}\n\n{hosts}",
            kh = self.known_hosts().display().to_string(),
            user = self.fleet.user(),
            key = self.fleet.client_key().display().to_string(),
            cfg = cfg.display().to_string(),
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `[[hosts]]` for the bastion (inventory name `bastion-1`).
    fn bastion_toml(&self) -> String {
        format!(
            "[[hosts]]\nname = \"bastion-1\"\naddress = {:?}\nport = 22\n\
             services = [{{ name = \"app\", kind = \"command\", command = \"true\" }}]\n\n",
            self.ns.address()
        )
    }
}

/// `[[hosts]]` for a target on the namespace's loopback.
fn target_toml(name: &str, port: u16, extra: &str) -> String {
    format!(
        "[[hosts]]\nname = {name:?}\naddress = \"127.0.0.1\"\nport = {port}\n{extra}\n\
         services = [{{ name = \"app\", kind = \"command\", command = \"true\" }}]\n\n"
    )
}

/// Ports for sshds inside the namespace that nothing on this machine's own loopback answers.
fn inner_ports(n: usize) -> Vec<u16> {
    (2201..3000)
        .filter(|&p| !support::fleet::port_accepts(p))
        .take(n)
        .collect()
}

/// The proof that a target is unreachable except through the bastion.
fn assert_unreachable_directly(port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
        "127.0.0.1:{port} answers from outside the namespace: the test proves nothing"
    );
}

fn load(path: &Path) -> Fleet {
    load_fleet(Some(path)).unwrap()
}

fn transports(fleet: &Fleet) -> Vec<Transport> {
    poller::transports(fleet, &SshShared::new(Arc::new(NoPrompt))).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn poll_all(rt: &tokio::runtime::Runtime, fleet: &Fleet, ts: &[Transport]) -> Vec<Observation> {
    let all: Vec<usize> = (0..fleet.hosts.len()).collect();
    rt.block_on(poller::poll_once(fleet, ts, &all))
}

fn describe(fleet: &Fleet, obs: &[Observation]) -> String {
    obs.iter()
        .map(|o| match &o.outcome {
            Ok(_) => format!("{}: ok\n", fleet.hosts[o.host].name),
            Err(u) => format!("{}: {:?} {}\n", fleet.hosts[o.host].name, u.kind, u.message),
        })
        .collect()
}

/// Polls until every host is reachable, or panics with what the last poll said.
fn poll_until_all_ok(rt: &tokio::runtime::Runtime, fleet: &Fleet, ts: &[Transport]) {
    let mut last = String::new();
    let ok = support::fleet::wait_until(WAIT, || {
        let obs = poll_all(rt, fleet, ts);
        last = describe(fleet, &obs);
        obs.iter().all(|o| o.outcome.is_ok())
    });
    assert!(ok.is_some(), "not every host became reachable:\n{last}");
}

/// `fleetdeck status --json` of an inventory.
fn status_json(net: &Net, config: &Path) -> serde_json::Value {
    let out = std::process::Command::new(support::fleetdeck_bin())
        .args(["status", "--json", "--config"])
        .arg(config)
        .env_remove("SSH_AUTH_SOCK")
        .env("XDG_STATE_HOME", net.fleet.root().join("state"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn json_host<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {report:#}"))
}

#[test]
fn targets_behind_one_bastion_are_reached_over_one_connection_to_it() {
    let ports = inner_ports(3);
    let net = Net::start("", &ports);
    for &p in &ports {
        assert_unreachable_directly(p);
    }
    let mut hosts = net.bastion_toml();
    for (i, &p) in ports.iter().enumerate() {
        hosts.push_str(&target_toml(
            &format!("t{}", i + 1),
            p,
            "jump = \"bastion-1\"",
        ));
    }
    let config = net.inventory("", &hosts);
    let fleet = load(&config);
    let ts = transports(&fleet);
    let rt = runtime();
    poll_until_all_ok(&rt, &fleet, &ts);
    // Three targets and the bastion's own polls: one TCP connection to the bastion.
    assert_eq!(net.ns.bastion_connections(), 1);
    // Polling again reuses it.
    poll_until_all_ok(&rt, &fleet, &ts);
    assert_eq!(net.ns.bastion_connections(), 1);

    let report = status_json(&net, &config);
    assert_eq!(report["summary"]["reachable"], 4, "{report:#}");
    assert_eq!(
        json_host(&report, "bastion-1")["via"],
        serde_json::json!([])
    );
    assert_eq!(
        json_host(&report, "t2")["via"],
        serde_json::json!(["bastion-1"])
    );
}

#[test]
fn a_chain_of_two_bastions_reaches_what_only_the_second_can_reach() {
    let ports = inner_ports(3);
    let (b2_port, targets) = (ports[0], &ports[1..]);
    // The first bastion may forward to b2 only: the targets are b2's to reach.
    let net = Net::start(&format!("PermitOpen 127.0.0.1:{b2_port}\n"), &ports);
    for &p in &ports {
        assert_unreachable_directly(p);
    }
    let mut hosts = net.bastion_toml();
    hosts.push_str(&target_toml("b2", b2_port, "jump = \"bastion-1\""));
    // A chain by b2's own jump, and the same chain written out.
    hosts.push_str(&target_toml("inner-1", targets[0], "jump = \"b2\""));
    hosts.push_str(&target_toml(
        "inner-2",
        targets[1],
        "jump = \"bastion-1,b2\"",
    ));
    // One hop through the first bastion alone is refused by its PermitOpen.
    hosts.push_str(&target_toml("one-hop", targets[0], "jump = \"bastion-1\""));
    let config = net.inventory("", &hosts);
    let report = status_json(&net, &config);
    for name in ["bastion-1", "b2", "inner-1", "inner-2"] {
        assert_eq!(
            json_host(&report, name)["reachable"],
            true,
            "{name}: {report:#}"
        );
    }
    assert_eq!(
        json_host(&report, "inner-1")["via"],
        serde_json::json!(["bastion-1", "b2"])
    );
    assert_eq!(
        json_host(&report, "inner-2")["via"],
        serde_json::json!(["bastion-1", "b2"])
    );
    let refused = json_host(&report, "one-hop");
    assert_eq!(refused["reachable"], false, "{refused:#}");
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains("through bastion bastion-1") && error.contains("refused the tunnel"),
        "{error}"
    );

    let check = std::process::Command::new(support::fleetdeck_bin())
        .args(["config", "check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("  inner-1 via bastion-1 → b2\n"), "{text}");
    assert!(text.contains("  bastion-1 direct\n"), "{text}");
}

#[test]
fn proxy_jump_in_ssh_config_reaches_targets_through_a_bastion_named_as_written() {
    let ports = inner_ports(2);
    let net = Net::start("", &ports);
    for &p in &ports {
        assert_unreachable_directly(p);
    }
    let mut ssh_config = format!(
        "Host jumpbox\n  HostName {}\n  Port 22\n\n",
        net.ns.address()
    );
    let mut hosts = String::new();
    for (i, &p) in ports.iter().enumerate() {
        let _ = write!(
            ssh_config,
            "Host behind-{i}\n  HostName 127.0.0.1\n  Port {p}\n  ProxyJump jumpbox\n\n"
        );
        let _ = write!(
            hosts,
            "[[hosts]]\nname = \"db-{i}\"\naddress = \"behind-{i}\"\n\
             services = [{{ name = \"app\", kind = \"command\", command = \"true\" }}]\n\n"
        );
    }
    let config = net.inventory(&ssh_config, &hosts);
    let fleet = load(&config);
    let ts = transports(&fleet);
    let rt = runtime();
    poll_until_all_ok(&rt, &fleet, &ts);
    assert_eq!(net.ns.bastion_connections(), 1);

    let report = status_json(&net, &config);
    assert_eq!(report["summary"]["reachable"], 2, "{report:#}");
    assert_eq!(
        json_host(&report, "db-1")["via"],
        serde_json::json!(["jumpbox"])
    );
}

#[test]
fn a_chain_written_in_ssh_config_reaches_what_only_the_second_hop_can_reach() {
    let ports = inner_ports(2);
    let (b2_port, target) = (ports[0], ports[1]);
    // The first bastion forwards to b2 only: the target is b2's to reach.
    let net = Net::start(&format!("PermitOpen 127.0.0.1:{b2_port}\n"), &ports);
    for &p in &ports {
        assert_unreachable_directly(p);
    }
    let user = net.fleet.user();
    // The chain by alias, and the same chain with its second hop as `user@host:port`.
    let ssh_config = format!(
        "Host jumpbox\n  HostName {}\n  Port 22\n\n\
         Host b2\n  HostName 127.0.0.1\n  Port {b2_port}\n\n\
         Host deep-1\n  HostName 127.0.0.1\n  Port {target}\n  ProxyJump jumpbox,b2\n\n\
         Host deep-2\n  HostName 127.0.0.1\n  Port {target}\n  ProxyJump jumpbox,{user}@127.0.0.1:{b2_port}\n\n",
        net.ns.address()
    );
    let mut hosts = String::new();
    for name in ["deep-1", "deep-2"] {
        let _ = write!(
            hosts,
            "[[hosts]]\nname = \"{name}\"\naddress = \"{name}\"\n\
             services = [{{ name = \"app\", kind = \"command\", command = \"true\" }}]\n\n"
        );
    }
    let config = net.inventory(&ssh_config, &hosts);
    let report = status_json(&net, &config);
    assert_eq!(report["summary"]["reachable"], 2, "{report:#}");
    assert_eq!(
        json_host(&report, "deep-1")["via"],
        serde_json::json!(["jumpbox", "b2"])
    );
    assert_eq!(
        json_host(&report, "deep-2")["via"],
        serde_json::json!(["jumpbox", format!("{user}@127.0.0.1:{b2_port}")])
    );
}

#[test]
fn proxy_command_carries_the_stream_through_the_openssh_client() {
    let ports = inner_ports(1);
    let net = Net::start("", &ports);
    assert_unreachable_directly(ports[0]);
    assert!(
        Path::new("/usr/bin/ssh").exists(),
        "the OpenSSH client is needed: apt-get install openssh-client"
    );
    let known_hosts = net.known_hosts();
    // One file serves both: fleetdeck reads `Host pc-target`, the ssh client `Host bastion`.
    let cfg = net.fleet.root().join("pc_ssh_config");
    let text = format!(
        "Host bastion\n  HostName {addr}\n  User {user}\n  IdentityFile {key}\n  IdentitiesOnly yes\n  \
         UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n\n\
         Host pc-target\n  HostName 127.0.0.1\n  Port {port}\n  ProxyCommand ssh -F {cfg} -W %h:%p bastion\n",
        addr = net.ns.address(),
        user = net.fleet.user(),
        key = net.fleet.client_key().display(),
        kh = known_hosts.display(),
        port = ports[0],
        cfg = cfg.display(),
    );
    std::fs::write(&cfg, &text).unwrap();
    let config = net.inventory(
        &text,
        "[[hosts]]\nname = \"pc\"\naddress = \"pc-target\"\n\
         services = [{ name = \"app\", kind = \"command\", command = \"true\" }]\n",
    );
    let fleet = load(&config);
    let ts = transports(&fleet);
    let rt = runtime();
    poll_until_all_ok(&rt, &fleet, &ts);
    // The ssh client holds the one connection to the bastion.
    assert_eq!(net.ns.bastion_connections(), 1);
    drop(ts);
    // Dropping the connection kills the command, and with it its connection to the bastion.
    let gone = support::fleet::wait_until(WAIT, || net.ns.bastion_connections() == 0);
    assert!(gone.is_some(), "the ProxyCommand outlived its connection");
}

#[test]
fn a_bastion_outage_is_one_cause_on_every_host_behind_it_and_they_recover_with_it() {
    let ports = inner_ports(3);
    let mut net = Net::start("", &ports);
    let mut hosts = net.bastion_toml();
    for (i, &p) in ports.iter().enumerate() {
        hosts.push_str(&target_toml(
            &format!("t{}", i + 1),
            p,
            "jump = \"bastion-1\"",
        ));
    }
    let config = net.inventory("", &hosts);
    let fleet = load(&config);
    let ts = transports(&fleet);
    let rt = runtime();
    poll_until_all_ok(&rt, &fleet, &ts);

    net.ns.stop_sshd();
    let mut last = String::new();
    let mut causes = Vec::new();
    let one_cause = support::fleet::wait_until(WAIT, || {
        let obs = poll_all(&rt, &fleet, &ts);
        last = describe(&fleet, &obs);
        causes = obs[1..]
            .iter()
            .filter_map(|o| o.outcome.as_ref().err())
            .filter(|u| u.kind == UnreachableKind::Bastion)
            .map(|u| u.message.clone())
            .collect();
        causes.len() == ports.len()
    });
    assert!(
        one_cause.is_some(),
        "the targets never all blamed the bastion:\n{last}"
    );
    assert!(
        causes
            .iter()
            .all(|c| c == &causes[0] && c.starts_with("via bastion bastion-1: ")),
        "{causes:#?}"
    );
    assert!(causes[0].contains(&net.ns.address()), "{}", causes[0]);

    net.ns.start_sshd();
    poll_until_all_ok(&rt, &fleet, &ts);
    assert_eq!(net.ns.bastion_connections(), 1);
}

#[test]
fn a_second_connection_to_the_bastion_opens_only_when_its_tunnel_limit_demands() {
    let ports = inner_ports(3);
    let net = Net::start("", &ports);
    let mut hosts = net.bastion_toml();
    for (i, &p) in ports.iter().enumerate() {
        hosts.push_str(&target_toml(
            &format!("t{}", i + 1),
            p,
            "jump = \"bastion-1\"",
        ));
    }
    let config = net.inventory("", &hosts);
    let fleet = load(&config);
    let ts = transports(&fleet);
    let Transport::Ssh(bastion) = &ts[0] else {
        panic!("the bastion is an SSH host")
    };
    // Two tunnels per connection: three targets need a second connection, not a fourth.
    bastion.set_tunnel_limit(2);
    let rt = runtime();
    poll_until_all_ok(&rt, &fleet, &ts);
    assert_eq!(bastion.open_tunnels(), 2);
    assert_eq!(net.ns.bastion_connections(), 2);
}

#[test]
fn the_console_shows_one_cause_while_the_bastion_is_down_and_recovers_after() {
    let ports = inner_ports(2);
    let mut net = Net::start("", &ports);
    let mut hosts = net.bastion_toml();
    for (i, &p) in ports.iter().enumerate() {
        hosts.push_str(&target_toml(
            &format!("t{}", i + 1),
            p,
            "jump = \"bastion-1\"",
        ));
    }
    let config = net.inventory("", &hosts);
    let state = net.fleet.root().join("state");
    let cmd = format!(
        "{} --config {}",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let state = state.display().to_string();
    let tmux = Tmux::start_with_env(
        &cmd,
        160,
        40,
        &[("XDG_STATE_HOME", state.as_str()), ("SSH_AUTH_SOCK", "")],
    );
    let until = |what: &str, pred: &dyn Fn(&str) -> bool| {
        tmux.wait_until(WAIT, |s| pred(s))
            .unwrap_or_else(|screen| panic!("timed out waiting for {what}; screen:\n{screen}"))
    };
    until("every host reachable", &|s| s.contains("3/3 reachable"));

    net.ns.stop_sshd();
    let screen = until("the targets blaming the bastion", &|s| {
        s.contains("0/3 reachable")
            && s.lines()
                .filter(|l| l.contains(" t1 ") || l.contains(" t2 "))
                .all(|l| l.contains("via bastion bastion-1"))
    });
    assert!(
        !screen.contains("via bastion t"),
        "only the bastion is blamed:\n{screen}"
    );

    net.ns.start_sshd();
    until("recovery", &|s| s.contains("3/3 reachable"));
    // The host pane says how t1 is reached.
    until("t1 selectable", &|s| s.lines().any(|l| l.contains(" t1 ")));
    tmux.send_keys(&["g"]);
    let row = |s: &str, name: &str| s.lines().position(|l| l.contains(&format!(" {name} ")));
    let screen = tmux.capture();
    let (first, t1) = (row(&screen, "bastion-1"), row(&screen, "t1"));
    for _ in 0..(t1.unwrap() - first.unwrap()) {
        tmux.send_keys(&["j"]);
    }
    until("t1 selected", &|s| s.lines().any(|l| l.contains("▶ t1")));
    tmux.send_keys(&["Enter"]);
    until("the route in t1's host pane", &|s| {
        s.lines()
            .any(|l| l.contains("route") && l.contains("via bastion-1"))
    });
    tmux.send_keys(&["q"]);
}

#[test]
fn a_target_behind_a_bastion_has_its_own_host_key_checked_under_its_own_name() {
    let ports = inner_ports(1);
    let net = Net::start("", &ports);
    let mut hosts = net.bastion_toml();
    hosts.push_str(&target_toml("t1", ports[0], "jump = \"bastion-1\""));
    let config = net.inventory("", &hosts);
    // Only the bastion's key is known: the target behind it must be refused, not trusted
    // because the bastion is.
    let fleet = load(&config);
    let kh = fleet.known_hosts[0].clone();
    std::fs::write(&kh, std::fs::read_to_string(net.ns.known_hosts()).unwrap()).unwrap();
    let ts = transports(&fleet);
    let rt = runtime();
    let obs = poll_all(&rt, &fleet, &ts);
    assert!(obs[0].outcome.is_ok(), "{}", describe(&fleet, &obs));
    let refused = obs[1]
        .outcome
        .as_ref()
        .expect_err("the unknown target key is refused");
    assert_eq!(
        refused.kind,
        UnreachableKind::HostKeyUnknown,
        "{}",
        refused.message
    );
    assert!(
        refused
            .message
            .contains(&format!("[127.0.0.1]:{}", ports[0])),
        "{}",
        refused.message
    );
}
