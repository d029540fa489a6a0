//! The names of the `RSERVE_*` variables rserve reads.
//!
//! A variable that sets a flag is read by clap (`env = ...` in `args.rs`), so
//! `--help`, the man page and the table in docs/configuration.md are generated
//! from the flag. [`UNFLAGGED`] lists the few that have no flag, each with the
//! reason, so the generated references name them too.

/// Node state directory.
pub const STATE_DIR: &str = "RSERVE_STATE_DIR";
/// Control address of the node the CLI talks to.
pub const ADDR: &str = "RSERVE_ADDR";
/// Admin token (no flag: a token in argv is visible to every user).
pub const TOKEN: &str = "RSERVE_TOKEN";
/// File holding the admin token.
pub const TOKEN_FILE: &str = "RSERVE_TOKEN_FILE";
/// CA certificate (PEM) the CLI trusts.
pub const CACERT: &str = "RSERVE_CACERT";
/// Client certificate (PEM) the CLI presents.
pub const CLIENT_CERT: &str = "RSERVE_CLIENT_CERT";
/// Its key (PEM).
pub const CLIENT_KEY: &str = "RSERVE_CLIENT_KEY";
/// Name verified in the node's certificate.
pub const TLS_SERVER_NAME: &str = "RSERVE_TLS_SERVER_NAME";
/// HTTP ingress address of `rserve up`.
pub const HTTP_ADDR: &str = "RSERVE_HTTP_ADDR";
/// Control endpoint address of `rserve up`.
pub const CONTROL_ADDR: &str = "RSERVE_CONTROL_ADDR";
/// Request body limit of `rserve up`.
pub const MAX_BODY_BYTES: &str = "RSERVE_MAX_BODY_BYTES";
/// Connection cap of `rserve up`'s ingress.
pub const MAX_CONNECTIONS: &str = "RSERVE_MAX_CONNECTIONS";
/// Per-client-address connection cap of `rserve up`'s ingress.
pub const MAX_CONNECTIONS_PER_IP: &str = "RSERVE_MAX_CONNECTIONS_PER_IP";
/// Request head (and keep-alive idle) timeout of `rserve up`'s ingress.
pub const HEADER_TIMEOUT_S: &str = "RSERVE_HEADER_TIMEOUT_S";
/// Request body idle timeout of `rserve up`'s ingress.
pub const BODY_TIMEOUT_S: &str = "RSERVE_BODY_TIMEOUT_S";
/// HTTP/2 streams per connection of `rserve up`'s ingress.
pub const H2_MAX_STREAMS: &str = "RSERVE_H2_MAX_STREAMS";
/// Request timeout (until the answer starts) of `rserve up`'s ingress.
pub const REQUEST_TIMEOUT_S: &str = "RSERVE_REQUEST_TIMEOUT_S";
/// Node-wide bound on queued requests of `rserve up`.
pub const MAX_QUEUED_REQUESTS: &str = "RSERVE_MAX_QUEUED_REQUESTS";
/// Node-wide bound on buffered request bodies of `rserve up`, in MiB.
pub const MAX_BUFFERED_MB: &str = "RSERVE_MAX_BUFFERED_MB";
/// Drain timeout of `rserve up`.
pub const DRAIN_TIMEOUT_S: &str = "RSERVE_DRAIN_TIMEOUT_S";
/// Log format of `rserve up`.
pub const LOG_FORMAT: &str = "RSERVE_LOG_FORMAT";
/// Log filter (tracing `EnvFilter` syntax), default `info`.
pub const LOG: &str = "RSERVE_LOG";
/// Head address of `rserve up --join`.
pub const JOIN: &str = "RSERVE_JOIN";
/// How long `rserve up --join` retries an unreachable head at the first join.
pub const JOIN_WAIT_S: &str = "RSERVE_JOIN_WAIT_S";
/// Node id of `rserve up`.
pub const NODE_NAME: &str = "RSERVE_NODE_NAME";
/// Advertised IP of `rserve up`.
pub const ADVERTISE_IP: &str = "RSERVE_ADVERTISE_IP";
/// Pool token files the head accepts joins with.
pub const POOL_TOKEN_FILE: &str = "RSERVE_POOL_TOKEN_FILE";
/// CPU cores `rserve up` offers.
pub const NUM_CPUS: &str = "RSERVE_NUM_CPUS";
/// GPUs `rserve up` offers.
pub const NUM_GPUS: &str = "RSERVE_NUM_GPUS";
/// Memory `rserve up` offers, in bytes.
pub const MEMORY: &str = "RSERVE_MEMORY";
/// Labels of `rserve up`, comma-separated KEY=VALUE.
pub const LABELS: &str = "RSERVE_LABELS";
/// Join token of `rserve up --join`.
pub const JOIN_TOKEN: &str = "RSERVE_JOIN_TOKEN";
/// File holding the join token of `rserve up --join`.
pub const JOIN_TOKEN_FILE: &str = "RSERVE_JOIN_TOKEN_FILE";
/// Node timeout of the head (`rserve up --node-timeout-s`).
pub const NODE_TIMEOUT_S: &str = "RSERVE_NODE_TIMEOUT_S";
/// Lifetime of the node certificates the head issues (`rserve up --node-cert-lifetime`).
pub const NODE_CERT_LIFETIME: &str = "RSERVE_NODE_CERT_LIFETIME";

