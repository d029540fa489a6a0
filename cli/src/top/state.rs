//! What `rserve top` knows and shows: the cluster's data as the streams
//! deliver it, and the screens the operator has opened. The reducer
//! (`reduce`) is the only writer; a frame is drawn from a shared borrow.

use std::collections::{BTreeMap, VecDeque};

use regex::{Regex, RegexBuilder};
use rserve_protocol::status::ServeStatus;
use rserve_protocol::stream::{ClusterEvent, LogLine, RoutesView, StreamFrame, TapEvent};
use rserve_protocol::wire::NodeStatus;

/// Most events kept (the head keeps 1000; the newest matter on screen).
pub const MAX_EVENTS: usize = 500;
/// Most sampled requests kept for the routing view.
pub const MAX_TAP: usize = 200;
/// Most log lines kept for the log view.
pub const MAX_LOG_LINES: usize = 5000;
/// Requests-per-second samples kept per deployment (one a second).
pub const TREND_SAMPLES: usize = 30;

/// What the background tasks send the loop.
#[derive(Debug)]
pub enum Feed {
    Frame(Stream, Box<StreamFrame>),
    /// The stream is open (again): what it sends next replaces what it sent.
    Connected(Stream),
    /// The stream broke; it is being reopened.
    Lost(Stream, String),
    /// A call the operator made has answered.
    Answer(Answer),
}

/// The outcome of a call made from the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Done(String),
    Failed(String),
    Config { app: String, toml: String },
}

/// The streams the monitor reads, each on its own connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stream {
    Status,
    Nodes,
    Routes,
    Events,
    Tap,
    Logs,
}

/// The cluster as the streams last described it.
#[derive(Debug, Default)]
pub struct Data {
    /// The control address talked to, for the header.
    pub address: String,
    pub status: Option<ServeStatus>,
    pub nodes: Vec<NodeStatus>,
    pub routes: Option<RoutesView>,
    /// Oldest first.
    pub events: VecDeque<ClusterEvent>,
    /// Oldest first.
    pub tap: VecDeque<TapEvent>,
    /// Oldest first.
    pub logs: VecDeque<LogLine>,
    /// Lines or events skipped for this reader (it was too slow).
    pub dropped: u64,
    /// Requests/s per `(app, deployment)`, oldest first, one sample a second.
    pub trend: BTreeMap<(String, String), VecDeque<f64>>,
    /// Streams that are down now, with why.
    pub lost: BTreeMap<Stream, String>,
    /// The last notice a stream sent (a node stopped answering, ...).
    pub notice: Option<String>,
    /// The deployed config of one application, as TOML, once fetched.
    pub config: Option<(String, String)>,
}

impl Data {
    /// Takes one frame of `stream`.
    pub fn apply(&mut self, stream: Stream, frame: StreamFrame) {
        match frame {
            StreamFrame::Status(status) => self.status = Some(*status),
            StreamFrame::Nodes { nodes } => self.nodes = nodes,
            StreamFrame::Routes(view) => self.routes = Some(view),
            StreamFrame::Event(event) => push(&mut self.events, event, MAX_EVENTS),
            StreamFrame::Tap(event) => push(&mut self.tap, event, MAX_TAP),
            StreamFrame::Log(line) => push(&mut self.logs, line, MAX_LOG_LINES),
            StreamFrame::Dropped { count, .. } => self.dropped += count,
            StreamFrame::Notice { message } => self.notice = Some(message),
            StreamFrame::Error(e) => {
                self.lost.insert(stream, e.message);
            }
            StreamFrame::CaughtUp => {}
        }
    }

    /// A stream is (re)connected: what it sends next replaces what it sent
    /// before (a reconnected log stream repeats its history).
    pub fn reset(&mut self, stream: Stream) {
        self.lost.remove(&stream);
        match stream {
            Stream::Events => self.events.clear(),
            Stream::Tap => self.tap.clear(),
            Stream::Logs => {
                self.logs.clear();
                self.dropped = 0;
            }
            Stream::Status | Stream::Nodes | Stream::Routes => {}
        }
    }

    /// Records each deployment's current request rate (called once a second).
    pub fn sample_trend(&mut self) {
        let Some(routes) = &self.routes else {
            return;
        };
        for d in &routes.deployments {
            let rps = d.replicas.iter().map(|r| r.rps).sum();
            let key = (d.app.clone(), d.deployment.clone());
            push(self.trend.entry(key).or_default(), rps, TREND_SAMPLES);
        }
        self.trend.retain(|(app, dep), _| {
            routes
                .deployments
                .iter()
                .any(|d| &d.app == app && &d.deployment == dep)
        });
    }

    /// The head's node id.
    pub fn head_id(&self) -> &str {
        self.status.as_ref().map_or("", |s| s.node.node_id.as_str())
    }
}

fn push<T>(ring: &mut VecDeque<T>, item: T, max: usize) {
    if ring.len() == max {
        ring.pop_front();
    }
    ring.push_back(item);
}

/// What one screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Nodes,
    Apps,
    /// Every application's deployments, or one application's.
    Deployments {
        app: Option<String>,
    },
    /// Replicas of one deployment, of one node, or of all.
    Replicas {
        app: Option<String>,
        deployment: Option<String>,
        node: Option<String>,
    },
    Routing,
    Events,
    Logs(LogTarget),
    Describe(Target),
    Config {
        app: String,
    },
}

