//! Tests of the inventory loader as a whole: lookup order, defaults, resolving, every error
//! message's wording and position, and the `config check` description.

use std::path::PathBuf;
use std::time::Duration;

use super::super::lookup::{CONFIG_ENV, expand_home, find_config_in};
use super::*;
use crate::diag::line_column;
use crate::inventory::*;

fn load(text: &str) -> Result<Fleet, ConfigError> {
    load_fleet_from_str(
        text,
        ConfigSource::File(PathBuf::from("/etc/fleet/test.toml")),
    )
}

fn err(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const MINIMAL: &str = "[[hosts]]\nname = \"a\"\n";

#[test]
fn minimal_inventory_gets_every_default() {
    let fleet = load(MINIMAL).unwrap();
    assert_eq!(fleet.name, "test");
    assert_eq!(fleet.interval, Duration::from_secs(5));
    assert_eq!(fleet.host_key_policy, HostKeyPolicy::Strict);
    assert_eq!(fleet.known_hosts.len(), 1);
    assert!(fleet.known_hosts[0].ends_with(".ssh/known_hosts"));
    assert_eq!(fleet.ssh.connect_timeout, Duration::from_secs(10));
    assert_eq!(fleet.ssh.command_timeout, Duration::from_secs(30));
    assert_eq!(fleet.ssh.max_output_bytes, 1024 * 1024);
    assert_eq!(fleet.thresholds.disk_warn_percent, 80.0);
    assert_eq!(fleet.thresholds.disk_crit_percent, 90.0);
    assert_eq!(fleet.thresholds.height_lag_warn, 5);
    assert_eq!(fleet.thresholds.height_stall, Duration::from_secs(120));
    assert_eq!(fleet.thresholds.min_peers, 2);
    assert_eq!(fleet.thresholds.cert_warn_days, 30);
    assert!(!fleet.readonly);
    let host = &fleet.hosts[0];
    assert_eq!(host.address, "a");
    assert_eq!(host.transport, TransportKind::Ssh);
    assert_eq!(host.role, NodeRole::Free);
    assert_eq!(host.interval, Duration::from_secs(5));
    assert_eq!(host.port, None);
}

#[test]
fn a_hosts_region_wins_over_its_profiles_and_both_are_optional() {
    let fleet = load(
        r#"
[profiles.eu]
region = "eu-west-1"
[profiles.plain]

[[hosts]]
name = "own"
profile = "eu"
region = "us-east-1"
[[hosts]]
name = "inherits"
profile = "eu"
[[hosts]]
name = "none"
profile = "plain"
[[hosts]]
name = "alone"
region = "idc-sh"
"#,
    )
    .unwrap();
    let regions: Vec<Option<&str>> = fleet.hosts.iter().map(|h| h.region.as_deref()).collect();
    assert_eq!(
        regions,
        [Some("us-east-1"), Some("eu-west-1"), None, Some("idc-sh")]
    );
    assert_eq!(load(MINIMAL).unwrap().hosts[0].region, None);
    assert_eq!(
        err("[[hosts]]\nname = \"a\"\nregion = 7\n"),
        "/etc/fleet/test.toml:3:10: invalid type for `region` in host \"a\": integer `7`, \
         expected a string"
    );
    assert_eq!(
        err("[[hosts]]\nname = \"a\"\nregion = \" \"\n"),
        "/etc/fleet/test.toml:3:10: empty `region` in host \"a\""
    );
    assert!(
        err("[profiles.p]\nregion = \"\"\n[[hosts]]\nname = \"a\"\n")
            .contains("empty `region` in [profiles.p]")
    );
    assert!(err("[[hosts]]\nname = \"a\"\nregions = \"x\"\n").contains("unknown key `regions`"));
}

#[test]
fn profile_lists_come_first_and_host_chain_replaces_profile_chain() {
    let fleet = load(
        r#"
[fleet]
interval = "7s"
[profiles.node]
services = [{ name = "geth", kind = "systemd", unit = "geth.service" }]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
disks = [{ mount = "/data" }]
backups = [{ name = "db", dir = "/b", pattern = "*.gz", every = "24h" }]

[[hosts]]
name = "a"
profile = "node"
interval = "1m"
services = [{ name = "nginx", kind = "port", port = 443 }]
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545", group_id = 2 }
disks = [{ mount = "/" }]
backups = [{ name = "logs", dir = "/l", pattern = "*.tar", every = "1h" }]

[[hosts]]
name = "b"
profile = "node"
"#,
    )
    .unwrap();
    let a = &fleet.hosts[0];
    let names: Vec<_> = a.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["geth", "nginx"]);
    assert_eq!(
        a.services[1].kind,
        ServiceKind::Port {
            address: "127.0.0.1".into(),
            port: 443
        }
    );
    let chain = a.chain.as_ref().unwrap();
    assert_eq!(chain.kind, ChainKind::FiscoBcos);
    assert_eq!(chain.group_id, 2);
    let mounts: Vec<_> = a.disks.iter().map(|d| d.mount.as_str()).collect();
    assert_eq!(mounts, ["/data", "/"]);
    let backups: Vec<_> = a.backups.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(backups, ["db", "logs"]);
    assert_eq!(a.interval, Duration::from_secs(60));
    assert_eq!(a.profile.as_deref(), Some("node"));

    let b = &fleet.hosts[1];
    assert_eq!(b.services.len(), 1);
    assert_eq!(b.chain.as_ref().unwrap().kind, ChainKind::Ethereum);
    assert_eq!(b.chain.as_ref().unwrap().group_id, 1);
    assert_eq!(b.interval, Duration::from_secs(7));
}

