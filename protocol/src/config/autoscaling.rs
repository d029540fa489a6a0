//! `num_replicas` and `autoscaling_config`: Ray Serve's names, defaults and
//! rules. The file keeps what the operator wrote ([`NumReplicas`],
//! [`AutoscalingConfig`], every key optional); [`Replicas`] is what it means
//! once Ray's defaults are applied.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::DeploymentConfig;
use super::limits::{MAX_REPLICAS, MAX_SECONDS};

/// Longest look-back period accepted (the autoscaler keeps a sample per tick).
pub const MAX_LOOK_BACK_S: f64 = 3600.0;

/// `num_replicas` as written: a count, `"auto"`, or absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NumReplicas {
    /// Not in the file: 1, or what `autoscaling_config` says.
    #[default]
    Unset,
    /// A fixed count.
    Count(u32),
    /// `"auto"`: autoscaling with Ray's `AutoscalingConfig.default()` (min 1,
    /// max 100, target_ongoing_requests 2), overridden by `autoscaling_config`.
    Auto,
}

impl NumReplicas {
    /// Whether the key is absent (then it is not written back either).
    pub fn is_unset(&self) -> bool {
        *self == Self::Unset
    }
}

impl Serialize for NumReplicas {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Unset => s.serialize_none(),
            Self::Count(n) => s.serialize_u32(*n),
            Self::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for NumReplicas {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumReplicas;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of replicas or \"auto\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumReplicas, E> {
                u32::try_from(v)
                    .map(NumReplicas::Count)
                    .map_err(|_| E::custom(format!("{v} replicas is out of range")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumReplicas, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is negative")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumReplicas, E> {
                if v == "auto" {
                    Ok(NumReplicas::Auto)
                } else {
                    Err(E::custom(format!(
                        "`{v}` is neither a number of replicas nor \"auto\""
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// How the autoscaler folds the load samples of the look-back window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// The mean (samples are evenly spaced, so time-weighted).
    #[default]
    Mean,
    /// The largest sample: scales up on a short peak.
    Max,
    /// The smallest sample: scales up only on sustained load.
    Min,
}

/// Ray's `autoscaling_config`, as written (every key optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalingConfig {
    /// Fewest replicas; 0 allows scaling to zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<u32>,
    /// Most replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<u32>,
    /// Replicas at the first deploy (default: `min_replicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_replicas: Option<u32>,
    /// Ongoing plus queued requests each replica should have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ongoing_requests: Option<f64>,
    /// Seconds a wish to scale up must hold before it is acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upscale_delay_s: Option<f64>,
    /// Seconds a wish to scale down must hold before it is acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downscale_delay_s: Option<f64>,
    /// The delay for the last step, 1 → 0 (default: `downscale_delay_s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downscale_to_zero_delay_s: Option<f64>,
    /// Gain on each step up (1 = straight to the wished count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upscaling_factor: Option<f64>,
    /// Gain on each step down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downscaling_factor: Option<f64>,
    /// Ray's (deprecated) metrics push period; accepted, and rserve's load
    /// figures flow at least every 0.5 s whatever it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_interval_s: Option<f64>,
    /// Seconds of load samples the decision looks at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub look_back_period_s: Option<f64>,
    /// How those samples are folded: `mean`, `max` or `min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_function: Option<Aggregation>,
}

/// The autoscaler's settings with Ray's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Autoscaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub initial_replicas: u32,
    pub target_ongoing_requests: f64,
    pub upscale_delay_s: f64,
    pub downscale_delay_s: f64,
    pub downscale_to_zero_delay_s: f64,
    pub upscaling_factor: f64,
    pub downscaling_factor: f64,
    pub look_back_period_s: f64,
    pub aggregation_function: Aggregation,
}

/// How many replicas a deployment runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Replicas {
    /// Exactly this many.
    Fixed(u32),
    /// As many as the load asks for, within these settings.
    Auto(Autoscaling),
}

impl AutoscalingConfig {
    /// The settings with Ray's defaults: `auto` is `num_replicas = "auto"`
    /// (max 100), else `AutoscalingConfig`'s own (max 1).
    pub fn resolve(&self, auto: bool) -> Autoscaling {
        let min_replicas = self.min_replicas.unwrap_or(1);
        let downscale_delay_s = self.downscale_delay_s.unwrap_or(600.0);
        Autoscaling {
            min_replicas,
            max_replicas: self.max_replicas.unwrap_or(if auto { 100 } else { 1 }),
            initial_replicas: self.initial_replicas.unwrap_or(min_replicas),
            target_ongoing_requests: self.target_ongoing_requests.unwrap_or(2.0),
            upscale_delay_s: self.upscale_delay_s.unwrap_or(30.0),
            downscale_delay_s,
            downscale_to_zero_delay_s: self.downscale_to_zero_delay_s.unwrap_or(downscale_delay_s),
            upscaling_factor: self.upscaling_factor.unwrap_or(1.0),
            downscaling_factor: self.downscaling_factor.unwrap_or(1.0),
            look_back_period_s: self.look_back_period_s.unwrap_or(30.0),
            aggregation_function: self.aggregation_function.unwrap_or_default(),
        }
    }
}

impl DeploymentConfig {
    /// How many replicas the deployment runs, Ray's rules and defaults applied
    /// (a file that passed validation never combines a count with
    /// `autoscaling_config`; if one does, the count wins).
    pub fn replicas(&self) -> Replicas {
        match (self.num_replicas, &self.autoscaling_config) {
            (NumReplicas::Count(n), _) => Replicas::Fixed(n),
            (NumReplicas::Unset, None) => Replicas::Fixed(1),
            (NumReplicas::Auto, config) => {
                Replicas::Auto(config.clone().unwrap_or_default().resolve(true))
            }
            (NumReplicas::Unset, Some(config)) => Replicas::Auto(config.resolve(false)),
        }
    }

    /// The fixed count, if the deployment does not autoscale.
    pub fn fixed_replicas(&self) -> Option<u32> {
        match self.replicas() {
            Replicas::Fixed(n) => Some(n),
            Replicas::Auto(_) => None,
        }
    }

    /// The most replicas the deployment may ever run.
    pub fn max_replicas(&self) -> u32 {
        match self.replicas() {
            Replicas::Fixed(n) => n,
            Replicas::Auto(a) => a.max_replicas,
        }
    }

    /// `num_replicas` and `autoscaling_config`, checked with their key paths.
    pub(super) fn check_replicas(&self, out: &mut Vec<(&'static str, String)>) {
        if let NumReplicas::Count(n) = self.num_replicas {
            if self.autoscaling_config.is_some() {
                out.push((
                    "num_replicas",
                    format!(
                        "is {n}, and autoscaling_config is set: a fixed count and autoscaling \
                         exclude each other (as in Ray); write num_replicas = \"auto\" or drop it"
                    ),
                ));
            }
            if n > MAX_REPLICAS {
                out.push(("num_replicas", format!("is {n}; at most {MAX_REPLICAS}")));
            }
            if n == 0 {
                out.push((
                    "num_replicas",
                    "must be at least 1; to scale to zero, use autoscaling_config with \
                     min_replicas = 0"
                        .into(),
                ));
            }
        }
        let Some(c) = &self.autoscaling_config else {
            return;
        };
        let a = c.resolve(self.num_replicas == NumReplicas::Auto);
        if a.max_replicas > MAX_REPLICAS {
            out.push((
                "autoscaling_config.max_replicas",
                format!("is {}; at most {MAX_REPLICAS}", a.max_replicas),
            ));
        }
        if c.max_replicas == Some(0) {
            out.push((
                "autoscaling_config.max_replicas",
                "must be at least 1".into(),
            ));
        }
        if a.min_replicas > a.max_replicas {
            let max = if c.max_replicas.is_some() {
                format!("max_replicas ({})", a.max_replicas)
            } else {
                format!(
                    "max_replicas's default ({}); set max_replicas",
                    a.max_replicas
                )
            };
            out.push((
                "autoscaling_config.min_replicas",
                format!("is {}, above {max}", a.min_replicas),
            ));
        }
        if a.min_replicas == 0 && self.max_queued_requests == 0 {
            out.push((
                "autoscaling_config.min_replicas",
                "is 0 with max_queued_requests = 0: at zero replicas no request could wait \
                 for the first one, so the deployment would never wake; allow a queue"
                    .into(),
            ));
        }
        if let Some(initial) = c.initial_replicas
            && !(a.min_replicas..=a.max_replicas).contains(&initial)
        {
            out.push((
                "autoscaling_config.initial_replicas",
                format!(
                    "is {initial}; it must be between min_replicas ({}) and max_replicas ({})",
                    a.min_replicas, a.max_replicas
                ),
            ));
        }
        let positive = [
            (
                "autoscaling_config.target_ongoing_requests",
                c.target_ongoing_requests,
            ),
            ("autoscaling_config.upscaling_factor", c.upscaling_factor),
            (
                "autoscaling_config.downscaling_factor",
                c.downscaling_factor,
            ),
            (
                "autoscaling_config.metrics_interval_s",
                c.metrics_interval_s,
            ),
            (
                "autoscaling_config.look_back_period_s",
                c.look_back_period_s,
            ),
        ];
        for (key, value) in positive {
            if let Some(v) = value
                && !(v.is_finite() && v > 0.0 && v <= MAX_SECONDS)
            {
                out.push((
                    key,
                    format!("is {v}; it must be above 0 (and at most {MAX_SECONDS})"),
                ));
            }
        }
        if let Some(v) = c.look_back_period_s
            && v > MAX_LOOK_BACK_S
        {
            out.push((
                "autoscaling_config.look_back_period_s",
                format!("is {v}; at most {MAX_LOOK_BACK_S} (one sample every 0.1 s is kept)"),
            ));
        }
        let delays = [
            ("autoscaling_config.upscale_delay_s", c.upscale_delay_s),
            ("autoscaling_config.downscale_delay_s", c.downscale_delay_s),
            (
                "autoscaling_config.downscale_to_zero_delay_s",
                c.downscale_to_zero_delay_s,
            ),
        ];
        for (key, value) in delays {
            if let Some(v) = value
                && !(v.is_finite() && (0.0..=MAX_SECONDS).contains(&v))
            {
                out.push((
                    key,
                    format!("is {v}; it must be between 0 and {MAX_SECONDS} seconds"),
                ));
            }
        }
    }
}
