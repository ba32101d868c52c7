//! Host facts: the pure parsers behind the Host detail pane, modelled on the server-inventory
//! script in the manuals (uptime, BIOS, CPU, disks, memory and swap, kernel, MAC addresses,
//! logins).
//!
//! This module owns what `uname -snrm`, `/etc/os-release`, `/proc/cpuinfo`, `/proc/meminfo`,
//! `df -P -k -T`, the interface listing of [`NET_COMMAND`], `last -n 5 -w` and the DMI listing
//! of [`DMI_COMMAND`] print, and which of it is worth showing (pseudo filesystems — by the
//! shared rule of [`crate::mounts`] — loopback and all-zero MACs are left out). The shell text
//! of each probe lives here too, so the command and its parser change together;
//! [`super::script`] frames and runs them.
//!
//! It must not run anything, read files or clocks: every function is a pure function of its
//! input, tested on outputs recorded on real machines, and returns `Err` rather than panic.
//!
//! Callers: [`super::script`], only on polls whose plan includes facts (see
//! [`super::Schedule`]).

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;
use time::format_description::well_known::Iso8601;

use super::parse::{ParseError, first_line, parse_df_typed, shorten};
use crate::observation::{
    CpuInfo, CpuModel, DmiInfo, Filesystem, KernelInfo, Login, MemoryInfo, NetInterface,
};

/// Kernel, host name and machine.
pub const UNAME_COMMAND: &str = "uname -snrm";

/// The lines of `/proc/cpuinfo` that matter (the whole file is ~1 KiB per CPU).
pub const CPU_COMMAND: &str = "grep -E '^(processor|model name|physical id|Hardware|cpu model|Model)[[:space:]]*:' /proc/cpuinfo";

/// The lines of `/proc/meminfo` that matter.
pub const MEM_COMMAND: &str =
    "grep -E '^(MemTotal|MemFree|MemAvailable|Buffers|Cached|SwapTotal|SwapFree):' /proc/meminfo";

/// Every filesystem with its type; `df` hangs on a dead NFS server, hence the caller's
/// `timeout`.
pub const DF_COMMAND: &str = "df -P -k -T";

/// `NAME MAC OPERSTATE` per interface, with shell builtins only (no fork per interface).
pub const NET_COMMAND: &str = "for _fd_n in /sys/class/net/*; do \
     [ -r \"$_fd_n/address\" ] || continue; _fd_a=; _fd_o=; \
     read -r _fd_a <\"$_fd_n/address\" 2>/dev/null; \
     read -r _fd_o <\"$_fd_n/operstate\" 2>/dev/null; \
     printf '%s %s %s\\n' \"${_fd_n##*/}\" \"$_fd_a\" \"$_fd_o\"; done";

/// `/etc/os-release`'s pretty name, with builtins only.
pub const OS_COMMAND: &str = "if [ -r /etc/os-release ]; then \
     while IFS='=' read -r _fd_k _fd_v; do [ \"$_fd_k\" = PRETTY_NAME ] && \
     printf '%s\\n' \"$_fd_v\"; done </etc/os-release; true; \
     else echo 'no /etc/os-release' >&2; false; fi";

/// DMI fields that are readable by the login user, as `key=value` lines; prints `nodmi` where
/// the directory does not exist (containers, most ARM boards).
pub const DMI_COMMAND: &str = "if [ -d /sys/class/dmi/id ]; then \
     for _fd_k in sys_vendor product_name product_version product_serial product_uuid \
     bios_vendor bios_version bios_date board_name; do _fd_f=/sys/class/dmi/id/$_fd_k; \
     if [ -r \"$_fd_f\" ] && read -r _fd_v <\"$_fd_f\" 2>/dev/null; then \
     printf '%s=%s\\n' \"$_fd_k\" \"$_fd_v\"; fi; done; else echo nodmi; fi";

/// The newest five logins, full times when `last` can print them (util-linux), in the
/// host's local time zone (the night-login check is about the host's night). `_fd_local` is
/// the script's helper that restores the login shell's `TZ`.
pub const LAST_COMMAND: &str =
    "_fd_local _fd_t last -n 5 -w --time-format iso 2>/dev/null || _fd_local _fd_t last -n 5 -w";