impl View {
    /// The name in the title and in `:` commands.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Nodes => "nodes",
            Self::Apps => "applications",
            Self::Deployments { .. } => "deployments",
            Self::Replicas { .. } => "replicas",
            Self::Routing => "routing",
            Self::Events => "events",
            Self::Logs(_) => "logs",
            Self::Describe(_) => "describe",
            Self::Config { .. } => "config",
        }
    }

    /// Whether the view is a table of rows (selection, sort, filter).
    pub fn is_table(&self) -> bool {
        matches!(
            self,
            Self::Nodes
                | Self::Apps
                | Self::Deployments { .. }
                | Self::Replicas { .. }
                | Self::Routing
                | Self::Events
        )
    }
}

/// Whose logs a log view follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    pub app: Option<String>,
    pub deployment: Option<String>,
    pub replica: Option<String>,
    /// Only lines of this node (its replicas' and its own).
    pub node: Option<String>,
    /// Lines of replicas that have ended (`--previous`).
    pub previous: bool,
}

impl LogTarget {
    pub fn label(&self) -> String {
        match (&self.replica, &self.app, &self.deployment) {
            (Some(id), ..) => format!("replica/{id}"),
            (None, None, _) if self.node.is_some() => {
                format!("node/{}", self.node.as_deref().unwrap_or_default())
            }
            (None, Some(app), Some(dep)) => format!("{app}/{dep}"),
            (None, Some(app), None) => app.clone(),
            (None, None, _) => "all".to_owned(),
        }
    }
}

/// The thing a row stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Node(String),
    App(String),
    Deployment {
        app: String,
        deployment: String,
    },
    Replica {
        app: String,
        deployment: String,
        id: String,
    },
    Event(u64),
}

impl Target {
    /// `kind/name`, kubectl's way.
    pub fn label(&self) -> String {
        match self {
            Self::Node(id) => format!("node/{id}"),
            Self::App(app) => format!("app/{app}"),
            Self::Deployment { app, deployment } => format!("deployment/{app}/{deployment}"),
            Self::Replica { id, .. } => format!("replica/{id}"),
            Self::Event(seq) => format!("event/{seq}"),
        }
    }

    /// The application the target belongs to, if any.
    pub fn app(&self) -> Option<&str> {
        match self {
            Self::App(app) | Self::Deployment { app, .. } | Self::Replica { app, .. } => Some(app),
            Self::Node(_) | Self::Event(_) => None,
        }
    }
}

/// A `/` filter: a case-insensitive regex (a plain substring if the text is
/// not one), `!` in front inverts it.
#[derive(Debug, Clone)]
pub struct Filter {
    pub text: String,
    invert: bool,
    regex: Option<Regex>,
    needle: String,
}

impl Filter {
    pub fn new(text: &str) -> Self {
        let (invert, pattern) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        Self {
            text: text.to_owned(),
            invert,
            regex: RegexBuilder::new(pattern)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .ok(),
            needle: pattern.to_lowercase(),
        }
    }

    pub fn matches(&self, haystack: &str) -> bool {
        let found = match &self.regex {
            Some(re) => re.is_match(haystack),
            None => haystack.to_lowercase().contains(&self.needle),
        };
        found != self.invert
    }
}

/// One open screen and how the operator has arranged it.
#[derive(Debug, Clone)]
pub struct Screen {
    pub view: View,
    /// The selected row (tables) or the first line shown (text views).
    pub selected: usize,
    pub filter: Option<Filter>,
    /// Sort by this column, descending when `true`.
    pub sort: Option<(usize, bool)>,
}

impl Screen {
    pub fn new(view: View) -> Self {
        Self {
            view,
            selected: 0,
            filter: None,
            sort: None,
        }
    }
}

/// How the log view shows lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStyle {
    /// Keep the newest line in view.
    pub follow: bool,
    pub wrap: bool,
    pub timestamps: bool,
}

/// What a confirmation dialog would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    DeleteApp(String),
    RestartReplica { id: String, deployment: String },
}

/// What the keyboard is typing into, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// After `:`.
    Command(String),
    /// After `/`.
    Filter(String),
    /// After `s` on a deployment: how many replicas.
    Scale {
        app: String,
        deployment: String,
        input: String,
        error: Option<String>,
    },
    /// A yes/no dialog; `yes` is the highlighted button.
    Confirm {
        action: Confirm,
        yes: bool,
    },
    Help,
}

/// A one-line message under the header, until the next key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub text: String,
    pub error: bool,
}

/// Everything `rserve top` holds.
#[derive(Debug)]
pub struct App {
    pub data: Data,
    /// Open screens; the last is shown. Never empty.
    pub stack: Vec<Screen>,
    pub mode: Mode,
    pub readonly: bool,
    pub log_style: LogStyle,
    pub flash: Option<Flash>,
    /// Unix time now, as the loop's clock (or a test's) says.
    pub now_s: f64,
    /// Something on screen changed since the last frame.
    pub dirty: bool,
    /// `q` or Ctrl-C was pressed.
    pub quit: bool,
    /// Rows a page key moves (the table's height, set by the loop).
    pub page: usize,
}

impl App {
    pub fn new(address: String, readonly: bool, now_s: f64) -> Self {
        Self {
            data: Data {
                address,
                ..Data::default()
            },
            stack: vec![Screen::new(View::Deployments { app: None })],
            mode: Mode::Normal,
            readonly,
            log_style: LogStyle {
                follow: true,
                wrap: false,
                timestamps: false,
            },
            flash: None,
            now_s,
            dirty: true,
            quit: false,
            page: 10,
        }
    }

    pub fn screen(&self) -> &Screen {
        self.stack.last().expect("the stack is never empty")
    }

    pub fn screen_mut(&mut self) -> &mut Screen {
        self.stack.last_mut().expect("the stack is never empty")
    }

    pub fn flash(&mut self, text: impl Into<String>, error: bool) {
        self.flash = Some(Flash {
            text: text.into(),
            error,
        });
    }
}
