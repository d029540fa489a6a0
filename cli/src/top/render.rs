//! Drawing: a frame is a pure function of the [`App`] (borrowed, never
//! changed) and the frame's size.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use super::keys::{self, Action, KEYS};
use super::state::{App, Confirm, Mode, View};
use super::tables::{self, Tone};
use super::text;
use crate::output::live;

/// Smallest terminal the monitor draws into.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 8;
/// Widest a table column grows (longer cells are cut).
const MAX_COLUMN: usize = 48;
/// Blank columns between table columns.
const SPACING: usize = 2;

/// Colours, or none under `NO_COLOR` (selection and emphasis stay: they
/// are not colour).
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// `NO_COLOR` set to anything but empty turns colour off (no-color.org).
    pub fn from_env() -> Self {
        Self {
            color: std::env::var_os(crate::printer::NO_COLOR).is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    fn tone(self, tone: Tone) -> Style {
        match tone {
            Tone::Normal => Style::default(),
            Tone::Good => self.fg(Color::Green),
            Tone::Busy => self.fg(Color::Yellow),
            Tone::Bad => self.fg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, theme: Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = vec![
            Line::from("terminal too small"),
            Line::from(format!(
                "{}x{} < {MIN_WIDTH}x{MIN_HEIGHT}",
                area.width, area.height
            )),
        ];
        frame.render_widget(
            Paragraph::new(text)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let [header, message, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let time = live::rfc3339(app.now_s);
    let clock = format!(" {} UTC ", time.get(11..19).unwrap_or(&time));
    let [header, clock_area] =
        Layout::horizontal([Constraint::Min(1), Constraint::Length(clock.len() as u16)])
            .areas(header);
    frame.render_widget(header_line(app, theme), header);
    frame.render_widget(Paragraph::new(clock), clock_area);
    frame.render_widget(message_line(app, theme), message);
    body_view(frame, app, theme, body);
    frame.render_widget(footer_line(app, theme), footer);
    match &app.mode {
        Mode::Help => help(frame, theme, area),
        Mode::Confirm { action, yes } => confirm(frame, theme, area, action, *yes),
        Mode::Scale {
            app: name,
            deployment,
            input,
            error,
        } => scale(
            frame,
            theme,
            area,
            name,
            deployment,
            input,
            error.as_deref(),
        ),
        Mode::Normal | Mode::Command(_) | Mode::Filter(_) => {}
    }
}

fn header_line(app: &App, theme: Theme) -> Paragraph<'static> {
    let d = &app.data;
    let apps = d.status.as_ref().map_or(0, |s| s.applications.len());
    let alive = d
        .nodes
        .iter()
        .filter(|n| n.state == rserve_protocol::wire::NodeState::Alive)
        .count();
    let mut spans = vec![
        Span::styled(
            " rserve top ",
            theme.fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "│ {} │ nodes {alive}/{} │ apps {apps} │ head {}",
            d.address,
            d.nodes.len(),
            if d.head_id().is_empty() {
                "?"
            } else {
                d.head_id()
            },
        )),
    ];
    if app.readonly {
        spans.push(Span::styled(" │ READ-ONLY", theme.fg(Color::Yellow)));
    }
    Paragraph::new(Line::from(spans))
}

fn message_line(app: &App, theme: Theme) -> Paragraph<'static> {
    let d = &app.data;
    let (text, style) = if let Some((_, why)) = d.lost.iter().next() {
        (
            format!(" connection lost: {why} — reconnecting…"),
            theme
                .fg(Color::Red)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )
    } else if let Some(flash) = &app.flash {
        let style = if flash.error {
            theme.fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            theme.fg(Color::Green)
        };
        (format!(" {}", flash.text), style)
    } else if let Some(notice) = &d.notice {
        (
            format!(" {notice}"),
            Style::default().add_modifier(Modifier::DIM),
        )
    } else {
        (String::new(), Style::default())
    };
    Paragraph::new(Line::styled(text, style))
}

fn footer_line(app: &App, theme: Theme) -> Paragraph<'static> {
    let key = theme.fg(Color::Cyan).add_modifier(Modifier::BOLD);
    let line = match &app.mode {
        Mode::Command(input) => Line::from(vec![Span::styled(":", key), Span::raw(input.clone())]),
        Mode::Filter(input) => Line::from(vec![Span::styled("/", key), Span::raw(input.clone())]),
        _ => {
            let view = &app.screen().view;
            let mut spans = Vec::new();
            let mut seen: Vec<Action> = Vec::new();
            let specific = KEYS.iter().filter(|b| b.scope != keys::Scope::Everywhere);
            let general = KEYS.iter().filter(|b| b.scope == keys::Scope::Everywhere);
            let help = KEYS.iter().filter(|b| b.action == Action::Help);
            for b in help.chain(specific).chain(general) {
                let navigation = matches!(
                    b.action,
                    Action::Up
                        | Action::Down
                        | Action::Top
                        | Action::Bottom
                        | Action::PageUp
                        | Action::PageDown
                        | Action::Sort(_)
                );
                if navigation || !b.scope.covers(view) || seen.contains(&b.action) {
                    continue;
                }
                if b.action.mutating() && app.readonly {
                    continue;
                }
                seen.push(b.action);
                spans.push(Span::styled(format!("<{}>", b.key.label()), key));
                spans.push(Span::raw(format!("{} ", b.action.word())));
            }
            Line::from(spans)
        }
    };
    Paragraph::new(line)
}

fn title(app: &App, count: Option<usize>) -> String {
    let screen = app.screen();
    let scope = match &screen.view {
        View::Deployments { app: Some(a) } => a.clone(),
        View::Replicas {
            app: Some(a),
            deployment: Some(d),
            ..
        } => format!("{a}/{d}"),
        View::Replicas { node: Some(n), .. } => format!("node/{n}"),
        View::Logs(t) => t.label(),
        View::Describe(t) => t.label(),
        View::Config { app } => app.clone(),
        _ => "all".to_owned(),
    };
    let mut title = format!(" {}({scope})", screen.view.name());
    if let Some(n) = count {
        title.push_str(&format!("[{n}]"));
    }
    if let Some(f) = &screen.filter {
        title.push_str(&format!(" </{}>", f.text));
    }
    title.push(' ');
    title
}

fn block(title: String, theme: Theme) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.fg(Color::Cyan))
        .title(Span::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        ))
}

