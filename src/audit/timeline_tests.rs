//! Unit tests of the timeline on a recorded incident: the records a P0 drill wrote (an alert
//! acknowledged in the console, a `p0-response` run with its timer, checklist, notes, a command
//! and a webhook), plus an unrelated ad-hoc command and an action this version does not know.

use time::macros::datetime;

use super::*;

fn rec(seq: u64, time: &str, action: &str) -> AuditRecord {
    AuditRecord {
        seq,
        time: time.to_owned(),
        operator: "alice".to_owned(),
        role: "operator".to_owned(),
        source: "10.0.0.5".to_owned(),
        action: action.to_owned(),
        phase: None,
        pair: None,
        run: None,
        runbook: None,
        step: None,
        target: None,
        command: None,
        result: None,
        duration_ms: None,
        reason: None,
        note: None,
        output_bytes: None,
        output_sha256: None,
        prev: String::new(),
        hash: String::new(),
    }
}

const RUN: &str = "1796637600-a1b2c3";

fn of_run(mut r: AuditRecord, step: Option<&str>) -> AuditRecord {
    r.run = Some(RUN.to_owned());
    r.runbook = Some("p0-response".to_owned());
    r.step = step.map(str::to_owned);
    r
}

/// The recorded incident, in log order.
fn incident() -> Vec<AuditRecord> {
    let mut v = Vec::new();
    // An unrelated ad-hoc command an hour before.
    let mut r = rec(1, "2026-12-07T08:00:00.000Z", "exec.result");
    r.run = Some("exec-1796630400-000001".into());
    r.target = Some("db-1".into());
    r.command = Some("uptime".into());
    r.result = Some("exit 0".into());
    v.push(r);
    // The alert, acknowledged in the console at 09:58; failing since 09:55.
    let mut r = rec(2, "2026-12-07T09:58:00.000Z", "alert.ack");
    r.target = Some("fisco-1".into());
    r.command = Some("consensus_lost:group0".into());
    r.result = Some("critical".into());
    r.reason = Some("failing since 2026-12-07T09:55:00.000Z".into());
    r.note = Some("2 of 4 consensus members down".into());
    v.push(r);
    let mut r = of_run(rec(3, "2026-12-07T10:00:00.000Z", "runbook.start"), None);
    r.phase = Some(Phase::Before);
    r.target = Some("fisco-1,fisco-2".into());
    r.reason = Some("summary=2 of 4 consensus members down".into());
    v.push(r);
    let mut r = of_run(
        rec(4, "2026-12-07T10:00:05.000Z", "decision"),
        Some("level"),
    );
    r.result = Some("P0: system completely down, respond within 15 minutes".into());
    v.push(r);
    let mut r = of_run(
        rec(5, "2026-12-07T10:00:05.100Z", "timer.start"),
        Some("sla-p0"),
    );
    r.result = Some("15m".into());
    v.push(r);
    let mut r = of_run(
        rec(6, "2026-12-07T10:00:06.000Z", "step.run"),
        Some("confirm"),
    );
    r.phase = Some(Phase::Before);
    v.push(r);
    let mut r = of_run(
        rec(7, "2026-12-07T10:03:06.000Z", "manual"),
        Some("confirm"),
    );
    r.note = Some("seen in the monitoring".into());
    v.push(r);
    let mut r = of_run(
        rec(8, "2026-12-07T10:03:06.010Z", "timer.stop"),
        Some("sla-p0"),
    );
    r.result = Some("met".into());
    v.push(r);
    let mut r = of_run(
        rec(9, "2026-12-07T10:03:06.020Z", "step.result"),
        Some("confirm"),
    );
    r.phase = Some(Phase::After);
    r.pair = Some(6);
    r.result = Some("passed".into());
    v.push(r);
    let mut r = of_run(rec(10, "2026-12-07T10:05:00.000Z", "exec"), Some("restart"));
    r.phase = Some(Phase::Before);
    r.target = Some("fisco-2".into());
    r.command = Some("systemctl restart fisco | tee /tmp/x && echo <done>".into());
    v.push(r);
    let mut r = of_run(
        rec(11, "2026-12-07T10:05:02.500Z", "exec.result"),
        Some("restart"),
    );
    r.phase = Some(Phase::After);
    r.pair = Some(10);
    r.target = Some("fisco-2".into());
    r.result = Some("exit 0".into());
    r.duration_ms = Some(2500);
    v.push(r);
    let mut r = of_run(
        rec(12, "2026-12-07T10:05:03.000Z", "notify"),
        Some("update"),
    );
    r.phase = Some(Phase::Before);
    r.command = Some("https://hooks.example/***".into());
    v.push(r);
    let mut r = of_run(
        rec(13, "2026-12-07T10:05:03.400Z", "notify.result"),
        Some("update"),
    );
    r.phase = Some(Phase::After);
    r.pair = Some(12);
    r.result = Some("HTTP 200".into());
    v.push(r);
    let mut r = of_run(
        rec(14, "2026-12-07T10:20:00.000Z", "note"),
        Some("root-cause"),
    );
    r.note = Some("disk full on fisco-2 | rocksdb stopped\nfreed 20 GB".into());
    r.operator = "bob".into();
    v.push(r);
    v.push(rec(15, "2026-12-07T10:21:00.000Z", "alert.silenced"));
    let mut r = of_run(rec(16, "2026-12-07T10:42:00.000Z", "runbook.finish"), None);
    r.phase = Some(Phase::After);
    r.pair = Some(3);
    r.result = Some("success".into());
    r.reason = Some("Incident closed".into());
    v.push(r);
    v
}

