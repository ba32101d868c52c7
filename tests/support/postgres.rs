//! `Postgres`: a private PostgreSQL server for restore drills, started as the `postgres` user on a
//! free 127.0.0.1 port with its own data directory and socket directory, and stopped by PID.
//!
//! Authentication is `trust` for 127.0.0.1 only: the server listens nowhere else and lives as long
//! as the test. Binaries come from Debian's `postgresql` package (`scripts/test` installs it);
//! a missing binary fails the test with that advice.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use super::fleet::{free_port, wait_until};

/// A running private PostgreSQL server.
pub struct Postgres {
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Data directory (owned by the `postgres` user).
    pub data: PathBuf,
    /// Directory holding the Unix socket.
    pub socket_dir: PathBuf,
    /// The postmaster's PID.
    pub pid: u32,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

/// The directory of Debian's PostgreSQL server binaries (`/usr/lib/postgresql/<major>/bin`).
pub fn postgres_bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut majors: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| {
            panic!(
                "{} missing ({e}): install Debian's postgresql (scripts/test does)",
                root.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("bin/initdb").exists())
        .collect();
    majors.sort();
    majors.pop().map(|p| p.join("bin")).unwrap_or_else(|| {
        panic!(
            "no initdb under {}: install Debian's postgresql (scripts/test does)",
            root.display()
        )
    })
}

fn as_postgres(args: &[&str]) -> Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .current_dir("/")
        .output()
        .unwrap_or_else(|e| panic!("runuser -u postgres {args:?}: {e}"))
}

impl Postgres {
    /// Initialises and starts a server; panics with its log when it does not come up.
    pub fn start() -> Postgres {
        let bin = postgres_bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("fleetdeck-pg-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        let socket_dir = dir.path().join("sock");
        std::fs::create_dir_all(&socket_dir).unwrap();
        // The postgres user must be able to reach and own its directories.
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chown.success(), "chown postgres");
        let mode = Command::new("chmod")
            .arg("755")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(mode.success());
        let init = as_postgres(&[
            bin.join("initdb").to_str().unwrap(),
            "-D",
            data.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        assert!(
            init.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let port = free_port();
        let log = dir.path().join("postgres.log");
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            socket_dir.display()
        );
        let started = as_postgres(&[
            bin.join("pg_ctl").to_str().unwrap(),
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-o",
            &options,
            "-w",
            "-t",
            "30",
            "start",
        ]);
        let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            started.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&started.stderr),
            log_text()
        );
        let pidfile = data.join("postmaster.pid");
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no PID in {}\n{}", pidfile.display(), log_text()));
        let pg = Postgres {
            port,
            data,
            socket_dir,
            pid,
            bin,
            _dir: dir,
        };
        assert!(
            wait_until(Duration::from_secs(20), || pg
                .psql("postgres", "select 1")
                .status
                .success())
            .is_some(),
            "postgres on port {port} does not answer:\n{}",
            log_text()
        );
        pg
    }

    /// Runs SQL with psql over TCP as the `postgres` role.
    pub fn psql(&self, db: &str, sql: &str) -> Output {
        Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-p",
            ])
            .arg(self.port.to_string())
            .args(["-d", db, "-c", sql])
            .output()
            .expect("run psql")
    }

    /// Runs SQL and returns trimmed stdout; panics on failure.
    pub fn query(&self, db: &str, sql: &str) -> String {
        let out = self.psql(db, sql);
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The directory of the client binaries (psql, pg_dumpall, pg_restore) for runbook inputs.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Fast shutdown by PID: SIGINT is PostgreSQL's "fast" stop; the data dir goes with the tempdir.
        let _ = Command::new("kill")
            .args(["-INT", &self.pid.to_string()])
            .status();
        let gone = wait_until(Duration::from_secs(10), || {
            !Path::new(&format!("/proc/{}", self.pid)).exists()
        });
        if gone.is_none() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
    }
}
