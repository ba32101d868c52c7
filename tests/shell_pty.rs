//! The SSH shell pump without a terminal: `SshHost::shell` against a real sshd, fed through
//! its channels. It runs on the connection the probes already use (one connection, no second
//! handshake), gives the remote pty the size and `TERM` asked for, passes a window change on,
//! counts the bytes each way, reports the remote exit status, and leaves the connection usable.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleetdeck::inventory::load_fleet;
use fleetdeck::poller;
use fleetdeck::transport::interactive::{PtySize, ShellEnd, ShellIo};
use fleetdeck::transport::ssh::{NoPrompt, SshShared};
use fleetdeck::transport::{ExecRequest, Transport};
use support::{FleetSpec, InventoryOpts, TestFleet};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pty_shell_runs_on_the_hosts_connection_and_reports_its_exit_status() {
    let peers = TestFleet::start(FleetSpec::hosts(1));
    let fleet = load_fleet(Some(&peers.write_inventory(&InventoryOpts::default()))).unwrap();
    let ts = poller::transports(&fleet, &SshShared::new(Arc::new(NoPrompt))).unwrap();
    let Transport::Ssh(host) = &ts[0] else {
        panic!("expected an SSH transport");
    };
    // A probe first: the shell must reuse this connection.
    let probe = ExecRequest {
        command: "true".into(),
        stdin: None,
        timeout: Duration::from_secs(10),
        max_output: 1024,
    };
    assert_eq!(ts[0].exec(&probe).await.unwrap().status, Some(0));
    assert_eq!(host.connects(), 1);

    let (keys, input) = mpsc::channel(8);
    let (sizes, resize) = mpsc::unbounded_channel();
    let io = ShellIo {
        term: "xterm-256color".into(),
        size: PtySize { cols: 91, rows: 17 },
        input,
        resize,
    };
    // The script a person would type; `stty -echo` keeps later typed text off the output.
    let typed = [
        "stty -echo\n".to_string(),
        "echo \"first=$(stty size) term=$TERM\"\n".to_string(),
    ];
    let out = Arc::new(Mutex::new(Vec::new()));
    let seen = out.clone();
    let driver = async move {
        for line in &typed {
            keys.send(line.as_bytes().to_vec()).await.unwrap();
        }
        // The first size is read before it changes: wait for its answer (a digit after
        // `first=`: the tty echoes the command line itself before `stty -echo` has run).
        let answered = regex::Regex::new(r"first=[0-9]").unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !answered.is_match(&String::from_utf8_lossy(&seen.lock().unwrap())) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no answer to the first command"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A window change goes out before keys typed after it.
        sizes.send(PtySize { cols: 77, rows: 22 }).unwrap();
        keys.send(b"echo \"second=$(stty size)\"; exit 3\n".to_vec())
            .await
            .unwrap();
        // Keep both channels open until the shell is over: closing them is EOF for the host.
        std::future::pending::<()>().await;
    };
    let sink = out.clone();
    let mut collect = move |data: &[u8]| sink.lock().unwrap().extend_from_slice(data);
    let outcome = tokio::select! {
        r = host.shell(io, &mut collect) => r.unwrap(),
        () = driver => unreachable!(),
    };
    let out = out.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(outcome.end, ShellEnd::Exited(3), "{text}");
    assert!(text.contains("first=17 91 term=xterm-256color"), "{text}");
    assert!(text.contains("second=22 77"), "{text}");
    assert_eq!(outcome.bytes_out, Some(out.len() as u64));
    assert!(outcome.bytes_in.unwrap() > 40, "{outcome:?}");
    // Still the one connection, and still usable.
    assert_eq!(host.connects(), 1);
    assert_eq!(ts[0].exec(&probe).await.unwrap().status, Some(0));
    assert_eq!(host.connects(), 1);
}