#[test]
fn durations_count_from_the_alert_raised_to_the_ack_and_the_successful_finish() {
    let records = incident();
    let sel = Selection::Since(datetime!(2026-12-07 09:00 UTC));
    let picked = select(&records, &sel).unwrap();
    assert_eq!(
        picked.first().map(|r| r.seq),
        Some(2),
        "the 08:00 command is left out"
    );
    let t = build(&picked, None, Some(datetime!(2026-12-07 09:00 UTC)));
    assert_eq!(t.schema, SCHEMA);
    assert_eq!(t.since.as_deref(), Some("2026-12-07T09:00:00Z"));
    // Raised 09:55 (from the acknowledgement), acknowledged 09:58, fixed 10:42.
    assert_eq!(t.start.as_deref(), Some("2026-12-07T09:55:00.000Z"));
    assert_eq!(t.acknowledged.as_deref(), Some("2026-12-07T09:58:00.000Z"));
    assert_eq!(t.time_to_ack_ms, Some(3 * 60_000));
    assert_eq!(t.resolved.as_deref(), Some("2026-12-07T10:42:00.000Z"));
    assert_eq!(t.time_to_fix_ms, Some(47 * 60_000));
    assert_eq!(t.duration_ms, Some(47 * 60_000));
    assert_eq!(
        t.runs.len(),
        1,
        "the ad-hoc command is no run: {:?}",
        t.runs
    );
    assert_eq!(t.runs[0].result.as_deref(), Some("success"));
    assert_eq!(t.runs[0].targets.as_deref(), Some("fisco-1,fisco-2"));
    // The raise is an event of its own, first, at elapsed 0.
    let first = &t.events[0];
    assert_eq!(first.kind, Kind::Alert);
    assert!(
        first
            .event
            .starts_with("alert raised: consensus_lost:group0 on fisco-1")
    );
    assert_eq!(first.elapsed_ms, Some(0));
}

#[test]
fn a_before_shows_through_its_after_and_the_after_carries_its_command_and_duration() {
    let records = incident();
    let picked: Vec<&AuditRecord> = records.iter().collect();
    let t = build(&picked, None, None);
    let seqs: Vec<u64> = t.events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs.iter().filter(|s| **s == 3).count(),
        1,
        "a run's start is an event of its own: {seqs:?}"
    );
    for before in [6, 10, 12] {
        let count = seqs.iter().filter(|s| **s == before).count();
        assert_eq!(
            count, 0,
            "before record {before} is shown by its after: {seqs:?}"
        );
    }
    let exec = t.events.iter().find(|e| e.seq == 11).unwrap();
    assert_eq!(exec.kind, Kind::Exec);
    assert_eq!(exec.event, "command on fisco-2: exit 0");
    assert!(
        exec.details.starts_with("systemctl restart fisco | tee"),
        "{}",
        exec.details
    );
    assert!(exec.details.contains("took 2s"), "{}", exec.details);
    let step = t.events.iter().find(|e| e.seq == 9).unwrap();
    assert_eq!(step.event, "step confirm: passed");
    assert!(step.details.contains("took 3m 00s"), "{}", step.details);
    let unknown = t.events.iter().find(|e| e.seq == 15).unwrap();
    assert_eq!(
        unknown.kind,
        Kind::Alert,
        "an alert.* name this version lacks is still an alert"
    );
    assert_eq!(unknown.event, "alert.silenced");
}

