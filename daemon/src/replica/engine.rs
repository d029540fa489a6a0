//! Continuous batching for the `chat` kind: one engine thread owns the model and
//! steps every running sequence together, iteration by iteration.
//!
//! Each step, every decoding sequence feeds its last token and sequences still
//! prefilling feed a chunk of their prompt, all under one token budget
//! (`max_num_batched_tokens`); the weight matmuls run once over all of them.
//! New sequences join at the next step, finished or cancelled ones leave at
//! once. Admission is bounded by `max_num_seqs` and by a KV-cache budget
//! (`max_kv_cache_tokens`, reserved as prompt + `max_tokens` per sequence);
//! the rest wait in FIFO order. With prefix caching on, what the running
//! sequences leave of the KV budget holds the caches of finished sequences
//! ([`PrefixCache`]): a new prompt starts from the longest prefix held, and
//! entries are evicted (least recently used first) as soon as admission needs
//! the room, so caching never delays a sequence. A sequence whose client reads
//! slowly pauses (its event buffer is full) without holding up the others, and
//! is cancelled after [`SLOW_READER_LIMIT`]; one whose client is gone leaves at
//! once (what it computed goes to the prefix cache like a finished one's).

use std::collections::VecDeque;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rserve_models::{ChatModel, ChatText, Generation, PrefixCache, Sampling, Sequence};
use rserve_protocol::status::BatchFigures;
use tokio::sync::{mpsc, oneshot};

use super::compute::{OnDeath, spawn_model_thread};
use super::panic_message;

/// How long a sequence may stay paused on a full event buffer before it is
/// cancelled.
pub const SLOW_READER_LIMIT: Duration = Duration::from_secs(30);

/// Events buffered per sequence between the engine and the HTTP connection.
pub const EVENT_BUFFER: usize = 64;

/// Admission and step limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineLimits {
    /// Most sequences decoding together.
    pub max_num_seqs: usize,
    /// Most tokens fed in one step (decode tokens + prefill chunks).
    pub max_num_batched_tokens: usize,
    /// Most tokens reserved in KV caches (prompt + max_tokens per sequence).
    pub max_kv_cache_tokens: usize,
    /// Whether finished sequences' caches are kept for later prompts that
    /// share a prefix with them (in the budget the running ones leave).
    pub prefix_caching: bool,
}

/// What the engine tells a request about its sequence.
#[derive(Debug)]
pub enum SeqEvent {
    /// New final text.
    Text(String),
    /// The sequence ended (stop, length).
    Done(Generation),
    /// It could not start (e.g. the prompt does not fit the context).
    Failed(String),
}

struct Admission {
    prompt: Vec<u32>,
    sampling: Sampling,
    events: mpsc::Sender<SeqEvent>,
}

enum Command {
    Admit(Admission),
    Ping(oneshot::Sender<()>),
}

/// Why a sequence could not be submitted.
#[derive(Debug)]
pub enum SubmitError {
    /// The engine's queue is full.
    Busy,
    /// The engine thread is gone; the string says why.
    Crashed(String),
}

/// Handle to a chat engine thread.
pub struct ChatEngine {
    commands: std_mpsc::SyncSender<Command>,
    death: Arc<Mutex<Option<String>>>,
    text: Arc<ChatText>,
}

impl ChatEngine {
    /// Spawns the engine thread, loads the model on it with `load` and waits
    /// until it is ready. `capacity` bounds the queue of commands.
    pub async fn start(
        name: &str,
        capacity: usize,
        limits: EngineLimits,
        figures: Arc<Mutex<BatchFigures>>,
        on_death: OnDeath,
        load: impl FnOnce() -> Result<ChatModel, String> + Send + 'static,
    ) -> Result<Self, String> {
        let (commands, rx) = std_mpsc::sync_channel::<Command>(capacity + 1);
        let death = Arc::new(Mutex::new(None));
        let text = spawn_model_thread(
            name,
            load,
            ChatModel::text,
            death.clone(),
            on_death,
            move |model| {
                // A panic in a step ends the loop with its message; dropping the
                // engine drops every sequence's sender, so their requests see it.
                Engine {
                    model,
                    limits,
                    figures,
                    waiting: VecDeque::new(),
                    running: Vec::new(),
                    reserved: 0,
                    prefix: PrefixCache::new(),
                }
                .run(&rx)
            },
        )
        .await?;
        Ok(Self {
            commands,
            death,
            text,
        })
    }

