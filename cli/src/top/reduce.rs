//! Input → state: keys (through the key map), stream frames and the clock
//! change the [`App`]; what must happen outside it (a call, a stream to
//! open) comes back as [`Effect`]s for the loop to run.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rserve_protocol::config::MAX_REPLICAS;
use rserve_protocol::stream::{LogQuery, TapQuery};
use rserve_protocol::wire::Request;

use super::keys::{self, Action};
use super::state::{Answer, App, Confirm, Feed, Filter, LogTarget, Mode, Screen, Target, View};
use super::tables;

/// Sampled requests a second the routing view asks for.
pub const TAP_RPS: u32 = 20;
/// Log lines of history a log view starts with.
pub const LOG_TAIL: u32 = 500;

#[derive(Debug)]
pub enum Input {
    Key(KeyEvent),
    Feed(Feed),
    /// The clock's Unix time now.
    Tick(f64),
    /// The terminal was resized.
    Resize,
}

/// What the loop does for the reducer.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A mutating call; `what` names it in the answer's message.
    Call { what: String, request: Request },
    /// Fetch an application's deployed config for the config view.
    FetchConfig(String),
    /// The streams the shown view needs besides the always-on ones.
    Want {
        logs: Option<LogQuery>,
        tap: Option<TapQuery>,
    },
}

/// Applies one input.
pub fn update(app: &mut App, input: Input) -> Vec<Effect> {
    match input {
        Input::Tick(now_s) => {
            let second = app.now_s.floor() != now_s.floor();
            app.now_s = now_s;
            if second {
                app.data.sample_trend();
                app.dirty = true;
            }
            Vec::new()
        }
        Input::Resize => {
            app.dirty = true;
            Vec::new()
        }
        Input::Feed(feed) => {
            app.dirty = true;
            match feed {
                Feed::Frame(stream, frame) => app.data.apply(stream, *frame),
                Feed::Connected(stream) => app.data.reset(stream),
                Feed::Lost(stream, why) => {
                    app.data.lost.insert(stream, why);
                }
                Feed::Answer(Answer::Done(text)) => app.flash(text, false),
                Feed::Answer(Answer::Failed(text)) => app.flash(text, true),
                Feed::Answer(Answer::Config { app: name, toml }) => {
                    app.data.config = Some((name, toml));
                }
            }
            Vec::new()
        }
        Input::Key(key) => {
            app.dirty = true;
            let mut effects = key_input(app, key);
            effects.push(wanted(app));
            effects
        }
    }
}

/// The streams the view on top needs.
pub fn wanted(app: &App) -> Effect {
    let logs = match &app.screen().view {
        View::Logs(t) => Some(LogQuery {
            app: t.app.clone(),
            deployment: t.deployment.clone(),
            replica: t.replica.clone(),
            node: t.node.clone(),
            since_s: None,
            tail: Some(LOG_TAIL),
            follow: true,
            previous: t.previous,
            here_only: false,
        }),
        _ => None,
    };
    let tap = (app.screen().view == View::Routing).then_some(TapQuery {
        app: None,
        deployment: None,
        node: None,
        max_rps: TAP_RPS,
        here_only: false,
    });
    Effect::Want { logs, tap }
}

