//! `rserve top`: an interactive monitor of the cluster in the terminal, in
//! the manner of k9s.
//!
//! Shape (after ratatui's async examples and oxker): background tasks
//! ([`feed`]) turn the node's streams into messages on one channel; keys map
//! through one table ([`keys`]) to actions; [`reduce`] applies keys, frames
//! and clock ticks to the state ([`state`]) and hands back effects (calls,
//! streams to open); [`render`] draws a frame from a shared borrow of the
//! state, at most [`FRAMES_PER_S`] times a second and only when something
//! changed.

mod feed;
mod keys;
mod reduce;
mod render;
mod state;
mod tables;
#[cfg(test)]
mod tests;
mod text;

use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use self::feed::Feeds;
use self::reduce::{Input, update};
use self::render::Theme;
use self::state::App;
use crate::Invocation;
use crate::args::TopArgs;
use crate::exit::{Exit, ExitContext, Failure};

/// Most frames drawn a second.
pub const FRAMES_PER_S: u64 = 10;
/// Messages from the background tasks waiting for the loop (a slow loop
/// slows the streams, and the node then skips frames for this reader).
const FEED_QUEUE: usize = 1024;

use rserve_daemon::unix_now_s as now_s;

pub async fn run(cx: &Invocation, args: TopArgs) -> Result<Exit, Failure> {
    // Fail as the other commands do (exit 4) before taking the terminal.
    let client =
        crate::connect::connect(&cx.global, &cx.token, crate::connect::Access::Read).await?;
    let address = client.addr().to_string();
    client.close().await;
    let (tx, mut rx) = mpsc::channel(FEED_QUEUE);
    let mut feeds = Feeds::start(cx.global.clone(), cx.token.clone(), tx);
    let mut app = App::new(address, args.readonly, now_s());
    let theme = Theme::from_env();
    // Signals are caught before the terminal changes, so that SIGTERM
    // always reaches the loop, which restores the terminal.
    let mut term = signal(SignalKind::terminate()).exit(Exit::Failed)?;
    let mut hangup = signal(SignalKind::hangup()).exit(Exit::Failed)?;
    let mut interrupt = signal(SignalKind::interrupt()).exit(Exit::Failed)?;
    // Raw mode, the alternate screen, and a panic hook that restores both.
    let mut terminal = ratatui::try_init().exit(Exit::Failed)?;
    let result = event_loop(
        &mut terminal,
        &mut app,
        theme,
        &mut feeds,
        &mut rx,
        [&mut term, &mut hangup, &mut interrupt],
    )
    .await;
    ratatui::restore();
    drop(feeds);
    result.map(|()| Exit::Ok)
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    theme: Theme,
    feeds: &mut Feeds,
    rx: &mut mpsc::Receiver<state::Feed>,
    [term, hangup, interrupt]: [&mut tokio::signal::unix::Signal; 3],
) -> Result<(), Failure> {
    let mut keys = EventStream::new();
    let mut frame = tokio::time::interval(Duration::from_millis(1000 / FRAMES_PER_S));
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    feeds.run(reduce::wanted(app));
    loop {
        let effects = tokio::select! {
            _ = frame.tick() => {
                update(app, Input::Tick(now_s()));
                if app.dirty {
                    let size = terminal.size().exit(Exit::Failed)?;
                    // The table's rows: header, message, border, column titles, border, footer.
                    app.page = usize::from(size.height.saturating_sub(6)).max(1);
                    terminal
                        .draw(|f| render::draw(f, app, theme))
                        .exit(Exit::Failed)?;
                    app.dirty = false;
                }
                Vec::new()
            }
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    update(app, Input::Key(key))
                }
                Some(Ok(Event::Resize(..))) => update(app, Input::Resize),
                Some(Ok(_)) => Vec::new(),
                Some(Err(e)) => return Err(anyhow::Error::new(e)).exit(Exit::Failed),
                // The terminal is gone.
                None => return Ok(()),
            },
            Some(feed) = rx.recv() => update(app, Input::Feed(feed)),
            _ = term.recv() => return Ok(()),
            _ = hangup.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
        };
        for effect in effects {
            feeds.run(effect);
        }
        if app.quit {
            return Ok(());
        }
    }
}
