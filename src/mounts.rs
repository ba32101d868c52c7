//! Which mounts are storage an operator watches: the one list of pseudo, in-memory, overlay,
//! container and firmware filesystems that neither the Host pane's filesystem list nor the
//! embedded default fleet's disks should show.
//!
//! It owns the list and the rule; it must not read the mount table or run anything (the
//! callers bring what `df` or the local mount table said). Callers:
//! [`crate::probe::facts`] (remote `df -P -k -T`, or busybox `df` with no type column) and
//! [`crate::inventory`] (the local mounts of the embedded fleet, through sysinfo).

/// Filesystem types that are never storage an operator watches: kernel interfaces (`proc`,
/// `sysfs`, `cgroup`, …), memory (`tmpfs`, `ramfs`, …), read-only images and layers
/// (`squashfs`, `overlay`, `iso9660`, …), and the device names busybox `df` prints for such
/// mounts when it has no type column (`none`, `udev`, `shm`). `fuse.*` types count too (see
/// [`is_pseudo_fs_type`]): portals and user mounts under `/run/user`.
pub const PSEUDO_FS_TYPES: &[&str] = &[
    // memory
    "tmpfs",
    "devtmpfs",
    "ramfs",
    "shm",
    // kernel interfaces
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "hugetlbfs",
    "debugfs",
    "tracefs",
    "securityfs",
    "pstore",
    "bpf",
    "configfs",
    "fusectl",
    "autofs",
    "nsfs",
    "efivarfs",
    "binfmt_misc",
    "rpc_pipefs",
    // images, layers and loopback views of other mounts
    "overlay",
    "overlayfs",
    "aufs",
    "squashfs",
    "iso9660",
    "nullfs",
    // device names busybox `df` shows for the above
    "none",
    "udev",
];

/// Mount points under which nothing is storage an operator watches: kernel and runtime trees,
/// snap images, the EFI system partition (written by boot loader updates only), and container
/// runtimes' own layers and volumes (watched as the disk that holds them).
pub const PSEUDO_MOUNT_PREFIXES: &[&str] = &[
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/snap",
    "/boot/efi",
    "/var/lib/docker",
    "/var/lib/containers",
    "/var/lib/kubelet",
];

/// Whether `fs_type` is a pseudo filesystem type ([`PSEUDO_FS_TYPES`] or `fuse.*`).
pub fn is_pseudo_fs_type(fs_type: &str) -> bool {
    PSEUDO_FS_TYPES.contains(&fs_type) || fs_type.starts_with("fuse.")
}

/// Whether a mount is storage an operator watches: an absolute mount point, not under one of
/// [`PSEUDO_MOUNT_PREFIXES`], and of no pseudo type. `fs_type` is the filesystem type, or —
/// where only a device name is known (busybox `df` without `-T`) — the device name.
pub fn is_real_mount(fs_type: &str, mount: &str) -> bool {
    let under = |prefix: &str| {
        mount == prefix
            || mount
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    mount.starts_with('/')
        && !is_pseudo_fs_type(fs_type)
        && !PSEUDO_MOUNT_PREFIXES.iter().any(|p| under(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_disks_are_kept() {
        for (fs, mount) in [
            ("ext4", "/"),
            ("ext4", "/data"),
            ("xfs", "/boot"),
            ("btrfs", "/srv/runner"),
            ("zfs", "/var/lib/postgresql"),
            ("nfs4", "/mnt/backups"),
            // busybox df without a type column: the device name stands in for the type.
            ("/dev/sda1", "/data"),
            ("srv:/export", "/mnt/nfs"),
            // A prefix is a whole path component: /running is not under /run.
            ("ext4", "/running"),
            ("ext4", "/devdata"),
        ] {
            assert!(is_real_mount(fs, mount), "{fs} on {mount} is a real disk");
        }
    }

    #[test]
    fn pseudo_types_mounts_and_container_layers_are_skipped() {
        for (fs, mount) in [
            ("overlay", "/"),
            ("tmpfs", "/tmp"),
            ("tmpfs", "/dev/shm"),
            ("devtmpfs", "/dev"),
            ("squashfs", "/media/cdrom"),
            ("nullfs", "/jail/base"),
            ("fuse.portal", "/run/user/1000/doc"),
            ("fuse.sshfs", "/home/me/remote"),
            ("cgroup2", "/sys/fs/cgroup"),
            ("ext4", "/var/lib/docker/volumes/x"),
            ("xfs", "/var/lib/kubelet/pods/p/volumes"),
            ("vfat", "/boot/efi"),
            ("ext4", "/snap/core/1"),
            // busybox df device names
            ("none", "/data/odd"),
            ("udev", "/dev"),
            ("shm", "/dev/shm"),
            // not a mount point at all
            ("ext4", "relative"),
            ("ext4", ""),
        ] {
            assert!(!is_real_mount(fs, mount), "{fs} on {mount} is not a disk");
        }
    }

    #[test]
    fn every_listed_type_is_pseudo_and_the_lists_hold_no_duplicates() {
        for t in PSEUDO_FS_TYPES {
            assert!(is_pseudo_fs_type(t), "{t}");
            assert_eq!(PSEUDO_FS_TYPES.iter().filter(|x| *x == t).count(), 1, "{t}");
        }
        for p in PSEUDO_MOUNT_PREFIXES {
            assert!(p.starts_with('/') && !p.ends_with('/'), "{p}");
            assert_eq!(
                PSEUDO_MOUNT_PREFIXES.iter().filter(|x| *x == p).count(),
                1,
                "{p}"
            );
        }
        assert!(!is_pseudo_fs_type("ext4"));
        assert!(!is_pseudo_fs_type("fuse"));
    }
}
