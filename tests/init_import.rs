//! `fleetdeck init` and `[[import]] kind = "ansible"` (issue 14, items 1 and 2) against real
//! files and real peers, through the real binary:
//!
//! - a written `~/.ssh/config` (`$HOME` is a temp dir) with `Include` and `ProxyJump`: `init`
//!   without `--output` writes `$XDG_CONFIG_HOME/fleetdeck/fleet.toml`, the jump host as `jump`;
//!   it reports the host whose key is not in known_hosts with its `ssh-keyscan` line (and does
//!   not record it); once the key is recorded by the test, `config check` passes and
//!   `status --json` reaches both real sshd hosts, the inner one through the bastion; a second
//!   `init` keeps the file without `--force` and replaces it with it.
//! - the same fleet as an Ansible INI file, a YAML file and the JSON the REAL
//!   `ansible-inventory --list` prints for the INI (ansible-core from PyPI, installed by
//!   scripts/test into `.tools/ansible`; `$FLEETDECK_ANSIBLE_INVENTORY` names another): the
//!   three give the same hosts (groups through `children`, `[g:vars]`, `-o ProxyJump=`), and
//!   the inventory written from the JSON reaches the real hosts.
//! - `[[import]]` of the YAML file: TOML keys win (a wrong Ansible port is overridden by the
//!   TOML's, and the host is reached), `status --json` reaches the imported hosts, and a broken
//!   Ansible file makes `config check` fail naming that file and line.
//! - `--detect` on a local host (`ansible_connection=local`): the services it lists are proposed
//!   commented out. The `systemctl` and `docker` it runs are small stand-in scripts on `PATH`
//!   (this machine has no systemd or docker daemon): what is tested is the listing, filtering
//!   and rendering through the real local transport, not those tools.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::{FleetSpec, TestFleet};

/// `ansible-inventory` of ansible-core: `$FLEETDECK_ANSIBLE_INVENTORY`, else the one
/// scripts/test installs into `<repo>/.tools/ansible`. Missing is a failure, never a skip.
fn ansible_inventory() -> PathBuf {
    let path = std::env::var_os("FLEETDECK_ANSIBLE_INVENTORY")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| support::repo_root().join(".tools/ansible/bin/ansible-inventory"));
    assert!(
        path.is_file(),
        "ansible-inventory not found at {}: run scripts/test, which installs ansible-core \
         (python3 -m venv .tools/ansible && .tools/ansible/bin/pip install ansible-core)",
        path.display()
    );
    path
}

/// A private `$HOME` (with `.ssh/`) and XDG directories under it.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::Builder::new()
            .prefix("fleetdeck-init-")
            .tempdir()
            .expect("create a home");
        fs::create_dir_all(dir.path().join(".ssh")).expect("create ~/.ssh");
        Home { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(support::fleetdeck_bin());
        cmd.args(args)
            .env("HOME", self.path())
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("XDG_CONFIG_HOME", self.path().join("xdg"))
            .env("FLEETDECK_LOG", "off")
            .env_remove("FLEETDECK_CONFIG")
            .env_remove("SSH_AUTH_SOCK")
            .current_dir(self.path())
            .stdin(Stdio::null());
        cmd
    }

    fn fleetdeck(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run fleetdeck")
    }
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Runs `fleetdeck init ARGS`, expecting success.
fn init_ok(home: &Home, args: &[&str]) -> String {
    let mut all = vec!["init"];
    all.extend_from_slice(args);
    let out = home.fleetdeck(&all);
    assert!(
        out.status.success(),
        "init {args:?} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn config_check_ok(home: &Home, inventory: &Path) -> String {
    let out = home.fleetdeck(&["--config", inventory.to_str().unwrap(), "config", "check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "config check of {} failed: {}\n--- the file:\n{}",
        inventory.display(),
        text(&out.stderr),
        fs::read_to_string(inventory).unwrap_or_default()
    );
    text(&out.stdout)
}

/// `status --json` of `inventory`, each host by name.
fn status(home: &Home, inventory: &Path) -> Vec<Value> {
    let out = home.fleetdeck(&["status", "--json", "--config", inventory.to_str().unwrap()]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json printed no JSON ({e}); stderr: {}",
            text(&out.stderr)
        )
    });
    doc["hosts"].as_array().expect("hosts").clone()
}