#[test]
fn every_service_kind_resolves_with_its_defaults() {
    let fleet = load(
        r#"
[[hosts]]
name = "a"
services = [
  { name = "s", kind = "systemd", unit = "s.service", restart = "systemctl restart s" },
  { name = "d1", kind = "docker", container = "web" },
  { name = "d2", kind = "docker", compose_file = "/srv/dc.yml", compose_service = "db" },
  { name = "p1", kind = "process", pidfile = "/run/x.pid" },
  { name = "p2", kind = "process", pattern = "node .*" },
  { name = "smtp", kind = "port", port = 25, address = "10.0.0.1" },
  { name = "web", kind = "http", url = "https://localhost/health" },
  { name = "c", kind = "command", command = "true" },
]
"#,
    )
    .unwrap();
    let s = &fleet.hosts[0].services;
    assert_eq!(
        s[0].commands.restart.as_deref(),
        Some("systemctl restart s")
    );
    assert_eq!(
        s[2].kind,
        ServiceKind::Docker {
            container: None,
            compose_file: Some("/srv/dc.yml".into()),
            compose_service: Some("db".into())
        }
    );
    assert_eq!(
        s[6].kind,
        ServiceKind::Http {
            url: "https://localhost/health".into(),
            expect_status: 200
        }
    );
}

#[test]
fn local_paths_expand_home_and_anchor_to_the_inventory() {
    let fleet = load(
        r#"
[fleet]
known_hosts = ["~/.ssh/known_hosts", "keys/known_hosts", "/abs/kh"]
[ssh]
identity_files = ["~/.ssh/id_ed25519"]
certificate_files = ["~/.ssh/id_ed25519-signed.pub"]
config_file = "ssh_config"
[[hosts]]
name = "a"
identity_files = ["id_a"]
certificate_files = ["id_a-signed.pub"]
"#,
    )
    .unwrap();
    let home = dirs::home_dir().unwrap();
    assert_eq!(fleet.known_hosts[0], home.join(".ssh/known_hosts"));
    assert_eq!(
        fleet.known_hosts[1],
        Path::new("/etc/fleet/keys/known_hosts")
    );
    assert_eq!(fleet.known_hosts[2], Path::new("/abs/kh"));
    assert_eq!(fleet.ssh.identity_files[0], home.join(".ssh/id_ed25519"));
    assert_eq!(
        fleet.ssh.config_file.as_deref(),
        Some(Path::new("/etc/fleet/ssh_config"))
    );
    assert_eq!(
        fleet.hosts[0].identity_files[0],
        Path::new("/etc/fleet/id_a")
    );
    assert_eq!(
        fleet.ssh.certificate_files,
        [home.join(".ssh/id_ed25519-signed.pub")]
    );
    assert_eq!(
        fleet.hosts[0].certificate_files,
        [Path::new("/etc/fleet/id_a-signed.pub")]
    );
}

#[test]
fn expand_home_handles_tilde_forms() {
    let home = Some(Path::new("/home/op"));
    assert_eq!(expand_home(Path::new("~"), home), Path::new("/home/op"));
    assert_eq!(
        expand_home(Path::new("~/x/y"), home),
        Path::new("/home/op/x/y")
    );
    assert_eq!(expand_home(Path::new("~bob/x"), home), Path::new("~bob/x"));
    assert_eq!(expand_home(Path::new("a/~"), home), Path::new("a/~"));
    assert_eq!(expand_home(Path::new("~/x"), None), Path::new("~/x"));
}

#[test]
fn local_transport_defaults_address_to_localhost() {
    let fleet = load("[[hosts]]\nname = \"me\"\ntransport = \"local\"\n").unwrap();
    assert_eq!(fleet.hosts[0].transport, TransportKind::Local);
    assert_eq!(fleet.hosts[0].address, "localhost");
}

