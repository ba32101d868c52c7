//! Mapping Ansible variables to hosts, and `[[import]]` merged into a TOML inventory.

use std::path::Path;

use super::*;
use crate::inventory::{ConfigSource, Jump, TransportKind, load_fleet_from_str};

fn found(ini: &str) -> Result<Vec<FoundHost>, Located> {
    ansible::parse(ini, Path::new("inv.ini"))?
        .iter()
        .map(from_ansible)
        .collect()
}

#[test]
fn ansible_vars_become_host_keys() {
    let hosts = found(
        "[web]\nw1 ansible_host=10.0.0.1 ansible_port=2201 ansible_user=u \
         ansible_ssh_private_key_file=~/.ssh/k ansible_ssh_common_args='-J ops@b:22'\n\
         me ansible_connection=local\n",
    )
    .unwrap();
    assert_eq!(hosts[0].address.as_deref(), Some("10.0.0.1"));
    assert_eq!(hosts[0].port, Some(2201));
    assert_eq!(hosts[0].user.as_deref(), Some("u"));
    assert_eq!(hosts[0].identity_files, ["~/.ssh/k"]);
    assert_eq!(hosts[0].jump.as_deref(), Some("ops@b:22"));
    assert_eq!(hosts[0].groups, ["web"]);
    assert_eq!(hosts[0].origin, "inv.ini:2");
    assert!(hosts[1].local);
}

#[test]
fn bad_values_are_errors_at_the_ansible_line() {
    let e = found("[web]\n\nw1 ansible_port=abc\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "inv.ini:3: invalid `ansible_port` \"abc\" for host \"w1\": expected a port from 1 to 65535"
    );
    let e = found("w1 ansible_connection=winrm\n").unwrap_err();
    assert!(e.to_string().starts_with("inv.ini:1: "), "{e}");
}

#[test]
fn ssh_args_jump_forms() {
    for (args, want) in [
        ("-J b", Some("b")),
        ("-Jops@b:2", Some("ops@b:2")),
        ("-o ProxyJump=b1,b2", Some("b1,b2")),
        ("-oProxyJump=b", Some("b")),
        ("-o 'ProxyJump b'", Some("b")),
        ("-o StrictHostKeyChecking=no", None),
        (
            "-o ProxyCommand=\"ssh -W %h:%p -q ops@bastion\"",
            Some("ops@bastion"),
        ),
        (
            "-o 'ProxyCommand ssh -p 2200 -l ops -W %h:%p bastion'",
            Some("ops@bastion:2200"),
        ),
    ] {
        assert_eq!(jump_from_ssh_args(args).unwrap().as_deref(), want, "{args}");
    }
    assert!(jump_from_ssh_args("-o ProxyCommand='nc -X 5 -x proxy %h %p'").is_err());
}

#[test]
fn import_merges_with_toml_winning_and_lists_files() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.ini");
    std::fs::write(
        &inv,
        "[web]\nw1 ansible_host=10.0.0.1 ansible_port=2201 ansible_user=fromansible\n\
         w2 ansible_host=10.0.0.2 ansible_ssh_common_args='-J w1'\n",
    )
    .unwrap();
    let toml_path = dir.path().join("fleet.toml");
    let toml = "[[import]]\nkind = \"ansible\"\npath = \"inv.ini\"\n\n\
                [[hosts]]\nname = \"w1\"\nuser = \"fromtoml\"\ngroups = [\"mine\"]\n";
    let fleet = load_fleet_from_str(toml, ConfigSource::File(toml_path.clone())).unwrap();
    assert_eq!(fleet.hosts.len(), 2);
    let w1 = &fleet.hosts[0];
    assert_eq!(w1.user.as_deref(), Some("fromtoml"));
    assert_eq!(w1.address, "10.0.0.1");
    assert_eq!(w1.port, Some(2201));
    assert_eq!(w1.groups, ["mine", "web"]);
    let w2 = &fleet.hosts[1];
    assert!(matches!(&w2.jump, Some(Jump::Via(_))), "{:?}", w2.jump);
    assert_eq!(w2.transport, TransportKind::Ssh);
    assert_eq!(fleet.source_files(), [toml_path, inv]);
}

#[test]
fn import_errors_name_the_ansible_file_or_the_import() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inv.ini"), "[web]\nw1 ansible_port=x\n").unwrap();
    let toml_path = dir.path().join("fleet.toml");
    let toml = "[[import]]\nkind = \"ansible\"\npath = \"inv.ini\"\n";
    let e = load_fleet_from_str(toml, ConfigSource::File(toml_path.clone())).unwrap_err();
    assert_eq!(e.path, dir.path().join("inv.ini").display().to_string());
    assert_eq!(e.line, Some(2));

    let toml = "[[import]]\nkind = \"ansible\"\npath = \"missing.ini\"\n";
    let e = load_fleet_from_str(toml, ConfigSource::File(toml_path.clone())).unwrap_err();
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("no Ansible inventory"), "{e}");

    let toml = "[[import]]\nkind = \"chef\"\npath = \"inv.ini\"\n";
    let e = load_fleet_from_str(toml, ConfigSource::File(toml_path)).unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
}

#[test]
fn templated_values_are_left_to_the_toml() {
    let hosts =
        found("w1 ansible_host='{{ inventory_hostname }}.example' ansible_port=22\n").unwrap();
    assert_eq!(hosts[0].address, None);
    assert_eq!(hosts[0].port, Some(22));
    assert_eq!(hosts[0].templated.len(), 1);
    assert_eq!(hosts[0].templated[0].0, "address");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inv.ini"),
        "[web]\nw1 ansible_host='{{ inventory_hostname }}.example'\n",
    )
    .unwrap();
    let toml_path = dir.path().join("fleet.toml");
    let import = "[[import]]\nkind = \"ansible\"\npath = \"inv.ini\"\n";
    let e = load_fleet_from_str(import, ConfigSource::File(toml_path.clone())).unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("Jinja2 template"), "{e}");
    let toml = format!("{import}\n[[hosts]]\nname = \"w1\"\naddress = \"10.0.0.1\"\n");
    let fleet = load_fleet_from_str(&toml, ConfigSource::File(toml_path)).unwrap();
    assert_eq!(fleet.hosts[0].address, "10.0.0.1");
}