fn host<'a>(hosts: &'a [Value], name: &str) -> &'a Value {
    hosts
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {hosts:#?}"))
}

fn assert_reachable(hosts: &[Value], name: &str) {
    let h = host(hosts, name);
    assert_eq!(h["reachable"], true, "{name} not reached: {h:#}");
}

/// The known_hosts line of test host `i`.
fn known_line(fleet: &TestFleet, i: usize) -> String {
    let h = fleet.host(i);
    format!("[127.0.0.1]:{} {}\n", h.port, h.host_public_key.trim())
}

#[test]
fn init_from_ssh_config_with_include_and_proxyjump_reaches_the_real_hosts() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let home = Home::new();
    let (b, inner) = (fleet.host(0), fleet.host(1));
    let key = fleet.client_key().display().to_string();
    let user = fleet.user().to_owned();
    fs::write(
        home.path().join(".ssh/config"),
        format!(
            "Include conf.d/*.conf\n\n\
             Host bastion\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n  IdentityFile {key}\n\n\
             Host *.example\n  User nobody\n",
            b.port
        ),
    )
    .unwrap();
    fs::create_dir_all(home.path().join(".ssh/conf.d")).unwrap();
    fs::write(
        home.path().join(".ssh/conf.d/inner.conf"),
        format!(
            "Host inner\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n  IdentityFile {key}\n  \
             ProxyJump bastion\n",
            inner.port
        ),
    )
    .unwrap();
    // Only the bastion's key is known: `init` must name the inner host and not record it.
    let known_hosts = home.path().join(".ssh/known_hosts");
    fs::write(&known_hosts, known_line(&fleet, 0)).unwrap();

    let report = init_ok(&home, &["--from-ssh-config"]);
    let written = home.path().join("xdg/fleetdeck/fleet.toml");
    let toml =
        fs::read_to_string(&written).expect("init wrote $XDG_CONFIG_HOME/fleetdeck/fleet.toml");
    assert!(toml.contains("name = \"inner\""), "{toml}");
    assert!(toml.contains("jump = \"bastion\""), "{toml}");
    assert!(
        !toml.contains("*.example"),
        "wildcard Host entries are not hosts: {toml}"
    );
    assert!(
        toml.contains(&format!("port = {}", inner.port))
            && toml.contains("address = \"127.0.0.1\""),
        "{toml}"
    );
    assert!(
        report.contains(&format!("ssh-keyscan -p {} 127.0.0.1", inner.port)),
        "the unknown key is reported with its ssh-keyscan line: {report}"
    );
    assert!(
        !report.contains(&format!("ssh-keyscan -p {} ", b.port)),
        "the known key is not: {report}"
    );
    assert_eq!(
        fs::read_to_string(&known_hosts).unwrap(),
        known_line(&fleet, 0),
        "init never records a key"
    );

    // The operator verifies and records the key; then the inventory works as written.
    fs::write(&known_hosts, known_line(&fleet, 0) + &known_line(&fleet, 1)).unwrap();
    let check = config_check_ok(&home, &written);
    assert!(check.contains("inner"), "{check}");
    let hosts = status(&home, &written);
    assert_reachable(&hosts, "bastion");
    assert_reachable(&hosts, "inner");
    assert_eq!(host(&hosts, "inner")["via"], serde_json::json!(["bastion"]));

    // Never overwritten without --force.
    fs::write(&written, "# mine\n").unwrap();
    let out = home.fleetdeck(&["init", "--from-ssh-config"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fs::read_to_string(&written).unwrap(), "# mine\n");
    init_ok(&home, &["--from-ssh-config", "--force"]);
    assert!(
        fs::read_to_string(&written)
            .unwrap()
            .contains("name = \"inner\"")
    );
}

