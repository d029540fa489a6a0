//! The key map: one table that the reducer dispatches on and `?` renders, so
//! the help cannot drift from what the keys do. Keys follow k9s where it has
//! one (`:` views, `/` filter, `d` describe, `y` spec, `l` logs, `Ctrl-d`
//! delete, `r` restart) and kdash for the log view's `s` auto-scroll.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::state::View;

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Back,
    Enter,
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Command,
    Filter,
    Help,
    Logs,
    Describe,
    Config,
    Sort(usize),
    Scale,
    Delete,
    Restart,
    Follow,
    Wrap,
    Timestamps,
    Previous,
}

impl Action {
    /// What the help line says.
    pub fn help(self) -> &'static str {
        match self {
            Self::Quit => "quit",
            Self::Back => "back (clear the filter first)",
            Self::Enter => "drill down",
            Self::Up => "up",
            Self::Down => "down",
            Self::Top => "first row / line",
            Self::Bottom => "last row / line",
            Self::PageUp => "page up",
            Self::PageDown => "page down",
            Self::Command => "jump to a view: :deploy :app :replica :node :routes :events :logs",
            Self::Filter => "filter rows (regex; !inverts) / search log lines",
            Self::Help => "this help",
            Self::Logs => "logs of the selected item",
            Self::Describe => "describe the selected item",
            Self::Config => "deployed config (TOML) of the selected item's application",
            Self::Sort(_) => "sort by column N (again: reverse)",
            Self::Scale => "scale the deployment (prompts for N)",
            Self::Delete => "delete the application (asks first)",
            Self::Restart => "restart the replica (asks first)",
            Self::Follow => "auto-scroll on/off",
            Self::Wrap => "wrap long lines on/off",
            Self::Timestamps => "timestamps on/off",
            Self::Previous => "lines of ended replicas (--previous) on/off",
        }
    }

    /// The footer's word for it.
    pub fn word(self) -> &'static str {
        match self {
            Self::Quit => "quit",
            Self::Back => "back",
            Self::Enter => "open",
            Self::Command => "view",
            Self::Filter => "filter",
            Self::Help => "help",
            Self::Logs => "logs",
            Self::Describe => "describe",
            Self::Config => "config",
            Self::Scale => "scale",
            Self::Delete => "delete",
            Self::Restart => "restart",
            Self::Follow => "autoscroll",
            Self::Wrap => "wrap",
            Self::Timestamps => "time",
            Self::Previous => "previous",
            Self::Up | Self::Down => "move",
            Self::Top | Self::Bottom => "ends",
            Self::PageUp | Self::PageDown => "page",
            Self::Sort(_) => "sort",
        }
    }

    /// Whether the action changes the cluster (refused with `--readonly`).
    pub fn mutating(self) -> bool {
        matches!(self, Self::Scale | Self::Delete | Self::Restart)
    }
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Everywhere,
    /// Table views (nodes, applications, deployments, replicas, routing, events).
    Tables,
    Apps,
    Deployments,
    Replicas,
    Logs,
}

impl Scope {
    pub fn covers(self, view: &View) -> bool {
        match self {
            Self::Everywhere => true,
            Self::Tables => view.is_table(),
            Self::Apps => matches!(view, View::Apps | View::Deployments { .. }),
            Self::Deployments => matches!(view, View::Deployments { .. }),
            Self::Replicas => matches!(view, View::Replicas { .. }),
            Self::Logs => matches!(view, View::Logs(_)),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Everywhere => "",
            Self::Tables => "tables",
            Self::Apps => "applications, deployments",
            Self::Deployments => "deployments",
            Self::Replicas => "replicas",
            Self::Logs => "logs",
        }
    }
}

/// A key, as the table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn key(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

impl Key {
    pub fn label(self) -> String {
        let name = match self.code {
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Esc => "Esc".to_owned(),
            KeyCode::Enter => "Enter".to_owned(),
            KeyCode::Up => "↑".to_owned(),
            KeyCode::Down => "↓".to_owned(),
            KeyCode::PageUp => "PgUp".to_owned(),
            KeyCode::PageDown => "PgDn".to_owned(),
            KeyCode::Home => "Home".to_owned(),
            KeyCode::End => "End".to_owned(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl-{name}")
        } else {
            name
        }
    }

    fn matches(self, event: &KeyEvent) -> bool {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        ctrl == self.ctrl && self.code == event.code
    }
}

/// One line of the key map.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub key: Key,
    pub scope: Scope,
    pub action: Action,
}