/// `uname -snrm`: `Linux web-1 6.1.0-13-amd64 x86_64`.
pub fn parse_uname(text: &str) -> Result<KernelInfo, ParseError> {
    let line = first_line(text.trim_start());
    let toks: Vec<&str> = line.split_whitespace().collect();
    match toks.as_slice() {
        [os, hostname, release, machine] => Ok(KernelInfo {
            os: (*os).to_string(),
            hostname: (*hostname).to_string(),
            release: (*release).to_string(),
            machine: (*machine).to_string(),
        }),
        _ => Err(ParseError::new(
            "kernel name, node name, release and machine (uname -snrm)",
            line,
        )),
    }
}

/// The `PRETTY_NAME` value, unquoted.
pub fn parse_os_release(text: &str) -> Result<String, ParseError> {
    let line = first_line(text.trim_start()).trim();
    let unquoted = line
        .strip_prefix('"')
        .and_then(|l| l.strip_suffix('"'))
        .or_else(|| line.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')))
        .unwrap_or(line);
    if unquoted.is_empty() {
        Err(ParseError::new("PRETTY_NAME from /etc/os-release", line))
    } else {
        Ok(shorten(unquoted, 120))
    }
}

/// The `processor`, `model name` and `physical id` lines of `/proc/cpuinfo` (x86); on ARM
/// `model name` may be missing and `Hardware` or `Model` names the board instead.
pub fn parse_cpuinfo(text: &str) -> Result<CpuInfo, ParseError> {
    let mut count = 0u32;
    let mut models: Vec<CpuModel> = Vec::new();
    let mut sockets = BTreeSet::new();
    let mut board: Option<String> = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        match key.trim() {
            "processor" => count += 1,
            "model name" | "cpu model" if !value.is_empty() => {
                match models.iter_mut().find(|m| m.name == value) {
                    Some(m) => m.count += 1,
                    None => models.push(CpuModel {
                        name: value,
                        count: 1,
                    }),
                }
            }
            "physical id" => {
                sockets.insert(value);
            }
            "Hardware" | "Model" if !value.is_empty() => board = Some(value),
            _ => {}
        }
    }
    if count == 0 {
        return Err(ParseError::new(
            "processor lines from /proc/cpuinfo",
            first_line(text),
        ));
    }
    if models.is_empty()
        && let Some(name) = board
    {
        models.push(CpuModel { name, count });
    }
    Ok(CpuInfo {
        count,
        sockets: (!sockets.is_empty()).then_some(sockets.len() as u32),
        models,
    })
}

/// `Key:   123 kB` lines of `/proc/meminfo`.
pub fn parse_meminfo(text: &str) -> Result<MemoryInfo, ParseError> {
    let mut kb = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (key, rest) = line
            .split_once(':')
            .ok_or_else(|| ParseError::new("`Key: N kB` lines from /proc/meminfo", line))?;
        let n = rest
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| ParseError::new("a number of kB", line))?;
        kb.insert(key.trim().to_string(), n.saturating_mul(1024));
    }
    let get = |k: &str| kb.get(k).copied();
    let total = get("MemTotal")
        .ok_or_else(|| ParseError::new("a MemTotal line from /proc/meminfo", first_line(text)))?;
    let available = get("MemAvailable").unwrap_or_else(|| {
        get("MemFree").unwrap_or(0) + get("Buffers").unwrap_or(0) + get("Cached").unwrap_or(0)
    });
    Ok(MemoryInfo {
        total_bytes: total,
        available_bytes: available,
        swap_total_bytes: get("SwapTotal").unwrap_or(0),
        swap_free_bytes: get("SwapFree").unwrap_or(0),
    })
}

/// `df -P -k -T` (or without `-T`): the real filesystems, one per mount point.
pub fn parse_filesystems(text: &str) -> Result<Vec<Filesystem>, ParseError> {
    let mut out: Vec<Filesystem> = Vec::new();
    for (fs_type, usage) in parse_df_typed(text)? {
        if !is_real_filesystem(fs_type.as_deref(), &usage.filesystem, &usage.mounted_on) {
            continue;
        }
        // Bind mounts show the same filesystem twice; the first (shortest path) is enough.
        if out.iter().any(|f| f.usage.mounted_on == usage.mounted_on) {
            continue;
        }
        out.push(Filesystem { fs_type, usage });
    }
    Ok(out)
}

/// Without a type column (busybox `df`) the device name is all there is to go on, and the
/// shared list names the devices busybox prints for pseudo mounts.
fn is_real_filesystem(fs_type: Option<&str>, device: &str, mount: &str) -> bool {
    crate::mounts::is_real_mount(fs_type.unwrap_or(device), mount)
}