#[test]
fn unknown_keys_name_the_table_and_the_expected_keys() {
    assert_eq!(
        err("[fleet]\nintervl = \"5s\"\n[[hosts]]\nname = \"a\"\n"),
        "/etc/fleet/test.toml:2:1: unknown key `intervl` in [fleet], expected one of \
         `name`, `interval`, `host_key_policy`, `known_hosts`, `readonly`, `record_sessions`"
    );
    assert_eq!(
        err(
            "[[hosts]]\nname = \"a\"\nservices = [{ name = \"x\", kind = \"systemd\", unti = \"x\" }]\n"
        ),
        "/etc/fleet/test.toml:3:45: unknown key `unti` in service \"x\" of host \"a\", \
         expected one of `name`, `kind`, `unit`, `container`, `compose_file`, \
         `compose_service`, `pidfile`, `pattern`, `port`, `address`, `url`, \
         `expect_status`, `command`, `start`, `stop`, `restart`, `version`, `upgrade`, \
         `rollback`"
    );
}

#[test]
fn bad_duration_says_what_a_duration_looks_like() {
    assert_eq!(
        err("[fleet]\ninterval = \"5 parsecs\"\n[[hosts]]\nname = \"a\"\n"),
        "/etc/fleet/test.toml:2:12: invalid duration \"5 parsecs\" for `interval` in \
         [fleet]: expected a duration like \"5s\", \"2m\", \"1h\""
    );
    assert_eq!(
        err("[fleet]\ninterval = 5\n[[hosts]]\nname = \"a\"\n"),
        "/etc/fleet/test.toml:2:12: invalid type for `interval` in [fleet]: integer `5`, \
         expected a duration string like \"5s\""
    );
}

#[test]
fn services_need_their_kind_keys_and_only_those() {
    assert_eq!(
        err("[[hosts]]\nname = \"a\"\nservices = [{ name = \"x\", kind = \"systemd\" }]\n"),
        "/etc/fleet/test.toml:3:13: missing key `unit` in service \"x\" of host \"a\": \
         kind `systemd` takes `unit`"
    );
    assert!(
        err("[[hosts]]\nname = \"a\"\nservices = [{ name = \"x\", kind = \"systemd\", unit = \"u\", container = \"c\" }]\n")
            .contains("key `container` does not apply to service \"x\" of host \"a\"")
    );
    assert!(
        err("[[hosts]]\nname = \"a\"\nservices = [{ name = \"x\", kind = \"process\", pidfile = \"/p\", pattern = \"q\" }]\n")
            .contains("has both `pidfile` and `pattern`")
    );
    assert!(
        err("[[hosts]]\nname = \"a\"\nservices = [{ name = \"x\", kind = \"docker\", compose_file = \"f\" }]\n")
            .contains("missing key `compose_service`")
    );
    assert!(
        err("[[hosts]]\nname = \"a\"\nservices = [{ name = \"x\", kind = \"http\", url = \"localhost\" }]\n")
            .contains("invalid URL \"localhost\" for `url`")
    );
}

#[test]
fn chain_keys_follow_the_kind() {
    let base = "[[hosts]]\nname = \"a\"\n";
    assert!(
        err(&format!("{base}chain = {{ kind = \"ethereum\" }}\n"))
            .contains("missing key `rpc` in the chain of host \"a\"")
    );
    assert!(
        err(&format!(
            "{base}chain = {{ kind = \"command\", rpc = \"http://x\" }}\n"
        ))
        .contains("key `rpc` does not apply to the chain of host \"a\"")
    );
    assert!(
        err(&format!(
            "{base}chain = {{ kind = \"ethereum\", rpc = \"http://x\", group_id = 2 }}\n"
        ))
        .contains("only kind `fisco-bcos` takes it")
    );
    let fleet = load(&format!(
        "{base}chain = {{ kind = \"command\", command = \"cat /h\" }}\n"
    ))
    .unwrap();
    assert_eq!(
        fleet.hosts[0].chain.as_ref().unwrap().command.as_deref(),
        Some("cat /h")
    );
}