const fn bind(key: Key, scope: Scope, action: Action) -> Binding {
    Binding { key, scope, action }
}

use Action as A;
use Scope as S;

/// Every key, most specific scope first where two share a key.
pub const KEYS: &[Binding] = &[
    bind(key('q'), S::Everywhere, A::Quit),
    bind(ctrl('c'), S::Everywhere, A::Quit),
    bind(code(KeyCode::Esc), S::Everywhere, A::Back),
    bind(code(KeyCode::Enter), S::Tables, A::Enter),
    bind(key('k'), S::Everywhere, A::Up),
    bind(code(KeyCode::Up), S::Everywhere, A::Up),
    bind(key('j'), S::Everywhere, A::Down),
    bind(code(KeyCode::Down), S::Everywhere, A::Down),
    bind(key('g'), S::Everywhere, A::Top),
    bind(code(KeyCode::Home), S::Everywhere, A::Top),
    bind(key('G'), S::Everywhere, A::Bottom),
    bind(code(KeyCode::End), S::Everywhere, A::Bottom),
    bind(code(KeyCode::PageUp), S::Everywhere, A::PageUp),
    bind(code(KeyCode::PageDown), S::Everywhere, A::PageDown),
    bind(key(':'), S::Everywhere, A::Command),
    bind(key('/'), S::Everywhere, A::Filter),
    bind(key('?'), S::Everywhere, A::Help),
    bind(key('l'), S::Tables, A::Logs),
    bind(key('d'), S::Tables, A::Describe),
    bind(key('y'), S::Tables, A::Config),
    bind(key('1'), S::Tables, A::Sort(0)),
    bind(key('2'), S::Tables, A::Sort(1)),
    bind(key('3'), S::Tables, A::Sort(2)),
    bind(key('4'), S::Tables, A::Sort(3)),
    bind(key('5'), S::Tables, A::Sort(4)),
    bind(key('6'), S::Tables, A::Sort(5)),
    bind(key('7'), S::Tables, A::Sort(6)),
    bind(key('8'), S::Tables, A::Sort(7)),
    bind(key('9'), S::Tables, A::Sort(8)),
    bind(key('s'), S::Deployments, A::Scale),
    bind(ctrl('d'), S::Apps, A::Delete),
    bind(key('r'), S::Replicas, A::Restart),
    bind(key('s'), S::Logs, A::Follow),
    bind(key('w'), S::Logs, A::Wrap),
    bind(key('t'), S::Logs, A::Timestamps),
    bind(key('p'), S::Logs, A::Previous),
];

/// The action `event` asks for in `view`, if any.
pub fn action(event: &KeyEvent, view: &View) -> Option<Action> {
    KEYS.iter()
        .find(|b| b.key.matches(event) && b.scope.covers(view))
        .map(|b| b.action)
}

/// The help, one line per action and scope: `(keys, scope, what)`.
pub fn help_lines() -> Vec<(String, &'static str, &'static str)> {
    let mut lines: Vec<(Vec<String>, Scope, Action)> = Vec::new();
    for b in KEYS {
        let same = |l: &&mut (Vec<String>, Scope, Action)| {
            l.1 == b.scope
                && (l.2 == b.action || matches!((l.2, b.action), (A::Sort(_), A::Sort(_))))
        };
        match lines.iter_mut().find(same) {
            Some(line) if matches!(b.action, A::Sort(_)) => {
                if line.0.len() == 1 {
                    line.0[0] = "1-9".to_owned();
                }
            }
            Some(line) => line.0.push(b.key.label()),
            None => lines.push((vec![b.key.label()], b.scope, b.action)),
        }
    }
    lines
        .into_iter()
        .map(|(keys, scope, action)| (keys.join(" "), scope.label(), action.help()))
        .collect()
}
