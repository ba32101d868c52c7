//! Console render cost on a 200×60 `TestBackend`, for 100 and 1000 hosts of a synthetic fleet
//! (`benches/common/synthetic.rs`: 10 minutes of observations per host).
//!
//! - `fleet_table_200x60/after_observation_N_hosts`: one frame right after a new observation —
//!   the console caches what it derives from the state per state version and second, so this is
//!   the frame that pays for everything (health rules, rows, sorting, drawing): the target figure;
//! - `fleet_table_200x60/redraw_N_hosts`: the same frame with nothing new (the 1 s tick, a key);
//! - `busiest_pane_200x60/PANE/N_hosts`: the same after-observation frame for the pane that is
//!   slowest at 1000 hosts, picked when the benchmark starts by drawing every pane a few times,
//!   and for the Disks and backups pane (`disks`) when it is not that one;
//! - `rules_report_rows/N_hosts`: `health::evaluate` + `report::status_report` (which builds the
//!   table's fleet rows too) alone (what `fleetdeck status` computes), to tell rules from drawing;
//! - `fleet_scale_200x60/…_N_hosts` at 1,000 and 10,000 hosts, a fleet read from a batched source
//!   (Prometheus): `first_frame` (a new console, every host's first poll in one batch, the first
//!   tick and frame), `after_refresh` (every host polled again in one batch, a tick, a frame),
//!   `after_tick` (a second later: the tick, the rebuilt model, a frame; every fifth second a
//!   whole-fleet refresh arrives first, as with a 5 s read interval — the console's average cost
//!   per second while the data stays fresh) and `after_observation` / `redraw` as above;
//! - `fleet_rows_next_second/{built,reused}_10000_hosts`: the fleet rows of an unchanged state one
//!   second later, built from scratch (`view::fleet_rows`) and reused (`view::refresh_fleet_rows`,
//!   what the console does).
//!
//! Run with `cargo bench --bench render`; `scripts/bench` runs it and collects the numbers.

#[path = "common/synthetic.rs"]
mod synthetic;

use std::hint::black_box;
use std::time::{Duration, Instant};

use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use fleetdeck::{health, report};

/// The pane (other than the fleet table) whose after-observation frame is slowest at `n` hosts.
fn busiest_pane(n: usize) -> Option<String> {
    let mut app = synthetic::app(n);
    let mut terminal = synthetic::terminal();
    let panes: Vec<String> = app
        .pane_cycle()
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    let mut k = 0;
    let mut worst: Option<(Duration, String)> = None;
    for name in panes {
        if name == "fleet" || !synthetic::show_pane(&mut app, &name) {
            continue;
        }
        synthetic::frame_after_observation(&mut app, &mut terminal, n, &mut k);
        let t0 = Instant::now();
        for _ in 0..5 {
            synthetic::frame_after_observation(&mut app, &mut terminal, n, &mut k);
        }
        let took = t0.elapsed();
        if worst.as_ref().is_none_or(|(w, _)| took > *w) {
            worst = Some((took, name));
        }
    }
    worst.map(|(_, name)| name)
}

fn fleet_table(c: &mut Criterion) {
    let mut group = c.benchmark_group("fleet_table_200x60");
    for n in [100usize, 1000] {
        let mut app = synthetic::app(n);
        let mut terminal = synthetic::terminal();
        let mut k = 0;
        group.bench_function(format!("after_observation_{n}_hosts"), |b| {
            b.iter(|| synthetic::frame_after_observation(&mut app, &mut terminal, n, &mut k))
        });
        group.bench_function(format!("redraw_{n}_hosts"), |b| {
            b.iter(|| synthetic::draw(&mut app, &mut terminal))
        });
    }
    group.finish();
}

