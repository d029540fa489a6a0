//! Key sequences through the reducer, against the state and effects they
//! must produce; and the key map against itself (no key shadows another,
//! the help lists every action).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rserve_protocol::wire::Request;

use super::super::keys::{self, Action, KEYS, Scope};
use super::super::reduce::{Effect, Input, parse_replicas, update};
use super::super::state::{Confirm, Feed, LogTarget, Mode, Stream, Target, View};
use super::super::tables;
use super::{NOW, code, ctrl, fixture, key, press, typed};

fn rows(app: &super::super::state::App) -> Vec<Vec<String>> {
    tables::table(app, app.screen())
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r.cells)
        .collect()
}

fn jump(app: &mut super::super::state::App, view: &str) {
    press(
        app,
        [key(':')]
            .into_iter()
            .chain(typed(view))
            .chain([code(KeyCode::Enter)]),
    );
}

#[test]
fn a_filter_narrows_rows_and_bang_inverts_it() {
    let mut app = fixture();
    press(&mut app, [key('/')].into_iter().chain(typed("ECHO")));
    // Live while typing, case-insensitive.
    assert_eq!(rows(&app).len(), 2);
    assert!(matches!(app.mode, Mode::Filter(_)));
    press(&mut app, [code(KeyCode::Enter)]);
    assert_eq!(app.mode, Mode::Normal);
    assert!(rows(&app).iter().all(|r| r[0] == "echo"));
    // `!` inverts; a bad regex falls back to a substring.
    press(&mut app, [key('/'), code(KeyCode::Home)]);
    press(
        &mut app,
        typed("!").into_iter().chain([code(KeyCode::Enter)]),
    );
    assert_eq!(app.screen().filter.as_ref().unwrap().text, "ECHO!");
    press(
        &mut app,
        [key('/')]
            .into_iter()
            .chain((0..5).map(|_| code(KeyCode::Backspace))),
    );
    press(
        &mut app,
        typed("!echo").into_iter().chain([code(KeyCode::Enter)]),
    );
    assert_eq!(rows(&app).len(), 1);
    assert_eq!(rows(&app)[0][1], "classifier");
    press(
        &mut app,
        [key('/')]
            .into_iter()
            .chain((0..5).map(|_| code(KeyCode::Backspace))),
    );
    press(
        &mut app,
        typed("(digits").into_iter().chain([code(KeyCode::Enter)]),
    );
    assert_eq!(rows(&app).len(), 0);
    // Esc clears the filter before it goes back.
    press(&mut app, [code(KeyCode::Esc)]);
    assert!(app.screen().filter.is_none());
    assert_eq!(rows(&app).len(), 3);
}

#[test]
fn enter_drills_down_and_esc_comes_back() {
    let mut app = fixture();
    jump(&mut app, "app");
    assert_eq!(app.screen().view, View::Apps);
    press(&mut app, [code(KeyCode::Enter)]);
    assert_eq!(
        app.screen().view,
        View::Deployments {
            app: Some("digits".to_owned())
        }
    );
    press(&mut app, [code(KeyCode::Enter)]);
    assert_eq!(
        app.screen().view,
        View::Replicas {
            app: Some("digits".to_owned()),
            deployment: Some("classifier".to_owned()),
            node: None
        }
    );
    // A replica's Enter follows its logs.
    press(&mut app, [key('j')]);
    let effects: Vec<Effect> = [code(KeyCode::Enter)]
        .into_iter()
        .flat_map(|k| update(&mut app, Input::Key(k)))
        .collect();
    let View::Logs(target) = &app.screen().view else {
        panic!("{:?}", app.screen().view)
    };
    assert_eq!(target.replica.as_deref(), Some("classifier-4e5f6a7b"));
    let Some(Effect::Want {
        logs: Some(query),
        tap: None,
    }) = effects.last()
    else {
        panic!("{effects:?}")
    };
    assert_eq!(query.replica.as_deref(), Some("classifier-4e5f6a7b"));
    assert!(query.follow);
    for _ in 0..3 {
        press(&mut app, [code(KeyCode::Esc)]);
    }
    assert_eq!(app.screen().view, View::Apps);
    // The bottom of the stack stays.
    press(&mut app, [code(KeyCode::Esc)]);
    assert_eq!(app.stack.len(), 1);
}

#[test]
fn a_node_drills_down_to_its_replicas() {
    let mut app = fixture();
    jump(&mut app, "node");
    press(&mut app, [key('j'), code(KeyCode::Enter)]);
    let all = rows(&app);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0][0], "classifier-4e5f6a7b");
}