fn body_view(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let screen = app.screen();
    match &screen.view {
        View::Routing => {
            let [top, bottom] =
                Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)])
                    .areas(area);
            table_view(frame, app, theme, top);
            let lines = text::tap_lines(app);
            let inner = bottom.height.saturating_sub(2) as usize;
            let shown: Vec<Line> = lines[lines.len().saturating_sub(inner)..]
                .iter()
                .map(|l| Line::from(l.clone()))
                .collect();
            frame.render_widget(
                Paragraph::new(shown).block(block(
                    format!(" tap: sampled requests (≤{}/s) ", super::reduce::TAP_RPS),
                    theme,
                )),
                bottom,
            );
        }
        View::Logs(target) => {
            let lines = text::log_lines(app, target, screen.filter.as_ref());
            let status = text::log_status(app.log_style, target);
            let mut b = block(title(app, Some(lines.len())), theme)
                .title_bottom(Line::from(format!(" {status} ")).alignment(Alignment::Right));
            if app.data.dropped > 0 {
                b = b.title_bottom(Line::from(format!(
                    " {} lines skipped: this reader was too slow ",
                    app.data.dropped
                )));
            }
            let inner = b.inner(area);
            let shown = log_window(&lines, inner, app.log_style, screen.selected);
            let mut p = Paragraph::new(shown).block(b);
            if app.log_style.wrap {
                p = p.wrap(Wrap { trim: false });
            }
            frame.render_widget(p, area);
        }
        View::Describe(target) => {
            text_view(frame, app, theme, area, text::describe(app, target));
        }
        View::Config { app: name } => {
            text_view(frame, app, theme, area, text::config(app, name));
        }
        _ => table_view(frame, app, theme, area),
    }
}

/// The log lines that fit: the newest when following, else from the
/// scroll position; with wrap, a long line takes several rows.
fn log_window(
    lines: &[String],
    inner: Rect,
    style: super::state::LogStyle,
    from: usize,
) -> Vec<Line<'static>> {
    let height = inner.height as usize;
    let width = inner.width.max(1) as usize;
    let rows = |l: &String| {
        if style.wrap {
            Span::raw(l.as_str()).width().div_ceil(width).max(1)
        } else {
            1
        }
    };
    let start = if style.follow {
        let mut used = 0;
        let mut start = lines.len();
        while start > 0 && used + rows(&lines[start - 1]) <= height {
            used += rows(&lines[start - 1]);
            start -= 1;
        }
        start
    } else {
        from.min(lines.len().saturating_sub(height))
    };
    lines[start..]
        .iter()
        .take(height)
        .map(|l| Line::from(l.clone()))
        .collect()
}

fn text_view(frame: &mut Frame, app: &App, theme: Theme, area: Rect, lines: Vec<String>) {
    let b = block(title(app, None), theme);
    let height = b.inner(area).height as usize;
    let from = app
        .screen()
        .selected
        .min(lines.len().saturating_sub(height));
    let shown: Vec<Line> = lines.into_iter().skip(from).map(Line::from).collect();
    frame.render_widget(Paragraph::new(shown).block(b), area);
}