fn busiest(c: &mut Criterion) {
    let Some(pane) = busiest_pane(1000) else {
        return;
    };
    let mut group = c.benchmark_group("busiest_pane_200x60");
    // The Disks and backups pane was the busiest for a long time: measured always, so its
    // figure can be followed when another pane takes the lead.
    let mut panes = vec![pane];
    if panes[0] != "disks" {
        panes.push("disks".to_string());
    }
    for pane in &panes {
        for n in [100usize, 1000] {
            let mut app = synthetic::app(n);
            let mut terminal = synthetic::terminal();
            if !synthetic::show_pane(&mut app, pane) {
                continue;
            }
            let mut k = 0;
            group.bench_function(format!("{pane}/{n}_hosts"), |b| {
                b.iter(|| synthetic::frame_after_observation(&mut app, &mut terminal, n, &mut k))
            });
        }
    }
    group.finish();
}

fn report_only(c: &mut Criterion) {
    let mut group = c.benchmark_group("rules_report_rows");
    for n in [100usize, 1000] {
        let fleet = synthetic::fleet(n);
        let app = synthetic::app(n);
        let selected: Vec<usize> = (0..n).collect();
        let now = synthetic::now();
        group.bench_function(format!("{n}_hosts"), |b| {
            b.iter(|| {
                let verdicts = health::evaluate(&fleet, app.store().state(), now);
                let r =
                    report::status_report(&fleet, app.store().state(), &verdicts, &selected, now);
                black_box(r)
            })
        });
    }
    group.finish();
}

fn fleet_scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("fleet_scale_200x60");
    // Frames of tens of milliseconds: fewer samples keep the run short.
    group.sample_size(10);
    for n in [1000usize, 10_000] {
        let fleet = Arc::new(synthetic::fleet(n));
        let mut terminal = synthetic::terminal();
        group.bench_function(format!("first_frame_{n}_hosts"), |b| {
            b.iter_batched(
                || (fleet.clone(), synthetic::refresh_batch(n, 0)),
                |(fleet, first)| synthetic::open_console(fleet, first, &mut terminal),
                BatchSize::PerIteration,
            )
        });
        let mut app = synthetic::app(n);
        let mut round = 0;
        group.bench_function(format!("after_refresh_{n}_hosts"), |b| {
            b.iter(|| synthetic::frame_after_refresh(&mut app, &mut terminal, n, &mut round))
        });
        let mut k = 0;
        group.bench_function(format!("after_observation_{n}_hosts"), |b| {
            b.iter(|| synthetic::frame_after_observation(&mut app, &mut terminal, n, &mut k))
        });
        group.bench_function(format!("redraw_{n}_hosts"), |b| {
            b.iter(|| synthetic::draw(&mut app, &mut terminal))
        });
        let mut secs = 0;
        group.bench_function(format!("after_tick_{n}_hosts"), |b| {
            b.iter(|| synthetic::frame_after_tick(&mut app, &mut terminal, n, &mut secs))
        });
    }
    group.finish();
}

fn rows_next_second(c: &mut Criterion) {
    use fleetdeck::view;
    let mut group = c.benchmark_group("fleet_rows_next_second");
    group.sample_size(10);
    let n = 10_000;
    let app = synthetic::app(n);
    let store = app.store();
    let hosts: Vec<usize> = (0..n).collect();
    let ctx_at = |now| view::Ctx {
        fleet: store.fleet(),
        state: store.state(),
        health: store.health(),
        now,
    };
    let now = synthetic::now();
    let mut previous = view::fleet_rows(&ctx_at(now), &hosts);
    let later = now + Duration::from_secs(1);
    group.bench_function(format!("built_{n}_hosts"), |b| {
        b.iter(|| black_box(view::fleet_rows(&ctx_at(later), &hosts)))
    });
    group.bench_function(format!("reused_{n}_hosts"), |b| {
        b.iter(|| {
            let rows = std::mem::take(&mut previous);
            previous = view::refresh_fleet_rows(&ctx_at(later), &hosts, rows, true);
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    fleet_table,
    busiest,
    report_only,
    fleet_scale,
    rows_next_second
);
criterion_main!(benches);