#[test]
fn colon_jumps_to_views_and_names_a_wrong_one() {
    let mut app = fixture();
    for (command, name) in [
        ("deploy", "deployments"),
        ("replica", "replicas"),
        ("node", "nodes"),
        ("events", "events"),
        ("routes", "routing"),
        ("logs", "logs"),
    ] {
        press(&mut app, [code(KeyCode::Enter)]);
        jump(&mut app, command);
        assert_eq!(app.screen().view.name(), name, ":{command}");
        assert_eq!(app.stack.len(), 1);
    }
    jump(&mut app, "pods");
    assert!(app.flash.as_ref().unwrap().error);
    assert!(app.flash.as_ref().unwrap().text.contains("no view `pods`"));
    assert_eq!(app.screen().view.name(), "logs");
    jump(&mut app, "q");
    assert!(app.quit);
}

#[test]
fn delete_asks_first_and_cancel_does_nothing() {
    let mut app = fixture();
    let effects = press(&mut app, [ctrl('d')]);
    assert!(effects.is_empty());
    assert_eq!(
        app.mode,
        Mode::Confirm {
            action: Confirm::DeleteApp("digits".to_owned()),
            yes: false
        }
    );
    // Enter on the default button (Cancel) cancels.
    assert!(press(&mut app, [code(KeyCode::Enter)]).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert!(press(&mut app, [ctrl('d'), code(KeyCode::Esc)]).is_empty());
    assert!(press(&mut app, [ctrl('d'), key('n')]).is_empty());
    let effects = press(
        &mut app,
        [ctrl('d'), code(KeyCode::Tab), code(KeyCode::Enter)],
    );
    assert_eq!(
        effects,
        [Effect::Call {
            what: "delete application digits".to_owned(),
            request: Request::Delete {
                app: "digits".to_owned()
            }
        }]
    );
    let effects = press(&mut app, [key('j'), ctrl('d'), key('y')]);
    assert!(
        matches!(&effects[..], [Effect::Call { request: Request::Delete { app }, .. }] if app == "echo")
    );
}

#[test]
fn readonly_refuses_every_mutating_key_and_says_so() {
    let mut app = fixture();
    app.readonly = true;
    for k in [key('s'), ctrl('d')] {
        assert!(press(&mut app, [k]).is_empty());
        assert_eq!(app.mode, Mode::Normal);
        let flash = app.flash.clone().unwrap();
        assert!(
            flash.error && flash.text.starts_with("read-only:"),
            "{flash:?}"
        );
    }
    jump(&mut app, "replica");
    assert!(press(&mut app, [key('r')]).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.flash.as_ref().unwrap().text.contains("--readonly"));
    // Reading still works.
    press(&mut app, [key('d')]);
    assert!(matches!(
        app.screen().view,
        View::Describe(Target::Replica { .. })
    ));
}

#[test]
fn the_scale_prompt_validates_before_it_calls() {
    let mut app = fixture();
    // An autoscaled deployment is refused with its bounds.
    assert!(press(&mut app, [key('s')]).is_empty());
    assert!(
        app.flash
            .as_ref()
            .unwrap()
            .text
            .contains("autoscales (1..=4")
    );
    // echo/slow wants 1: the prompt starts there.
    press(&mut app, [key('j'), key('j'), key('s')]);
    let Mode::Scale { input, .. } = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(input, "1");
    press(&mut app, [code(KeyCode::Backspace), key('x')]);
    assert!(matches!(&app.mode, Mode::Scale { error: Some(e), .. } if e == "digits only"));
    assert!(press(&mut app, [code(KeyCode::Enter)]).is_empty());
    press(
        &mut app,
        [code(KeyCode::Backspace), key('0'), code(KeyCode::Enter)],
    );
    assert!(matches!(&app.mode, Mode::Scale { error: Some(e), .. } if e.contains("1 to")));
    let effects = press(
        &mut app,
        [code(KeyCode::Backspace), key('3'), code(KeyCode::Enter)],
    );
    assert_eq!(
        effects,
        [Effect::Call {
            what: "scale echo/slow to 3".to_owned(),
            request: Request::Scale {
                app: "echo".to_owned(),
                deployment: "slow".to_owned(),
                num_replicas: 3
            }
        }]
    );
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(parse_replicas(" 2 "), Ok(2));
    assert!(parse_replicas("").is_err());
    assert!(parse_replicas("99999999999").is_err());
}

#[test]
fn restart_asks_then_calls_for_the_selected_replica() {
    let mut app = fixture();
    jump(&mut app, "replica");
    press(&mut app, [key('G')]);
    press(&mut app, [key('r')]);
    assert_eq!(
        app.mode,
        Mode::Confirm {
            action: Confirm::RestartReplica {
                id: "slow-9c8d7e6f".to_owned(),
                deployment: "slow".to_owned()
            },
            yes: false
        }
    );
    let effects = press(&mut app, [key('y')]);
    assert_eq!(
        effects,
        [Effect::Call {
            what: "restart replica slow-9c8d7e6f".to_owned(),
            request: Request::RestartReplica {
                replica_id: "slow-9c8d7e6f".to_owned()
            }
        }]
    );
}

#[test]
fn log_keys_toggle_and_previous_reopens_the_stream() {
    let mut app = fixture();
    press(&mut app, [key('l')]);
    assert!(app.log_style.follow);
    press(&mut app, [key('k')]);
    assert!(!app.log_style.follow, "scrolling up stops following");
    press(&mut app, [key('G'), key('w'), key('t')]);
    assert!(app.log_style.follow && app.log_style.wrap && app.log_style.timestamps);
    let effects = update(&mut app, Input::Key(key('p')));
    let [
        Effect::Want {
            logs: Some(query), ..
        },
    ] = &effects[..]
    else {
        panic!("{effects:?}")
    };
    assert!(query.previous);
    assert_eq!(
        app.screen().view,
        View::Logs(LogTarget {
            app: Some("digits".to_owned()),
            deployment: Some("classifier".to_owned()),
            replica: None,
            node: None,
            previous: true
        })
    );
    // Leaving the log view closes its stream.
    let effects = update(&mut app, Input::Key(code(KeyCode::Esc)));
    assert_eq!(
        effects,
        [Effect::Want {
            logs: None,
            tap: None
        }]
    );
}

#[test]
fn sorting_by_a_column_and_reversing_it() {
    let mut app = fixture();
    press(&mut app, [key('3')]);
    let status: Vec<String> = rows(&app).into_iter().map(|r| r[2].clone()).collect();
    assert_eq!(status, ["DEPLOY_FAILED", "HEALTHY", "UPDATING"]);
    press(&mut app, [key('6')]);
    let rps: Vec<String> = rows(&app).into_iter().map(|r| r[5].clone()).collect();
    assert_eq!(rps[2], "40.0");
    press(&mut app, [key('6')]);
    let rps: Vec<String> = rows(&app).into_iter().map(|r| r[5].clone()).collect();
    assert_eq!(rps[0], "40.0");
}

#[test]
fn ticks_sample_the_trend_once_a_second_and_streams_reset() {
    let mut app = fixture();
    let key = ("digits".to_owned(), "classifier".to_owned());
    let before = app.data.trend[&key].len();
    update(&mut app, Input::Tick(NOW + 0.5));
    assert_eq!(app.data.trend[&key].len(), before);
    update(&mut app, Input::Tick(NOW + 1.0));
    assert_eq!(app.data.trend[&key].len(), before + 1);
    assert_eq!(app.data.trend[&key].back(), Some(&40.0));
    update(
        &mut app,
        Input::Feed(Feed::Lost(Stream::Logs, "gone".to_owned())),
    );
    assert!(app.data.lost.contains_key(&Stream::Logs));
    update(&mut app, Input::Feed(Feed::Connected(Stream::Logs)));
    assert!(app.data.lost.is_empty());
    assert!(
        app.data.logs.is_empty(),
        "a reopened log stream repeats its history"
    );
}

#[test]
fn ctrl_c_quits_from_any_mode() {
    for setup in [
        vec![],
        vec![key('?')],
        vec![key(':')],
        vec![key('/')],
        vec![ctrl('d')],
    ] {
        let mut app = fixture();
        press(&mut app, setup.clone());
        press(&mut app, [ctrl('c')]);
        assert!(app.quit, "{setup:?}");
    }
}

/// A view each scope covers, to press its keys in.
fn view_of(scope: Scope) -> View {
    match scope {
        Scope::Everywhere | Scope::Tables | Scope::Apps | Scope::Deployments => {
            View::Deployments { app: None }
        }
        Scope::Replicas => View::Replicas {
            app: None,
            deployment: None,
            node: None,
        },
        Scope::Logs => View::Logs(LogTarget {
            app: None,
            deployment: None,
            replica: None,
            node: None,
            previous: false,
        }),
    }
}

#[test]
fn every_binding_dispatches_to_its_action_and_is_in_the_help() {
    for b in KEYS {
        let modifiers = if b.key.ctrl {
            KeyModifiers::CONTROL
        } else {
            KeyModifiers::NONE
        };
        let event = KeyEvent::new(b.key.code, modifiers);
        assert_eq!(
            keys::action(&event, &view_of(b.scope)),
            Some(b.action),
            "{} in {:?} is shadowed",
            b.key.label(),
            b.scope
        );
    }
    let help = keys::help_lines();
    for b in KEYS {
        assert!(
            help.iter().any(|(_, _, what)| *what == b.action.help()),
            "{:?} missing from the help",
            b.action
        );
    }
    // Mutating actions are exactly the three of the issue.
    let mutating: Vec<Action> = KEYS
        .iter()
        .map(|b| b.action)
        .filter(|a| a.mutating())
        .collect();
    assert_eq!(mutating, [Action::Scale, Action::Delete, Action::Restart]);
}
