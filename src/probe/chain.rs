//! Chain node probes: which JSON-RPC calls each [`ChainKind`] needs, the pure parsers of their
//! replies, and [`poll_chain`], which makes the calls through the host's transport.
//!
//! This module owns the dialects (Ethereum; Conflux with `cfx_getStatus`; FISCO BCOS 2.x/3.x
//! with the consensus calls `getSealerList`, `getObserverList`, `getPbftView`) and the rule that a
//! method the node does not implement (JSON-RPC -32601) is *unavailable*, never 0 and never a
//! host error. The table of calls lives in one function, [`plan`]: adding a kind is one match
//! arm there. It must not judge health (lag, stalls: that is `health`), nor open sockets of its
//! own (the RPC port is reached with [`Transport::dial`], i.e. from the host).
//!
//! Callers: [`super::poll_host`] for RPC kinds; `kind = "command"` chains are read by the
//! batched script in [`super::script`] during a host poll.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::{Instant, timeout_at};

use super::http::{self, HttpConnection};
use super::parse::{ParseError, parse_height, parse_quantity_str, shorten};
use crate::inventory::{Chain, ChainKind};
use crate::observation::{CfxStatus, ChainDetail, ChainObs, Metric};
use crate::transport::{ExecRequest, Transport};

/// JSON-RPC "method not found".
pub const METHOD_NOT_FOUND: i64 = -32601;

/// Shown for a method the node does not implement.
pub const NOT_SUPPORTED: &str = "not supported by this node";

/// Shown for what a `kind = "command"` chain cannot tell.
const NOT_REPORTED: &str = "not reported by a command chain";

/// Largest JSON-RPC reply read (FISCO's getPeers on a big network is the largest we ask for).
const MAX_REPLY: usize = 1024 * 1024;

/// What a JSON-RPC reply said.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcOutcome {
    /// `result`.
    Result(Value),
    /// `error` with code -32601: the node does not implement the method.
    MethodNotFound(String),
    /// Any other `error`.
    Error {
        /// JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
}

/// Reads a JSON-RPC 2.0 reply body. `error` is checked *before* `result`: anvil answers
/// `net_peerCount` with HTTP 200 and `{"error":{"code":-32601,…}}`, and some servers send
/// `"result": null` next to an error.
pub fn parse_rpc_reply(body: &[u8]) -> Result<RpcOutcome, ParseError> {
    let text = String::from_utf8_lossy(body);
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ParseError::new(format!("a JSON-RPC reply ({e})"), &text))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ParseError::new("a JSON-RPC reply object", &text))?;
    if let Some(err) = obj.get("error").filter(|e| !e.is_null()) {
        let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message = match err.get("message") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => err.to_string(),
        };
        return Ok(if code == METHOD_NOT_FOUND {
            RpcOutcome::MethodNotFound(message)
        } else {
            RpcOutcome::Error { code, message }
        });
    }
    match obj.get("result") {
        Some(r) => Ok(RpcOutcome::Result(r.clone())),
        None => Err(ParseError::new(
            "a JSON-RPC reply with \"result\" or \"error\"",
            &text,
        )),
    }
}

/// A value one call contributes to a [`ChainObs`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// Block or epoch height.
    Height(u64),
    /// Whether the node is syncing.
    Syncing(bool),
    /// Connected peers.
    Peers(u64),
    /// Client name and version.
    Client(String),
    /// FISCO `getSyncStatus`: the sync flag plus the node's own id and the highest block it
    /// knows of.
    FiscoSync {
        /// `isSyncing`.
        syncing: bool,
        /// `nodeId` (2.x) / `nodeID` (3.x).
        node_id: Option<String>,
        /// `knownHighestNumber`.
        known_highest: Option<u64>,
    },
    /// A list of node ids (sealers or observers, by the call's field).
    NodeList(Vec<String>),
    /// PBFT view.
    View(u64),
    /// Conflux `cfx_getStatus`.
    Cfx(CfxStatus),
}

/// Which [`ChainObs`] field a call fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `height`.
    Height,
    /// `syncing`.
    Syncing,
    /// `peers`.
    Peers,
    /// `client`.
    Client,
    /// [`ChainDetail::sealers`].
    Sealers,
    /// [`ChainDetail::observers`].
    Observers,
    /// [`ChainDetail::pbft_view`].
    PbftView,
    /// [`ChainDetail::cfx_status`].
    CfxStatus,
}

/// One JSON-RPC call of a dialect and how to read its `result`.
#[derive(Debug, Clone)]
pub struct RpcCall {
    /// Method name.
    pub method: &'static str,
    /// Positional params.
    pub params: Value,
    /// The field it fills.
    pub field: Field,
    /// Reads the `result` value.
    pub read: fn(&Value) -> Result<Reading, ParseError>,
}

impl RpcCall {
    fn new(
        method: &'static str,
        params: Value,
        field: Field,
        read: fn(&Value) -> Result<Reading, ParseError>,
    ) -> Self {
        RpcCall {
            method,
            params,
            field,
            read,
        }
    }

    /// The request body.
    pub fn body(&self, id: u64) -> Vec<u8> {
        json!({"jsonrpc": "2.0", "id": id, "method": self.method, "params": self.params})
            .to_string()
            .into_bytes()
    }
}

/// A FISCO BCOS group: 2.x numbers groups (`[1]`), 3.x names them (`["group0", ""]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FiscoGroup {
    /// FISCO BCOS 2.x group id.
    Numeric(u32),
    /// FISCO BCOS 3.x group name.
    Named(String),
}

impl FiscoGroup {
    /// The group of a configured chain: `group = "group0"` (3.x) when given, else `group_id`
    /// (2.x, default 1).
    pub fn of(chain: &Chain) -> Self {
        match &chain.group {
            Some(name) => FiscoGroup::Named(name.clone()),
            None => FiscoGroup::Numeric(chain.group_id),
        }
    }

    /// Params for a per-group call (3.x also takes a node name; "" = the node we talk to).
    fn params(&self) -> Value {
        match self {
            FiscoGroup::Numeric(id) => json!([id]),
            FiscoGroup::Named(name) => json!([name, ""]),
        }
    }
}