fn key_input(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl_c {
        app.quit = true;
        return Vec::new();
    }
    match app.mode.clone() {
        Mode::Normal => {
            app.flash = None;
            match keys::action(&key, &app.screen().view) {
                Some(action) => act(app, action),
                None => Vec::new(),
            }
        }
        Mode::Help => {
            if matches!(
                key.code,
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('?' | 'q')
            ) {
                app.mode = Mode::Normal;
            }
            Vec::new()
        }
        Mode::Command(input) => match edit(input, key) {
            Edited::Typing(text) => {
                app.mode = Mode::Command(text);
                Vec::new()
            }
            Edited::Cancel => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            Edited::Done(text) => {
                app.mode = Mode::Normal;
                command(app, text.trim());
                Vec::new()
            }
        },
        Mode::Filter(input) => {
            match edit(input, key) {
                Edited::Typing(text) => {
                    app.screen_mut().filter = (!text.is_empty()).then(|| Filter::new(&text));
                    app.screen_mut().selected = 0;
                    app.mode = Mode::Filter(text);
                }
                Edited::Cancel => {
                    app.screen_mut().filter = None;
                    app.mode = Mode::Normal;
                }
                Edited::Done(_) => app.mode = Mode::Normal,
            }
            Vec::new()
        }
        Mode::Scale {
            app: name,
            deployment,
            input,
            ..
        } => match edit(input, key) {
            Edited::Typing(text) => {
                let error =
                    (!text.chars().all(|c| c.is_ascii_digit())).then(|| "digits only".to_owned());
                app.mode = Mode::Scale {
                    app: name,
                    deployment,
                    input: text,
                    error,
                };
                Vec::new()
            }
            Edited::Cancel => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            Edited::Done(text) => match parse_replicas(&text) {
                Ok(n) => {
                    app.mode = Mode::Normal;
                    app.flash(format!("scaling {name}/{deployment} to {n}…"), false);
                    vec![Effect::Call {
                        what: format!("scale {name}/{deployment} to {n}"),
                        request: Request::Scale {
                            app: name,
                            deployment,
                            num_replicas: n,
                        },
                    }]
                }
                Err(error) => {
                    app.mode = Mode::Scale {
                        app: name,
                        deployment,
                        input: text,
                        error: Some(error),
                    };
                    Vec::new()
                }
            },
        },
        Mode::Confirm { action, yes } => {
            let answer = match key.code {
                KeyCode::Char('y' | 'Y') => Some(true),
                KeyCode::Char('n' | 'N') | KeyCode::Esc => Some(false),
                KeyCode::Enter => Some(yes),
                KeyCode::Left | KeyCode::Right | KeyCode::Tab | KeyCode::BackTab => {
                    app.mode = Mode::Confirm {
                        action: action.clone(),
                        yes: !yes,
                    };
                    None
                }
                _ => None,
            };
            match answer {
                None => Vec::new(),
                Some(false) => {
                    app.mode = Mode::Normal;
                    app.flash("cancelled", false);
                    Vec::new()
                }
                Some(true) => {
                    app.mode = Mode::Normal;
                    vec![confirmed(app, action)]
                }
            }
        }
    }
}

fn confirmed(app: &mut App, action: Confirm) -> Effect {
    match action {
        Confirm::DeleteApp(name) => {
            app.flash(format!("deleting application {name}…"), false);
            Effect::Call {
                what: format!("delete application {name}"),
                request: Request::Delete { app: name },
            }
        }
        Confirm::RestartReplica { id, .. } => {
            app.flash(format!("restarting replica {id}…"), false);
            Effect::Call {
                what: format!("restart replica {id}"),
                request: Request::RestartReplica { replica_id: id },
            }
        }
    }
}

/// A replica count typed at the scale prompt.
pub fn parse_replicas(text: &str) -> Result<u32, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("type a number of replicas".to_owned());
    }
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_REPLICAS).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text} is not a replica count: 1 to {MAX_REPLICAS} (to scale to zero, deploy \
             with autoscaling_config and min_replicas = 0)"
        )),
    }
}

enum Edited {
    Typing(String),
    Cancel,
    Done(String),
}

/// One key into a one-line input.
fn edit(mut text: String, key: KeyEvent) -> Edited {
    match key.code {
        KeyCode::Esc => Edited::Cancel,
        KeyCode::Enter => Edited::Done(text),
        KeyCode::Backspace => {
            text.pop();
            Edited::Typing(text)
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            if text.chars().count() < 200 {
                text.push(c);
            }
            Edited::Typing(text)
        }
        _ => Edited::Typing(text),
    }
}

