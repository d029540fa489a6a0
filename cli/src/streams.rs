//! The streaming commands: `logs`, `events`, `tap`, `routes`, and the
//! watches of `status -w` and `nodes -w`. Each opens one streaming call on
//! the node it talks to (the head answers for the cluster) and prints frames
//! as they come: text for people, JSON Lines with `-o json`. Notices (a node
//! stopped answering, lines dropped for a slow reader) go to stderr.

use std::collections::BTreeMap;
use std::time::Duration;

use rserve_daemon::rpc::client::{ControlClient, FrameStream};
use rserve_protocol::stream::{LogQuery, StreamFrame, TapQuery, WatchTarget};
use rserve_protocol::wire::{ErrorCode, NodeStatus, Request, Response, WireError};

use crate::Invocation;
use crate::args::{
    EventsArgs, ListOutput, LogsArgs, NodesArgs, RoutesArgs, RoutesOutput, StatusArgs,
    StreamOutput, TapArgs,
};
use crate::connect::client_failure;
use crate::exit::{Exit, ExitContext, Failure, fail};
use crate::output::live::{self, LineStyle, NamedApp, WatchEvent};
use crate::output::{self, View};

/// How long a watch waits before reconnecting to a node that went away.
const RECONNECT: Duration = Duration::from_secs(1);

fn refused(response: Response) -> Failure {
    match response {
        Response::Error(WireError { code, message }) => fail(
            match code {
                ErrorCode::Unauthorized => Exit::Unreachable,
                _ => Exit::Failed,
            },
            message,
        ),
        other => fail(
            Exit::Failed,
            format!("unexpected answer from the node: {other:?}"),
        ),
    }
}

/// Connects and opens `request`; the client must outlive the stream.
async fn open(cx: &Invocation, request: &Request) -> Result<(ControlClient, FrameStream), Failure> {
    let client =
        crate::connect::connect(&cx.global, &cx.token, crate::connect::Access::Read).await?;
    match client.open_stream(request).await.map_err(client_failure)? {
        Ok(stream) => Ok((client, stream)),
        Err(response) => Err(refused(response)),
    }
}

/// The next frame; the end of the stream is `None`; a broken stream fails.
async fn next(stream: &mut FrameStream) -> Result<Option<StreamFrame>, Failure> {
    stream.next().await.map_err(client_failure)
}

/// Writes a frame as one JSON line.
fn json_line(cx: &Invocation, frame: &StreamFrame) -> Result<(), Failure> {
    let mut line = serde_json::to_string(frame).exit(Exit::Failed)?;
    line.push('\n');
    cx.printer.data(line).exit(Exit::Failed)
}

/// What every stream may send besides its items: with `-o json` a JSON line
/// (scripts see what was dropped), else a note on stderr. `Err` for an error.
fn side_frame(cx: &Invocation, frame: &StreamFrame, json: bool) -> Result<(), Failure> {
    match frame {
        StreamFrame::Dropped { .. } | StreamFrame::Notice { .. } if json => json_line(cx, frame),
        StreamFrame::Dropped { count, source } => {
            cx.printer.note(format!(
                "… {count} items skipped at {source}: this reader was too slow"
            ));
            Ok(())
        }
        StreamFrame::Notice { message } => {
            cx.printer.note(format!("notice: {message}"));
            Ok(())
        }
        StreamFrame::Error(e) => Err(fail(Exit::Failed, &e.message)),
        _ => Ok(()),
    }
}

use rserve_daemon::unix_now_s as now_s;

/// `APP`, `APP/DEPLOYMENT` or `replica/ID` into a query's selectors.
fn selectors(target: Option<&str>) -> (Option<String>, Option<String>, Option<String>) {
    match target {
        None => (None, None, None),
        Some(t) => match t.split_once('/') {
            Some(("replica", id)) => (None, None, Some(id.to_owned())),
            Some((app, dep)) => (Some(app.to_owned()), Some(dep.to_owned()), None),
            None => (Some(t.to_owned()), None, None),
        },
    }
}

