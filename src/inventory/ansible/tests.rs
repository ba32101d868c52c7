//! The Ansible readers on inventories written the way Ansible's own docs write them.

use std::path::Path;

use super::*;

fn host<'a>(hosts: &'a [AnsibleHost], name: &str) -> &'a AnsibleHost {
    hosts
        .iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("no host {name} in {hosts:#?}"))
}

fn var<'a>(h: &'a AnsibleHost, key: &str) -> Option<&'a str> {
    h.vars.get(key).and_then(Var::text)
}

const INI: &str = "\
# comment
loose.example.com ansible_port=2201

[web]
web[01:03].example.com ansible_user=deploy   # three hosts
db1.example.com:2222 ansible_host=10.0.0.5 ansible_ssh_common_args='-o ProxyJump=ops@bastion:2200'

[db]
db1.example.com

[prod:children]
web
db

[prod:vars]
ansible_user = \"produser\"
ansible_ssh_private_key_file=~/.ssh/prod

[db:vars]
ansible_user=dbadmin
";

#[test]
fn ini_groups_children_vars_ranges_and_ports() {
    let hosts = parse(INI, Path::new("inv.ini")).expect("parses");
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "loose.example.com",
            "web01.example.com",
            "web02.example.com",
            "web03.example.com",
            "db1.example.com"
        ]
    );
    let loose = host(&hosts, "loose.example.com");
    assert_eq!(var(loose, "ansible_port"), Some("2201"));
    assert!(loose.groups.is_empty(), "ungrouped is left out");

    let web2 = host(&hosts, "web02.example.com");
    assert_eq!(web2.groups, ["web", "prod"]);
    // The host's own var wins over its parent group's.
    assert_eq!(var(web2, "ansible_user"), Some("deploy"));
    assert_eq!(
        var(web2, "ansible_ssh_private_key_file"),
        Some("~/.ssh/prod")
    );
    assert_eq!(web2.line, Some(5));

    let db = host(&hosts, "db1.example.com");
    assert_eq!(db.groups, ["db", "web", "prod"]);
    assert_eq!(var(db, "ansible_port"), Some("2222"));
    assert_eq!(var(db, "ansible_host"), Some("10.0.0.5"));
    // [db:vars] (depth 1) beats [prod:vars] (depth 0).
    assert_eq!(var(db, "ansible_user"), Some("dbadmin"));
    assert_eq!(
        var(db, "ansible_ssh_common_args"),
        Some("-o ProxyJump=ops@bastion:2200")
    );
    assert_eq!(db.vars["ansible_user"].line, Some(20));
}

#[test]
fn ini_errors_name_file_and_line() {
    let e = parse("[web]\nh1 not_a_pair\n", Path::new("inv")).unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(e.to_string().starts_with("inv:2: "), "{e}");
    assert!(e.message.contains("KEY=VALUE"), "{e}");
    let e = parse("[web:weird]\n", Path::new("inv")).unwrap_err();
    assert!(e.to_string().contains("unknown section kind"), "{e}");
    let e = parse("[web]\nh[3:1]\n", Path::new("inv")).unwrap_err();
    assert!(e.to_string().contains("starts after it ends"), "{e}");
    let e = parse("[web]\nh1:99999\n", Path::new("inv")).unwrap_err();
    assert!(e.to_string().contains("invalid port"), "{e}");
}

#[test]
fn ranges_numeric_alpha_step_and_several() {
    assert_eq!(expand_range("a[1:3]").unwrap(), ["a1", "a2", "a3"]);
    assert_eq!(expand_range("a[08:10]").unwrap(), ["a08", "a09", "a10"]);
    assert_eq!(expand_range("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
    assert_eq!(expand_range("n[0:6:3]").unwrap(), ["n0", "n3", "n6"]);
    assert_eq!(
        expand_range("r[1:2]c[a:b]").unwrap(),
        ["r1ca", "r1cb", "r2ca", "r2cb"]
    );
    assert!(expand_range("x[1:2").is_err());
}

const YAML: &str = "\
all:
  vars:
    ansible_user: everyone
  hosts:
    solo.example.com:
  children:
    web:
      hosts:
        web[1:2]:
          ansible_port: 2201
        api:2202:
      vars:
        ansible_ssh_common_args: -J bastion
    prod:
      children:
        web:
      vars:
        ansible_user: prod
";

#[test]
fn yaml_groups_children_vars_ranges() {
    let hosts = parse(YAML, Path::new("inv.yml")).expect("parses");
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["solo.example.com", "web1", "web2", "api"]);
    assert_eq!(
        var(host(&hosts, "solo.example.com"), "ansible_user"),
        Some("everyone")
    );
    let web1 = host(&hosts, "web1");
    assert_eq!(web1.groups, ["web", "prod"]);
    assert_eq!(var(web1, "ansible_port"), Some("2201"));
    assert_eq!(var(web1, "ansible_user"), Some("prod"));
    assert_eq!(var(web1, "ansible_ssh_common_args"), Some("-J bastion"));
    assert_eq!(var(host(&hosts, "api"), "ansible_port"), Some("2202"));
    assert_eq!(web1.vars["ansible_port"].line, Some(10));
}

#[test]
fn yaml_errors_carry_positions() {
    let e = parse("all:\n  hosts: [a\n", Path::new("inv.yml")).unwrap_err();
    assert!(e.line.is_some(), "{e}");
    let e = parse("all:\n  hostz:\n    a:\n", Path::new("inv.yml")).unwrap_err();
    assert!(e.to_string().contains("unknown key `hostz`"), "{e}");
    assert_eq!(e.line, Some(2));
}

/// The shape `ansible-inventory -i inv.ini --list` prints (ansible-core 2.17).
const LIST_JSON: &str = r#"{
    "_meta": {
        "hostvars": {
            "db1": {"ansible_host": "10.0.0.5", "ansible_port": 2222, "ansible_user": "dbadmin"},
            "web1": {"ansible_ssh_common_args": "-o ProxyJump=db1"}
        }
    },
    "all": {"children": ["ungrouped", "prod"]},
    "prod": {"children": ["db", "web"]},
    "db": {"hosts": ["db1"]},
    "web": {"hosts": ["web1"]},
    "ungrouped": {"hosts": ["lonely"]}
}"#;

