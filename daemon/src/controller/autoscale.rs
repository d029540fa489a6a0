//! The autoscaler of one deployment: Ray's default policy as plain
//! arithmetic on explicit times, so every rule is tested without a clock.
//!
//! Each reconcile tick the controller feeds [`Autoscaler::observe`] the
//! deployment's load across the cluster (requests in flight on its replicas
//! plus requests queued for it on every node) and asks [`Autoscaler::decide`].
//! The policy ([`desired`]): `load / target_ongoing_requests`, a step scaled by
//! the up/down factor, clamped to `[min, max]`; from zero with any load, one
//! replica at once (no delay). Then hysteresis against the current *target*
//! (not the running count, ray#18925): a change within 10 % of the target is
//! no change, and a wish to move must hold for the up/down delay in wall-clock
//! time (not ticks, ray#62004). When it has held, an upscale goes to this
//! tick's wish (the load is already averaged over the look-back period, and
//! capacity should arrive fast); a downscale goes only to the largest wish
//! seen while it held (HPA's stabilisation: a dip on the last tick does not
//! shrink the deployment too far; ray#46497).
//! Reaching zero is always its own step, from one, after
//! `downscale_to_zero_delay_s`.

use std::collections::VecDeque;

use rserve_protocol::config::{Aggregation, Autoscaling};

/// Decisions kept for status.
pub const DECISIONS_KEPT: usize = 10;
/// Samples closer than this are one sample (the reconcile tick is 0.1 s).
const SAMPLE_SPACING_S: f64 = 0.09;
/// A wish within this fraction of the target is no wish (hysteresis).
pub const TOLERANCE: f64 = 0.1;

/// Which way a wish points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// One change of the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// When, on the clock the autoscaler is fed (the controller stamps Unix
    /// time with [`Autoscaler::stamp_last`]).
    pub time_s: f64,
    /// Target before.
    pub from: u32,
    /// Target after.
    pub to: u32,
    /// Why, for people.
    pub reason: String,
}

/// `v` within `[min, max]`; never panics on bounds a caller got wrong (the
/// upper bound wins).
fn bound(v: u32, min: u32, max: u32) -> u32 {
    v.max(min).min(max)
}

/// The replica count the policy asks for at `load`, from `current` (the
/// target), before any delay.
pub fn desired(config: &Autoscaling, current: u32, load: f64) -> u32 {
    let load = load.max(0.0);
    if current == 0 {
        // Cold start: any request wakes the deployment at once.
        return if load > 0.0 {
            bound(
                (config.upscaling_factor.ceil() as u32).max(1),
                config.min_replicas.max(1),
                config.max_replicas.max(1),
            )
        } else {
            config.min_replicas
        };
    }
    let raw = load / config.target_ongoing_requests;
    let current_f = f64::from(current);
    if (raw / current_f - 1.0).abs() <= TOLERANCE {
        return bound(current, config.min_replicas, config.max_replicas);
    }
    let delta = raw - current_f;
    let factor = if delta > 0.0 {
        config.upscaling_factor
    } else {
        config.downscaling_factor
    };
    let mut scaled = (current_f + factor * delta).ceil().max(0.0) as u32;
    // A small downscaling factor must not freeze the count (Ray's rule).
    if (raw.ceil() as u32) < current && scaled == current {
        scaled = current - 1;
    }
    // Zero is reached only from one, as its own step.
    if scaled == 0 && current > 1 {
        scaled = 1;
    }
    bound(scaled, config.min_replicas, config.max_replicas)
}

/// Load samples, the target and the pending wish of one deployment.
#[derive(Debug, Clone)]
pub struct Autoscaler {
    /// The replica count the deployment converges to.
    pub target: u32,
    /// `(time_s, load)`, oldest first, within the look-back period.
    samples: VecDeque<(f64, f64)>,
    /// The pending wish: its direction, since when, and its most
    /// conservative count so far.
    wish: Option<(Direction, f64, u32)>,
    /// The latest changes, oldest first.
    pub decisions: VecDeque<Decision>,
}

impl Autoscaler {
    /// Starts at `target` (`initial_replicas` on a first deploy).
    pub fn new(target: u32) -> Self {
        Self {
            target,
            samples: VecDeque::new(),
            wish: None,
            decisions: VecDeque::new(),
        }
    }

