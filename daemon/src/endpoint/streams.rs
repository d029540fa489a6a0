//! Streaming calls: `Logs`, `Events`, `Tap` and `Watch`, answered by
//! [`Response::Streaming`] and then frames until the history asked for is
//! sent (without follow) or the client stops reading.
//!
//! Each call has a producer task and the stream's writer. The producer fills
//! a bounded channel ([`STREAM_BUFFER`] frames); it reads the node's broadcast
//! feeds (log lines, events, tapped requests), so when a reader stalls, the
//! producer waits on the channel, the feed overwrites what it has not read,
//! and the reader is told how much it missed ([`StreamFrame::Dropped`]). The
//! node's loggers, routers and replicas never wait for a reader. When the
//! client goes (it stops the stream or the connection closes), the writer ends
//! and the producer is aborted, closing any streams it opened to other nodes.
//!
//! Fan-out: the CLI talks to one node. The head answers for the cluster: it
//! opens the same call (with `here_only`) to every alive member over the
//! mesh, merges their histories with its own in time order, then relays their
//! live frames; a member that stops answering becomes a notice, the others go
//! on. A member asked for the cluster relays the head's stream. One connection
//! from the CLI, no member address needed, and the head already holds a mesh
//! connection to every member; the price, the head relays every line, is
//! bounded by the same buffers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rserve_protocol::stream::{LogLine, LogQuery, StreamFrame, TapQuery, WatchTarget};
use rserve_protocol::wire::{self, ErrorCode, Request, Response, WireError};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

use super::{Caller, Context};
use crate::observe::logs;
use crate::observe::tap::RateLimit;
use crate::rpc::client::FrameStream;
use crate::unix_now_s as now_s;

/// Frames buffered per stream between its producer and the network.
pub const STREAM_BUFFER: usize = 256;
/// How long the head waits for a member's history before going on without it.
const HISTORY_WAIT: Duration = Duration::from_secs(5);
/// How often a watch looks for a change.
const WATCH_PERIOD: Duration = Duration::from_millis(500);

/// The reader went away: the producer stops.
#[derive(Debug)]
struct Gone;

type Out = mpsc::Sender<StreamFrame>;

async fn send(out: &Out, frame: StreamFrame) -> Result<(), Gone> {
    out.send(frame).await.map_err(|_| Gone)
}

fn notice(message: String) -> StreamFrame {
    StreamFrame::Notice { message }
}