pub async fn logs(cx: &Invocation, args: LogsArgs) -> Result<Exit, Failure> {
    let (app, deployment, replica) = selectors(args.target.as_deref());
    let query = LogQuery {
        app,
        deployment,
        replica: args.replica.or(replica),
        node: args.node,
        since_s: args.since.map(|s| now_s() - s),
        tail: args.tail,
        follow: args.follow,
        previous: args.previous,
        here_only: false,
    };
    let prefix = if args.prefix {
        true
    } else if args.no_prefix {
        false
    } else {
        sources(cx, &query).await? != 1
    };
    let style = LineStyle {
        prefix,
        timestamps: args.timestamps,
    };
    let (_client, mut stream) = open(cx, &Request::Logs(query)).await?;
    while let Some(frame) = next(&mut stream).await? {
        match (&frame, args.output) {
            (StreamFrame::Log(line), StreamOutput::Text) => cx
                .printer
                .data(live::log_line(line, style))
                .exit(Exit::Failed)?,
            (StreamFrame::Log(_), StreamOutput::Json) => json_line(cx, &frame)?,
            (StreamFrame::CaughtUp, _) => {}
            (_, output) => side_frame(cx, &frame, output == StreamOutput::Json)?,
        }
    }
    Ok(Exit::Ok)
}

/// How many sources (replicas, and nodes for their own lines) a query
/// reads from, per the head's status: lines are prefixed when more than one.
async fn sources(cx: &Invocation, query: &LogQuery) -> Result<usize, Failure> {
    if query.replica.is_some() {
        return Ok(1);
    }
    if !query.selects_replicas() || query.previous {
        // Node lines, or ended replicas status no longer lists.
        return Ok(usize::MAX);
    }
    let client =
        crate::connect::connect(&cx.global, &cx.token, crate::connect::Access::Read).await?;
    let response = client
        .call(&Request::Status {
            app: query.app.clone(),
        })
        .await
        .map_err(client_failure)?;
    let Response::Status(status) = response else {
        return Err(refused(response));
    };
    let head = status.node.node_id.clone();
    let autoscaled = status
        .applications
        .values()
        .flat_map(|a| a.deployments.iter())
        .filter(|(name, _)| query.deployment.as_ref().is_none_or(|d| d == *name))
        .any(|(_, d)| d.autoscaling_detail.is_some());
    if autoscaled && query.follow {
        // Its replica count may grow while we follow: name each line's source.
        client.close().await;
        return Ok(usize::MAX);
    }
    let count = status
        .applications
        .values()
        .flat_map(|a| a.deployments.iter())
        .filter(|(name, _)| query.deployment.as_ref().is_none_or(|d| d == *name))
        .flat_map(|(_, d)| d.replicas.iter())
        // Status leaves the node of the head's own replicas empty.
        .filter(|r| {
            let node = if r.node_id.is_empty() {
                &head
            } else {
                &r.node_id
            };
            query.node.as_ref().is_none_or(|n| n == node)
        })
        .count();
    client.close().await;
    Ok(count)
}

pub async fn events(cx: &Invocation, args: EventsArgs) -> Result<Exit, Failure> {
    let request = Request::Events {
        tail: args.tail,
        follow: args.follow,
    };
    let (_client, mut stream) = open(cx, &request).await?;
    if args.output == StreamOutput::Text && !args.no_headers {
        cx.printer.data(live::event_header()).exit(Exit::Failed)?;
    }
    while let Some(frame) = next(&mut stream).await? {
        match (&frame, args.output) {
            (StreamFrame::Event(event), StreamOutput::Text) => {
                cx.printer.data(live::event_row(event)).exit(Exit::Failed)?
            }
            (StreamFrame::Event(_), StreamOutput::Json) => json_line(cx, &frame)?,
            (StreamFrame::CaughtUp, _) => {}
            (_, output) => side_frame(cx, &frame, output == StreamOutput::Json)?,
        }
    }
    Ok(Exit::Ok)
}