/// The same two-host fleet in Ansible's INI: web1 direct, db1 through web1 (`[db:vars]`), both
/// in `prod` through `[prod:children]`.
fn ansible_ini(fleet: &TestFleet, web1_port: u16) -> String {
    format!(
        "# the test fleet\n[web]\nweb1 ansible_host=127.0.0.1 ansible_port={web1_port}\n\n\
         [db]\ndb1 ansible_host=127.0.0.1 ansible_port={}\n\n\
         [db:vars]\nansible_ssh_common_args='-o ProxyJump=web1'\n\n\
         [prod:children]\nweb\ndb\n\n\
         [prod:vars]\nansible_user={}\nansible_ssh_private_key_file={}\n",
        fleet.host(1).port,
        fleet.user(),
        fleet.client_key().display()
    )
}

fn ansible_yaml(fleet: &TestFleet, web1_port: u16) -> String {
    format!(
        "all:\n  children:\n    prod:\n      vars:\n        ansible_user: {}\n        \
         ansible_ssh_private_key_file: {}\n      children:\n        web:\n          hosts:\n            \
         web1:\n              ansible_host: 127.0.0.1\n              ansible_port: {web1_port}\n        \
         db:\n          hosts:\n            db1:\n              ansible_host: 127.0.0.1\n              \
         ansible_port: {}\n          vars:\n            ansible_ssh_common_args: -o ProxyJump=web1\n",
        fleet.user(),
        fleet.client_key().display(),
        fleet.host(1).port
    )
}