#[test]
fn certs_logs_thresholds_and_fisco_groups() {
    let fleet = load(
        r#"
[thresholds]
disk_warn_percent = 75
cert_warn_days = 45
[profiles.fisco]
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:20200", group = "group0" }
certs = [{ name = "ca", path = "~/fisco/nodes/127.0.0.1/sdk/ca.crt" }]
logs = [{ name = "node", file = "~/fisco/nodes/127.0.0.1/node0/log/log", format = "fisco", patterns = ["checkSign failed"], window = "5m" }]
thresholds = { cert_warn_days = 60, log_errors_warn = 3 }
[[hosts]]
name = "a"
profile = "fisco"
certs = [{ name = "node", path = "/data/node0/conf/ssl.crt" }]
logs = [{ name = "journal", unit = "fisco.service", lines = 500 }]
thresholds = { disk_crit_percent = 95, backup_shrink_percent = 50, disk_full_warn_days = 2.5 }
[[hosts]]
name = "b"
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545", group_id = 2 }
"#,
    )
    .unwrap();
    let a = &fleet.hosts[0];
    let chain = a.chain.as_ref().unwrap();
    assert_eq!(chain.group.as_deref(), Some("group0"));
    let certs: Vec<_> = a.certs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(certs, ["ca", "node"]);
    assert_eq!(a.logs.len(), 2);
    let node = &a.logs[0];
    assert_eq!(node.format, LogFormat::Fisco);
    assert_eq!(node.patterns, ["checkSign failed"]);
    assert_eq!(node.window, Duration::from_secs(300));
    assert_eq!(node.lines, 200);
    let journal = &a.logs[1];
    assert_eq!(journal.origin, LogOrigin::Unit("fisco.service".into()));
    assert_eq!(journal.format, LogFormat::Plain);
    assert_eq!(journal.patterns, DEFAULT_LOG_PATTERNS);
    assert_eq!(journal.lines, 500);
    assert_eq!(journal.window, Duration::from_secs(600));
    // fleet → profile → host, key by key.
    let t = &a.thresholds;
    assert_eq!(
        (t.disk_warn_percent, t.disk_crit_percent, t.cert_warn_days),
        (75.0, 95.0, 60)
    );
    assert_eq!((t.log_errors_warn, t.backup_shrink_percent), (3, 50.0));
    assert_eq!(t.disk_full_warn_days, 2.5);
    let b = &fleet.hosts[1];
    assert_eq!(b.thresholds.cert_warn_days, 45);
    assert_eq!(b.thresholds.disk_crit_percent, 90.0);
    assert_eq!(b.chain.as_ref().unwrap().group, None);
    let text = describe(&fleet);
    for needle in [
        "chain: fisco-bcos at http://127.0.0.1:20200, group group0",
        "chain: fisco-bcos at http://127.0.0.1:8545, group 2",
        "ca: ~/fisco/nodes/127.0.0.1/sdk/ca.crt",
        "journal: journal of fisco.service, plain, last 500 lines, window 10m",
        "disk: warn at 75%, critical at 95%",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn certs_logs_and_thresholds_errors() {
    let host = "[[hosts]]\nname = \"a\"\n";
    assert_eq!(
        err(&format!(
            "{host}logs = [{{ name = \"x\", file = \"/l\", patterns = [\"ok\", \"(unclosed\"] }}]\n"
        )),
        "/etc/fleet/test.toml:3:54: invalid regular expression \"(unclosed\" in `patterns` \
         in log \"x\" of host \"a\": unclosed group"
    );
    assert!(
        err(&format!("{host}logs = [{{ name = \"x\" }}]\n"))
            .contains("missing key `unit` or `file` in log \"x\" of host \"a\"")
    );
    assert!(
        err(&format!(
            "{host}logs = [{{ name = \"x\", unit = \"u\", file = \"/f\" }}]\n"
        ))
        .contains("has both `unit` and `file`")
    );
    assert!(
        err(&format!(
            "{host}logs = [{{ name = \"x\", unit = \"u\", lines = 0 }}]\n"
        ))
        .contains("invalid `lines` 0 in log \"x\" of host \"a\": expected 1 to 5000")
    );
    assert!(
        err(&format!(
            "{host}logs = [{{ name = \"x\", unit = \"u\", format = \"json\" }}]\n"
        ))
        .contains("invalid value \"json\" for `format` in log \"x\" of host \"a\"")
    );
    assert!(
        err(&format!(
            "{host}certs = [{{ name = \"c\", path = \"/a\" }}, {{ name = \"c\", path = \"/b\" }}]\n"
        ))
        .contains("duplicate cert \"c\" in host \"a\"")
    );
    assert!(
        err(&format!(
            "{host}certs = [{{ name = \"c\", file = \"/a\" }}]\n"
        ))
        .contains("unknown key `file` in cert \"c\" of host \"a\"")
    );
    assert!(
        err(&format!(
            "{host}chain = {{ kind = \"fisco-bcos\", rpc = \"http://x\", group = \"g\", group_id = 1 }}\n"
        ))
        .contains("has both `group_id` and `group`")
    );
    assert!(
        err(&format!(
            "{host}chain = {{ kind = \"ethereum\", rpc = \"http://x\", group = \"g\" }}\n"
        ))
        .contains("key `group` does not apply")
    );
    assert_eq!(
        err(&format!(
            "{host}thresholds = {{ disk_warn_percent = 95 }}\n"
        )),
        "/etc/fleet/test.toml:3:36: `disk_warn_percent` (95) must be lower than \
         `disk_crit_percent` (90) in the thresholds of host \"a\""
    );
    assert!(
        err(&format!(
            "[profiles.p]\nthresholds = {{ backup_shrink_percent = 0 }}\n{host}"
        ))
        .contains(
            "invalid `backup_shrink_percent` 0 in the thresholds of [profiles.p]: \
                 expected a percentage from above 0 to 100"
        )
    );
    assert!(
        err(&format!("{host}thresholds = {{ min_peer = 1 }}\n"))
            .contains("unknown key `min_peer` in the thresholds of host \"a\"")
    );
}

#[test]
fn duplicates_are_refused_with_their_origin() {
    assert_eq!(
        err("[[hosts]]\nname = \"a\"\n[[hosts]]\nname = \"a\"\n"),
        "/etc/fleet/test.toml:4:8: duplicate host name \"a\": host names must be unique \
         (first defined at line 2)"
    );
    assert!(
        err(r#"
[profiles.p]
services = [{ name = "x", kind = "command", command = "true" }]
[[hosts]]
name = "a"
profile = "p"
services = [{ name = "x", kind = "command", command = "false" }]
"#)
        .contains("duplicate service \"x\" in host \"a\": its profile `p` already defines it")
    );
    assert!(
        err("[[hosts]]\nname = \"a\"\ndisks = [{ mount = \"/\" }, { mount = \"/\" }]\n")
            .contains("duplicate disk \"/\" in host \"a\"")
    );
}

#[test]
fn semantic_checks() {
    let host = "[[hosts]]\nname = \"a\"\n";
    assert!(
        err(&format!("{host}profile = \"nope\"\n"))
            .contains("unknown profile \"nope\" in host \"a\", no [profiles.NAME] tables")
    );
    assert!(err("[[hosts]]\nname = \" \"\n").contains("empty host name in [[hosts]] #1"));
    assert!(err(&format!("{host}port = 0\n")).contains("invalid port 0"));
    assert!(
        err(&format!("[thresholds]\ndisk_warn_percent = 95\n{host}"))
            .contains("`disk_warn_percent` (95) must be lower than `disk_crit_percent` (90)")
    );
    assert!(
        err(&format!(
            "{host}backups = [{{ name = \"b\", dir = \"/b\", pattern = \"*\", every = \"0s\" }}]\n"
        ))
        .contains("invalid duration \"0s\" for `every` in backup \"b\" of host \"a\": must be greater than zero")
    );
    assert!(
        err(&format!(
            "{host}backups = [{{ name = \"b\", dir = \"/b\", pattern = \"[ab\", every = \"1h\" }}]\n"
        ))
        .contains("invalid glob \"[ab\" for `pattern`")
    );
    assert!(
        err(&format!("[operators]\nbob = \"boss\"\n{host}"))
            .contains("invalid value \"boss\" for `bob` in [operators], expected one of `admin`")
    );
    assert!(err(&format!("{host}role = \"consensus\"\n")).contains("needs `consensus_group`"));
    assert!(
        err(&format!("{host}disks = [{{ mount = \"data\" }}]\n"))
            .contains("expected an absolute path")
    );
    assert_eq!(
        err("[fleet]\nname = \"x\"\n"),
        "/etc/fleet/test.toml: the inventory has no hosts: add at least one [[hosts]] table"
    );
}

#[test]
fn toml_syntax_errors_keep_the_toml_message_with_a_position() {
    let e = load("[fleet\nname = \"x\"\n").unwrap_err();
    assert_eq!((e.line, e.column), (Some(1), Some(7)));
    assert!(e.message.contains("expected `]`"), "{}", e.message);
}

#[test]
fn line_column_counts_characters_from_one() {
    assert_eq!(line_column("", 0), (1, 1));
    assert_eq!(line_column("ab\ncd", 4), (2, 2));
    assert_eq!(line_column("é=1", 2), (1, 2));
    // Past the end and inside a multi-byte character: clamped, never a panic.
    assert_eq!(line_column("é", 1), (1, 1));
    assert_eq!(line_column("ab", 99), (1, 3));
}

#[test]
fn display_without_a_position_has_no_colons_for_it() {
    let e = ConfigError::whole("fleet.toml", "boom");
    assert_eq!(e.to_string(), "fleet.toml: boom");
}

#[test]
fn example_inventory_loads() {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/example-fleet.toml"
    ));
    let fleet = load_fleet_from_str(
        text,
        ConfigSource::File(PathBuf::from("assets/example-fleet.toml")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(fleet.hosts.len() >= 7);
    let consensus = fleet
        .hosts
        .iter()
        .filter(|h| h.role == NodeRole::Consensus)
        .count();
    assert_eq!(consensus, 4);
    assert!(fleet.hosts.iter().any(|h| h.backups.len() == 1));
    assert!(fleet.hosts.iter().any(|h| {
        h.services
            .iter()
            .any(|s| matches!(s.kind, ServiceKind::Port { port: 25, .. }))
    }));
    let summary = describe(&fleet);
    for host in &fleet.hosts {
        assert!(summary.contains(&host.name));
    }
}

#[test]
fn no_prefix_of_the_example_panics() {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/example-fleet.toml"
    ));
    for (i, _) in text.char_indices().step_by(7) {
        let _ = load_fleet_from_str(&text[..i], ConfigSource::Embedded);
    }
}

#[test]
fn find_config_follows_the_documented_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cwd = root.join("cwd");
    let home = root.join("home");
    let xdg = root.join("xdg");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::create_dir_all(home.join(".config/fleetdeck")).unwrap();
    std::fs::create_dir_all(xdg.join("fleetdeck")).unwrap();
    let explicit = root.join("explicit.toml");
    let from_env = root.join("env.toml");
    for f in [&explicit, &from_env] {
        std::fs::write(f, MINIMAL).unwrap();
    }
    let no_env = |_: &str| None;

    // Nothing anywhere: the embedded default.
    assert_eq!(
        find_config_in(None, no_env, Some(&cwd), Some(&home)).unwrap(),
        None
    );
    // ~/.config when XDG_CONFIG_HOME is unset.
    let home_cfg = home.join(".config/fleetdeck/fleet.toml");
    std::fs::write(&home_cfg, MINIMAL).unwrap();
    assert_eq!(
        find_config_in(None, no_env, Some(&cwd), Some(&home)).unwrap(),
        Some(home_cfg.clone())
    );
    // $XDG_CONFIG_HOME wins over ~/.config.
    let xdg_cfg = xdg.join("fleetdeck/fleet.toml");
    std::fs::write(&xdg_cfg, MINIMAL).unwrap();
    let xdg_env = |k: &str| (k == "XDG_CONFIG_HOME").then(|| xdg.clone().into_os_string());
    assert_eq!(
        find_config_in(None, xdg_env, Some(&cwd), Some(&home)).unwrap(),
        Some(xdg_cfg)
    );
    // ./fleetdeck.toml wins over XDG.
    std::fs::write(cwd.join("fleetdeck.toml"), MINIMAL).unwrap();
    assert_eq!(
        find_config_in(None, xdg_env, Some(&cwd), Some(&home)).unwrap(),
        Some(PathBuf::from("fleetdeck.toml"))
    );
    // $FLEETDECK_CONFIG wins over ./fleetdeck.toml; missing is an error.
    let env = |k: &str| (k == CONFIG_ENV).then(|| from_env.clone().into_os_string());
    assert_eq!(
        find_config_in(None, env, Some(&cwd), Some(&home)).unwrap(),
        Some(from_env.clone())
    );
    let missing = root.join("missing.toml");
    let env_missing = |k: &str| (k == CONFIG_ENV).then(|| missing.clone().into_os_string());
    let e = find_config_in(None, env_missing, Some(&cwd), Some(&home)).unwrap_err();
    assert!(e.message.contains("$FLEETDECK_CONFIG"), "{e}");
    // --config wins over everything; missing is an error.
    assert_eq!(
        find_config_in(Some(&explicit), env, Some(&cwd), Some(&home)).unwrap(),
        Some(explicit.clone())
    );
    let e = find_config_in(Some(&missing), env, Some(&cwd), Some(&home)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: no such inventory file (given with --config)",
            missing.display()
        )
    );
    let e = find_config_in(Some(root), env, Some(&cwd), Some(&home)).unwrap_err();
    assert!(e.message.contains("is a directory"), "{e}");
}