fn table_view(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let screen = app.screen();
    let Some(table) = tables::table(app, screen) else {
        return;
    };
    let b = block(title(app, Some(table.rows.len())), theme);
    if table.rows.is_empty() {
        let empty = match &screen.view {
            View::Deployments { .. } | View::Apps if app.data.status.is_none() => "loading…",
            View::Deployments { .. } | View::Apps => {
                "no applications: deploy one with `rserve deploy FILE`"
            }
            _ if screen.filter.is_some() => "no rows match the filter (Esc clears it)",
            _ => "nothing to show yet",
        };
        frame.render_widget(Paragraph::new(format!(" {empty}")).block(b), area);
        return;
    }
    let mut widths: Vec<usize> = table
        .headers
        .iter()
        .map(|h| Span::raw(*h).width() + 1)
        .collect();
    for row in &table.rows {
        for (w, cell) in widths.iter_mut().zip(&row.cells) {
            *w = (*w).max(Span::raw(cell.as_str()).width().min(MAX_COLUMN));
        }
    }
    // k9s' way on a narrow terminal: the columns that fit, in order; the
    // last one shown takes the rest of the width.
    let room = usize::from(area.width.saturating_sub(2));
    let mut used = 0;
    let shown = widths
        .iter()
        .take_while(|w| {
            let fits = used + **w <= room || used == 0;
            used += **w + SPACING;
            fits
        })
        .count();
    widths.truncate(shown);
    let header = Row::new(table.headers.iter().take(shown).enumerate().map(|(i, h)| {
        let mark = match screen.sort {
            Some((c, false)) if c == i => "↑",
            Some((c, true)) if c == i => "↓",
            _ => "",
        };
        Cell::from(format!("{h}{mark}"))
    }))
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows = table.rows.iter().map(|r| {
        Row::new(r.cells.iter().take(shown).map(|c| Cell::from(c.clone())))
            .style(theme.tone(r.tone))
    });
    let last = widths.len().saturating_sub(1);
    let constraints = widths.iter().enumerate().map(|(i, w)| {
        if i == last {
            Constraint::Fill(1)
        } else {
            Constraint::Length(*w as u16)
        }
    });
    let selected = screen.selected.min(table.rows.len() - 1);
    let mut state = TableState::default().with_selected(Some(selected));
    let widget = Table::new(rows, constraints)
        .header(header)
        .block(b)
        .column_spacing(SPACING as u16)
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    frame.render_stateful_widget(widget, area, &mut state);
}

/// A centred rectangle of at most `w`×`h` inside `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn help(frame: &mut Frame, theme: Theme, area: Rect) {
    let lines = keys::help_lines();
    let rows = lines.iter().map(|(k, scope, what)| {
        Row::new(vec![
            Cell::from(k.clone()).style(theme.fg(Color::Cyan).add_modifier(Modifier::BOLD)),
            Cell::from(*scope),
            Cell::from(*what),
        ])
    });
    let popup = centered(area, 100, lines.len() as u16 + 4);
    frame.render_widget(Clear, popup);
    let table = Table::new(
        rows,
        [
            Constraint::Length(16),
            Constraint::Length(26),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(["KEYS", "WHERE", "WHAT"]).style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(block(" help (Esc closes) ".to_owned(), theme));
    frame.render_widget(table, popup);
}

fn confirm(frame: &mut Frame, theme: Theme, area: Rect, action: &Confirm, yes: bool) {
    let (question, verb) = match action {
        Confirm::DeleteApp(name) => (
            format!("Delete application {name}? Its replicas drain and stop."),
            "Delete",
        ),
        Confirm::RestartReplica { id, deployment } => (
            format!("Restart replica {id} of {deployment}? A new one replaces it."),
            "Restart",
        ),
    };
    let button = |label: &str, on: bool| {
        let style = if on {
            theme
                .fg(Color::Red)
                .add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::default()
        };
        Span::styled(format!(" {label} "), style)
    };
    let lines = vec![
        Line::from(question),
        Line::from(""),
        Line::from(vec![
            button("Cancel", !yes),
            Span::raw("   "),
            button(verb, yes),
        ])
        .alignment(Alignment::Center),
        Line::from("y: yes · n/Esc: no · Tab: switch · Enter: choose").alignment(Alignment::Center),
    ];
    let popup = centered(area, 70, 6);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(block(" confirm ".to_owned(), theme)),
        popup,
    );
}

fn scale(
    frame: &mut Frame,
    theme: Theme,
    area: Rect,
    name: &str,
    deployment: &str,
    input: &str,
    error: Option<&str>,
) {
    let mut lines = vec![
        Line::from(format!("Replicas for {name}/{deployment}:")),
        Line::from(vec![
            Span::raw("> "),
            Span::styled(
                input.to_owned(),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::styled("_", Style::default().add_modifier(Modifier::SLOW_BLINK)),
        ]),
    ];
    if let Some(error) = error {
        lines.push(Line::styled(error.to_owned(), theme.fg(Color::Red)));
    }
    lines.push(Line::from("Enter: scale · Esc: cancel"));
    let popup = centered(area, 70, 7);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(block(" scale ".to_owned(), theme)),
        popup,
    );
}