/// A `:` command: a view's name (or k9s' short form), or `q`.
fn command(app: &mut App, text: &str) {
    let view = match text {
        "" => return,
        "q" | "q!" | "quit" => {
            app.quit = true;
            return;
        }
        "deploy" | "deployment" | "deployments" | "dp" => View::Deployments { app: None },
        "app" | "apps" | "application" | "applications" => View::Apps,
        "replica" | "replicas" | "rs" | "re" => View::Replicas {
            app: None,
            deployment: None,
            node: None,
        },
        "node" | "nodes" | "no" | "cluster" => View::Nodes,
        "route" | "routes" | "routing" | "rt" | "tap" => View::Routing,
        "event" | "events" | "ev" => View::Events,
        "log" | "logs" => View::Logs(LogTarget {
            app: None,
            deployment: None,
            replica: None,
            node: None,
            previous: false,
        }),
        "help" | "?" => {
            app.mode = Mode::Help;
            return;
        }
        other => {
            app.flash(
                format!("no view `{other}`: try :deploy :app :replica :node :routes :events :logs"),
                true,
            );
            return;
        }
    };
    // k9s: a jump starts a new history.
    app.stack = vec![Screen::new(view)];
}

/// The selected row's target, if the view is a table with rows.
fn selected(app: &App) -> Option<Target> {
    let table = tables::table(app, app.screen())?;
    let i = app.screen().selected.min(table.rows.len().checked_sub(1)?);
    Some(table.rows[i].target.clone())
}

fn open(app: &mut App, view: View) {
    app.stack.push(Screen::new(view));
}

fn act(app: &mut App, action: Action) -> Vec<Effect> {
    if action.mutating() && app.readonly {
        app.flash(
            format!(
                "read-only: {} is disabled (rserve top --readonly)",
                action.word()
            ),
            true,
        );
        return Vec::new();
    }
    match action {
        Action::Quit => app.quit = true,
        Action::Back => {
            if app.screen().filter.is_some() {
                app.screen_mut().filter = None;
            } else if app.stack.len() > 1 {
                app.stack.pop();
            }
        }
        Action::Up => move_by(app, -1),
        Action::Down => move_by(app, 1),
        Action::PageUp => move_by(app, -(app.page.max(1) as isize)),
        Action::PageDown => move_by(app, app.page.max(1) as isize),
        Action::Top => {
            app.screen_mut().selected = 0;
            if matches!(app.screen().view, View::Logs(_)) {
                app.log_style.follow = false;
            }
        }
        Action::Bottom => {
            app.screen_mut().selected = usize::MAX;
            if matches!(app.screen().view, View::Logs(_)) {
                app.log_style.follow = true;
            }
        }
        Action::Command => app.mode = Mode::Command(String::new()),
        Action::Filter => {
            let text = app
                .screen()
                .filter
                .as_ref()
                .map(|f| f.text.clone())
                .unwrap_or_default();
            app.mode = Mode::Filter(text);
        }
        Action::Help => app.mode = Mode::Help,
        Action::Enter => drill_down(app),
        Action::Logs => match selected(app) {
            Some(target) => logs_of(app, &target),
            None => app.flash("nothing selected", true),
        },
        Action::Describe => match selected(app) {
            Some(target) => open(app, View::Describe(target)),
            None => app.flash("nothing selected", true),
        },
        Action::Config => match selected(app).as_ref().and_then(Target::app) {
            Some(name) => {
                let name = name.to_owned();
                open(app, View::Config { app: name.clone() });
                return vec![Effect::FetchConfig(name)];
            }
            None => app.flash("select an application, deployment or replica", true),
        },
        Action::Sort(col) => {
            let columns = tables::table(app, app.screen()).map_or(0, |t| t.headers.len());
            if col < columns {
                let screen = app.screen_mut();
                screen.sort = match screen.sort {
                    Some((c, desc)) if c == col => Some((col, !desc)),
                    _ => Some((col, false)),
                };
            }
        }
        Action::Scale => scale_prompt(app),
        Action::Delete => match selected(app).as_ref().and_then(Target::app) {
            Some(name) => {
                app.mode = Mode::Confirm {
                    action: Confirm::DeleteApp(name.to_owned()),
                    yes: false,
                };
            }
            None => app.flash("nothing selected", true),
        },
        Action::Restart => match selected(app) {
            Some(Target::Replica { deployment, id, .. }) => {
                app.mode = Mode::Confirm {
                    action: Confirm::RestartReplica { id, deployment },
                    yes: false,
                };
            }
            _ => app.flash("select a replica", true),
        },
        Action::Follow => app.log_style.follow = !app.log_style.follow,
        Action::Wrap => app.log_style.wrap = !app.log_style.wrap,
        Action::Timestamps => app.log_style.timestamps = !app.log_style.timestamps,
        Action::Previous => {
            if let View::Logs(target) = &mut app.screen_mut().view {
                target.previous = !target.previous;
            }
        }
    }
    Vec::new()
}

