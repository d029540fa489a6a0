//! systemd's service notification protocol (`sd_notify`): `READY=1` once the node
//! serves, `STATUS=` lines for `systemctl status`, `WATCHDOG=1` pings gated on the
//! controller and ingress loops making progress, `RELOADING=1` around a reload and
//! `STOPPING=1` when the drain starts. Nothing is sent when `NOTIFY_SOCKET` is unset.
//!
//! The pings come from a task of their own, but only while every [`Heartbeat`] is
//! fresh: a loop that hangs stops beating, the pings stop, and systemd restarts the
//! node after `WatchdogSec=` (a free-running timer would only prove the runtime lives).

use std::future::Future;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How often the loops that gate the watchdog beat at least (the controller
/// reconciles this often anyway; the ingress accept loop wakes up for it).
pub const BEAT_PERIOD: Duration = Duration::from_millis(100);

/// A loop's heartbeat is stale past the larger of half the watchdog timeout and
/// this: a busy runtime must not be mistaken for a hung loop.
const STALE_FLOOR: Duration = Duration::from_secs(1);

/// The shortest ping period, whatever `WATCHDOG_USEC` says.
const MIN_PING_PERIOD: Duration = Duration::from_millis(10);

/// How often the status line is recomputed (sent only when it changed).
const STATUS_PERIOD: Duration = Duration::from_secs(1);

/// Where notifications go: systemd's socket when the process runs under
/// `Type=notify`, nowhere otherwise.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    socket: Option<Arc<SocketAddr>>,
    watchdog: Option<Duration>,
    /// A failed send is logged once as a warning, then at debug level.
    warned: Arc<AtomicBool>,
}

impl Notifier {
    /// From `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket) and
    /// `WATCHDOG_USEC` (honoured when `WATCHDOG_PID` is unset or this process).
    pub fn from_env() -> Self {
        let Some(value) = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty()) else {
            return Self::disabled();
        };
        match socket_address(value.as_bytes()) {
            Ok(addr) => Self {
                socket: Some(Arc::new(addr)),
                // 0 means off; a nonsense timeout must not become a busy loop.
                watchdog: sd_notify::watchdog_enabled().filter(|t| !t.is_zero()),
                warned: Arc::default(),
            },
            Err(e) => {
                warn!(error = %e, socket = ?value, "NOTIFY_SOCKET is not a usable socket address; not notifying systemd.");
                Self::disabled()
            }
        }
    }

    /// Sends nothing (tests, and nodes not run by systemd).
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Whether anything is sent.
    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// systemd's watchdog timeout, when it asked for pings.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Start-up (or a reload) is over: the node serves.
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// A new status line for `systemctl status`.
    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    /// A reload starts. systemd ≥ 253 needs `MONOTONIC_USEC` with it, or it
    /// fails the reload and stops the service.
    pub fn reloading(&self) {
        if !self.enabled() {
            return;
        }
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[
                NotifyState::Reloading,
                now,
                NotifyState::Status("reloading the --deploy files"),
            ]),
            Err(e) => {
                warn!(error = %e, "Cannot read CLOCK_MONOTONIC; not telling systemd about the reload.")
            }
        }
    }

    /// The drain starts.
    pub fn stopping(&self) {
        self.send(&[
            NotifyState::Stopping,
            NotifyState::Status("draining in-flight requests"),
        ]);
    }

    fn ping(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        let Some(addr) = &self.socket else {
            return;
        };
        if let Err(e) = send(addr, &message(states)) {
            if self.warned.swap(true, Ordering::Relaxed) {
                debug!(error = %e, "Cannot notify systemd (NOTIFY_SOCKET).");
            } else {
                warn!(error = %e, "Cannot notify systemd (NOTIFY_SOCKET); further failures are logged at debug level.");
            }
        }
    }
}

/// `NOTIFY_SOCKET`'s value as an address: a path, or `@name` for a Linux
/// abstract socket (sd-notify 0.5 would connect to a file named `@name`).
fn socket_address(value: &[u8]) -> std::io::Result<SocketAddr> {
    #[cfg(target_os = "linux")]
    if let Some(name) = value.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(name);
    }
    SocketAddr::from_pathname(std::path::Path::new(std::ffi::OsStr::from_bytes(value)))
}