#[test]
fn list_json_of_ansible_inventory() {
    let hosts = parse(LIST_JSON, Path::new("inv.json")).expect("parses");
    let db = host(&hosts, "db1");
    assert_eq!(db.groups, ["db", "prod"]);
    assert_eq!(var(db, "ansible_port"), Some("2222"));
    assert_eq!(
        var(host(&hosts, "web1"), "ansible_ssh_common_args"),
        Some("-o ProxyJump=db1")
    );
    assert!(host(&hosts, "lonely").groups.is_empty());
}

#[test]
fn directory_with_group_vars_and_host_vars() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("hosts"), "[web]\nw1 ansible_user=inline\nw2\n").unwrap();
    std::fs::write(
        d.join("more.yml"),
        "all:\n  children:\n    db:\n      hosts:\n        d1:\n",
    )
    .unwrap();
    std::fs::write(d.join("notes.md"), "not an inventory [").unwrap();
    std::fs::create_dir_all(d.join("group_vars/web")).unwrap();
    std::fs::write(d.join("group_vars/all.yml"), "ansible_port: 2200\n").unwrap();
    std::fs::write(d.join("group_vars/web/main.yml"), "ansible_user: webops\n").unwrap();
    std::fs::create_dir_all(d.join("host_vars")).unwrap();
    std::fs::write(d.join("host_vars/w1"), "ansible_user: fromfile\n").unwrap();
    let inv = read(d).expect("reads");
    let w1 = host(&inv.hosts, "w1");
    assert_eq!(var(w1, "ansible_user"), Some("fromfile"));
    assert_eq!(var(w1, "ansible_port"), Some("2200"));
    assert_eq!(var(host(&inv.hosts, "w2"), "ansible_user"), Some("webops"));
    assert_eq!(host(&inv.hosts, "d1").groups, ["db"]);
    assert!(inv.files.contains(&d.join("host_vars/w1")));
    assert!(inv.files.contains(&d.join("group_vars/web/main.yml")));
    assert!(!inv.files.contains(&d.join("notes.md")));
}

#[test]
fn range_products_are_capped() {
    let e = expand_range("a[0:9999]b[0:9999]").unwrap_err();
    assert!(e.contains("more than 10000 hosts"), "{e}");
    assert!(expand_range("a[1:100000000]").is_err());
}

proptest::proptest! {
    /// No input makes a reader panic: every bad file is an error with a place.
    #[test]
    fn readers_never_panic(text in "(\\PC|[\\[\\]:=#;'\"\n ])*") {
        let _ = parse(&text, Path::new("x.ini"));
        let _ = parse(&text, Path::new("x.yml"));
        let _ = expand_range(&text);
        let _ = crate::inventory::import::jump_from_ssh_args(&text);
    }

    /// INI-shaped lines specifically (sections, host lines with vars, ranges, ports).
    #[test]
    fn ini_shaped_input_never_panics(lines in proptest::collection::vec(
        "(\\[[a-z:]{0,12}\\]|[a-z\\[\\]0-9:]{1,12}( [a-z_]{1,8}=[a-z0-9'\"]{0,6}){0,3}|[a-z]{1,4} ?= ?[0-9]{0,3})",
        0..12,
    )) {
        let text = lines.join("\n");
        if let Ok(hosts) = parse(&text, Path::new("x.ini")) {
            for h in &hosts {
                let _ = crate::inventory::import::from_ansible(h);
            }
        }
    }
}

#[test]
fn devices_and_fifos_are_refused_not_read() {
    let e = read(Path::new("/dev/zero")).unwrap_err();
    assert!(e.message.contains("not a regular file"), "{e}");
}