    /// The tokenizer and chat template (for use off the engine thread).
    pub fn text(&self) -> &Arc<ChatText> {
        &self.text
    }

    /// Queues a sequence; its events arrive on the returned receiver. Dropping
    /// the receiver cancels the sequence.
    pub fn submit(
        &self,
        prompt: Vec<u32>,
        sampling: Sampling,
    ) -> Result<mpsc::Receiver<SeqEvent>, SubmitError> {
        let (events, rx) = mpsc::channel(EVENT_BUFFER);
        let admission = Admission {
            prompt,
            sampling,
            events,
        };
        self.commands
            .try_send(Command::Admit(admission))
            .map_err(|e| match e {
                std_mpsc::TrySendError::Full(_) => SubmitError::Busy,
                std_mpsc::TrySendError::Disconnected(_) => SubmitError::Crashed(self.crash()),
            })?;
        Ok(rx)
    }

    /// Why the engine is gone.
    pub fn crash(&self) -> String {
        self.death
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| "engine thread exited".to_owned())
    }

    /// Tells, later and from any thread, why the engine died (`None` while it runs).
    pub fn crash_reporter(&self) -> impl Fn() -> Option<String> + Send + 'static {
        let death = self.death.clone();
        move || death.lock().unwrap().clone()
    }

    /// A health check: the engine answers between steps.
    pub async fn ping(&self) -> Result<(), String> {
        if let Some(reason) = self.death.lock().unwrap().clone() {
            return Err(reason);
        }
        let (tx, rx) = oneshot::channel();
        self.commands
            .try_send(Command::Ping(tx))
            .map_err(|e| match e {
                std_mpsc::TrySendError::Full(_) => "engine queue is full".to_owned(),
                std_mpsc::TrySendError::Disconnected(_) => self.crash(),
            })?;
        rx.await.map_err(|_| self.crash())
    }
}

struct Running {
    seq: Sequence,
    events: mpsc::Sender<SeqEvent>,
    /// KV-cache tokens reserved for it.
    reserved: usize,
    /// Since when its event buffer has been full.
    paused_since: Option<Instant>,
}

struct Engine {
    model: ChatModel,
    limits: EngineLimits,
    figures: Arc<Mutex<BatchFigures>>,
    waiting: VecDeque<Admission>,
    running: Vec<Running>,
    /// KV-cache tokens reserved by the running sequences.
    reserved: usize,
    /// Finished sequences' caches, in the budget `reserved` leaves (empty
    /// when prefix caching is off).
    prefix: PrefixCache,
}

impl Engine {
    /// The loop; `Err` with the panic message if a step panicked.
    fn run(&mut self, rx: &std_mpsc::Receiver<Command>) -> Result<(), String> {
        loop {
            if self.running.is_empty() && self.waiting.is_empty() {
                match rx.recv() {
                    Ok(command) => self.handle(command),
                    Err(_) => return Ok(()), // the replica is gone
                }
            }
            loop {
                match rx.try_recv() {
                    Ok(command) => self.handle(command),
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => return Ok(()),
                }
            }
            self.admit();
            let now = Instant::now();
            let inputs: Vec<StepInput> = self
                .running
                .iter_mut()
                .map(|r| StepInput {
                    remaining_prompt: r.seq.remaining_prompt(),
                    ready: r.ready(now),
                })
                .collect();
            let plan = plan_step(&inputs, self.limits.max_num_batched_tokens);
            // Cancelled (client gone or too slow) sequences leave now; what
            // they computed stays in the prefix cache (a client that stopped a
            // stream often sends the conversation again).
            let gone: Vec<bool> = self
                .running
                .iter()
                .map(|r| {
                    r.events.is_closed()
                        || r.paused_since
                            .is_some_and(|t| now.duration_since(t) >= SLOW_READER_LIMIT)
                })
                .collect();
            let kept_plan: Vec<usize> = plan
                .iter()
                .zip(&gone)
                .filter(|(_, gone)| !**gone)
                .map(|(n, _)| *n)
                .collect();
            for i in (0..gone.len()).rev().filter(|&i| gone[i]) {
                let r = self.running.remove(i);
                self.reserved -= r.reserved;
                let room = self.room();
                drop(self.model.retire(r.seq, &mut self.prefix, room));
            }
            if kept_plan.iter().all(|&n| n == 0) {
                // Nothing can run (all paused on slow readers): wait a little
                // for a command rather than spin.
                if let Ok(command) = rx.recv_timeout(Duration::from_millis(5)) {
                    self.handle(command);
                }
                continue;
            }
            self.step(&kept_plan)?;
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Admit(admission) => self.waiting.push_back(admission),
            Command::Ping(tx) => drop(tx.send(())),
        }
    }

