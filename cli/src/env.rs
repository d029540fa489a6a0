//! Every environment variable rserve reads, in one place (documented in
//! docs/configuration.md and the man page).

/// Node state directory.
pub const STATE_DIR: &str = "RSERVE_STATE_DIR";
/// Control address of the node the CLI talks to.
pub const ADDR: &str = "RSERVE_ADDR";
/// Admin token (prefer `RSERVE_TOKEN_FILE`; never pass tokens in argv).
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
/// Drain timeout of `rserve up`.
pub const DRAIN_TIMEOUT_S: &str = "RSERVE_DRAIN_TIMEOUT_S";
/// Log format of `rserve up`.
pub const LOG_FORMAT: &str = "RSERVE_LOG_FORMAT";
/// Log filter (tracing `EnvFilter` syntax), default `info`.
pub const LOG: &str = "RSERVE_LOG";
/// Join token of `rserve up --join`.
pub const JOIN_TOKEN: &str = "RSERVE_JOIN_TOKEN";
/// Node timeout of the head (`rserve up --node-timeout-s`).
pub const NODE_TIMEOUT_S: &str = "RSERVE_NODE_TIMEOUT_S";

/// `(name, meaning)` of every variable, for docs and the man page.
pub const ALL: &[(&str, &str)] = &[
    (STATE_DIR, "node state directory (--state-dir)"),
    (
        ADDR,
        "control address of the node the CLI talks to (--address)",
    ),
    (TOKEN, "admin token for state-changing calls"),
    (TOKEN_FILE, "file holding the admin token"),
    (
        CACERT,
        "CA certificate (PEM) the CLI trusts [default: <state dir>/tls/ca.crt]",
    ),
    (
        CLIENT_CERT,
        "client certificate (PEM) the CLI presents [default: <state dir>/tls/admin.crt, else node.crt]",
    ),
    (
        CLIENT_KEY,
        "key of the client certificate [default: beside it in the state dir]",
    ),
    (
        TLS_SERVER_NAME,
        "name verified in the node's certificate [default: localhost]",
    ),
    (
        HTTP_ADDR,
        "HTTP ingress address of `rserve up` (--http-addr)",
    ),
    (
        CONTROL_ADDR,
        "control endpoint address of `rserve up` (--control-addr)",
    ),
    (
        MAX_BODY_BYTES,
        "request body limit of `rserve up` (--max-body-bytes)",
    ),
    (
        DRAIN_TIMEOUT_S,
        "drain timeout of `rserve up` (--drain-timeout-s)",
    ),
    (
        LOG_FORMAT,
        "log format of `rserve up`: text or json (--log-format)",
    ),
    (
        LOG,
        "log filter in tracing EnvFilter syntax [default: info]",
    ),
    (JOIN_TOKEN, "join token of `rserve up --join` (--token)"),
    (
        NODE_TIMEOUT_S,
        "seconds without a heartbeat before the head declares a node dead (--node-timeout-s)",
    ),
];