/// [`NET_COMMAND`] output: `eth0 52:54:00:12:34:56 up` per line.
pub fn parse_interfaces(text: &str) -> Result<Vec<NetInterface>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut toks = line.split_whitespace();
        let (Some(name), Some(mac)) = (toks.next(), toks.next()) else {
            // An interface without an address (some tunnels) prints only its name.
            continue;
        };
        let is_mac = mac.len() >= 11
            && mac
                .split(':')
                .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
        if !is_mac {
            return Err(ParseError::new("an interface name and a MAC address", line));
        }
        if name == "lo" || mac.split(':').all(|b| b == "00") {
            continue;
        }
        out.push(NetInterface {
            name: name.to_string(),
            mac: mac.to_ascii_lowercase(),
            state: toks.next().map(str::to_string),
        });
    }
    Ok(out)
}

/// [`DMI_COMMAND`] output: `key=value` lines, or `nodmi` → `Ok(None)`.
pub fn parse_dmi(text: &str) -> Result<Option<DmiInfo>, ParseError> {
    if text.trim() == "nodmi" {
        return Ok(None);
    }
    let mut d = DmiInfo::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| ParseError::new("key=value lines from /sys/class/dmi/id", line))?;
        let v = v.trim();
        // Vendors fill unused fields with placeholders; showing them would only mislead.
        let placeholder = v.is_empty()
            || matches!(
                v.to_ascii_lowercase().as_str(),
                "to be filled by o.e.m." | "default string" | "not specified" | "none" | "0"
            );
        let value = (!placeholder).then(|| shorten(v, 80));
        let slot = match k {
            "sys_vendor" => &mut d.vendor,
            "product_name" => &mut d.product,
            "product_version" => &mut d.version,
            "product_serial" => &mut d.serial,
            "product_uuid" => &mut d.uuid,
            "bios_vendor" => &mut d.bios_vendor,
            "bios_version" => &mut d.bios_version,
            "bios_date" => &mut d.bios_date,
            "board_name" => &mut d.board,
            _ => continue,
        };
        *slot = value;
    }
    Ok(Some(d))
}

/// `last -n 5 -w` with or without `--time-format iso` (util-linux), newest first. The
/// trailing `wtmp begins …` line and blank lines are skipped; an empty wtmp gives an empty
/// list.
///
/// Columns are fixed-width in util-linux but a `-w` user name longer than the column pushes
/// the rest right, so the line is read by tokens: user, tty (`system boot` is two tokens),
/// from, then the time (one ISO token, or `Fri Nov 21 04:50` as four), then the session.
pub fn parse_last(text: &str) -> Result<Vec<Login>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with("wtmp begins") || t.starts_with("btmp begins") {
            continue;
        }
        out.push(parse_last_line(t)?);
    }
    Ok(out)
}