    /// Adds a load sample; forgets those older than the look-back period.
    pub fn observe(&mut self, now_s: f64, load: f64, config: &Autoscaling) {
        // Extra reconcile passes (phase changes) replace the tick's sample:
        // samples stay evenly spaced, so their mean is time-weighted.
        if let Some(last) = self.samples.back_mut()
            && now_s - last.0 < SAMPLE_SPACING_S
        {
            last.1 = last.1.max(load.max(0.0));
            return;
        }
        self.samples.push_back((now_s, load.max(0.0)));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now_s - t > config.look_back_period_s)
        {
            self.samples.pop_front();
        }
    }

    /// The load over the look-back period, folded as configured.
    pub fn metric(&self, config: &Autoscaling) -> f64 {
        let values = self.samples.iter().map(|(_, v)| *v);
        match config.aggregation_function {
            _ if self.samples.is_empty() => 0.0,
            Aggregation::Mean => values.sum::<f64>() / self.samples.len() as f64,
            Aggregation::Max => values.fold(0.0, f64::max),
            Aggregation::Min => values.fold(f64::INFINITY, f64::min),
        }
    }

    /// Replaces the newest decision's time (the controller decides on a
    /// monotonic clock and shows Unix time).
    pub fn stamp_last(&mut self, time_s: f64) {
        if let Some(last) = self.decisions.back_mut() {
            last.time_s = time_s;
        }
    }

    /// One tick at `now_s` (seconds on a monotonic clock: delays are
    /// wall-clock durations that a clock step must not shorten or stretch):
    /// moves the target if a wish has held long enough. Returns the decision
    /// when it moved.
    pub fn decide(&mut self, now_s: f64, config: &Autoscaling) -> Option<Decision> {
        let newest = self.samples.back().map_or(0.0, |(_, v)| *v);
        let metric = self.metric(config);
        let from = self.target;
        // From zero, the newest sample decides (the mean of a window of zeros
        // would hide the first request).
        let load = if from == 0 { newest } else { metric };
        let wanted = desired(config, from, load);
        let clamped = bound(from, config.min_replicas, config.max_replicas);
        let (direction, delay) = if from == 0 && wanted > 0 {
            (Direction::Up, 0.0)
        } else if from != clamped {
            // New bounds apply at once.
            (
                if clamped > from {
                    Direction::Up
                } else {
                    Direction::Down
                },
                0.0,
            )
        } else if wanted > from {
            (Direction::Up, config.upscale_delay_s)
        } else if wanted < from {
            let delay = if from == 1 {
                config.downscale_to_zero_delay_s
            } else {
                config.downscale_delay_s
            };
            (Direction::Down, delay)
        } else {
            self.wish = None;
            return None;
        };
        let bounds_changed = from != clamped && from != 0;
        let wanted = if bounds_changed { clamped } else { wanted };
        let (since, kept) = match self.wish {
            _ if bounds_changed => (now_s, clamped),
            Some((d, since, kept)) if d == direction => {
                let kept = match direction {
                    Direction::Up => wanted,
                    Direction::Down => kept.max(wanted),
                };
                (since, kept)
            }
            _ => (now_s, wanted),
        };
        if now_s - since < delay {
            self.wish = Some((direction, since, kept));
            return None;
        }
        self.wish = None;
        self.target = kept;
        let reason = if from == 0 {
            format!("{load:.1} requests waiting with no replica: cold start")
        } else if from != clamped {
            format!(
                "bounds changed to {}..={}",
                config.min_replicas, config.max_replicas
            )
        } else {
            let fold = match config.aggregation_function {
                Aggregation::Mean => "mean",
                Aggregation::Max => "max",
                Aggregation::Min => "min",
            };
            format!(
                "load {metric:.2} ({fold} over {}s) at target_ongoing_requests {}, held {:.1}s",
                config.look_back_period_s,
                config.target_ongoing_requests,
                now_s - since
            )
        };
        let decision = Decision {
            time_s: now_s,
            from,
            to: kept,
            reason,
        };
        self.decisions.push_back(decision.clone());
        if self.decisions.len() > DECISIONS_KEPT {
            self.decisions.pop_front();
        }
        Some(decision)
    }
}

