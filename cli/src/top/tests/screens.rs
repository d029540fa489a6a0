//! Whole screens at fixed sizes, from the fixture, against insta snapshots
//! (`cargo insta review`, or `INSTA_UPDATE=always` to rewrite them).

use crossterm::event::KeyCode;
use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};

use super::super::reduce::{Input, update};
use super::super::render::{self, Theme};
use super::super::state::{Answer, Feed, Stream};
use super::{code, ctrl, fixture, key, press, screen, typed};

#[test]
fn deployments_view_at_three_sizes() {
    let app = fixture();
    assert_snapshot!("deployments_80x24", screen(&app, 80, 24));
    assert_snapshot!("deployments_120x40", screen(&app, 120, 40));
    assert_snapshot!("deployments_20x5", screen(&app, 20, 5));
}

#[test]
fn tiny_terminals_never_panic() {
    let app = fixture();
    for (w, h) in [(0, 0), (0, 3), (3, 0)] {
        // TestBackend cannot print a zero-width screen: draw only.
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal
            .draw(|f| render::draw(f, &app, Theme { color: true }))
            .unwrap();
    }
    for (w, h) in [(1, 1), (20, 5), (39, 30), (200, 7), (40, 8)] {
        let text = screen(&app, w, h);
        if w >= 20 && h >= 2 && (w < 40 || h < 8) {
            assert!(text.contains("terminal too small"), "{w}x{h}:\n{text}");
        }
    }
}

#[test]
fn cluster_view() {
    let mut app = fixture();
    press(
        &mut app,
        [key(':')]
            .into_iter()
            .chain(typed("node"))
            .chain([code(KeyCode::Enter)]),
    );
    assert_snapshot!("nodes_120x40", screen(&app, 120, 40));
    assert_snapshot!("nodes_80x24", screen(&app, 80, 24));
}

#[test]
fn applications_then_replicas_views() {
    let mut app = fixture();
    press(
        &mut app,
        [key(':')]
            .into_iter()
            .chain(typed("app"))
            .chain([code(KeyCode::Enter)]),
    );
    assert_snapshot!("apps_120x40", screen(&app, 120, 40));
    // digits → its deployments → classifier's replicas.
    press(&mut app, [code(KeyCode::Enter), code(KeyCode::Enter)]);
    assert_snapshot!("replicas_120x40", screen(&app, 120, 40));
}

#[test]
fn routing_view_with_tap_pane() {
    let mut app = fixture();
    press(
        &mut app,
        [key(':')]
            .into_iter()
            .chain(typed("routes"))
            .chain([code(KeyCode::Enter)]),
    );
    assert_snapshot!("routing_120x40", screen(&app, 120, 40));
}

#[test]
fn logs_view_with_timestamps_and_search() {
    let mut app = fixture();
    press(&mut app, [key('l')]);
    assert_snapshot!("logs_80x24", screen(&app, 80, 24));
    press(
        &mut app,
        [key('t'), key('/')]
            .into_iter()
            .chain(typed("batch"))
            .chain([code(KeyCode::Enter)]),
    );
    assert_snapshot!("logs_search_timestamps_120x40", screen(&app, 120, 40));
}

#[test]
fn events_view() {
    let mut app = fixture();
    press(
        &mut app,
        [key(':')]
            .into_iter()
            .chain(typed("events"))
            .chain([code(KeyCode::Enter)]),
    );
    assert_snapshot!("events_120x40", screen(&app, 120, 40));
}

#[test]
fn describe_and_config_views() {
    let mut app = fixture();
    press(&mut app, [key('d')]);
    assert_snapshot!("describe_deployment_120x40", screen(&app, 120, 40));
    press(&mut app, [code(KeyCode::Esc), key('y')]);
    assert!(screen(&app, 80, 24).contains("fetching the config of digits"));
    update(
        &mut app,
        Input::Feed(Feed::Answer(Answer::Config {
            app: "digits".to_owned(),
            toml: "[[applications]]\nname = \"digits\"\nroute_prefix = \"/digits\"\n".to_owned(),
        })),
    );
    assert_snapshot!("config_80x24", screen(&app, 80, 24));
}

#[test]
fn help_dialogs_and_banners() {
    let mut app = fixture();
    press(&mut app, [key('?')]);
    assert_snapshot!("help_120x40", screen(&app, 120, 40));
    press(&mut app, [code(KeyCode::Esc), ctrl('d')]);
    assert_snapshot!("confirm_delete_80x24", screen(&app, 80, 24));
    press(
        &mut app,
        [
            key('n'),
            key('j'),
            key('s'),
            code(KeyCode::Backspace),
            key('0'),
            code(KeyCode::Enter),
        ],
    );
    assert_snapshot!("scale_prompt_error_80x24", screen(&app, 80, 24));
    press(&mut app, [code(KeyCode::Esc)]);
    update(
        &mut app,
        Input::Feed(Feed::Lost(
            Stream::Status,
            "connection to 127.0.0.1:8265 closed".to_owned(),
        )),
    );
    assert_snapshot!("connection_lost_80x24", screen(&app, 80, 24));
}

#[test]
fn readonly_says_so_and_hides_mutating_keys() {
    let mut app = fixture();
    app.readonly = true;
    press(&mut app, [key('s')]);
    assert_snapshot!("readonly_scale_80x24", screen(&app, 80, 24));
}

#[test]
fn colour_marks_state_and_no_color_removes_it() {
    let mut app = fixture();
    press(
        &mut app,
        [key(':')]
            .into_iter()
            .chain(typed("node"))
            .chain([code(KeyCode::Enter)]),
    );
    let draw = |theme| {
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        terminal.draw(|f| render::draw(f, &app, theme)).unwrap();
        terminal.backend().buffer().clone()
    };
    let coloured = draw(Theme { color: true });
    // The dead node's row (the third; header, message, border, titles first).
    let y = 6;
    let row: String = (1..20)
        .map(|x| coloured[(x, y)].symbol().to_owned())
        .collect();
    assert!(row.contains("node-00000000c0c0"), "{row}");
    assert_eq!(coloured[(2, y)].fg, Color::Red);
    assert!(coloured[(2, y)].modifier.contains(Modifier::BOLD));
    let plain = draw(Theme { color: false });
    assert!(
        plain
            .content
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset)
    );
    // The selection is still visible without colour.
    assert!(plain[(2, 4)].modifier.contains(Modifier::REVERSED));
}
