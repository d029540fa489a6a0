//! Background tasks that feed the loop: one per stream (status, nodes,
//! routes and events always; tap and logs while a view shows them), each on
//! its own connection, reopened a second after it breaks; and the calls the
//! operator makes. Each sends [`Feed`]s into one bounded channel; a task
//! ends when its handle is dropped.

use std::time::Duration;

use rserve_protocol::stream::{LogQuery, TapQuery, WatchTarget};
use rserve_protocol::wire::{Request, Response};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::reduce::Effect;
use super::state::{Answer, Feed, Stream};
use crate::args::Global;
use crate::connect::{Access, AdminToken, connect};

/// How long a broken stream waits before it is reopened.
const RECONNECT: Duration = Duration::from_secs(1);
/// Events of history the events view starts with.
const EVENTS_TAIL: u32 = 200;

/// Aborts its task when dropped.
#[derive(Debug)]
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the tasks need to reach the node.
#[derive(Debug, Clone)]
struct Link {
    global: Global,
    token: AdminToken,
    tx: mpsc::Sender<Feed>,
}

/// The running tasks.
#[derive(Debug)]
pub struct Feeds {
    link: Link,
    _always: Vec<Task>,
    logs: Option<(LogQuery, Task)>,
    tap: Option<(TapQuery, Task)>,
}

impl Feeds {
    /// Starts the always-on streams.
    pub fn start(global: Global, token: AdminToken, tx: mpsc::Sender<Feed>) -> Self {
        let link = Link { global, token, tx };
        let watch =
            |stream, target| follow(link.clone(), stream, Request::Watch { target, app: None });
        let always = vec![
            watch(Stream::Status, WatchTarget::Status),
            watch(Stream::Nodes, WatchTarget::Nodes),
            watch(Stream::Routes, WatchTarget::Routes),
            follow(
                link.clone(),
                Stream::Events,
                Request::Events {
                    tail: Some(EVENTS_TAIL),
                    follow: true,
                },
            ),
        ];
        Self {
            link,
            _always: always,
            logs: None,
            tap: None,
        }
    }

    /// Runs an effect of the reducer.
    pub fn run(&mut self, effect: Effect) {
        match effect {
            Effect::Call { what, request } => {
                tokio::spawn(call(self.link.clone(), what, request));
            }
            Effect::FetchConfig(app) => {
                let request = Request::Config {
                    app: Some(app.clone()),
                };
                tokio::spawn(call(self.link.clone(), format!("config of {app}"), request));
            }
            Effect::Want { logs, tap } => {
                if self.logs.as_ref().map(|(q, _)| q) != logs.as_ref() {
                    self.logs = logs.map(|q| {
                        let task =
                            follow(self.link.clone(), Stream::Logs, Request::Logs(q.clone()));
                        (q, task)
                    });
                }
                if self.tap.as_ref().map(|(q, _)| q) != tap.as_ref() {
                    self.tap = tap.map(|q| {
                        let task = follow(self.link.clone(), Stream::Tap, Request::Tap(q.clone()));
                        (q, task)
                    });
                }
            }
        }
    }
}

/// Keeps `request`'s stream open, forwarding its frames, until dropped.
/// A stream of ended replicas' lines (`--previous`) is complete when the
/// node ends it; any other is reopened.
fn follow(link: Link, stream: Stream, request: Request) -> Task {
    let complete = matches!(&request, Request::Logs(q) if q.previous || !q.follow);
    Task(tokio::spawn(async move {
        loop {
            let why = match pump(&link, stream, &request).await {
                Ok(()) if complete => return,
                Ok(()) => "the node ended the stream".to_owned(),
                Err(why) => why,
            };
            if link.tx.send(Feed::Lost(stream, why)).await.is_err() {
                return;
            }
            tokio::time::sleep(RECONNECT).await;
        }
    }))
}

/// One connection's life: connect, open, forward frames until it breaks.
async fn pump(link: &Link, stream: Stream, request: &Request) -> Result<(), String> {
    let client = connect(&link.global, &link.token, Access::Read)
        .await
        .map_err(|f| format!("{:#}", f.error))?;
    let mut frames = match client.open_stream(request).await {
        Ok(Ok(frames)) => frames,
        Ok(Err(Response::Error(e))) => return Err(e.message),
        Ok(Err(other)) => return Err(format!("unexpected answer: {other:?}")),
        Err(e) => return Err(e.to_string()),
    };
    if link.tx.send(Feed::Connected(stream)).await.is_err() {
        return Ok(());
    }
    loop {
        match frames.next().await {
            Ok(Some(frame)) => {
                if link
                    .tx
                    .send(Feed::Frame(stream, Box::new(frame)))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// One call; its outcome goes back as an [`Answer`].
async fn call(link: Link, what: String, request: Request) {
    // The admin token goes only with a call that changes state.
    let access = if request.is_mutating() {
        Access::Admin
    } else {
        Access::Read
    };
    let answer = match connect(&link.global, &link.token, access).await {
        Err(f) => Answer::Failed(format!("{what}: {:#}", f.error)),
        Ok(client) => {
            let answer = match client.call(&request).await {
                Err(e) => Answer::Failed(format!("{what}: {e}")),
                Ok(Response::Error(e)) => Answer::Failed(format!("{what}: {}", e.message)),
                Ok(Response::Config(file)) => Answer::Config {
                    app: match &request {
                        Request::Config { app } => app.clone().unwrap_or_default(),
                        _ => String::new(),
                    },
                    toml: file.to_toml(),
                },
                Ok(_) => Answer::Done(format!("{what}: done")),
            };
            client.close().await;
            answer
        }
    };
    let _ = link.tx.send(Feed::Answer(answer)).await;
}
