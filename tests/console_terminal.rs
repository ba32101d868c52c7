//! The console's terminal conventions in a real terminal (tmux) against a real sshd host:
//! colours fall back to 256 and 16 colours when the terminal announces no true colour (no
//! 24-bit sequences reach the screen), `y` copies the selected host to the clipboard over
//! OSC 52 (tmux's `set-clipboard on` takes it into a paste buffer), and `--no-mouse` asks the
//! terminal for no mouse reporting (tmux's own pane flags say what the program enabled).

mod support;

use std::path::Path;
use std::time::Duration;

use support::{FleetSpec, InventoryOpts, TestFleet, Tmux};

const WAIT: Duration = Duration::from_secs(30);

/// Starts the console on `config` with `env_prefix` (an `env …` command) and `args`.
fn console(fleet: &TestFleet, config: &Path, env_prefix: &str, args: &str) -> Tmux {
    let state = fleet.root().join("state");
    let line = format!(
        "{env_prefix} {} --config {} {args}; echo EXITED=$? END; sleep 30",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(
        &line,
        120,
        30,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
        ],
    );
    tmux.wait_for("1/1 reachable", WAIT);
    tmux
}

/// The screen with its colour escapes (`capture-pane -e`).
fn screen_with_escapes(tmux: &Tmux) -> String {
    tmux.ok(&["capture-pane", "-p", "-e", "-t", "main"])
}

/// The palette entries of every `38;5;N` and `48;5;N` sequence in `s`.
fn indexed(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for intro in ["38;5;", "48;5;"] {
        for (at, _) in s.match_indices(intro) {
            let digits: String = s[at + intro.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse() {
                out.push(n);
            }
        }
    }
    out
}

#[test]
fn colours_fall_back_without_true_colour() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());

    // The oracle works: with COLORTERM=truecolor the default theme's RGB colours arrive as
    // 24-bit sequences.
    let tmux = console(
        &fleet,
        &config,
        "env COLORTERM=truecolor TERM=xterm-256color",
        "",
    );
    let s = screen_with_escapes(&tmux);
    assert!(
        s.contains("38;2;"),
        "no 24-bit colour with COLORTERM=truecolor:\n{s}"
    );
    drop(tmux);

    let tmux = console(&fleet, &config, "env -u COLORTERM TERM=xterm-256color", "");
    let s = screen_with_escapes(&tmux);
    assert!(
        !s.contains("38;2;") && !s.contains("48;2;"),
        "24-bit colour at 256:\n{s}"
    );
    assert!(
        indexed(&s).iter().any(|&n| n >= 16),
        "no 256-colour sequence:\n{s}"
    );
    drop(tmux);

    let tmux = console(&fleet, &config, "env -u COLORTERM TERM=xterm", "");
    let s = screen_with_escapes(&tmux);
    assert!(
        !s.contains("38;2;") && !s.contains("48;2;"),
        "24-bit colour at 16:\n{s}"
    );
    // tmux writes the 16 colours' bright half as `38;5;8`…`15` too: only 16 and up would be
    // the 256-colour palette.
    let beyond: Vec<u16> = indexed(&s).into_iter().filter(|&n| n >= 16).collect();
    assert!(
        beyond.is_empty(),
        "256-colour entries {beyond:?} at 16:\n{s}"
    );
    // ok is still green: the default theme's `#5fd75f` became bright green (10).
    let ok = s.lines().last().unwrap_or_default();
    assert!(
        ok.contains("38;5;10m1 ok"),
        "ok is not bright green:\n{ok:?}"
    );
}

#[test]
fn no_color_and_color_never_draw_without_colour() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    // Any colour: SGR 30–37/90–97 (foreground), 40–47/100–107 (background), or 38;/48;.
    let coloured = |s: &str| {
        s.split("\x1b[").skip(1).any(|seq| {
            let params = seq.split('m').next().unwrap_or_default();
            params.split(';').any(|p| {
                matches!(
                    p.parse::<u16>(),
                    Ok(30..=38 | 40..=48 | 90..=97 | 100..=107)
                )
            })
        })
    };
    for (env, args) in [
        ("env NO_COLOR=1 COLORTERM=truecolor TERM=xterm-256color", ""),
        (
            "env COLORTERM=truecolor TERM=xterm-256color",
            "--color never",
        ),
    ] {
        let tmux = console(&fleet, &config, env, args);
        let s = screen_with_escapes(&tmux);
        assert!(!coloured(&s), "colour with {env} {args}:\n{s:?}");
        assert!(s.contains("1/1 reachable"), "{s}");
        drop(tmux);
    }
    // `--color always` keeps colour despite NO_COLOR.
    let tmux = console(
        &fleet,
        &config,
        "env NO_COLOR=1 COLORTERM=truecolor TERM=xterm-256color",
        "--color always",
    );
    let s = screen_with_escapes(&tmux);
    assert!(coloured(&s), "no colour with --color always:\n{s}");
}

#[test]
fn y_copies_the_selected_host_over_osc52() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let tmux = console(&fleet, &config, "", "");
    tmux.ok(&["set-option", "-s", "set-clipboard", "on"]);
    tmux.send_keys(&["y"]);
    let copied = support::fleet::wait_until(WAIT, || {
        tmux.ok(&["list-buffers", "-F", "#{buffer_name}"]).trim() != ""
    });
    assert!(copied.is_some(), "no paste buffer after y");
    assert_eq!(tmux.ok(&["show-buffer"]), "h1");
}

#[test]
fn no_mouse_leaves_mouse_reporting_off() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    // tmux's record of the mouse modes the program enabled (any-event, button, standard,
    // SGR), one digit each.
    let flags = |tmux: &Tmux| {
        let out = tmux.ok(&[
            "display-message",
            "-p",
            "-t",
            "main",
            "m=#{mouse_any_flag}#{mouse_button_flag}#{mouse_standard_flag}#{mouse_sgr_flag}",
        ]);
        out.trim().trim_start_matches("m=").to_string()
    };
    // The oracle works: by default the console turns mouse reporting on.
    let tmux = console(&fleet, &config, "", "");
    assert_ne!(flags(&tmux), "0000", "mouse reporting off by default");
    drop(tmux);
    let tmux = console(&fleet, &config, "", "--no-mouse");
    assert_eq!(flags(&tmux), "0000", "--no-mouse turned mouse reporting on");
    // `[ui] mouse = false` does the same.
    let quiet = fleet.write_inventory(&InventoryOpts {
        extra_toml: "[ui]\nmouse = false".into(),
        ..InventoryOpts::default()
    });
    let tmux = console(&fleet, &quiet, "", "");
    assert_eq!(
        flags(&tmux),
        "0000",
        "[ui] mouse = false turned mouse reporting on"
    );
}

/// SIGHUP reloads while the terminal is there (`tests/console_reload.rs`); when the terminal
/// itself hangs up, the same signal ends the console instead of leaving it running with no
/// screen.
#[test]
fn a_terminal_hang_up_ends_the_console() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let tmux = console(&fleet, &config, "", "");
    let shell = tmux.pane_pid();
    let pid: u32 = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("children of the pane shell")
        .split_whitespace()
        .next()
        .expect("the console process")
        .parse()
        .unwrap();
    // Closing the pane closes the pty: the kernel hangs up its processes.
    tmux.ok(&["kill-pane", "-t", "main"]);
    let running = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    assert!(
        support::fleet::wait_until(WAIT, || !running()).is_some(),
        "the console ({pid}) still runs after its terminal hung up"
    );
}