/// Serves one accepted streaming call on `send`.
pub(super) async fn serve(
    ctx: &Context,
    caller: &Caller,
    request: Request,
    mut stream: quinn::SendStream,
) -> anyhow::Result<()> {
    stream
        .write_all(&wire::encode(&Response::Streaming))
        .await?;
    let (out, mut frames) = mpsc::channel(STREAM_BUFFER);
    let producer = tokio::spawn(produce(ctx.clone(), caller.clone(), request, out));
    // Dropping the guard aborts the producer, whichever way this returns.
    let _producer = AbortOnDrop(producer);
    loop {
        let frame = tokio::select! {
            frame = frames.recv() => frame,
            _ = stream.stopped() => return Ok(()),
        };
        match frame {
            Some(frame) => stream.write_all(&wire::encode(&frame)).await?,
            None => break,
        }
    }
    stream.finish()?;
    Ok(())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn produce(ctx: Context, caller: Caller, request: Request, out: Out) {
    let result = match request {
        Request::Logs(query) => self::logs(&ctx, query, &out).await,
        Request::Events { tail, follow } => events(&ctx, tail, follow, &out).await,
        Request::Tap(query) => tap(&ctx, query, &out).await,
        Request::Watch { target, app } => watch(&ctx, &caller, target, app, &out).await,
        other => {
            let error = WireError {
                code: ErrorCode::BadRequest,
                message: format!("not a streaming call: {other:?}"),
            };
            send(&out, StreamFrame::Error(error)).await
        }
    };
    // Gone: the writer has ended already.
    let _ = result;
}

/// On a member, a call for the whole cluster: the head's stream, relayed.
async fn from_head(ctx: &Context, request: &Request, out: &Out) -> Option<Result<(), Gone>> {
    let head = ctx.cluster.head_address()?;
    Some(match ctx.cluster.mesh().open_stream(head, request).await {
        Ok(stream) => relay("the head".to_owned(), stream, out.clone()).await,
        Err(e) => {
            let error = WireError {
                code: ErrorCode::Internal,
                message: format!("cannot reach the cluster head at {head}: {e}"),
            };
            send(out, StreamFrame::Error(error)).await
        }
    })
}

/// Relays `stream` from node `name` into `out` until it ends; a node that
/// stops answering becomes a notice.
async fn relay(name: String, mut stream: FrameStream, out: Out) -> Result<(), Gone> {
    loop {
        match stream.next().await {
            Ok(Some(frame)) => send(&out, frame).await?,
            Ok(None) => return Ok(()),
            Err(e) => {
                return send(
                    &out,
                    notice(format!(
                        "{name} stopped answering ({e}); its stream ends here"
                    )),
                )
                .await;
            }
        }
    }
}

/// The head opens `request` (a `here_only` call) on every alive member that
/// `node` selects; members it cannot reach become notices.
async fn open_members(
    ctx: &Context,
    node: Option<&str>,
    request: &Request,
    out: &Out,
) -> Result<Vec<(String, FrameStream)>, Gone> {
    let Some(fleet) = ctx.cluster.fleet() else {
        return Ok(Vec::new());
    };
    let hosts: Vec<_> = fleet
        .hosts()
        .into_iter()
        .filter(|h| h.node_id != ctx.node_id && node.is_none_or(|n| n == h.node_id))
        .collect();
    // All at once, each bounded: one hung member does not hold up the others.
    let opened = futures_util::future::join_all(hosts.iter().map(|host| {
        tokio::time::timeout(
            HISTORY_WAIT,
            ctx.cluster.mesh().open_stream(host.address, request),
        )
    }))
    .await;
    let mut streams = Vec::new();
    for (host, opened) in hosts.iter().zip(opened) {
        let reason = match opened {
            Ok(Ok(stream)) => {
                streams.push((format!("node {}", host.node_id), stream));
                continue;
            }
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {HISTORY_WAIT:?}"),
        };
        let message = format!("node {}: cannot open its stream: {reason}", host.node_id);
        send(out, notice(message)).await?;
    }
    Ok(streams)
}

async fn logs(ctx: &Context, query: LogQuery, out: &Out) -> Result<(), Gone> {
    if !query.here_only
        && let Some(relayed) = from_head(ctx, &Request::Logs(query.clone()), out).await
    {
        return relayed;
    }
    // Subscribe before reading the history: no line falls between.
    let mut feed = logs::hub().follow();
    let here = query.node.as_deref().is_none_or(|n| n == ctx.node_id);
    let (kept, seen) = if here {
        logs::hub().history_since(&query)
    } else {
        (Vec::new(), u64::MAX)
    };
    let mut history: Vec<LogLine> = kept.iter().map(|l| (**l).clone()).collect();
    drop(kept);
    let mut members = Vec::new();
    if !query.here_only {
        let member_query = LogQuery {
            here_only: true,
            ..query.clone()
        };
        members = open_members(
            ctx,
            query.node.as_deref(),
            &Request::Logs(member_query),
            out,
        )
        .await?;
        let deadline = tokio::time::Instant::now() + HISTORY_WAIT;
        for (name, stream) in &mut members {
            member_history(name, stream, deadline, &mut history, out).await?;
        }
        history.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
    }
    for line in history {
        send(out, StreamFrame::Log(line)).await?;
    }
    send(out, StreamFrame::CaughtUp).await?;
    if !query.follow || query.previous {
        return Ok(());
    }
    let mut relays = JoinSet::new();
    for (name, stream) in members {
        relays.spawn(relay(name, stream, out.clone()));
    }
    if !here {
        out.closed().await;
        return Err(Gone);
    }
    let source = format!("node/{}", ctx.node_id);
    loop {
        match feed.recv().await {
            // Logged between subscribing and reading the history: sent.
            Ok((seq, _)) if seq <= seen => {}
            Ok((_, line)) if query.matches(&line) => {
                send(out, StreamFrame::Log((*line).clone())).await?;
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(count)) => {
                let source = source.clone();
                send(out, StreamFrame::Dropped { count, source }).await?;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        }
    }
}

/// Reads a member's history (up to its `CaughtUp`) into `history`; other
/// frames go straight out. A member too slow or gone becomes a notice.
async fn member_history(
    name: &str,
    stream: &mut FrameStream,
    deadline: tokio::time::Instant,
    history: &mut Vec<LogLine>,
    out: &Out,
) -> Result<(), Gone> {
    loop {
        let frame = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                let message = format!("{name} did not send its history in time; skipped");
                return send(out, notice(message)).await;
            }
            Ok(Err(e)) => return send(out, notice(format!("{name}: {e}"))).await,
            Ok(Ok(None) | Ok(Some(StreamFrame::CaughtUp))) => return Ok(()),
            Ok(Ok(Some(frame))) => frame,
        };
        match frame {
            StreamFrame::Log(line) => history.push(line),
            other => send(out, other).await?,
        }
    }
}