/// A variable read outside clap.
#[derive(Debug)]
pub struct Unflagged {
    pub name: &'static str,
    /// A few words for `rserve --help`.
    pub summary: &'static str,
    /// The commands that read it.
    pub used_by: &'static str,
    /// What it does, and why it has no flag.
    pub meaning: &'static str,
}

/// Every variable rserve reads that no flag sets.
pub const UNFLAGGED: &[Unflagged] = &[
    Unflagged {
        name: TOKEN,
        summary: "admin token (deploy, delete, scale, down, token create, top's s/r/Ctrl-d)",
        used_by: "deploy, delete, scale, down, token, top",
        meaning: "Admin token for state-changing calls. No flag, so it never shows in the process list; \
                  it wins over RSERVE_TOKEN_FILE, an explicit --token-file wins over it.",
    },
    Unflagged {
        name: LOG,
        summary: "log filter of `rserve up` [default: info]",
        used_by: "up",
        meaning: "Log filter in tracing EnvFilter syntax, e.g. info,rserve_daemon=debug [default: info]",
    },
    Unflagged {
        // Read by rserve_daemon's router.
        name: "RSERVE_MULTIPLEX_ROUTING",
        summary: "`random`: no model affinity (benchmarks only)",
        used_by: "up",
        meaning: "random turns off model affinity for multiplexed deployments; for measuring \
                  what affinity buys (scripts/bench-multiplex.sh), not for production [default: affinity]",
    },
    Unflagged {
        // Read by rserve_models' blocks kernel.
        name: "RSERVE_QUANT_F32",
        summary: "any value: f32 products for quantised layers (benchmarks only)",
        used_by: "up",
        meaning: "any value keeps chat decode steps on the f32 blocks kernel instead of \
                  integer dot products; for measuring what those buy \
                  (daemon/models/examples/chat_steps.rs), not for production [default: unset]",
    },
    Unflagged {
        name: crate::printer::NO_COLOR,
        summary: "any non-empty value turns colour off",
        used_by: "all",
        meaning: "Any non-empty value turns colour off (colour is used only on a terminal).",
    },
    Unflagged {
        name: crate::printer::CI,
        summary: "set (not `false`/`0`): no progress bars, plain lines",
        used_by: "deploy, delete, down",
        meaning: "Set by CI services; any value but empty, false or 0 turns the progress bars of \
                  deploy --wait, delete --wait and down into one plain stderr line per change, \
                  as off a terminal.",
    },
];

/// The end of `rserve --help`: the variables no flag's help names.
pub fn help_footer() -> String {
    let width = UNFLAGGED.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut out =
        String::from("Variables without a flag (every variable: rserve(1), ENVIRONMENT):\n");
    for v in UNFLAGGED {
        out += &format!("  {:width$}  {}\n", v.name, v.summary);
    }
    out
}

/// The admin token from `RSERVE_TOKEN`, trimmed; unset or blank is none.
pub fn admin_token() -> Option<String> {
    std::env::var(TOKEN)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}