fn parse_last_line(line: &str) -> Result<Login, ParseError> {
    let err = || ParseError::new("a `last` line: user, tty, host, time, session", line);
    let toks: Vec<&str> = line.split_whitespace().collect();
    let user = *toks.first().ok_or_else(err)?;
    let (tty, rest) = if toks.get(1..3) == Some(&["system", "boot"][..]) {
        ("system boot".to_string(), toks.get(3..).ok_or_else(err)?)
    } else {
        (
            toks.get(1).ok_or_else(err)?.to_string(),
            toks.get(2..).ok_or_else(err)?,
        )
    };
    // `from` may be missing for local console logins: the time then comes right after tty.
    let time_at = |i: usize| -> Option<(Option<i64>, String, Option<u8>, usize)> {
        let first = *rest.get(i)?;
        if let Ok(dt) = OffsetDateTime::parse(first, &Iso8601::DEFAULT) {
            return Some((
                Some(dt.unix_timestamp()),
                first.to_string(),
                Some(dt.hour()),
                1,
            ));
        }
        // `Fri Nov 21 04:50`
        let parts = rest.get(i..i + 4)?;
        let is_weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&parts[0]);
        let hour = parts[3]
            .split_once(':')
            .and_then(|(h, m)| (m.len() == 2).then(|| h.parse::<u8>().ok())?);
        (is_weekday && parts[2].parse::<u8>().is_ok() && hour.is_some())
            .then(|| (None, parts.join(" "), hour, 4))
    };
    let (from, (at, when, hour, used), start) = match time_at(1) {
        Some(t) => (rest.first().ok_or_else(err)?.to_string(), t, 1),
        None => (String::new(), time_at(0).ok_or_else(err)?, 0),
    };
    let session = rest[start + used..].join(" ");
    Ok(Login {
        user: user.to_string(),
        tty,
        from,
        at,
        when,
        session,
        night: user != "reboot" && hour.is_some_and(|h| h <= 6),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- Recorded on this machine (Debian 12 VM, 2 vCPUs), verbatim. ----
    const UNAME: &str = "Linux vm 6.18.44-fc-v669 x86_64\n";
    const OS: &str = "\"Debian GNU/Linux 12 (bookworm)\"\n";
    const CPU: &str = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nphysical id\t: 0\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\nphysical id\t: 0\n";
    const MEM: &str = "MemTotal:       24684084 kB\nMemFree:        17156772 kB\nMemAvailable:   24032200 kB\nBuffers:           92852 kB\nCached:          6795884 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n";
    const DF_T: &str = "\
Filesystem              Type     1024-blocks     Used Available Capacity Mounted on
devtmpfs                devtmpfs    12334460        0  12334460       0% /dev
tmpfs                   tmpfs       24684084        0  24684084       0% /dev/shm
/dev/vda                ext4       264212084 16928344  78357544      18% /
model_tools_unavailable tmpfs              4        0         4       0% /mnt/sandboxing/model_tools_env/v1/python
tmpfs                   tmpfs       12342040        0  12342040       0% /sys/fs/cgroup
";
    const NET: &str = "eth0 02:fc:00:00:00:01 up\nifb0 62:78:06:93:01:0d down\nifb1 c6:b9:fa:82:b9:2b down\nlo 00:00:00:00:00:00 unknown\n";

    // ---- `last` (util-linux 2.38.1) on a wtmp file with a boot, a finished session, two
    // sessions whose processes are gone and a user name longer than the column, written
    // with utmp records and read with `TZ=UTC last -f wtmp -n 5 -w [--time-format iso]`. ----
    const LAST_ISO: &str = "\
deploy-automation pts/2        2001:db8::1      2025-11-21T07:10:00+00:00   gone - no logout
bob      pts/1        10.0.0.5         2025-11-21T06:40:00+00:00   gone - no logout
alice    pts/0        192.168.1.10     2025-11-21T04:50:00+00:00 - 2025-11-21T05:22:00+00:00  (00:32)
reboot   system boot  6.1.0-13-amd64   2025-11-21T04:40:00+00:00   still running

wtmp begins 2025-11-21T04:40:00+00:00
";
    const LAST_PLAIN: &str = "\
deploy-automation pts/2        2001:db8::1      Fri Nov 21 07:10    gone - no logout
bob      pts/1        10.0.0.5         Fri Nov 21 06:40    gone - no logout
alice    pts/0        192.168.1.10     Fri Nov 21 04:50 - 05:22  (00:32)
reboot   system boot  6.1.0-13-amd64   Fri Nov 21 04:40   still running

wtmp begins Fri Nov 21 04:40:00 2025
";
    /// This machine's own (empty) wtmp.
    const LAST_EMPTY: &str = "\nwtmp begins Tue May 20 00:00:00 2025\n";

    #[test]
    fn uname_os_cpu_memory() {
        let k = parse_uname(UNAME).unwrap();
        assert_eq!(
            (k.os.as_str(), k.hostname.as_str(), k.release.as_str()),
            ("Linux", "vm", "6.18.44-fc-v669")
        );
        assert_eq!(k.machine, "x86_64");
        assert!(parse_uname("Linux\n").is_err());
        assert_eq!(
            parse_os_release(OS).unwrap(),
            "Debian GNU/Linux 12 (bookworm)"
        );
        assert!(parse_os_release("").is_err());

        let c = parse_cpuinfo(CPU).unwrap();
        assert_eq!(c.count, 2);
        assert_eq!(c.sockets, Some(1));
        assert_eq!(
            c.models,
            vec![CpuModel {
                name: "Intel(R) Xeon(R) Processor".into(),
                count: 2
            }]
        );
        // A Raspberry Pi (no model name; the board is named by `Model`).
        let pi = "processor\t: 0\nprocessor\t: 1\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        let c = parse_cpuinfo(pi).unwrap();
        assert_eq!(c.models[0].name, "Raspberry Pi 4 Model B Rev 1.4");
        assert_eq!((c.count, c.sockets), (2, None));
        assert!(parse_cpuinfo("").is_err());

        let m = parse_meminfo(MEM).unwrap();
        assert_eq!(m.total_bytes, 24_684_084 * 1024);
        assert_eq!(m.available_bytes, 24_032_200 * 1024);
        assert_eq!((m.swap_total_bytes, m.swap_free_bytes), (0, 0));
        // A 3.10 kernel without MemAvailable.
        let old = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 50 kB\n";
        assert_eq!(parse_meminfo(old).unwrap().available_bytes, 160 * 1024);
        assert!(parse_meminfo("MemFree: 1 kB\n").is_err());
        assert!(parse_meminfo("garbage").is_err());
    }

    #[test]
    fn filesystems_skip_pseudo_ones() {
        let fs = parse_filesystems(DF_T).unwrap();
        assert_eq!(fs.len(), 1, "{fs:?}");
        assert_eq!(fs[0].fs_type.as_deref(), Some("ext4"));
        assert_eq!(fs[0].usage.mounted_on, "/");
        assert_eq!(fs[0].usage.total_bytes, 264_212_084 * 1024);
        // Without -T (busybox), by device name.
        let plain = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                     tmpfs 100 0 100 0% /tmp\n/dev/sda1 1000 500 500 50% /data\n\
                     srv:/export 1000 10 990 1% /mnt/nfs\n";
        let fs = parse_filesystems(plain).unwrap();
        let mounts: Vec<_> = fs.iter().map(|f| f.usage.mounted_on.as_str()).collect();
        assert_eq!(mounts, ["/data", "/mnt/nfs"]);
        assert_eq!(fs[0].fs_type, None);
        assert!(parse_filesystems("nope").is_err());
    }

    #[test]
    fn interfaces_skip_loopback() {
        let n = parse_interfaces(NET).unwrap();
        let names: Vec<_> = n.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["eth0", "ifb0", "ifb1"]);
        assert_eq!(n[0].mac, "02:fc:00:00:00:01");
        assert_eq!(n[0].state.as_deref(), Some("up"));
        assert!(parse_interfaces("tun0\n").unwrap().is_empty());
        assert!(parse_interfaces("eth0 not-a-mac up\n").is_err());
    }

    #[test]
    fn dmi_fields_and_placeholders() {
        // Recorded on a KVM guest as a non-root user (serial and uuid are root-only).
        let kvm = "sys_vendor=QEMU\nproduct_name=Standard PC (Q35 + ICH9, 2009)\nproduct_version=pc-q35-7.2\nbios_vendor=SeaBIOS\nbios_version=1.16.2-debian-1.16.2-1\nbios_date=04/01/2014\nboard_name=\n";
        let d = parse_dmi(kvm).unwrap().unwrap();
        assert_eq!(d.vendor.as_deref(), Some("QEMU"));
        assert_eq!(d.bios_date.as_deref(), Some("04/01/2014"));
        assert_eq!(d.serial, None);
        assert_eq!(d.board, None);
        let oem = parse_dmi("product_serial=To Be Filled By O.E.M.\n")
            .unwrap()
            .unwrap();
        assert_eq!(oem.serial, None);
        assert_eq!(parse_dmi("nodmi\n").unwrap(), None);
        assert!(parse_dmi("x\n").is_err());
    }

    #[test]
    fn last_with_iso_and_plain_times() {
        let l = parse_last(LAST_ISO).unwrap();
        assert_eq!(l.len(), 4);
        assert_eq!(l[0].user, "deploy-automation");
        assert_eq!(l[0].from, "2001:db8::1");
        assert_eq!(l[0].at, Some(1_763_709_000));
        assert_eq!(l[0].session, "gone - no logout");
        assert!(!l[0].night, "07:10 is morning");
        assert!(l[1].night, "06:40 is night");
        assert_eq!(l[2].session, "- 2025-11-21T05:22:00+00:00 (00:32)");
        assert_eq!(l[3].tty, "system boot");
        assert_eq!(l[3].from, "6.1.0-13-amd64");
        assert!(!l[3].night, "a reboot is not a login");

        let p = parse_last(LAST_PLAIN).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[2].when, "Fri Nov 21 04:50");
        assert_eq!(p[2].at, None);
        assert_eq!(p[2].session, "- 05:22 (00:32)");
        assert!(p[2].night);
        assert_eq!(p[3].session, "still running");

        assert!(parse_last(LAST_EMPTY).unwrap().is_empty());
        // A console login without a remote host.
        let tty = parse_last(
            "root     tty1                          Fri Nov 21 04:50   still logged in\n",
        )
        .unwrap();
        assert_eq!((tty[0].tty.as_str(), tty[0].from.as_str()), ("tty1", ""));
        assert!(parse_last("gibberish\n").is_err());
    }
}
