//! Progress of a wait (`deploy --wait`, `delete --wait`, `down`), as a person
//! watching a terminal wants it or as a script's log wants it.
//!
//! On a terminal: one live indicatif bar per deployment (replicas running /
//! target, phase, elapsed), a spinner where there is no count. Anywhere else
//! (a pipe, a file, `CI`, `-o json`): no escape codes, one plain stderr line per
//! change of state, and a heartbeat line every [`HEARTBEAT`] so a long model load
//! does not read as a hang. `--quiet`: nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Printer;

/// How often a plain-line wait says it is still waiting when nothing changes.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// How often a bar's spinner and elapsed time redraw.
const TICK: Duration = Duration::from_millis(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Live bars on stderr (a terminal).
    Bars,
    /// One line per change on stderr.
    Lines,
    /// `--quiet`.
    Silent,
}

/// One thing being waited for: a deployment (`app/deployment`) or a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `app/deployment`, `node/ID`.
    pub key: String,
    /// Replicas running.
    pub running: u64,
    /// Replicas wanted; 0 draws a spinner without a count.
    pub target: u64,
    /// What it is doing: `UPDATING, 1 STARTING`, `HEALTHY`, `draining`.
    pub phase: String,
}

/// A wait's progress; made by [`Printer::progress`].
pub struct Progress {
    printer: Printer,
    mode: Mode,
    start: Instant,
    last_line: String,
    last_note: Instant,
    multi: Option<MultiProgress>,
    bars: BTreeMap<String, ProgressBar>,
}

impl Progress {
    pub(super) fn new(printer: Printer, mode: Mode) -> Self {
        let now = Instant::now();
        Self {
            printer,
            mode,
            start: now,
            last_line: String::new(),
            last_note: now,
            multi: (mode == Mode::Bars)
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            bars: BTreeMap::new(),
        }
    }

    #[cfg(test)]
    pub(super) fn mode(&self) -> Mode {
        self.mode
    }

    /// The state now: `line` sums it up for plain output (printed when it
    /// changes), `rows` drive the bars.
    pub fn update(&mut self, line: &str, rows: &[Row]) {
        match self.mode {
            Mode::Silent => {}
            Mode::Lines => {
                let now = Instant::now();
                let elapsed = self.start.elapsed().as_secs_f64();
                if line != self.last_line {
                    self.printer.note(format_args!("[{elapsed:>5.1}s] {line}"));
                    self.last_note = now;
                } else if now.duration_since(self.last_note) >= HEARTBEAT {
                    self.printer
                        .note(format_args!("[{elapsed:>5.1}s] still waiting: {line}"));
                    self.last_note = now;
                }
            }
            Mode::Bars => self.draw(rows),
        }
        line.clone_into(&mut self.last_line);
    }

    /// The last state, for a timeout's message.
    pub fn last(&self) -> &str {
        &self.last_line
    }

    fn draw(&mut self, rows: &[Row]) {
        let Some(multi) = &self.multi else { return };
        let colour = self.printer.colour();
        for row in rows {
            let bar = self.bars.entry(row.key.clone()).or_insert_with(|| {
                // Styled before it is added, so its first frame is already ours.
                let bar = multi.add(
                    ProgressBar::with_draw_target(Some(row.target), ProgressDrawTarget::hidden())
                        .with_style(style(row.target > 0, colour))
                        .with_prefix(row.key.clone())
                        .with_message(row.phase.clone()),
                );
                bar.enable_steady_tick(TICK);
                bar
            });
            bar.set_style(style(row.target > 0, colour));
            bar.set_length(row.target);
            bar.set_position(row.running.min(row.target));
            bar.set_message(row.phase.clone());
        }
        for (key, bar) in &self.bars {
            if !bar.is_finished() && !rows.iter().any(|r| &r.key == key) {
                bar.finish_with_message("gone");
            }
        }
    }
}

impl Drop for Progress {
    /// Stops the bars where they are: the final state stays on screen above
    /// the result or the error.
    fn drop(&mut self) {
        for bar in self.bars.values().filter(|b| !b.is_finished()) {
            bar.abandon();
        }
        if !self.bars.is_empty() {
            // indicatif leaves the cursor at the end of the last bar.
            super::write_stderr("\n");
        }
    }
}

fn style(counted: bool, colour: bool) -> ProgressStyle {
    let template = match (counted, colour) {
        (true, true) => {
            "{spinner:.green} {prefix:.bold} [{bar:20.cyan/blue}] {pos}/{len} {wide_msg} {elapsed:>4}"
        }
        (true, false) => "{spinner} {prefix} [{bar:20}] {pos}/{len} {wide_msg} {elapsed:>4}",
        (false, true) => "{spinner:.green} {prefix:.bold} {wide_msg} {elapsed:>4}",
        (false, false) => "{spinner} {prefix} {wide_msg} {elapsed:>4}",
    };
    ProgressStyle::with_template(template)
        .expect("the templates are valid")
        .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_style_template_parses() {
        for counted in [true, false] {
            for colour in [true, false] {
                let _ = style(counted, colour);
            }
        }
    }
}