#[test]
fn load_fleet_reads_the_file_and_reports_bad_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("f.toml");
    std::fs::write(&good, MINIMAL).unwrap();
    let fleet = load_fleet(Some(&good)).unwrap();
    assert!(matches!(&fleet.source, ConfigSource::File(p) if p == &good));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, b"[fleet]\nname = \"\xff\"\n").unwrap();
    let e = load_fleet(Some(&bad)).unwrap_err();
    assert_eq!((e.line, e.column), (Some(2), Some(9)));
}

#[test]
fn embedded_default_is_this_machine_over_the_local_transport() {
    let fleet = embedded_default();
    assert!(matches!(fleet.source, ConfigSource::Embedded));
    assert_eq!(fleet.hosts.len(), 1);
    let host = &fleet.hosts[0];
    assert!(!host.name.is_empty());
    assert_eq!(host.transport, TransportKind::Local);
    assert_eq!(host.interval, Duration::from_secs(5));
    assert_eq!(host.disks[0].mount, "/");
    assert!(host.disks.len() <= EMBEDDED_MAX_DISKS);
    let mut mounts: Vec<_> = host.disks.iter().map(|d| &d.mount).collect();
    mounts.dedup();
    assert_eq!(mounts.len(), host.disks.len());
    assert!(host.services.is_empty() && host.chain.is_none() && host.backups.is_empty());
    assert!(describe(&fleet).contains("<embedded default>"));
}