    /// Moves waiting sequences into the running set while the limits allow.
    fn admit(&mut self) {
        self.waiting.retain(|a| !a.events.is_closed());
        let context = self.model.config().context_length;
        while let Some(front) = self.waiting.front() {
            let need = front.prompt.len()
                + front
                    .sampling
                    .max_tokens
                    .min(context.saturating_sub(front.prompt.len()));
            if !admissible(self.running.len(), self.reserved, need, &self.limits) {
                break;
            }
            let admission = self.waiting.pop_front().expect("front exists");
            match self
                .model
                .start_cached(admission.prompt, admission.sampling, &mut self.prefix)
            {
                Ok(seq) => {
                    self.reserved += need;
                    // The cache gives up the room first (after the copy).
                    self.prefix.shrink_to(self.room());
                    self.figures
                        .lock()
                        .unwrap()
                        .record_prompt(seq.prompt_len(), seq.cached_tokens());
                    self.running.push(Running {
                        seq,
                        events: admission.events,
                        reserved: need,
                        paused_since: None,
                    });
                }
                Err(e) => {
                    let _ = admission.events.try_send(SeqEvent::Failed(e.to_string()));
                }
            }
        }
    }

    /// Runs one step over the planned sequences and delivers their text.
    fn step(&mut self, plan: &[usize]) -> Result<(), String> {
        let model = &self.model;
        let mut items: Vec<(&mut Sequence, usize)> = self
            .running
            .iter_mut()
            .zip(plan)
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| (&mut r.seq, *n))
            .collect();
        let stepped = items.len();
        let pieces =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.step(&mut items)))
                .map_err(|panic| panic_message(&panic))?;
        drop(items);
        self.figures.lock().unwrap().record(stepped);
        let mut pieces = pieces.into_iter();
        let mut finished = Vec::new();
        for (i, (r, n)) in self.running.iter_mut().zip(plan).enumerate() {
            if *n == 0 {
                continue;
            }
            let piece = pieces.next().expect("one piece per stepped sequence");
            // `ready` checked room for two events.
            if !piece.is_empty() {
                let _ = r.events.try_send(SeqEvent::Text(piece));
            }
            if r.seq.is_finished() {
                finished.push(i);
            }
        }
        for i in finished.into_iter().rev() {
            let r = self.running.swap_remove(i);
            self.reserved -= r.reserved;
            let room = self.room();
            let generation = self.model.retire(r.seq, &mut self.prefix, room);
            let _ = r.events.try_send(SeqEvent::Done(generation));
        }
        Ok(())
    }

    /// KV-cache tokens the prefix cache may hold now: what the running
    /// sequences leave of the budget (none with prefix caching off).
    fn room(&self) -> usize {
        if self.limits.prefix_caching {
            self.limits
                .max_kv_cache_tokens
                .saturating_sub(self.reserved)
        } else {
            0
        }
    }
}

impl Running {
    /// Whether its event buffer has room for a step's events (a text piece and
    /// the final event); tracks how long it has been paused.
    fn ready(&mut self, now: Instant) -> bool {
        if self.events.capacity() >= 2 {
            self.paused_since = None;
            true
        } else {
            self.paused_since.get_or_insert(now);
            false
        }
    }
}