#[cfg(test)]
mod tests {
    use rserve_protocol::config::AutoscalingConfig;

    use super::*;

    fn config(up: f64, down: f64) -> Autoscaling {
        AutoscalingConfig {
            min_replicas: Some(1),
            max_replicas: Some(10),
            target_ongoing_requests: Some(2.0),
            upscale_delay_s: Some(up),
            downscale_delay_s: Some(down),
            look_back_period_s: Some(1.0),
            ..AutoscalingConfig::default()
        }
        .resolve(false)
    }

    /// Runs ticks every 0.1 s from `from_s` for `secs` with a constant load;
    /// returns the decisions.
    fn run(
        a: &mut Autoscaler,
        c: &Autoscaling,
        from_s: f64,
        secs: f64,
        load: f64,
    ) -> Vec<Decision> {
        let mut out = Vec::new();
        let ticks = (secs * 10.0).round() as u32;
        for i in 0..ticks {
            let now = from_s + f64::from(i) * 0.1;
            a.observe(now, load, c);
            out.extend(a.decide(now, c));
        }
        out
    }

    #[test]
    fn the_policy_is_load_over_target_scaled_and_clamped() {
        let c = config(0.0, 0.0);
        assert_eq!(desired(&c, 2, 4.0), 2, "2 replicas at 2 each: stable");
        assert_eq!(desired(&c, 2, 12.0), 6);
        assert_eq!(desired(&c, 2, 100.0), 10, "max");
        assert_eq!(desired(&c, 4, 0.0), 1, "min (and never 0 from above 1)");
        assert_eq!(desired(&c, 2, 4.3), 2, "within the tolerance");
        let half = AutoscalingConfig {
            upscaling_factor: Some(0.5),
            downscaling_factor: Some(0.01),
            max_replicas: Some(10),
            ..AutoscalingConfig::default()
        }
        .resolve(false);
        assert_eq!(desired(&half, 2, 12.0), 4, "half the step: 2 + 0.5 × 4");
        assert_eq!(
            desired(&half, 6, 2.0),
            5,
            "a tiny factor still steps down by one"
        );
    }

    #[test]
    fn steady_load_stays_stable() {
        let c = config(1.0, 3.0);
        let mut a = Autoscaler::new(3);
        assert!(run(&mut a, &c, 0.0, 60.0, 6.0).is_empty());
        assert_eq!(a.target, 3);
    }

    #[test]
    fn a_step_up_waits_for_the_upscale_delay_then_moves_once() {
        let c = config(1.0, 3.0);
        let mut a = Autoscaler::new(1);
        run(&mut a, &c, 0.0, 2.0, 2.0);
        let decisions = run(&mut a, &c, 2.0, 3.0, 8.0);
        assert_eq!(decisions.len(), 1, "{decisions:?}");
        let d = &decisions[0];
        assert_eq!((d.from, d.to), (1, 4));
        // The wish starts with the first sample of the step (the mean over
        // the 1 s look-back rises at once) and must hold 1 s.
        assert!((3.0..=3.1).contains(&d.time_s), "{}", d.time_s);
    }

    #[test]
    fn a_step_down_waits_for_the_downscale_delay() {
        let c = config(1.0, 3.0);
        let mut a = Autoscaler::new(4);
        run(&mut a, &c, 0.0, 2.0, 8.0);
        let decisions = run(&mut a, &c, 2.0, 12.0, 2.0);
        // Nothing before the delay has passed since the drop; then down only,
        // never below what the load asked for while the wish held.
        assert!(decisions[0].time_s >= 5.0, "{decisions:?}");
        assert!(decisions.iter().all(|d| d.to < d.from), "{decisions:?}");
        assert_eq!(a.target, 1, "{decisions:?}");
    }