async fn events(ctx: &Context, tail: Option<u32>, follow: bool, out: &Out) -> Result<(), Gone> {
    let request = Request::Events { tail, follow };
    if let Some(relayed) = from_head(ctx, &request, out).await {
        return relayed;
    }
    let mut feed = ctx.live.events.follow();
    let mut last_seq = 0;
    for event in ctx.live.events.history(tail) {
        last_seq = event.seq;
        send(out, StreamFrame::Event(event)).await?;
    }
    send(out, StreamFrame::CaughtUp).await?;
    if !follow {
        return Ok(());
    }
    loop {
        match feed.recv().await {
            // Recorded between subscribing and reading the history: sent already.
            Ok(event) if event.seq <= last_seq => {}
            Ok(event) => send(out, StreamFrame::Event(event)).await?,
            Err(broadcast::error::RecvError::Lagged(count)) => {
                let source = format!("node/{}", ctx.node_id);
                send(out, StreamFrame::Dropped { count, source }).await?;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        }
    }
}

async fn tap(ctx: &Context, query: TapQuery, out: &Out) -> Result<(), Gone> {
    if !query.here_only
        && let Some(relayed) = from_head(ctx, &Request::Tap(query.clone()), out).await
    {
        return relayed;
    }
    // One limit for the whole stream: this node's samples and the members'.
    let limit = Arc::new(Mutex::new(RateLimit::new(query.max_rps, now_s())));
    let (merged, mut incoming) = mpsc::channel::<StreamFrame>(STREAM_BUFFER);
    let mut relays = JoinSet::new();
    if !query.here_only {
        let member_query = TapQuery {
            here_only: true,
            ..query.clone()
        };
        for (name, stream) in
            open_members(ctx, query.node.as_deref(), &Request::Tap(member_query), out).await?
        {
            relays.spawn(relay(name, stream, merged.clone()));
        }
    }
    drop(merged);
    send(out, StreamFrame::CaughtUp).await?;
    let here = query.node.as_deref().is_none_or(|n| n == ctx.node_id);
    let mut tapping = here.then(|| ctx.live.tap.subscribe());
    let source = format!("node/{}", ctx.node_id);
    let allow = || limit.lock().unwrap().allow(now_s());
    let mut members_open = true;
    loop {
        if tapping.is_none() && !members_open {
            // Nothing left to tap: wait for the reader to go.
            out.closed().await;
            return Err(Gone);
        }
        let frame = tokio::select! {
            event = async { tapping.as_mut().expect("guarded").events.recv().await }, if tapping.is_some() => {
                match event {
                    Ok(event) if query.matches(&event) && allow() => StreamFrame::Tap((*event).clone()),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(count)) => {
                        StreamFrame::Dropped { count, source: source.clone() }
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
            frame = incoming.recv(), if members_open => match frame {
                Some(StreamFrame::Tap(_)) if !allow() => continue,
                // Each member's own; the reader got ours.
                Some(StreamFrame::CaughtUp) => continue,
                Some(frame) => frame,
                None => {
                    members_open = false;
                    continue;
                }
            },
        };
        send(out, frame).await?;
    }
}

/// Sends the document now and whenever it changes.
async fn watch(
    ctx: &Context,
    caller: &Caller,
    target: WatchTarget,
    app: Option<String>,
    out: &Out,
) -> Result<(), Gone> {
    let request = match target {
        WatchTarget::Status => Request::Status { app: None },
        WatchTarget::Nodes => Request::Nodes,
        WatchTarget::Routes => Request::Routes,
    };
    let mut last: Option<StreamFrame> = None;
    let mut tick = tokio::time::interval(WATCH_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = out.closed() => return Err(Gone),
        }
        let frame = match super::dispatch(ctx, request.clone(), caller).await {
            Response::Status(mut status) => {
                if let Some(app) = &app {
                    status.applications.retain(|name, _| name == app);
                }
                StreamFrame::Status(status)
            }
            Response::Nodes { nodes } => StreamFrame::Nodes { nodes },
            Response::Routes(view) => StreamFrame::Routes(view),
            Response::Error(e) => {
                // The head restarting: say so once, and keep trying.
                let what = match target {
                    WatchTarget::Status => "status",
                    WatchTarget::Nodes => "node list",
                    WatchTarget::Routes => "route view",
                };
                let frame = notice(format!("cannot read the {what} now: {}", e.message));
                if last.as_ref() != Some(&frame) {
                    send(out, frame.clone()).await?;
                    last = Some(frame);
                }
                continue;
            }
            other => {
                let message = format!("unexpected answer: {other:?}");
                let error = WireError {
                    code: ErrorCode::Internal,
                    message,
                };
                return send(out, StreamFrame::Error(error)).await;
            }
        };
        if last.as_ref().is_none_or(|last| changed(last, &frame)) {
            send(out, frame.clone()).await?;
            last = Some(frame);
        }
    }
}

/// Whether `new` differs from `old` in more than clocks (uptime, seconds since
/// a heartbeat).
fn changed(old: &StreamFrame, new: &StreamFrame) -> bool {
    match (old, new) {
        (StreamFrame::Status(a), StreamFrame::Status(b)) => {
            let (mut a, mut b) = (a.clone(), b.clone());
            a.node.uptime_s = 0.0;
            b.node.uptime_s = 0.0;
            a != b
        }
        (StreamFrame::Nodes { nodes: a }, StreamFrame::Nodes { nodes: b }) => {
            let strip = |nodes: &[rserve_protocol::wire::NodeStatus]| {
                nodes
                    .iter()
                    .map(|n| {
                        let mut n = n.clone();
                        n.last_heartbeat_s = 0.0;
                        n
                    })
                    .collect::<Vec<_>>()
            };
            strip(a) != strip(b)
        }
        (a, b) => a != b,
    }
}