#[test]
fn pseudo_mounts_are_skipped() {
    assert!(is_real_mount("ext4", "/data"));
    assert!(is_real_mount("xfs", "/boot"));
    assert!(!is_real_mount("overlay", "/"));
    assert!(!is_real_mount("tmpfs", "/tmp"));
    assert!(!is_real_mount("ext4", "/var/lib/docker/volumes/x"));
    assert!(!is_real_mount("vfat", "/boot/efi"));
    assert!(!is_real_mount("fuse.portal", "/run/user/1000/doc"));
    assert!(is_real_mount("ext4", "/srv/runner"));
}

#[test]
fn describe_mentions_everything_understood() {
    let fleet = load(
        r#"
[fleet]
name = "prod"
readonly = true
[operators]
alice = "admin"
[[hosts]]
name = "db-1"
address = "10.0.0.5"
port = 2222
groups = ["db", "eu"]
region = "eu-central-1"
consensus_group = "g0"
role = "observer"
services = [{ name = "pg", kind = "systemd", unit = "postgresql.service" }]
chain = { kind = "command", command = "cat /var/h" }
disks = [{ mount = "/var/lib/postgresql" }]
backups = [{ name = "pg", dir = "/b/", pattern = "*.gz", every = "24h" }]
"#,
    )
    .unwrap();
    let text = describe(&fleet);
    for needle in [
        "source: /etc/fleet/test.toml",
        "fleet: prod",
        "readonly: yes",
        "alice: admin",
        "db-1: 10.0.0.5:2222 over ssh",
        "groups: db, eu",
        "region: eu-central-1",
        "consensus group: g0 as observer",
        "pg: systemd unit postgresql.service",
        "chain: height from command `cat /var/h`",
        "disks: /var/lib/postgresql",
        "pg: /b/*.gz every 1day",
        "disk: warn at 80%, critical at 90%",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn model_serialises_durations_as_written() {
    let fleet = load(MINIMAL).unwrap();
    let json = serde_json::to_value(&fleet).unwrap();
    assert_eq!(json["interval"], "5s");
    assert_eq!(json["hosts"][0]["transport"], "ssh");
}

#[test]
fn record_sessions_is_off_by_default_and_must_be_a_boolean() {
    assert!(!load(MINIMAL).unwrap().record_sessions);
    let on = load(&format!("[fleet]\nrecord_sessions = true\n{MINIMAL}")).unwrap();
    assert!(on.record_sessions);
    assert!(describe(&on).contains("record sessions: yes"));
    let e = err(&format!("[fleet]\nrecord_sessions = \"yes\"\n{MINIMAL}"));
    assert!(
        e.starts_with("/etc/fleet/test.toml:2:") && e.contains("record_sessions"),
        "{e}"
    );
}

#[test]
fn jump_comes_from_the_host_then_its_profile_then_ssh_and_skips_the_host_it_names() {
    let fleet = load(include_str!(
        "../../../tests/fixtures/inventory/valid/jump-hosts.toml"
    ))
    .unwrap();
    let jump = |name: &str| {
        fleet
            .hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap()
            .jump
            .clone()
    };
    // `[ssh] jump = "bastion-1"` does not send the bastion through itself.
    assert_eq!(jump("bastion-1"), None);
    assert_eq!(jump("db-1"), Some(Jump::Via(vec!["bastion-1".into()])));
    assert_eq!(
        jump("inner-1"),
        Some(Jump::Via(vec![
            "bastion-1".into(),
            "ops@b2.internal:2222".into()
        ]))
    );
    assert_eq!(jump("edge"), Some(Jump::None));
    assert_eq!(jump("local-box"), None);
    assert!(fleet.hosts.iter().all(|h| h.via.is_empty()));
}

#[test]
fn an_inherited_chain_reaches_its_own_middle_hop_through_the_hops_before_it() {
    let fleet = load(
        "[ssh]\njump = \"a,b\"\n[[hosts]]\nname = \"a\"\n[[hosts]]\nname = \"b\"\n[[hosts]]\nname = \"c\"\n",
    )
    .unwrap();
    let jumps: Vec<Option<Jump>> = fleet.hosts.iter().map(|h| h.jump.clone()).collect();
    assert_eq!(
        jumps,
        vec![
            None,
            Some(Jump::Via(vec!["a".into()])),
            Some(Jump::Via(vec!["a".into(), "b".into()])),
        ]
    );
}

#[test]
fn a_longer_jump_cycle_is_named_hop_by_hop_at_the_jump_that_starts_it() {
    let e = err(
        "[[hosts]]\nname = \"a\"\njump = \"b\"\n[[hosts]]\nname = \"b\"\njump = \"c\"\n[[hosts]]\nname = \"c\"\njump = \"a\"\n",
    );
    assert!(
        e.starts_with("/etc/fleet/test.toml:3:8: jump hosts form a cycle: a → b → c → a"),
        "{e}"
    );
}

#[test]
fn alerts_out_keys_resolve_with_credentials_by_reference() {
    let fleet = load(&format!(
        "{MINIMAL}[alertmanager]\nurl = \"http://127.0.0.1:9093\"\nsender = \"console\"\n\
         bearer_token_env = \"AM_TOKEN\"\n\n[[notify]]\nurl = \"https://hooks.example/x\"\n\
         username = \"bot\"\npassword_file = \"secrets/hook\"\n"
    ))
    .unwrap();
    let out = &fleet.alerts_out;
    assert_eq!(out.sender, AlertSender::Console);
    let am = out.alertmanager.as_ref().unwrap();
    assert_eq!(am.url, "http://127.0.0.1:9093");
    assert_eq!(
        am.auth,
        Some(HttpAuth::Bearer(SecretSource::Env("AM_TOKEN".into())))
    );
    assert_eq!(out.webhooks.len(), 1);
    assert_eq!(
        out.webhooks[0].auth,
        Some(HttpAuth::Basic {
            username: "bot".into(),
            password: SecretSource::File(PathBuf::from("/etc/fleet/secrets/hook")),
        })
    );
    assert_eq!(load(MINIMAL).unwrap().alerts_out, AlertsOut::default());
}

#[test]
fn alerts_out_errors_are_located_and_name_the_key() {
    let e = err(&format!(
        "{MINIMAL}[alertmanager]\nurl = \"http://am:9093\"\npassword = \"hunter2\"\n"
    ));
    assert!(
        e.contains("test.toml:5:") && e.contains("inline secret `password`"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "the secret must not be echoed: {e}");
    let e = err(&format!(
        "{MINIMAL}[[notify]]\nurl = \"http://h/x\"\nbearer_token = \"abc\"\n"
    ));
    assert!(
        e.contains("inline secret `bearer_token` in [[notify]] #1"),
        "{e}"
    );
    let e = err(&format!(
        "{MINIMAL}[alertmanager]\nurl = \"http://am:9093\"\nsender = \"both\"\n"
    ));
    assert!(
        e.contains("test.toml:5:") && e.contains("\"serve\" or \"console\""),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}[alertmanager]\nurl = \"am:9093\"\n"));
    assert!(
        e.contains("test.toml:4:") && e.contains("expected http://"),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}[alertmanager]\nsender = \"serve\"\n"));
    assert!(e.contains("needs `url`"), "{e}");
    let e = err(&format!(
        "{MINIMAL}[alertmanager]\nurl = \"http://a\"\ntoken = \"x\"\n"
    ));
    assert!(e.contains("token"), "{e}");
}