pub async fn tap(cx: &Invocation, args: TapArgs) -> Result<Exit, Failure> {
    let (app, deployment, _) = selectors(args.target.as_deref());
    let query = TapQuery {
        app,
        deployment,
        node: args.node,
        max_rps: args.max_rps,
        here_only: false,
    };
    let (_client, mut stream) = open(cx, &Request::Tap(query)).await?;
    while let Some(frame) = next(&mut stream).await? {
        match (&frame, args.output) {
            (StreamFrame::Tap(event), StreamOutput::Text) => {
                cx.printer.data(live::tap_line(event)).exit(Exit::Failed)?
            }
            (StreamFrame::Tap(_), StreamOutput::Json) => json_line(cx, &frame)?,
            (StreamFrame::CaughtUp, _) => {}
            (_, output) => side_frame(cx, &frame, output == StreamOutput::Json)?,
        }
    }
    Ok(Exit::Ok)
}

pub async fn routes(cx: &Invocation, args: RoutesArgs) -> Result<Exit, Failure> {
    let view = View {
        wide: args.output == RoutesOutput::Wide,
        headers: !args.no_headers,
    };
    let render = |routes: &rserve_protocol::stream::RoutesView| -> Result<String, Failure> {
        match args.output {
            RoutesOutput::Table | RoutesOutput::Wide => Ok(live::routes_table(routes, view)),
            RoutesOutput::Json => output::json(routes),
            RoutesOutput::Yaml => output::yaml(routes),
        }
    };
    if !args.watch {
        let client =
            crate::connect::connect(&cx.global, &cx.token, crate::connect::Access::Read).await?;
        let response = client
            .call(&Request::Routes)
            .await
            .map_err(client_failure)?;
        let Response::Routes(routes) = response else {
            return Err(refused(response));
        };
        cx.printer.data(render(&routes)?).exit(Exit::Failed)?;
        return Ok(Exit::Ok);
    }
    let redraw = cx.printer.stdout_is_terminal()
        && matches!(args.output, RoutesOutput::Table | RoutesOutput::Wide);
    watch(cx, WatchTarget::Routes, None, |frame| {
        let StreamFrame::Routes(routes) = frame else {
            return Ok(());
        };
        match args.output {
            RoutesOutput::Json => json_line(cx, frame),
            _ if redraw => cx.printer.redraw(render(routes)?).exit(Exit::Failed),
            RoutesOutput::Yaml => cx
                .printer
                .data(format!("---\n{}", render(routes)?))
                .exit(Exit::Failed),
            _ => cx
                .printer
                .data(format!("{}\n", render(routes)?))
                .exit(Exit::Failed),
        }
    })
    .await
}

pub async fn watch_status(cx: &Invocation, args: StatusArgs) -> Result<Exit, Failure> {
    let view = |wide| View {
        wide,
        headers: !args.no_headers,
    };
    let redraw = cx.printer.stdout_is_terminal()
        && matches!(args.output, ListOutput::Table | ListOutput::Wide);
    let mut last: BTreeMap<String, _> = BTreeMap::new();
    watch(cx, WatchTarget::Status, args.app.clone(), |frame| {
        let StreamFrame::Status(status) = frame else {
            return Ok(());
        };
        if redraw {
            let text = output::status::table(status, view(args.output == ListOutput::Wide));
            return cx.printer.redraw(text).exit(Exit::Failed);
        }
        let apps = live::apps(status);
        for change in live::changes(&last, &apps) {
            let text = match args.output {
                ListOutput::Json => {
                    let event = named(&change);
                    serde_json::to_string(&event).exit(Exit::Failed)? + "\n"
                }
                ListOutput::Yaml => format!("---\n{}", output::yaml(&named(&change))?),
                ListOutput::Name => format!("application/{}\n", change.object.0),
                ListOutput::Table | ListOutput::Wide => live::app_change_line(&change),
            };
            cx.printer.data(text).exit(Exit::Failed)?;
        }
        last = apps;
        Ok(())
    })
    .await
}

