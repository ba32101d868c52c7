//! The benchmark code builds and runs at a tiny size: the warm-refresh and limit drivers against
//! a real 2-host test fleet, and one frame of the render benchmark's synthetic console.
//!
//! Benchmarks measure speed; this test never does. It only checks that each measurement
//! produces numbers and that the fleet answered, so `scripts/bench` cannot rot unnoticed.

mod support;

#[allow(dead_code)]
#[path = "../benches/common/procfs.rs"]
mod procfs;
#[path = "../benches/common/synthetic.rs"]
mod synthetic;
#[path = "../benches/common/warm.rs"]
mod warm;

use std::time::Duration;

use fleetdeck::probe::PollPlan;
use support::{FleetSpec, InventoryOpts, TestFleet};

#[test]
fn warm_refresh_and_limit_drivers_produce_numbers_against_a_real_fleet() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let opts = warm::Options {
        config,
        reps: 2,
        warmup: 1,
        sshd_pids: (0..2).filter_map(|i| fleet.host(i).pid).collect(),
        settle: Duration::from_millis(20),
        plan: PollPlan::BASIC,
    };

    let report = warm::warm(&opts).expect("warm refresh driver");
    assert_eq!(report.hosts, 2);
    assert_eq!(report.connected, 2, "{:?}", report.first_error);
    assert_eq!(report.reps.len(), 2);
    for rep in &report.reps {
        assert_eq!(rep.reachable, 2, "{:?}", report.first_error);
        assert_eq!(rep.probe_errors, 0, "{:?}", report.first_error);
        assert!(rep.wall_ns > 0 && rep.client_cpu_ns > 0, "{rep:?}");
    }
    assert!(report.peak_rss_kb > 0 && report.rss_kb > 0);

    let limit = warm::limit(&opts, 1).expect("limit driver");
    assert_eq!(limit.host, "h2");
    for series in [&limit.exec_true, &limit.poll, &limit.handshake] {
        assert_eq!(series.len(), 2);
        assert!(
            series.iter().all(|r| r.wall_ns > 0 && r.reachable == 1),
            "{series:?}"
        );
    }
}

#[test]
fn the_render_benchmark_draws_every_pane_of_the_synthetic_console() {
    let mut app = synthetic::app(100);
    let mut terminal = synthetic::terminal();
    synthetic::draw(&mut app, &mut terminal);
    let screen = format!("{:?}", terminal.backend());
    assert!(screen.contains("bench"), "{screen}");
    assert!(screen.contains("aws-node-0000"), "{screen}");
    let panes: Vec<String> = app
        .pane_cycle()
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    assert!(panes.len() > 1, "{panes:?}");
    let mut k = 0;
    for pane in &panes {
        assert!(synthetic::show_pane(&mut app, pane), "{pane}");
        synthetic::frame_after_observation(&mut app, &mut terminal, 100, &mut k);
    }
}

/// The scale benchmark's frames (`fleet_scale_200x60`) on a small fleet: the console opening on
/// one batch of first polls, a whole-fleet refresh, and seconds passing with a refresh every
/// fifth — each frame shows the fleet, every host polled.
#[test]
fn the_scale_benchmark_opens_refreshes_and_ticks_the_synthetic_console() {
    let n = 100;
    let mut terminal = synthetic::terminal();
    let fleet = std::sync::Arc::new(synthetic::fleet(n));
    let mut app = synthetic::open_console(fleet, synthetic::refresh_batch(n, 0), &mut terminal);
    let screen = format!("{:?}", terminal.backend());
    assert!(screen.contains("aws-node-0000"), "{screen}");
    let mut round = 0;
    synthetic::frame_after_refresh(&mut app, &mut terminal, n, &mut round);
    let mut secs = 0;
    for _ in 0..6 {
        synthetic::frame_after_tick(&mut app, &mut terminal, n, &mut secs);
    }
    let screen = format!("{:?}", terminal.backend());
    // Every host polled, none stale: the refreshes kept up with the clock.
    let reachable = n - (0..n).filter(|i| i % 97 == 13).count();
    assert!(
        screen.contains(&format!("{reachable}/{n} reachable")),
        "{screen}"
    );
    assert!(!screen.contains("stale"), "{screen}");
}