#[test]
fn describe_shows_alerts_out_and_where_secrets_come_from_only_when_configured() {
    let plain = describe(&load(MINIMAL).unwrap());
    assert!(!plain.contains("alerts out"), "{plain}");
    let text = describe(
        &load(&format!(
            "{MINIMAL}[alertmanager]\nurl = \"http://am:9093\"\nbearer_token_env = \"AM_TOKEN\"\n\
             [[notify]]\nurl = \"http://hook/x\"\n"
        ))
        .unwrap(),
    );
    assert!(
        text.contains("alerts out (sent by fleetdeck serve):"),
        "{text}"
    );
    assert!(
        text.contains("  alertmanager: http://am:9093 (bearer token from $AM_TOKEN)"),
        "{text}"
    );
    assert!(text.contains("`a` silences one for 2h"), "{text}");
    assert!(text.contains("  webhook: http://hook/…\n"), "{text}");
    assert!(
        !text.contains("/x"),
        "a webhook's path may be its secret: {text}"
    );
}

#[test]
fn the_alertmanager_silence_duration_defaults_to_two_hours_and_is_located_when_bad() {
    let am = |extra: &str| {
        load(&format!(
            "{MINIMAL}[alertmanager]\nurl = \"http://am:9093\"\n{extra}"
        ))
    };
    let default = am("").unwrap();
    assert_eq!(
        default.alerts_out.silence_duration(),
        Duration::from_secs(7200)
    );
    let set = am("silence = \"90m\"\n").unwrap();
    assert_eq!(set.alerts_out.silence, Some(Duration::from_secs(5400)));
    let e = am("silence = \"0s\"\n").unwrap_err().to_string();
    assert!(
        e.contains("for `silence` in [alertmanager]: must be greater than zero"),
        "{e}"
    );
}