fn named(
    change: &WatchEvent<(String, rserve_protocol::status::ApplicationDetails)>,
) -> WatchEvent<NamedApp> {
    WatchEvent {
        kind: change.kind,
        object: NamedApp {
            name: change.object.0.clone(),
            details: change.object.1.clone(),
        },
    }
}

pub async fn watch_nodes(cx: &Invocation, args: NodesArgs) -> Result<Exit, Failure> {
    let view = |wide| View {
        wide,
        headers: !args.no_headers,
    };
    let redraw = cx.printer.stdout_is_terminal()
        && matches!(args.output, ListOutput::Table | ListOutput::Wide);
    let mut last: BTreeMap<String, NodeStatus> = BTreeMap::new();
    watch(cx, WatchTarget::Nodes, None, |frame| {
        let StreamFrame::Nodes { nodes } = frame else {
            return Ok(());
        };
        if redraw {
            let text = output::nodes::table(nodes, view(args.output == ListOutput::Wide), now_s());
            return cx.printer.redraw(text).exit(Exit::Failed);
        }
        let by_id = live::nodes_by_id(nodes);
        for change in live::changes(&last, &by_id) {
            let event = WatchEvent {
                kind: change.kind,
                object: change.object.1.clone(),
            };
            let text = match args.output {
                ListOutput::Json => serde_json::to_string(&event).exit(Exit::Failed)? + "\n",
                ListOutput::Yaml => format!("---\n{}", output::yaml(&event)?),
                ListOutput::Name => format!("node/{}\n", change.object.0),
                ListOutput::Table | ListOutput::Wide => live::node_change_line(&change),
            };
            cx.printer.data(text).exit(Exit::Failed)?;
        }
        last = by_id;
        Ok(())
    })
    .await
}

/// Follows a watch until interrupted; after the node goes away (a restart),
/// says so on stderr and reconnects every [`RECONNECT`]. `on_frame` sees each
/// document.
async fn watch(
    cx: &Invocation,
    target: WatchTarget,
    app: Option<String>,
    mut on_frame: impl FnMut(&StreamFrame) -> Result<(), Failure>,
) -> Result<Exit, Failure> {
    let request = Request::Watch { target, app };
    let mut connected_once = false;
    loop {
        let (client, mut stream) = match open(cx, &request).await {
            Ok(opened) => opened,
            // Nothing to watch yet: the first failure is the answer.
            Err(e) if !connected_once => return Err(e),
            Err(_) => {
                tokio::time::sleep(RECONNECT).await;
                continue;
            }
        };
        if connected_once {
            cx.printer.note("reconnected.");
        }
        connected_once = true;
        let ended = loop {
            match stream.next().await {
                Ok(Some(frame)) => {
                    side_frame(cx, &frame, false)?;
                    on_frame(&frame)?;
                }
                Ok(None) => break "the node ended the watch".to_owned(),
                Err(e) => break e.to_string(),
            }
        };
        drop(stream);
        drop(client);
        cx.printer
            .note(format!("lost the node ({ended}); reconnecting…"));
        tokio::time::sleep(RECONNECT).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_select_app_deployment_or_replica() {
        assert_eq!(selectors(None), (None, None, None));
        assert_eq!(selectors(Some("chat")), (Some("chat".into()), None, None));
        assert_eq!(
            selectors(Some("chat/llm")),
            (Some("chat".into()), Some("llm".into()), None)
        );
        assert_eq!(
            selectors(Some("replica/llm-1a2b")),
            (None, None, Some("llm-1a2b".into()))
        );
    }
}