/// One datagram: `KEY=VALUE` lines.
fn message(states: &[NotifyState<'_>]) -> String {
    states.iter().map(|s| format!("{s}\n")).collect()
}

fn send(addr: &SocketAddr, message: &str) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    let sent = socket.send_to_addr(message.as_bytes(), addr)?;
    if sent == message.len() {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            "datagram cut short",
        ))
    }
}

/// Proof that a loop is making progress: it beats on every iteration, the
/// watchdog task reads how long ago that was.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    inner: Arc<Beat>,
}

#[derive(Debug)]
struct Beat {
    name: &'static str,
    origin: Instant,
    /// Milliseconds from `origin` to the last beat.
    last_ms: AtomicU64,
    /// Test-only: while this file exists, `beat` does not return, so the loop
    /// that awaits it is stalled as a hung loop would be.
    stall_while: Option<PathBuf>,
}

impl Heartbeat {
    /// A heartbeat for the loop called `name` (in logs), beating now.
    pub fn new(name: &'static str) -> Self {
        Self::stalled_while(name, None)
    }

    /// [`Heartbeat::new`] with the test-only stall hook: `beat` waits while
    /// `path` exists.
    pub fn stalled_while(name: &'static str, path: Option<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Beat {
                name,
                origin: Instant::now(),
                last_ms: AtomicU64::new(0),
                stall_while: path,
            }),
        }
    }

    /// Records progress. Awaited inside the loop, so the stall hook stalls the
    /// loop itself.
    pub async fn beat(&self) {
        if let Some(path) = &self.inner.stall_while {
            while path.exists() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let ms = self.inner.origin.elapsed().as_millis();
        // A plain store: readers only compare times, nothing else is published with it.
        self.inner
            .last_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The loop's name and how long since it beat, if longer than `limit`.
    pub fn stalled(&self, limit: Duration) -> Option<(&'static str, Duration)> {
        let age = self.age();
        (age > limit).then_some((self.inner.name, age))
    }

    fn age(&self) -> Duration {
        let last = Duration::from_millis(self.inner.last_ms.load(Ordering::Relaxed));
        self.inner.origin.elapsed().saturating_sub(last)
    }
}

/// The node as one `systemctl status` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Summary {
    /// A head (or a single node): what it serves across the cluster.
    Head {
        apps: usize,
        running: u32,
        target: u32,
        nodes: usize,
    },
    /// A member: what it runs for the head.
    Member {
        head: String,
        running: usize,
        replicas: usize,
    },
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Head {
                apps,
                running,
                target,
                nodes,
            } => write!(
                f,
                "{}, {running}/{target} replicas running, {}",
                plural(*apps, "app"),
                plural(*nodes, "node")
            ),
            Self::Member {
                head,
                running,
                replicas,
            } => write!(
                f,
                "member of the cluster at {head}, {running}/{replicas} replicas running here"
            ),
        }
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Until `shutdown`: pings the watchdog while every heartbeat is fresh and
/// sends the status line when it changes; then sends `STOPPING=1`.
pub async fn supervise<F, Fut>(
    notifier: Notifier,
    beats: Vec<Heartbeat>,
    summary: F,
    shutdown: CancellationToken,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = String>,
{
    if !notifier.enabled() {
        return;
    }
    let pings = async {
        match notifier.watchdog() {
            Some(timeout) => keep_pinging(timeout / 2, &beats, || notifier.ping()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = pings => {}
        () = publish_status(&notifier, summary) => {}
    }
    notifier.stopping();
}

/// Calls `ping` every `every` while no heartbeat is older than `every` (at least
/// [`STALE_FLOOR`]); logs when a loop stalls and when it recovers.
async fn keep_pinging(every: Duration, beats: &[Heartbeat], mut ping: impl FnMut()) {
    let every = every.max(MIN_PING_PERIOD);
    let stale = every.max(STALE_FLOOR);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stalled: Option<&'static str> = None;
    loop {
        tick.tick().await;
        match beats.iter().find(|b| b.age() > stale) {
            None => {
                if let Some(name) = stalled.take() {
                    info!(
                        loop_name = name,
                        "The loop makes progress again; watchdog pings resumed."
                    );
                }
                ping();
            }
            Some(beat) if stalled.is_none() => {
                warn!(
                    loop_name = beat.inner.name,
                    stalled_for = ?beat.age(),
                    "A loop has made no progress; not pinging systemd's watchdog (it restarts the node after WatchdogSec)."
                );
                stalled = Some(beat.inner.name);
            }
            Some(_) => {}
        }
    }
}

async fn publish_status<F, Fut>(notifier: &Notifier, mut summary: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = String>,
{
    let mut last = String::new();
    loop {
        tokio::time::sleep(STATUS_PERIOD).await;
        let line = summary().await;
        if line != last {
            notifier.status(&line);
            last = line;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn the_status_line_reads_as_a_sentence() {
        let head = Summary::Head {
            apps: 3,
            running: 7,
            target: 7,
            nodes: 2,
        };
        assert_eq!(head.to_string(), "3 apps, 7/7 replicas running, 2 nodes");
        let single = Summary::Head {
            apps: 1,
            running: 0,
            target: 2,
            nodes: 1,
        };
        assert_eq!(single.to_string(), "1 app, 0/2 replicas running, 1 node");
        let member = Summary::Member {
            head: "10.0.0.1:8265".into(),
            running: 1,
            replicas: 2,
        };
        assert_eq!(
            member.to_string(),
            "member of the cluster at 10.0.0.1:8265, 1/2 replicas running here"
        );
    }

    #[test]
    fn a_notifier_without_a_socket_sends_nothing_and_has_no_watchdog() {
        let n = Notifier::disabled();
        assert!(!n.enabled());
        assert_eq!(n.watchdog(), None);
        // Would fail loudly if it tried a socket: there is none to try.
        n.ready("x");
        n.reloading();
        n.stopping();
    }

    #[test]
    fn one_datagram_holds_one_line_per_state() {
        let msg = message(&[
            NotifyState::Reloading,
            NotifyState::MonotonicUsec(1234),
            NotifyState::Status("3 apps"),
        ]);
        assert_eq!(msg, "RELOADING=1\nMONOTONIC_USEC=1234\nSTATUS=3 apps\n");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn messages_reach_path_and_abstract_sockets() {
        use std::os::linux::net::SocketAddrExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let addr = socket_address(path.as_os_str().as_bytes()).unwrap();
        send(&addr, "READY=1\n").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");

        let name = format!("rserve-notify-test-{}", std::process::id());
        let abstract_addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&abstract_addr).unwrap();
        let addr = socket_address(format!("@{name}").as_bytes()).unwrap();
        send(&addr, "WATCHDOG=1\n").unwrap();
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1\n");
    }

    /// Beats every `BEAT_PERIOD` until `stop_after`, then never again.
    fn beating_until(beat: Heartbeat, stop_after: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let end = Instant::now() + stop_after;
            while Instant::now() < end {
                beat.beat().await;
                tokio::time::sleep(BEAT_PERIOD).await;
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn pings_go_out_while_every_loop_beats_and_stop_when_one_stalls() {
        let controller = Heartbeat::new("controller");
        let ingress = Heartbeat::new("ingress");
        let _c = beating_until(controller.clone(), Duration::from_secs(10));
        let _i = beating_until(ingress.clone(), Duration::from_secs(3600));
        let pings = Arc::new(AtomicUsize::new(0));
        let counter = pings.clone();
        let beats = vec![controller, ingress];
        let pinger = tokio::spawn(async move {
            keep_pinging(Duration::from_secs(2), &beats, || {
                counter.fetch_add(1, Ordering::Relaxed);
            })
            .await;
        });
        tokio::time::sleep(Duration::from_millis(9_900)).await;
        // Ticks at 0, 2, 4, 6, 8 s.
        assert_eq!(pings.load(Ordering::Relaxed), 5);
        tokio::time::sleep(Duration::from_secs(60)).await;
        // The controller stopped beating at 10 s: stale (> 2 s) from 12 s on, so
        // the tick at 10 s was the last ping.
        assert_eq!(pings.load(Ordering::Relaxed), 6);
        pinger.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn the_stall_hook_holds_the_beat_while_its_file_exists() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stall");
        std::fs::write(&file, b"").unwrap();
        let beat = Heartbeat::stalled_while("controller", Some(file.clone()));
        let task = tokio::spawn({
            let beat = beat.clone();
            async move { beat.beat().await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!task.is_finished());
        assert!(beat.age() >= Duration::from_secs(5));
        std::fs::remove_file(&file).unwrap();
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("beats once the file is gone")
            .unwrap();
        assert!(beat.age() < Duration::from_millis(100));
    }
}