#[test]
fn posture_merges_fleet_profile_and_host_key_by_key() {
    use crate::health::Severity;
    use crate::posture::Check;
    let f = load(
        r#"
[posture]
severity = { root_login = "critical", ssh_port = "off" }
[profiles.web.posture]
expected_ports = [22022, 443]
[[hosts]]
name = "web"
profile = "web"
posture = { sshd_config = "/opt/ssh/sshd_config", severity = { root_login = "warning" } }
[[hosts]]
name = "plain"
[[hosts]]
name = "lab"
posture = { enabled = false }
"#,
    )
    .unwrap();
    let web = &f.hosts[0].posture;
    assert!(web.enabled);
    assert_eq!(web.sshd_config.as_deref(), Some("/opt/ssh/sshd_config"));
    assert_eq!(web.expected_ports, Some(vec![22022, 443]));
    assert_eq!(web.severity(Check::RootLogin), Some(Severity::Warning));
    assert_eq!(web.severity(Check::SshPort), None, "off, from [posture]");
    let plain = &f.hosts[1].posture;
    assert!(plain.enabled && plain.expected_ports.is_none());
    assert_eq!(plain.severity(Check::RootLogin), Some(Severity::Critical));
    assert!(!f.hosts[2].posture.enabled);
    // Without any posture table nothing is read.
    let none = load("[[hosts]]\nname = \"a\"\n").unwrap();
    assert!(!none.hosts[0].posture.enabled);
}