fn move_by(app: &mut App, delta: isize) {
    let text = !app.screen().view.is_table();
    if text && delta < 0 && matches!(app.screen().view, View::Logs(_)) {
        app.log_style.follow = false;
    }
    let rows = tables::table(app, app.screen()).map_or(usize::MAX, |t| t.rows.len());
    let screen = app.screen_mut();
    // Text views clamp when drawn (their length depends on the width).
    let current = screen.selected.min(rows.saturating_sub(1));
    screen.selected = current
        .saturating_add_signed(delta)
        .min(rows.saturating_sub(1));
}

fn drill_down(app: &mut App) {
    let Some(target) = selected(app) else {
        return;
    };
    let view = match target {
        Target::Node(id) => View::Replicas {
            app: None,
            deployment: None,
            node: Some(id),
        },
        Target::App(name) => View::Deployments { app: Some(name) },
        Target::Deployment { app, deployment } => View::Replicas {
            app: Some(app),
            deployment: Some(deployment),
            node: None,
        },
        Target::Replica { .. } => return logs_of(app, &target),
        Target::Event(_) => View::Describe(target),
    };
    open(app, view);
}

fn logs_of(app: &mut App, target: &Target) {
    let (a, deployment, replica, node) = match target {
        Target::Node(id) => (None, None, None, Some(id.clone())),
        Target::App(name) => (Some(name.clone()), None, None, None),
        Target::Deployment { app, deployment } => {
            (Some(app.clone()), Some(deployment.clone()), None, None)
        }
        Target::Replica { id, .. } => (None, None, Some(id.clone()), None),
        Target::Event(_) => {
            app.flash("an event has no logs: select its object's row", true);
            return;
        }
    };
    app.log_style.follow = true;
    open(
        app,
        View::Logs(LogTarget {
            app: a,
            deployment,
            replica,
            node,
            previous: false,
        }),
    );
}

fn scale_prompt(app: &mut App) {
    let Some(Target::Deployment {
        app: name,
        deployment,
    }) = selected(app)
    else {
        app.flash("select a deployment", true);
        return;
    };
    let details = app
        .data
        .status
        .as_ref()
        .and_then(|s| s.applications.get(&name))
        .and_then(|a| a.deployments.get(&deployment));
    if let Some(a) = details.and_then(|d| d.autoscaling_detail.as_ref()) {
        app.flash(
            format!(
                "{name}/{deployment} autoscales ({}..={} replicas): change min_replicas/max_replicas \
                 in its file and deploy it",
                a.min_replicas, a.max_replicas
            ),
            true,
        );
        return;
    }
    let input = details.map_or_else(String::new, |d| d.target_num_replicas.to_string());
    app.mode = Mode::Scale {
        app: name,
        deployment,
        input,
        error: None,
    };
}