/// Whether a sequence that reserves `need` KV-cache tokens may join `running`
/// sequences that reserve `reserved`: under `max_num_seqs` and within
/// `max_kv_cache_tokens`. One sequence always runs, even one larger than the
/// whole budget (it could never run otherwise). With strictly FIFO admission
/// (`admit`) and every running sequence ending within bounded steps, no
/// queued sequence waits forever (docs/architecture.md, Continuous batching).
pub fn admissible(running: usize, reserved: usize, need: usize, limits: &EngineLimits) -> bool {
    running < limits.max_num_seqs && (running == 0 || reserved + need <= limits.max_kv_cache_tokens)
}

/// A running sequence as the step planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepInput {
    /// Prompt tokens still to prefill (0 = decoding).
    pub remaining_prompt: usize,
    /// Whether it may be stepped now (not paused on a slow reader).
    pub ready: bool,
}

/// Tokens each sequence feeds this step (0 = not stepped): every ready decoding
/// sequence feeds its one token; the rest of the budget goes to prefill chunks
/// in admission order, so decoding never stalls behind a long prompt and a
/// long prompt is prefilled across several steps.
pub fn plan_step(inputs: &[StepInput], max_batched_tokens: usize) -> Vec<usize> {
    let decoding = inputs
        .iter()
        .filter(|s| s.ready && s.remaining_prompt == 0)
        .count();
    let mut budget = max_batched_tokens.saturating_sub(decoding);
    inputs
        .iter()
        .map(|s| {
            if !s.ready {
                0
            } else if s.remaining_prompt == 0 {
                1
            } else {
                let chunk = s.remaining_prompt.min(budget);
                budget -= chunk;
                chunk
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(remaining_prompt: usize) -> StepInput {
        StepInput {
            remaining_prompt,
            ready: true,
        }
    }

    #[test]
    fn decoding_sequences_always_step_and_prefill_takes_the_rest() {
        let plan = plan_step(&[input(0), input(300), input(0), input(300)], 256);
        assert_eq!(plan, vec![1, 254, 1, 0]);
        // The long prompt finishes over the next steps, the second one follows.
        let plan = plan_step(&[input(0), input(46), input(0), input(300)], 256);
        assert_eq!(plan, vec![1, 46, 1, 208]);
        assert!(plan.iter().sum::<usize>() <= 256);
    }

    #[test]
    fn paused_sequences_are_skipped_and_cost_nothing() {
        let paused = StepInput {
            remaining_prompt: 0,
            ready: false,
        };
        let plan = plan_step(&[paused, input(10), paused], 4);
        assert_eq!(plan, vec![0, 4, 0]);
        assert_eq!(plan_step(&[paused], 4), vec![0]);
    }

    #[test]
    fn admission_is_bounded_by_sequences_and_kv_tokens() {
        let limits = EngineLimits {
            max_num_seqs: 3,
            max_num_batched_tokens: 64,
            max_kv_cache_tokens: 1000,
            prefix_caching: true,
        };
        // Admit a queue of needs in FIFO order, as the engine does.
        let admit = |needs: &[usize]| {
            let (mut running, mut reserved) = (0, 0);
            for &need in needs {
                if !admissible(running, reserved, need, &limits) {
                    break;
                }
                running += 1;
                reserved += need;
            }
            (running, reserved)
        };
        assert_eq!(admit(&[100, 100, 100, 100]), (3, 300), "max_num_seqs");
        assert_eq!(
            admit(&[600, 300, 200]),
            (2, 900),
            "KV budget, FIFO (no skipping)"
        );
        assert_eq!(
            admit(&[5000, 10]),
            (1, 5000),
            "an oversized sequence runs alone"
        );
        assert!(!admissible(1, 5000, 10, &limits));
    }

    #[test]
    fn budget_never_exceeded() {
        for budget in [1, 2, 7, 64] {
            for n in 1..12 {
                let inputs: Vec<StepInput> = (0..n).map(|i| input((i * 37) % 50)).collect();
                let plan = plan_step(&inputs, budget);
                let decoding = inputs.iter().filter(|s| s.remaining_prompt == 0).count();
                assert!(plan.iter().sum::<usize>() <= budget.max(decoding));
                for (s, p) in inputs.iter().zip(&plan) {
                    assert!(*p <= s.remaining_prompt.max(1));
                }
            }
        }
    }
}