#[test]
fn an_exec_that_never_reported_stands_alone() {
    let mut records = incident();
    records.retain(|r| r.seq != 11);
    let picked: Vec<&AuditRecord> = records.iter().collect();
    let t = build(&picked, None, None);
    let e = t.events.iter().find(|e| e.seq == 10).unwrap();
    assert_eq!(e.event, "command on fisco-2: no result recorded");
}

#[test]
fn a_run_selection_takes_its_records_and_the_alerts_on_its_targets_shortly_before() {
    let mut records = incident();
    // An ack on a host of another run, and one on a target long before: both left out.
    let mut other = rec(17, "2026-12-07T09:59:00.000Z", "alert.ack");
    other.target = Some("web-1".into());
    records.push(other);
    let mut old = rec(18, "2026-12-07T07:00:00.000Z", "alert.ack");
    old.target = Some("fisco-2".into());
    records.push(old);
    records.sort_by_key(|r| r.time.clone());
    let sel = Selection::Run {
        id: RUN.to_owned(),
        lookback: DEFAULT_LOOKBACK,
    };
    let picked = select(&records, &sel).unwrap();
    let seqs: Vec<u64> = picked.iter().map(|r| r.seq).collect();
    assert!(
        seqs.contains(&2),
        "the ack on fisco-1 two minutes before: {seqs:?}"
    );
    for left_out in [1, 15, 17, 18] {
        assert!(
            !seqs.contains(&left_out),
            "{left_out} is not of the run: {seqs:?}"
        );
    }
    let t = build(&picked, Some(RUN), None);
    assert_eq!(t.run.as_deref(), Some(RUN));
    assert_eq!(t.time_to_ack_ms, Some(3 * 60_000));

    let none = select(
        &records,
        &Selection::Run {
            id: "nope".into(),
            lookback: DEFAULT_LOOKBACK,
        },
    );
    assert_eq!(none, Err(TimelineError::NoSuchRun("nope".into())));
}

#[test]
fn without_an_alert_the_run_start_is_the_start_and_the_sla_timer_stop_is_the_ack() {
    let mut records = incident();
    records.retain(|r| !r.action.starts_with("alert."));
    let picked: Vec<&AuditRecord> = records.iter().filter(|r| r.seq > 1).collect();
    let t = build(&picked, Some(RUN), None);
    assert_eq!(t.start.as_deref(), Some("2026-12-07T10:00:00.000Z"));
    assert_eq!(t.acknowledged.as_deref(), Some("2026-12-07T10:03:06.010Z"));
    assert_eq!(t.time_to_ack_ms, Some(186_010));
    assert_eq!(t.time_to_fix_ms, Some(42 * 60_000));
}

#[test]
fn a_failed_run_has_no_time_to_fix() {
    let mut records = incident();
    records.last_mut().unwrap().result = Some("failed".into());
    let picked: Vec<&AuditRecord> = records.iter().collect();
    let t = build(&picked, None, None);
    assert_eq!(t.resolved, None);
    assert_eq!(t.time_to_fix_ms, None);
    assert!(to_markdown(&t).contains("- Time to fix: not recorded"));
}