/// The calls that fill a [`ChainObs`] for `chain`'s dialect. Empty for `kind = "command"`.
pub fn plan(chain: &Chain) -> Vec<RpcCall> {
    use Field::*;
    match chain.kind {
        ChainKind::Ethereum => vec![
            RpcCall::new("eth_blockNumber", json!([]), Height, read_height),
            RpcCall::new("eth_syncing", json!([]), Syncing, read_eth_syncing),
            RpcCall::new("net_peerCount", json!([]), Peers, read_peer_count),
            RpcCall::new("web3_clientVersion", json!([]), Client, read_client),
        ],
        // cfx_getStatus adds chain id and pending transactions, which ChainObs has no place
        // for; net_sessions and current_sync_phase live in conflux-rust's local (debug) RPC
        // and come back -32601 (unavailable) on the public port.
        ChainKind::Conflux => vec![
            RpcCall::new(
                "cfx_epochNumber",
                json!(["latest_mined"]),
                Height,
                read_height,
            ),
            RpcCall::new(
                "current_sync_phase",
                json!([]),
                Syncing,
                read_cfx_sync_phase,
            ),
            RpcCall::new("net_sessions", json!([]), Peers, read_peer_list),
            RpcCall::new("cfx_clientVersion", json!([]), Client, read_client),
            RpcCall::new("cfx_getStatus", json!([]), CfxStatus, read_cfx_status),
        ],
        ChainKind::FiscoBcos => {
            let group = FiscoGroup::of(chain).params();
            vec![
                RpcCall::new("getBlockNumber", group.clone(), Height, read_height),
                RpcCall::new("getSyncStatus", group.clone(), Syncing, read_fisco_sync),
                RpcCall::new("getPeers", group.clone(), Peers, read_peer_list),
                RpcCall::new("getClientVersion", json!([]), Client, read_fisco_client),
                RpcCall::new("getSealerList", group.clone(), Sealers, read_node_list),
                RpcCall::new("getObserverList", group.clone(), Observers, read_node_list),
                RpcCall::new("getPbftView", group, PbftView, read_view),
            ]
        }
        ChainKind::Command => Vec::new(),
    }
}

/// A JSON-RPC quantity: `"0x1b4"` (Ethereum, Conflux, FISCO 2.x), a JSON number (FISCO 3.x)
/// or a decimal string.
pub fn quantity(v: &Value) -> Result<u64, ParseError> {
    match v {
        Value::String(s) => parse_quantity_str(s),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
    .ok_or_else(|| ParseError::new("a quantity (0x hex string or number)", &v.to_string()))
}

fn read_height(v: &Value) -> Result<Reading, ParseError> {
    quantity(v).map(Reading::Height)
}

fn read_peer_count(v: &Value) -> Result<Reading, ParseError> {
    quantity(v).map(Reading::Peers)
}

/// `eth_syncing`: `false`, or an object with progress (or `true` from some clients).
fn read_eth_syncing(v: &Value) -> Result<Reading, ParseError> {
    match v {
        Value::Bool(b) => Ok(Reading::Syncing(*b)),
        Value::Object(_) => Ok(Reading::Syncing(true)),
        _ => Err(ParseError::new(
            "false or a sync progress object",
            &v.to_string(),
        )),
    }
}

/// Conflux `current_sync_phase`: `"NormalSyncPhase"` once caught up; any catch-up phase
/// (`CatchUpSyncBlockPhase`, …) means syncing.
fn read_cfx_sync_phase(v: &Value) -> Result<Reading, ParseError> {
    match v.as_str() {
        Some(phase) if !phase.is_empty() => Ok(Reading::Syncing(phase != "NormalSyncPhase")),
        _ => Err(ParseError::new("a sync phase name", &v.to_string())),
    }
}

/// A list of peers (Conflux `net_sessions`, FISCO 2.x `getPeers`) or an object with a `peers`
/// list (FISCO 3.x `getPeers`): its length.
fn read_peer_list(v: &Value) -> Result<Reading, ParseError> {
    let list = match v {
        Value::Array(a) => Some(a),
        Value::Object(o) => o.get("peers").and_then(Value::as_array),
        _ => None,
    };
    list.map(|a| Reading::Peers(a.len() as u64))
        .ok_or_else(|| ParseError::new("a list of peers", &v.to_string()))
}

/// FISCO `getSyncStatus`: an object (2.x) or a JSON *string* holding the object (3.x), with
/// `isSyncing`, the node's id (`nodeId` in 2.x, `nodeID` in 3.x) and `knownHighestNumber`.
fn read_fisco_sync(v: &Value) -> Result<Reading, ParseError> {
    let inner;
    let obj = match v {
        Value::String(s) => {
            inner = serde_json::from_str::<Value>(s)
                .map_err(|e| ParseError::new(format!("sync status JSON ({e})"), s))?;
            &inner
        }
        other => other,
    };
    let syncing = obj
        .get("isSyncing")
        .and_then(Value::as_bool)
        .ok_or_else(|| ParseError::new("an object with isSyncing", &v.to_string()))?;
    let node_id = ["nodeId", "nodeID"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_str))
        .map(str::to_string);
    let known_highest = obj.get("knownHighestNumber").and_then(|n| quantity(n).ok());
    Ok(Reading::FiscoSync {
        syncing,
        node_id,
        known_highest,
    })
}