/// The `[[hosts]]` tables of an inventory `init` wrote, comments dropped, sorted.
fn host_tables(toml: &str) -> Vec<String> {
    let mut tables: Vec<String> = toml
        .split("[[hosts]]")
        .skip(1)
        .map(|t| {
            t.lines()
                .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    tables.sort();
    tables
}

#[test]
fn init_from_ansible_ini_yaml_and_the_real_ansible_inventory_json() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let home = Home::new();
    fs::write(
        home.path().join(".ssh/known_hosts"),
        known_line(&fleet, 0) + &known_line(&fleet, 1),
    )
    .unwrap();
    let ini = home.path().join("inventory.ini");
    fs::write(&ini, ansible_ini(&fleet, fleet.host(0).port)).unwrap();
    let yml = home.path().join("inventory.yml");
    fs::write(&yml, ansible_yaml(&fleet, fleet.host(0).port)).unwrap();

    // The real ansible-inventory turns the INI into its --list JSON.
    let out = Command::new(ansible_inventory())
        .args(["-i", ini.to_str().unwrap(), "--list"])
        .env("HOME", home.path())
        .env("ANSIBLE_LOCAL_TEMP", home.path().join("ansible-tmp"))
        .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
        .stdin(Stdio::null())
        .output()
        .expect("run ansible-inventory");
    assert!(
        out.status.success(),
        "ansible-inventory: {}",
        text(&out.stderr)
    );
    let json = home.path().join("inventory.json");
    fs::write(&json, &out.stdout).unwrap();

    let mut written = Vec::new();
    for (source, name) in [
        (&ini, "from-ini.toml"),
        (&yml, "from-yaml.toml"),
        (&json, "from-json.toml"),
    ] {
        let output = home.path().join(name);
        init_ok(
            &home,
            &[
                "--from-ansible",
                source.to_str().unwrap(),
                "--output",
                output.to_str().unwrap(),
            ],
        );
        config_check_ok(&home, &output);
        let toml = fs::read_to_string(&output).unwrap();
        assert!(toml.contains("jump = \"web1\""), "{name}: {toml}");
        assert!(
            toml.contains("groups = [\"db\", \"prod\"]"),
            "{name}: {toml}"
        );
        written.push((name, output, host_tables(&toml)));
    }
    assert_eq!(
        written[0].2, written[1].2,
        "INI and YAML give the same hosts"
    );
    assert_eq!(
        written[0].2, written[2].2,
        "INI and ansible-inventory's JSON give the same hosts"
    );

    let hosts = status(&home, &written[2].1);
    assert_reachable(&hosts, "web1");
    assert_reachable(&hosts, "db1");
    assert_eq!(host(&hosts, "db1")["via"], serde_json::json!(["web1"]));
}

#[test]
fn import_ansible_is_merged_at_load_with_toml_winning_and_errors_naming_the_ansible_file() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let home = Home::new();
    fs::write(
        home.path().join(".ssh/known_hosts"),
        known_line(&fleet, 0) + &known_line(&fleet, 1),
    )
    .unwrap();
    // Ansible has web1 on a port nothing listens on; the TOML's own port wins.
    let yml = home.path().join("inventory.yml");
    fs::write(&yml, ansible_yaml(&fleet, 1)).unwrap();
    let inventory = home.path().join("fleet.toml");
    fs::write(
        &inventory,
        format!(
            "[fleet]\nname = \"imported\"\n\n[[import]]\nkind = \"ansible\"\npath = \"inventory.yml\"\n\n\
             [[hosts]]\nname = \"web1\"\nport = {}\ngroups = [\"mine\"]\n",
            fleet.host(0).port
        ),
    )
    .unwrap();
    let check = config_check_ok(&home, &inventory);
    assert!(check.contains("db1"), "{check}");
    assert!(
        check.contains(&format!("imported from: {}", yml.display())),
        "{check}"
    );
    let hosts = status(&home, &inventory);
    assert_reachable(&hosts, "web1");
    assert_reachable(&hosts, "db1");
    assert_eq!(host(&hosts, "db1")["via"], serde_json::json!(["web1"]));

    // A bad value in the Ansible file: the error names that file and line.
    let broken = ansible_yaml(&fleet, 1).replace("ansible_port: 1\n", "ansible_port: twenty\n");
    fs::write(&yml, &broken).unwrap();
    let line = broken
        .lines()
        .position(|l| l.contains("twenty"))
        .expect("the broken line")
        + 1;
    let out = home.fleetdeck(&["--config", inventory.to_str().unwrap(), "config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:{line}: invalid `ansible_port` \"twenty\"",
            yml.display()
        )),
        "{err}"
    );
}

#[test]
fn init_detect_proposes_the_services_it_sees_commented_out() {
    let home = Home::new();
    let bin = home.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    for (name, body) in [
        (
            "systemctl",
            "printf 'geth.service loaded active running Geth\\nssh.service loaded active running SSH\\nnginx.service loaded failed failed nginx\\n'",
        ),
        ("docker", "printf 'pg-main\\n'"),
    ] {
        let path = bin.join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let ini = home.path().join("local.ini");
    fs::write(&ini, "[here]\nthis-machine ansible_connection=local\n").unwrap();
    let output = home.path().join("detected.toml");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = home
        .command(&[
            "init",
            "--from-ansible",
            ini.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--detect",
        ])
        .env("PATH", path)
        .output()
        .expect("run fleetdeck");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml = fs::read_to_string(&output).unwrap();
    for proposal in [
        "#   { name = \"geth\", kind = \"systemd\", unit = \"geth.service\" },",
        "#   { name = \"nginx\", kind = \"systemd\", unit = \"nginx.service\" },",
        "#   { name = \"pg-main\", kind = \"docker\", container = \"pg-main\" },",
    ] {
        assert!(toml.contains(proposal), "missing {proposal:?} in:\n{toml}");
    }
    assert!(
        !toml.contains("ssh.service"),
        "unknown units are not proposed: {toml}"
    );
    let check = config_check_ok(&home, &output);
    assert!(check.contains("this-machine"), "{check}");
}