#[test]
fn markdown_is_one_table_with_every_cell_escaped() {
    let records = incident();
    let picked: Vec<&AuditRecord> = records.iter().filter(|r| r.seq > 1).collect();
    let t = build(&picked, Some(RUN), None);
    let md = to_markdown(&t);
    let lines: Vec<&str> = md.lines().collect();
    let header = lines
        .iter()
        .position(|l| *l == "| time | elapsed | actor | event | details |")
        .expect("the header row");
    assert_eq!(lines[header + 1], "|---|---|---|---|---|");
    let rows = &lines[header + 2..];
    assert_eq!(rows.len(), t.events.len());
    for row in rows {
        // Five cells: six unescaped pipes.
        let unescaped = row.len() - row.replace('|', "").len() - row.matches("\\|").count();
        assert_eq!(unescaped, 6, "{row}");
        assert!(row.starts_with("| ") && row.ends_with(" |"), "{row}");
    }
    let note = rows
        .iter()
        .find(|r| r.contains("note at root-cause"))
        .unwrap();
    assert!(
        note.contains("disk full on fisco-2 \\| rocksdb stopped<br>freed 20 GB"),
        "{note}"
    );
    assert!(note.contains("| bob (operator) |"), "{note}");
    let exec = rows
        .iter()
        .find(|r| r.contains("command on fisco-2"))
        .unwrap();
    assert!(
        exec.contains("restart fisco \\| tee /tmp/x &amp;&amp; echo &lt;done&gt;"),
        "{exec}"
    );
    assert!(rows[0].contains("| +0:00:00 |"), "{}", rows[0]);
    assert!(
        md.contains("- Time to acknowledge: 3m 00s (at 2026-12-07T09:58:00.000Z)"),
        "{md}"
    );
    assert!(
        md.contains("- Time to fix: 47m 00s (at 2026-12-07T10:42:00.000Z)"),
        "{md}"
    );
    let finish = rows
        .iter()
        .find(|r| r.contains("run p0-response finished: success"))
        .unwrap();
    assert!(finish.contains("| +0:47:00 |"), "{finish}");
}

#[test]
fn since_takes_rfc3339_a_run_stamp_or_a_duration_before_now() {
    let now = datetime!(2026-12-07 12:00 UTC);
    assert_eq!(
        parse_since("2026-12-07T10:00:00Z", now),
        Ok(datetime!(2026-12-07 10:00 UTC))
    );
    assert_eq!(
        parse_since("2026-12-07T11:00:00+01:00", now),
        Ok(datetime!(2026-12-07 10:00 UTC))
    );
    assert_eq!(
        parse_since("20261207093000", now),
        Ok(datetime!(2026-12-07 09:30 UTC))
    );
    assert_eq!(parse_since("2h", now), Ok(datetime!(2026-12-07 10:00 UTC)));
    assert_eq!(
        parse_since("1h 30m", now),
        Ok(datetime!(2026-12-07 10:30 UTC))
    );
    for bad in ["", "yesterday", "20261399000000", "2026-12-07", "-2h"] {
        assert_eq!(
            parse_since(bad, now),
            Err(TimelineError::BadSince(bad.into())),
            "{bad:?}"
        );
    }
    let records = incident();
    let err = select(&records, &Selection::Since(datetime!(2027-01-01 00:00 UTC)));
    assert_eq!(
        err,
        Err(TimelineError::NothingSince("2027-01-01T00:00:00Z".into()))
    );
}

#[test]
fn human_durations() {
    assert_eq!(human_ms(850), "850 ms");
    assert_eq!(human_ms(42_000), "42s");
    assert_eq!(human_ms(185_000), "3m 05s");
    assert_eq!(human_ms(3_723_000), "1h 02m 03s");
    assert_eq!(human_ms(2 * 86_400_000 + 3_600_000), "2d 01h 00m");
    assert_eq!(human_ms(-61_000), "-1m 01s");
    assert_eq!(elapsed(Some(-61_000)), "-0:01:01");
    assert_eq!(elapsed(Some(26 * 3_600_000)), "+26:00:00");
    assert_eq!(elapsed(None), "?");
}

#[test]
fn the_json_has_the_documented_keys() {
    let records = incident();
    let picked: Vec<&AuditRecord> = records.iter().collect();
    let t = build(&picked, Some(RUN), None);
    let v = serde_json::to_value(&t).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "schema",
        "run",
        "since",
        "start",
        "acknowledged",
        "resolved",
        "end",
        "time_to_ack_ms",
        "time_to_fix_ms",
        "duration_ms",
        "runs",
        "events",
    ];
    want.sort_unstable();
    let mut got = keys.clone();
    got.sort_unstable();
    assert_eq!(got, want);
    let event: Vec<&str> = v["events"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut got = event.clone();
    got.sort_unstable();
    let mut want = vec![
        "seq",
        "time",
        "elapsed_ms",
        "actor",
        "role",
        "kind",
        "action",
        "run",
        "runbook",
        "step",
        "target",
        "event",
        "details",
    ];
    want.sort_unstable();
    assert_eq!(got, want);
    assert_eq!(v["events"][0]["kind"], "exec");
    assert_eq!(v["events"][1]["kind"], "alert");
    assert_eq!(v["events"][1]["elapsed_ms"], 0);
}