/// FISCO `getSealerList` / `getObserverList`: node ids as strings (2.x, and 3.x observers) or
/// objects with `nodeID` and `weight` (3.x sealers).
fn read_node_list(v: &Value) -> Result<Reading, ParseError> {
    let err = || ParseError::new("a list of node ids", &v.to_string());
    let list = v.as_array().ok_or_else(err)?;
    list.iter()
        .map(|item| match item {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o
                .get("nodeID")
                .or_else(|| o.get("nodeId"))
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(Reading::NodeList)
        .ok_or_else(err)
}

/// FISCO `getPbftView`: `"0x1a0"` (2.x) or a number (3.x).
fn read_view(v: &Value) -> Result<Reading, ParseError> {
    quantity(v).map(Reading::View)
}

/// Conflux `cfx_getStatus`: an object of hex quantities.
fn read_cfx_status(v: &Value) -> Result<Reading, ParseError> {
    let field = |k: &str| v.get(k).and_then(|n| quantity(n).ok());
    let (Some(chain_id), Some(epoch_number)) = (field("chainId"), field("epochNumber")) else {
        return Err(ParseError::new(
            "a status object with chainId and epochNumber",
            &v.to_string(),
        ));
    };
    Ok(Reading::Cfx(CfxStatus {
        chain_id,
        network_id: field("networkId"),
        epoch_number,
        block_number: field("blockNumber"),
        pending_tx: field("pendingTxNumber"),
        latest_confirmed: field("latestConfirmed"),
        latest_finalized: field("latestFinalized"),
        latest_checkpoint: field("latestCheckpoint"),
        latest_state: field("latestState"),
    }))
}

fn read_client(v: &Value) -> Result<Reading, ParseError> {
    match v.as_str() {
        Some(s) if !s.trim().is_empty() => Ok(Reading::Client(s.trim().to_string())),
        _ => Err(ParseError::new("a client version string", &v.to_string())),
    }
}

/// FISCO `getClientVersion`: an object with `"FISCO-BCOS Version"` (or a plain string).
fn read_fisco_client(v: &Value) -> Result<Reading, ParseError> {
    if let Some(ver) = v.get("FISCO-BCOS Version").and_then(Value::as_str) {
        return Ok(Reading::Client(format!("FISCO-BCOS {ver}")));
    }
    read_client(v)
}

/// The metric a reply gives for one call: unavailable for -32601, an error for other RPC errors
/// and unreadable results.
pub fn reading_of(call: &RpcCall, body: &[u8]) -> Result<Reading, Metric<()>> {
    match parse_rpc_reply(body) {
        Ok(RpcOutcome::Result(v)) => (call.read)(&v)
            .map_err(|e| Metric::Error(format!("{}: unreadable result: {e}", call.method))),
        Ok(RpcOutcome::MethodNotFound(_)) => Err(Metric::Unavailable(NOT_SUPPORTED.to_string())),
        Ok(RpcOutcome::Error { code, message }) => Err(Metric::Error(format!(
            "{}: RPC error {code}: {}",
            call.method,
            shorten(&message, 120)
        ))),
        Err(e) => Err(Metric::Error(format!("{}: {e}", call.method))),
    }
}

/// Folds per-call results into a [`ChainObs`]. A field no call filled is unavailable.
pub fn assemble(kind: ChainKind, results: Vec<(Field, Result<Reading, Metric<()>>)>) -> ChainObs {
    assemble_all(kind, results).0
}

/// A [`ChainDetail`] with nothing asked.
pub fn no_detail() -> ChainDetail {
    ChainDetail {
        node_id: None,
        sealers: unasked(),
        observers: unasked(),
        pbft_view: unasked(),
        known_highest: None,
        cfx_status: unasked(),
    }
}

/// Folds per-call results into a [`ChainObs`] and a [`ChainDetail`].
pub fn assemble_all(
    kind: ChainKind,
    results: Vec<(Field, Result<Reading, Metric<()>>)>,
) -> (ChainObs, ChainDetail) {
    let mut obs = ChainObs {
        kind,
        height: unasked(),
        syncing: unasked(),
        peers: unasked(),
        client: None,
    };
    let mut detail = no_detail();
    for (field, res) in results {
        match (field, res) {
            (_, Ok(Reading::Height(h))) => obs.height = Metric::Value(h),
            (_, Ok(Reading::Syncing(s))) => obs.syncing = Metric::Value(s),
            (_, Ok(Reading::Peers(p))) => obs.peers = Metric::Value(p),
            (_, Ok(Reading::Client(c))) => obs.client = Some(c),
            (
                _,
                Ok(Reading::FiscoSync {
                    syncing,
                    node_id,
                    known_highest,
                }),
            ) => {
                obs.syncing = Metric::Value(syncing);
                detail.node_id = node_id;
                detail.known_highest = known_highest;
            }
            (Field::Observers, Ok(Reading::NodeList(l))) => detail.observers = Metric::Value(l),
            (_, Ok(Reading::NodeList(l))) => detail.sealers = Metric::Value(l),
            (_, Ok(Reading::View(v))) => detail.pbft_view = Metric::Value(v),
            (_, Ok(Reading::Cfx(c))) => detail.cfx_status = Metric::Value(c),
            (Field::Height, Err(m)) => obs.height = retype(m),
            (Field::Syncing, Err(m)) => obs.syncing = retype(m),
            (Field::Peers, Err(m)) => obs.peers = retype(m),
            (Field::Client, Err(_)) => {}
            (Field::Sealers, Err(m)) => detail.sealers = retype(m),
            (Field::Observers, Err(m)) => detail.observers = retype(m),
            (Field::PbftView, Err(m)) => detail.pbft_view = retype(m),
            (Field::CfxStatus, Err(m)) => detail.cfx_status = retype(m),
        }
    }
    (obs, detail)
}

fn unasked<T>() -> Metric<T> {
    Metric::Unavailable("not asked for this chain kind".to_string())
}

fn retype<T>(m: Metric<()>) -> Metric<T> {
    match m {
        Metric::Unavailable(s) => Metric::Unavailable(s),
        Metric::Error(s) => Metric::Error(s),
        Metric::Value(()) => Metric::Error("internal: empty value".to_string()),
    }
}

/// The observation of a `kind = "command"` chain from its height command's output.
pub fn command_obs(height: Metric<u64>) -> ChainObs {
    ChainObs {
        kind: ChainKind::Command,
        height,
        syncing: Metric::Unavailable(NOT_REPORTED.to_string()),
        peers: Metric::Unavailable(NOT_REPORTED.to_string()),
        client: None,
    }
}

/// Polls `chain` once through `transport`, all calls within `timeout` together. Never fails:
/// every problem lands in the metric it concerns.
///
/// RPC kinds: the calls go sequentially over *one* HTTP/1.1 keep-alive connection dialled
/// through the host. One connection is one SSH channel (the transport allows only a few per
/// host, and each open costs a round trip) and the node answers these calls in microseconds, so
/// concurrency would buy nothing; a single deadline for the whole poll keeps a hung node from
/// costing more than `timeout`. If the node closes the connection between calls, it is
/// re-dialled once per call. `kind = "command"` runs the command in its own exec (the host
/// poller reads it in the batch script instead).
pub async fn poll_chain(chain: &Chain, transport: &Transport, timeout: Duration) -> ChainObs {
    poll_chain_detail(chain, transport, timeout).await.0
}

/// [`poll_chain`] with the dialect's [`ChainDetail`] as well (consensus lists, PBFT view,
/// Conflux status); a `kind = "command"` chain has no detail to give.
pub async fn poll_chain_detail(
    chain: &Chain,
    transport: &Transport,
    timeout: Duration,
) -> (ChainObs, ChainDetail) {
    if chain.kind == ChainKind::Command {
        return (
            poll_command_chain(chain, transport, timeout).await,
            no_detail(),
        );
    }
    let calls = plan(chain);
    let fail_all = |msg: String| {
        assemble_all(
            chain.kind,
            calls
                .iter()
                .map(|c| (c.field, Err(Metric::Error(msg.clone()))))
                .collect(),
        )
    };
    let Some(url) = chain.rpc.as_deref() else {
        return fail_all("no rpc URL configured".to_string());
    };
    let target = match http::parse_url(url) {
        Ok(t) => t,
        Err(e) => return fail_all(e.to_string()),
    };
    let deadline = Instant::now() + timeout;
    let mut conn: Option<HttpConnection> = None;
    let mut results = Vec::with_capacity(calls.len());
    for (i, call) in calls.iter().enumerate() {
        let res = match timeout_at(deadline, rpc(&mut conn, transport, &target, url, call, i)).await
        {
            Ok(r) => r,
            Err(_) => {
                conn = None;
                Err(Metric::Error(format!(
                    "{}: no reply within {}",
                    call.method,
                    humantime::format_duration(timeout)
                )))
            }
        };
        results.push((call.field, res));
    }
    assemble_all(chain.kind, results)
}

/// One call on the shared connection, dialling (again) when there is none or the node closed it.
async fn rpc(
    conn: &mut Option<HttpConnection>,
    transport: &Transport,
    target: &http::HttpTarget,
    url: &str,
    call: &RpcCall,
    index: usize,
) -> Result<Reading, Metric<()>> {
    let body = call.body(index as u64 + 1);
    for attempt in 0..2 {
        let fresh = conn.as_ref().is_none_or(HttpConnection::is_closed);
        if fresh {
            let stream = transport
                .dial(&target.host, target.port)
                .await
                .map_err(|e| Metric::Error(format!("cannot reach RPC at {url}: {e}")))?;
            *conn = Some(
                HttpConnection::handshake(stream)
                    .await
                    .map_err(|e| Metric::Error(e.to_string()))?,
            );
        }
        let c = conn.as_mut().expect("connection set above");
        match c
            .request(
                "POST",
                url,
                Some(body.clone()),
                Some("application/json"),
                MAX_REPLY,
            )
            .await
        {
            Ok(reply) => {
                if reply.truncated {
                    *conn = None;
                    return Err(Metric::Error(format!(
                        "{}: reply larger than {MAX_REPLY} bytes",
                        call.method
                    )));
                }
                return match reading_of(call, &reply.body) {
                    // A non-JSON error page from a proxy: say which status it came with.
                    Err(Metric::Error(e)) if !(200..300).contains(&reply.status) => {
                        Err(Metric::Error(format!("HTTP {}: {e}", reply.status)))
                    }
                    other => other,
                };
            }
            // A kept-alive connection the node closed under us: one retry on a fresh one.
            Err(_) if !fresh && attempt == 0 => *conn = None,
            Err(e) => {
                *conn = None;
                return Err(Metric::Error(format!("{}: {e}", call.method)));
            }
        }
    }
    Err(Metric::Error(format!(
        "{}: connection kept closing",
        call.method
    )))
}

async fn poll_command_chain(chain: &Chain, transport: &Transport, timeout: Duration) -> ChainObs {
    let Some(command) = chain.command.as_deref() else {
        return command_obs(Metric::Error("no height command configured".to_string()));
    };
    let req = ExecRequest {
        command: command.to_string(),
        stdin: None,
        timeout,
        max_output: 64 * 1024,
    };
    let height = match transport.exec(&req).await {
        Ok(out) if out.status == Some(0) => {
            match parse_height(&String::from_utf8_lossy(&out.stdout)) {
                Ok(h) => Metric::Value(h),
                Err(e) => Metric::Error(e.to_string()),
            }
        }
        Ok(out) => Metric::Error(format!(
            "height command exited {}: {}",
            out.status
                .map_or("by signal".to_string(), |s| s.to_string()),
            shorten(
                super::parse::first_line(&String::from_utf8_lossy(&out.stderr)),
                160
            )
        )),
        Err(e) => Metric::Error(format!("height command: {e}")),
    };
    command_obs(height)
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- Recorded from a real anvil 1.7.1 (`anvil --port 18545 --host 127.0.0.1
    // --block-time 1`), with curl, verbatim. ----
    const ANVIL_BLOCK_NUMBER: &str = r#"{"jsonrpc":"2.0","id":7,"result":"0x8"}"#;
    const ANVIL_SYNCING: &str = r#"{"jsonrpc":"2.0","id":1,"result":false}"#;
    const ANVIL_PEER_COUNT: &str =
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#;
    const ANVIL_CLIENT: &str = r#"{"jsonrpc":"2.0","id":1,"result":"anvil/v1.7.1"}"#;
    const ANVIL_INVALID_REQUEST: &str =
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid request"}}"#;

    // ---- Conflux: replies as documented for conflux-rust 2.x (the cfx namespace docs); a
    // node was not available here. ----
    const CFX_EPOCH: &str = r#"{"jsonrpc":"2.0","result":"0xaf28ab","id":1}"#;
    const CFX_CLIENT: &str = r#"{"jsonrpc":"2.0","result":"conflux-rust-2.4.0","id":4}"#;
    const CFX_SYNC_PHASE: &str = r#"{"jsonrpc":"2.0","result":"NormalSyncPhase","id":2}"#;
    const CFX_SESSIONS: &str = r#"{"jsonrpc":"2.0","result":[{"id":"0x1d…","nodeId":"0x6a…","protocolVersion":4,"address":"1.2.3.4:32323"},{"id":"0x2e…","nodeId":"0x7b…","protocolVersion":4,"address":"5.6.7.8:32323"}],"id":3}"#;
    /// The public RPC port does not serve the debug namespace.
    const CFX_SESSIONS_PUBLIC: &str =
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":3}"#;

    // ---- FISCO BCOS: replies as in the FISCO-BCOS-DOC API pages (2.x release-2 api.md,
    // 3.x java-sdk rpc api); node ids shortened. ----
    const FISCO2_BLOCK_NUMBER: &str = r#"{"id":1,"jsonrpc":"2.0","result":"0x1a2"}"#;
    const FISCO2_SYNC: &str = r#"{"id":1,"jsonrpc":"2.0","result":{"blockNumber":0,"genesisHash":"0x4765a126","isSyncing":false,"knownHighestNumber":0,"knownLatestHash":"0x4765a126","latestHash":"0x4765a126","nodeId":"41285429","peers":[{"blockNumber":0,"genesisHash":"0x4765a126","latestHash":"0x4765a126","nodeId":"29c34347"}],"protocolId":265,"txPoolSize":"0"}}"#;
    const FISCO2_PEERS: &str = r#"{"id":1,"jsonrpc":"2.0","result":[{"IPAndPort":"127.0.0.1:30308","nodeId":"0701cc9f","Topic":[]},{"IPAndPort":"127.0.0.1:58348","nodeId":"353ab599","Topic":[]},{"IPAndPort":"127.0.0.1:30300","nodeId":"73aebaea","Topic":[]}]}"#;
    const FISCO2_CLIENT: &str = r#"{"id":83,"jsonrpc":"2.0","result":{"Build Time":"20190106 20:49:10","Build Type":"Linux/g++/RelWithDebInfo","Chain Id":"1","FISCO-BCOS Version":"2.0.0","Git Branch":"master","Git Commit Hash":"693a709ddab39965d9c39da0104836cfb4a72054","Supported Version":"2.0.0-rc3"}}"#;
    const FISCO2_BAD_GROUP: &str = r#"{"error":{"code":-40001,"data":null,"message":"GroupID does not exist"},"id":1,"jsonrpc":"2.0"}"#;
    const FISCO3_BLOCK_NUMBER: &str = r#"{"id":1,"jsonrpc":"2.0","result":7}"#;
    const FISCO3_SYNC: &str = r#"{"id":1,"jsonrpc":"2.0","result":"{\"archivedBlockNumber\":0,\"blockNumber\":7,\"genesisHash\":\"47c6d949\",\"isSyncing\":false,\"knownHighestNumber\":7,\"knownLatestHash\":\"ef49fef7\",\"latestHash\":\"ef49fef7\",\"nodeID\":\"0055dcaf\",\"peers\":[{\"archivedBlockNumber\":0,\"blockNumber\":7,\"genesisHash\":\"47c6d949\",\"latestHash\":\"ef49fef7\",\"nodeID\":\"2a7aecf4\"}],\"protocolID\":1,\"txPoolSize\":\"0\"}"}"#;
    const FISCO3_PEERS: &str = r#"{"id":1,"jsonrpc":"2.0","result":{"endPoint":"0.0.0.0:30300","groupNodeIDInfo":[{"group":"group0","nodeIDList":["0055dcaf"]}],"p2pNodeID":"0463f180","peers":[{"endPoint":"127.0.0.1:30301","groupNodeIDInfo":[{"group":"group0","nodeIDList":["53543990"]}],"p2pNodeID":"046a4ed7"},{"endPoint":"127.0.0.1:50168","groupNodeIDInfo":[{"group":"group0","nodeIDList":["dd99ab88"]}],"p2pNodeID":"04b59db5"},{"endPoint":"127.0.0.1:30302","groupNodeIDInfo":[{"group":"group0","nodeIDList":["2a7aecf4"]}],"p2pNodeID":"045b7fa3"}]}}"#;

    fn chain(kind: ChainKind) -> Chain {
        Chain {
            kind,
            rpc: Some("http://127.0.0.1:8545".into()),
            command: None,
            group_id: 1,
            group: None,
        }
    }

    /// Runs each call of `kind`'s plan against the reply body given for its method.
    fn obs_from(kind: ChainKind, replies: &[(&str, &str)]) -> ChainObs {
        detail_from(&chain(kind), replies, false).0
    }

    /// The same for a whole chain; with `strict`, every call must have a recorded reply,
    /// otherwise a call without one is answered -32601 like a node lacking the method.
    fn detail_from(c: &Chain, replies: &[(&str, &str)], strict: bool) -> (ChainObs, ChainDetail) {
        let calls = plan(c);
        let results = calls
            .iter()
            .map(|call| {
                let body = replies
                    .iter()
                    .find(|(m, _)| *m == call.method)
                    .map(|(_, b)| *b)
                    .unwrap_or_else(|| {
                        assert!(!strict, "no reply recorded for {}", call.method);
                        ANVIL_PEER_COUNT
                    });
                (call.field, reading_of(call, body.as_bytes()))
            })
            .collect();
        assemble_all(c.kind, results)
    }

    // ---- FISCO BCOS consensus calls, as in the FISCO-BCOS-DOC JSON-RPC pages (2.x: ids are
    // strings; 3.x: sealers are {nodeID, weight} objects), ids shortened. ----
    const FISCO2_SEALERS: &str =
        r#"{"id":1,"jsonrpc":"2.0","result":["037c255c","0c0bbd25","41285429"]}"#;
    const FISCO2_OBSERVERS: &str = r#"{"id":1,"jsonrpc":"2.0","result":["10b3a2d4"]}"#;
    const FISCO2_VIEW: &str = r#"{"id":1,"jsonrpc":"2.0","result":"0x1a0"}"#;
    const FISCO3_SEALERS: &str = r#"{"id":1,"jsonrpc":"2.0","result":[{"nodeID":"0055dcaf","weight":1},{"nodeID":"53543990","weight":1},{"nodeID":"dd99ab88","weight":1},{"nodeID":"2a7aecf4","weight":1}]}"#;
    const FISCO3_OBSERVERS: &str = r#"{"id":1,"jsonrpc":"2.0","result":[]}"#;
    const FISCO3_VIEW: &str = r#"{"id":1,"jsonrpc":"2.0","result":1730}"#;
    // ---- Conflux cfx_getStatus as documented for conflux-rust 2.x. ----
    const CFX_STATUS: &str = r#"{"jsonrpc":"2.0","result":{"bestHash":"0x6b6c7e1a","blockNumber":"0x2d1c3f9","chainId":"0x405","ethereumSpaceChainId":"0x406","epochNumber":"0xaf28ab","latestCheckpoint":"0xadf0c0","latestConfirmed":"0xaf2878","latestFinalized":"0xaf2600","latestState":"0xaf28a7","networkId":"0x405","pendingTxNumber":"0x3"},"id":5}"#;

    #[test]
    fn fisco_2_consensus_detail() {
        let (obs, d) = detail_from(
            &chain(ChainKind::FiscoBcos),
            &[
                ("getBlockNumber", FISCO2_BLOCK_NUMBER),
                ("getSyncStatus", FISCO2_SYNC),
                ("getPeers", FISCO2_PEERS),
                ("getClientVersion", FISCO2_CLIENT),
                ("getSealerList", FISCO2_SEALERS),
                ("getObserverList", FISCO2_OBSERVERS),
                ("getPbftView", FISCO2_VIEW),
            ],
            true,
        );
        assert_eq!(obs.syncing, Metric::Value(false));
        assert_eq!(d.node_id.as_deref(), Some("41285429"));
        assert_eq!(d.known_highest, Some(0));
        assert_eq!(
            d.sealers,
            Metric::Value(vec![
                "037c255c".into(),
                "0c0bbd25".into(),
                "41285429".into()
            ])
        );
        assert_eq!(d.observers, Metric::Value(vec!["10b3a2d4".into()]));
        assert_eq!(d.pbft_view, Metric::Value(0x1a0));
        assert_eq!(
            d.observed_role(),
            Some(crate::inventory::NodeRole::Consensus)
        );
        assert!(matches!(d.cfx_status, Metric::Unavailable(_)));
    }

    #[test]
    fn fisco_3_uses_the_group_name_and_reads_weighted_sealers() {
        let c = Chain {
            group: Some("group0".into()),
            ..chain(ChainKind::FiscoBcos)
        };
        assert_eq!(FiscoGroup::of(&c), FiscoGroup::Named("group0".into()));
        for call in plan(&c)
            .iter()
            .filter(|call| call.method != "getClientVersion")
        {
            assert_eq!(call.params, json!(["group0", ""]), "{}", call.method);
        }
        let (obs, d) = detail_from(
            &c,
            &[
                ("getBlockNumber", FISCO3_BLOCK_NUMBER),
                ("getSyncStatus", FISCO3_SYNC),
                ("getPeers", FISCO3_PEERS),
                ("getClientVersion", ANVIL_PEER_COUNT),
                ("getSealerList", FISCO3_SEALERS),
                ("getObserverList", FISCO3_OBSERVERS),
                ("getPbftView", FISCO3_VIEW),
            ],
            true,
        );
        assert_eq!(obs.height, Metric::Value(7));
        assert_eq!(d.node_id.as_deref(), Some("0055dcaf"));
        assert_eq!(d.known_highest, Some(7));
        assert_eq!(d.sealers.value().map(Vec::len), Some(4));
        assert_eq!(d.observers, Metric::Value(vec![]));
        assert_eq!(d.pbft_view, Metric::Value(1730));
        assert_eq!(
            d.observed_role(),
            Some(crate::inventory::NodeRole::Consensus)
        );
        // A node the chain lists nowhere is free; an observer is an observer.
        let mut free = d.clone();
        free.node_id = Some("ffff".into());
        assert_eq!(free.observed_role(), Some(crate::inventory::NodeRole::Free));
        free.observers = Metric::Value(vec!["FFFF".into()]);
        assert_eq!(
            free.observed_role(),
            Some(crate::inventory::NodeRole::Observer)
        );
        // Bad group: every consensus call is an error, never an empty list.
        let (_, d) = detail_from(
            &c,
            &[
                ("getBlockNumber", FISCO2_BAD_GROUP),
                ("getSyncStatus", FISCO2_BAD_GROUP),
                ("getPeers", FISCO2_BAD_GROUP),
                ("getSealerList", FISCO2_BAD_GROUP),
                ("getObserverList", FISCO2_BAD_GROUP),
                ("getPbftView", r#"{"id":1,"jsonrpc":"2.0","result":"view"}"#),
            ],
            false,
        );
        assert!(matches!(d.sealers, Metric::Error(ref e) if e.contains("-40001")));
        assert!(matches!(d.pbft_view, Metric::Error(ref e) if e.contains("unreadable")));
        assert_eq!(d.observed_role(), None);
    }

    #[test]
    fn conflux_status() {
        let (obs, d) = detail_from(
            &chain(ChainKind::Conflux),
            &[
                ("cfx_epochNumber", CFX_EPOCH),
                ("current_sync_phase", CFX_SYNC_PHASE),
                ("net_sessions", CFX_SESSIONS_PUBLIC),
                ("cfx_clientVersion", CFX_CLIENT),
                ("cfx_getStatus", CFX_STATUS),
            ],
            true,
        );
        assert_eq!(obs.height, Metric::Value(0xaf28ab));
        let st = d.cfx_status.value().unwrap();
        assert_eq!((st.chain_id, st.network_id), (1029, Some(1029)));
        assert_eq!(st.epoch_number, 0xaf28ab);
        assert_eq!(st.pending_tx, Some(3));
        assert_eq!(st.latest_confirmed, Some(0xaf2878));
        assert_eq!(st.latest_finalized, Some(0xaf2600));
        assert!(matches!(d.sealers, Metric::Unavailable(_)));
        let bad = r#"{"jsonrpc":"2.0","result":{"bestHash":"0x1"},"id":5}"#;
        let (_, d) = detail_from(&chain(ChainKind::Conflux), &[("cfx_getStatus", bad)], false);
        assert!(matches!(d.cfx_status, Metric::Error(_)));
    }

    #[test]
    fn rpc_reply_error_before_result() {
        assert_eq!(
            parse_rpc_reply(ANVIL_PEER_COUNT.as_bytes()).unwrap(),
            RpcOutcome::MethodNotFound("Method not found".into())
        );
        assert_eq!(
            parse_rpc_reply(ANVIL_INVALID_REQUEST.as_bytes()).unwrap(),
            RpcOutcome::Error {
                code: -32600,
                message: "Invalid request".into()
            }
        );
        // A server that sends both: the error wins.
        let both = br#"{"jsonrpc":"2.0","id":1,"result":null,"error":{"code":-32000,"message":"header not found"}}"#;
        assert!(matches!(
            parse_rpc_reply(both).unwrap(),
            RpcOutcome::Error { code: -32000, .. }
        ));
        // `"error": null` next to a result is a success.
        let ok = br#"{"jsonrpc":"2.0","id":1,"error":null,"result":"0x1"}"#;
        assert_eq!(
            parse_rpc_reply(ok).unwrap(),
            RpcOutcome::Result(json!("0x1"))
        );
        assert_eq!(
            parse_rpc_reply(ANVIL_SYNCING.as_bytes()).unwrap(),
            RpcOutcome::Result(json!(false))
        );
    }

    #[test]
    fn rpc_reply_garbage() {
        assert!(parse_rpc_reply(b"").is_err());
        assert!(parse_rpc_reply(b"Connection header did not include 'upgrade'").is_err());
        assert!(parse_rpc_reply(br#"{"jsonrpc":"2.0","id":1,"res"#).is_err());
        assert!(parse_rpc_reply(br#"[{"jsonrpc":"2.0","id":1,"result":"0x1"}]"#).is_err());
        assert!(parse_rpc_reply(br#"{"jsonrpc":"2.0","id":1}"#).is_err());
        assert!(parse_rpc_reply(&[0xff, 0xfe, 0x00]).is_err());
    }

    #[test]
    fn ethereum_from_anvil_replies() {
        let obs = obs_from(
            ChainKind::Ethereum,
            &[
                ("eth_blockNumber", ANVIL_BLOCK_NUMBER),
                ("eth_syncing", ANVIL_SYNCING),
                ("net_peerCount", ANVIL_PEER_COUNT),
                ("web3_clientVersion", ANVIL_CLIENT),
            ],
        );
        assert_eq!(obs.height, Metric::Value(8));
        assert_eq!(obs.syncing, Metric::Value(false));
        // -32601: unavailable, never 0 and never an error.
        assert_eq!(obs.peers, Metric::Unavailable(NOT_SUPPORTED.into()));
        assert_eq!(obs.client.as_deref(), Some("anvil/v1.7.1"));
    }

    #[test]
    fn ethereum_syncing_object_and_peer_count() {
        let syncing = r#"{"jsonrpc":"2.0","id":2,"result":{"startingBlock":"0x384","currentBlock":"0x386","highestBlock":"0x454"}}"#;
        let peers = r#"{"jsonrpc":"2.0","id":3,"result":"0x19"}"#;
        let obs = obs_from(
            ChainKind::Ethereum,
            &[
                ("eth_blockNumber", ANVIL_BLOCK_NUMBER),
                ("eth_syncing", syncing),
                ("net_peerCount", peers),
                ("web3_clientVersion", ANVIL_PEER_COUNT),
            ],
        );
        assert_eq!(obs.syncing, Metric::Value(true));
        assert_eq!(obs.peers, Metric::Value(25));
        assert_eq!(obs.client, None);
    }

    #[test]
    fn conflux_replies() {
        let obs = obs_from(
            ChainKind::Conflux,
            &[
                ("cfx_epochNumber", CFX_EPOCH),
                ("current_sync_phase", CFX_SYNC_PHASE),
                ("net_sessions", CFX_SESSIONS),
                ("cfx_clientVersion", CFX_CLIENT),
            ],
        );
        assert_eq!(obs.height, Metric::Value(0xaf28ab));
        assert_eq!(obs.syncing, Metric::Value(false));
        assert_eq!(obs.peers, Metric::Value(2));
        assert_eq!(obs.client.as_deref(), Some("conflux-rust-2.4.0"));
        let catching_up = r#"{"jsonrpc":"2.0","result":"CatchUpSyncBlockPhase","id":2}"#;
        let obs = obs_from(
            ChainKind::Conflux,
            &[
                ("cfx_epochNumber", CFX_EPOCH),
                ("current_sync_phase", catching_up),
                ("net_sessions", CFX_SESSIONS_PUBLIC),
                ("cfx_clientVersion", CFX_CLIENT),
            ],
        );
        assert_eq!(obs.syncing, Metric::Value(true));
        assert_eq!(obs.peers, Metric::Unavailable(NOT_SUPPORTED.into()));
        let params = plan(&chain(ChainKind::Conflux))[0].params.clone();
        assert_eq!(params, json!(["latest_mined"]));
    }

    #[test]
    fn fisco_2_and_3_replies() {
        let obs = obs_from(
            ChainKind::FiscoBcos,
            &[
                ("getBlockNumber", FISCO2_BLOCK_NUMBER),
                ("getSyncStatus", FISCO2_SYNC),
                ("getPeers", FISCO2_PEERS),
                ("getClientVersion", FISCO2_CLIENT),
            ],
        );
        assert_eq!(obs.height, Metric::Value(0x1a2));
        assert_eq!(obs.syncing, Metric::Value(false));
        assert_eq!(obs.peers, Metric::Value(3));
        assert_eq!(obs.client.as_deref(), Some("FISCO-BCOS 2.0.0"));

        let obs = obs_from(
            ChainKind::FiscoBcos,
            &[
                ("getBlockNumber", FISCO3_BLOCK_NUMBER),
                ("getSyncStatus", FISCO3_SYNC),
                ("getPeers", FISCO3_PEERS),
                ("getClientVersion", ANVIL_PEER_COUNT),
            ],
        );
        assert_eq!(obs.height, Metric::Value(7));
        assert_eq!(obs.syncing, Metric::Value(false));
        assert_eq!(obs.peers, Metric::Value(3));
        assert_eq!(obs.client, None);

        let obs = obs_from(
            ChainKind::FiscoBcos,
            &[
                ("getBlockNumber", FISCO2_BAD_GROUP),
                ("getSyncStatus", FISCO2_BAD_GROUP),
                ("getPeers", FISCO2_BAD_GROUP),
                ("getClientVersion", FISCO2_CLIENT),
            ],
        );
        match &obs.height {
            Metric::Error(e) => assert!(e.contains("-40001") && e.contains("GroupID"), "{e}"),
            other => panic!("{other:?}"),
        }

        // The group id travels in the params.
        let mut c = chain(ChainKind::FiscoBcos);
        c.group_id = 3;
        assert_eq!(plan(&c)[0].params, json!([3]));
        assert_eq!(
            FiscoGroup::Named("group0".into()).params(),
            json!(["group0", ""])
        );
    }

    #[test]
    fn unreadable_results_are_errors_not_zero() {
        let weird = r#"{"jsonrpc":"2.0","id":1,"result":"latest"}"#;
        let obs = obs_from(
            ChainKind::Ethereum,
            &[
                ("eth_blockNumber", weird),
                (
                    "eth_syncing",
                    r#"{"jsonrpc":"2.0","id":1,"result":"maybe"}"#,
                ),
                ("net_peerCount", "<html>502 Bad Gateway</html>"),
                (
                    "web3_clientVersion",
                    r#"{"jsonrpc":"2.0","id":1,"result":42}"#,
                ),
            ],
        );
        assert!(matches!(obs.height, Metric::Error(ref e) if e.contains("eth_blockNumber")));
        assert!(matches!(obs.syncing, Metric::Error(_)));
        assert!(matches!(obs.peers, Metric::Error(_)));
        assert_eq!(obs.client, None);
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity(&json!("0x0")).unwrap(), 0);
        assert_eq!(quantity(&json!("0x1b4")).unwrap(), 436);
        assert_eq!(quantity(&json!(7)).unwrap(), 7);
        assert_eq!(quantity(&json!("12")).unwrap(), 12);
        assert!(quantity(&json!(-1)).is_err());
        assert!(quantity(&json!(1.5)).is_err());
        assert!(quantity(&json!(null)).is_err());
        assert!(quantity(&json!("0x")).is_err());
    }

    /// A JSON-RPC node on 127.0.0.1 that answers each method from `answer` (None: never
    /// answers) and closes the connection after every reply when `close` is set.
    async fn fake_node(answer: fn(&str) -> Option<String>, close: bool) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        // Requests are small: once a JSON body is complete, answer it.
                        let text = String::from_utf8_lossy(&buf).to_string();
                        let Some(start) = text.find("\r\n\r\n") else {
                            continue;
                        };
                        let Ok(req) = serde_json::from_str::<Value>(&text[start + 4..]) else {
                            continue;
                        };
                        buf.clear();
                        let method = req["method"].as_str().unwrap_or("").to_string();
                        let Some(body) = answer(&method) else {
                            // Hang: hold the connection open without a reply.
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        };
                        let conn = if close { "connection: close\r\n" } else { "" };
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{conn}content-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = sock.write_all(reply.as_bytes()).await;
                        if close {
                            let _ = sock.shutdown().await;
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    fn anvil_like(method: &str) -> Option<String> {
        Some(match method {
            "eth_blockNumber" => ANVIL_BLOCK_NUMBER.to_string(),
            "eth_syncing" => ANVIL_SYNCING.to_string(),
            "web3_clientVersion" => ANVIL_CLIENT.to_string(),
            _ => ANVIL_PEER_COUNT.to_string(),
        })
    }

    fn local_chain(port: u16) -> Chain {
        Chain {
            rpc: Some(format!("http://127.0.0.1:{port}")),
            ..chain(ChainKind::Ethereum)
        }
    }

    #[tokio::test]
    async fn polls_over_one_kept_alive_connection_or_redials_when_closed() {
        let t = Transport::Local(crate::transport::local::LocalHost::new());
        for close in [false, true] {
            let port = fake_node(anvil_like, close).await;
            let obs = poll_chain(&local_chain(port), &t, Duration::from_secs(5)).await;
            assert_eq!(obs.height, Metric::Value(8), "close={close}");
            assert_eq!(obs.syncing, Metric::Value(false), "close={close}");
            assert_eq!(obs.peers, Metric::Unavailable(NOT_SUPPORTED.into()));
            assert_eq!(obs.client.as_deref(), Some("anvil/v1.7.1"));
        }
    }

    #[tokio::test]
    async fn a_hung_node_costs_one_timeout_in_total() {
        fn hang_after_height(method: &str) -> Option<String> {
            (method == "eth_blockNumber").then(|| ANVIL_BLOCK_NUMBER.to_string())
        }
        let t = Transport::Local(crate::transport::local::LocalHost::new());
        let port = fake_node(hang_after_height, false).await;
        let started = std::time::Instant::now();
        let obs = poll_chain(&local_chain(port), &t, Duration::from_millis(600)).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(obs.height, Metric::Value(8));
        assert!(matches!(obs.syncing, Metric::Error(ref e) if e.contains("no reply within")));
        assert!(matches!(obs.peers, Metric::Error(ref e) if e.contains("no reply within")));
    }

    #[tokio::test]
    async fn no_rpc_url_or_https_is_an_error_per_metric() {
        let t = Transport::Local(crate::transport::local::LocalHost::new());
        let mut c = chain(ChainKind::Conflux);
        c.rpc = None;
        let obs = poll_chain(&c, &t, Duration::from_secs(1)).await;
        assert_eq!(obs.height, Metric::Error("no rpc URL configured".into()));
        c.rpc = Some("https://127.0.0.1:1".into());
        let obs = poll_chain(&c, &t, Duration::from_secs(1)).await;
        assert!(
            matches!(obs.peers, Metric::Error(ref e) if e.contains("only http")),
            "{obs:?}"
        );
    }

    #[tokio::test]
    async fn command_chain_polls_by_exec() {
        let t = Transport::Local(crate::transport::local::LocalHost::new());
        let c = Chain {
            kind: ChainKind::Command,
            rpc: None,
            command: Some("printf '0x10\n'".into()),
            group_id: 1,
            group: None,
        };
        let obs = poll_chain(&c, &t, Duration::from_secs(5)).await;
        assert_eq!(obs.height, Metric::Value(16));
        assert_eq!(obs.peers, Metric::Unavailable(NOT_REPORTED.into()));
        let bad = Chain {
            command: Some("echo nope >&2; exit 4".into()),
            ..c
        };
        let obs = poll_chain(&bad, &t, Duration::from_secs(5)).await;
        assert!(
            matches!(obs.height, Metric::Error(ref e) if e.contains("exited 4: nope")),
            "{obs:?}"
        );
    }

    #[test]
    fn request_bodies() {
        let call = &plan(&chain(ChainKind::Ethereum))[0];
        let body: Value = serde_json::from_slice(&call.body(5)).unwrap();
        assert_eq!(
            body,
            json!({"jsonrpc":"2.0","id":5,"method":"eth_blockNumber","params":[]})
        );
        assert!(plan(&chain(ChainKind::Command)).is_empty());
    }
}
