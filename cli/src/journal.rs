//! Logs into the systemd journal: when stderr is the journal's stream, each line
//! starts with its syslog priority (`<3>` error … `<7>` debug), which journald
//! strips and records, so `journalctl -p warning -u rserve` works. The line is
//! otherwise the usual text or JSON event, structured fields (app, deployment,
//! replica) included.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Whether `log` (stderr) is the stream systemd connected to the journal: its
/// device and inode are those in `JOURNAL_STREAM` (`DEV:INODE`, set by systemd).
pub fn is_journal(log: &impl AsFd) -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(fd) = log.as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| names_stream(&stream.to_string_lossy(), m.dev(), m.ino()))
}

/// `JOURNAL_STREAM`'s `DEV:INODE` (decimal) names this device and inode.
fn names_stream(journal_stream: &str, dev: u64, ino: u64) -> bool {
    journal_stream
        .split_once(':')
        .and_then(|(d, i)| Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?)))
        == Some((dev, ino))
}

/// syslog priority of a tracing level (sd-daemon(3)): error 3, warning 4,
/// info 6, debug and trace 7.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// `text` with `<priority>` at the start of every line (journald reads each
/// line as its own entry).
fn prefixed(priority: u8, text: &[u8]) -> Vec<u8> {
    let tag = format!("<{priority}>");
    let mut out = Vec::with_capacity(text.len() + tag.len());
    for line in text.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(line);
    }
    out
}

/// A `MakeWriter` that tags each event's lines with the event's priority.
#[derive(Debug, Clone)]
pub struct PriorityWriter<M> {
    inner: M,
}

impl<M> PriorityWriter<M> {
    pub fn new(inner: M) -> Self {
        Self { inner }
    }
}

/// One event's writer: the formatter writes the whole event, then it is sent
/// on as one write, tagged.
#[derive(Debug)]
pub struct Tagged<W: Write> {
    inner: W,
    priority: u8,
    buf: Vec<u8>,
}

impl<W: Write> Write for Tagged<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let text = std::mem::take(&mut self.buf);
            self.inner.write_all(&prefixed(self.priority, &text))?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Tagged<W> {
    fn drop(&mut self) {
        // Nowhere to report a failed log write.
        let _ = self.flush();
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for PriorityWriter<M> {
    type Writer = Tagged<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Tagged {
            inner: self.inner.make_writer(),
            priority: priority(&Level::INFO),
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        Tagged {
            inner: self.inner.make_writer_for(meta),
            priority: priority(meta.level()),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn levels_map_to_syslog_priorities() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
        assert_eq!(priority(&Level::TRACE), 7);
    }

    #[test]
    fn every_line_of_an_event_carries_the_priority() {
        assert_eq!(prefixed(4, b"one\n"), b"<4>one\n");
        assert_eq!(prefixed(3, b"one\ntwo\n"), b"<3>one\n<3>two\n");
        assert_eq!(prefixed(6, b"no newline"), b"<6>no newline");
    }

    #[test]
    fn journal_stream_must_name_stderrs_device_and_inode() {
        assert!(names_stream("8:12345", 8, 12345));
        assert!(!names_stream("8:12345", 8, 1));
        assert!(!names_stream("9:12345", 8, 12345));
        assert!(!names_stream("garbage", 8, 12345));
        assert!(!names_stream("", 0, 0));
    }

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn logged(json: bool, log: impl FnOnce()) -> String {
        let sink = Sink::default();
        let out = sink.clone();
        let builder = tracing_subscriber::fmt()
            .with_writer(PriorityWriter::new(move || sink.clone()))
            .with_ansi(false)
            .without_time()
            .with_max_level(Level::TRACE);
        if json {
            tracing::subscriber::with_default(builder.json().finish(), log);
        } else {
            tracing::subscriber::with_default(builder.finish(), log);
        }
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn events_are_tagged_by_level_and_keep_their_fields() {
        let text = logged(false, || {
            tracing::error!(app = "chat", deployment = "llm", "Replica failed.");
            tracing::warn!(replica = "llm-1a2b", "Health check failed.");
            tracing::info!(app = "chat", "Deployed.");
            tracing::debug!("Detail.");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("<3>"), "{text}");
        assert!(
            lines[0].contains("Replica failed. app=\"chat\" deployment=\"llm\""),
            "{text}"
        );
        assert!(lines[1].starts_with("<4>"), "{text}");
        assert!(lines[1].contains("replica=\"llm-1a2b\""), "{text}");
        assert!(lines[2].starts_with("<6>"), "{text}");
        assert!(lines[3].starts_with("<7>"), "{text}");
    }

    #[test]
    fn json_events_are_tagged_too() {
        let text = logged(true, || {
            tracing::warn!(app = "chat", "Slow.");
        });
        let json = text.strip_prefix("<4>").expect(&text);
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert_eq!(v["fields"]["app"], "chat");
        assert_eq!(v["level"], "WARN");
    }
}