    #[test]
    fn a_load_hovering_at_a_threshold_does_not_flap() {
        let c = config(1.0, 3.0);
        let mut a = Autoscaler::new(2);
        let mut decisions = Vec::new();
        // Alternates 3.9 / 4.5 requests every 0.3 s around 2 × 2.
        for i in 0..600 {
            let now = f64::from(i) * 0.1;
            let load = if (i / 3) % 2 == 0 { 3.9 } else { 4.5 };
            a.observe(now, load, &c);
            decisions.extend(a.decide(now, &c));
        }
        assert!(decisions.is_empty(), "{decisions:?}");
        // Without delays, ticks that disagree still do not flap thanks to the tolerance.
        let eager = config(0.0, 0.0);
        let mut b = Autoscaler::new(2);
        let flips = (0..600)
            .filter_map(|i| {
                let now = f64::from(i) * 0.1;
                b.observe(now, if i % 2 == 0 { 3.9 } else { 4.3 }, &eager);
                b.decide(now, &eager)
            })
            .count();
        assert_eq!(flips, 0);
    }

    #[test]
    fn a_downscale_takes_the_largest_wish_of_the_delay() {
        let c = AutoscalingConfig {
            look_back_period_s: Some(0.1),
            ..AutoscalingConfig::default()
        };
        let c = Autoscaling {
            max_replicas: 20,
            downscale_delay_s: 1.0,
            ..c.resolve(false)
        };
        let mut a = Autoscaler::new(10);
        // A second at 8 requests (4 replicas' worth) ending in a dip to 0: the
        // decision keeps 4, not 1.
        let mut decisions = Vec::new();
        for i in 0..=10 {
            let now = f64::from(i) * 0.1;
            let load = if i == 10 { 0.0 } else { 8.0 };
            a.observe(now, load, &c);
            decisions.extend(a.decide(now, &c));
        }
        assert_eq!(decisions.len(), 1, "{decisions:?}");
        assert_eq!(decisions[0].to, 4);
    }

    #[test]
    fn min_and_max_hold_and_new_bounds_apply_at_once() {
        let mut c = config(0.0, 0.0);
        let mut a = Autoscaler::new(3);
        run(&mut a, &c, 0.0, 2.0, 1000.0);
        assert_eq!(a.target, 10);
        c.max_replicas = 5;
        let d = a.decide(2.5, &c).unwrap();
        assert_eq!((d.from, d.to), (10, 5));
        run(&mut a, &c, 3.0, 3.0, 0.0);
        assert_eq!(a.target, 1);
    }

    #[test]
    fn to_zero_after_its_own_delay_and_back_at_the_first_request() {
        let c = AutoscalingConfig {
            min_replicas: Some(0),
            max_replicas: Some(4),
            downscale_delay_s: Some(1.0),
            downscale_to_zero_delay_s: Some(5.0),
            upscale_delay_s: Some(30.0),
            look_back_period_s: Some(1.0),
            ..AutoscalingConfig::default()
        }
        .resolve(false);
        let mut a = Autoscaler::new(3);
        let decisions = run(&mut a, &c, 0.0, 10.0, 0.0);
        let steps: Vec<(u32, u32)> = decisions.iter().map(|d| (d.from, d.to)).collect();
        assert_eq!(steps, [(3, 1), (1, 0)], "zero is its own step");
        assert!(decisions[1].time_s - decisions[0].time_s >= 5.0);
        // One request arrives: at once, despite upscale_delay_s = 30.
        a.observe(20.0, 1.0, &c);
        let d = a.decide(20.0, &c).unwrap();
        assert_eq!((d.from, d.to), (0, 1));
        assert!(d.reason.contains("cold start"), "{}", d.reason);
    }

    #[test]
    fn the_aggregation_function_folds_the_window() {
        let mut c = config(0.0, 0.0);
        let mut a = Autoscaler::new(1);
        for (t, v) in [(0.0, 2.0), (0.5, 6.0), (0.9, 4.0)] {
            a.observe(t, v, &c);
        }
        assert_eq!(a.metric(&c), 4.0);
        c.aggregation_function = Aggregation::Max;
        assert_eq!(a.metric(&c), 6.0);
        c.aggregation_function = Aggregation::Min;
        assert_eq!(a.metric(&c), 2.0);
        a.observe(1.6, 8.0, &c);
        assert_eq!(
            a.metric(&c),
            4.0,
            "samples older than the look-back are gone"
        );
    }
}
