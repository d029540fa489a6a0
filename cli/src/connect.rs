//! How the CLI finds, trusts and authenticates to a node: flags, environment and
//! the state dir, resolved in the order docs/operations.md gives.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rserve_daemon::node::DEFAULT_CONTROL_ADDR;
use rserve_daemon::pki;
use rserve_daemon::rpc::client::{ClientError, ClientOptions, ControlClient};
use rserve_daemon::state_dir::{NodeFile, is_running};

use crate::args::Global;
use crate::env;
use crate::exit::{Exit, Failure, fail};

/// How long to wait for a node to answer before saying it is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the admin token comes from, decided once from flags and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminToken {
    /// `RSERVE_TOKEN`.
    Given(String),
    /// `--token-file` / `RSERVE_TOKEN_FILE` (unreadable: exit 4).
    File(PathBuf),
    /// `<state dir>/admin.token`, if readable.
    StateDir,
}

impl AdminToken {
    /// A `--token-file` flag beats `RSERVE_TOKEN`, which beats `RSERVE_TOKEN_FILE`,
    /// which beats the state dir's token.
    pub fn resolve(
        token_file: Option<&Path>,
        token_file_from_flag: bool,
        from_env: Option<String>,
    ) -> Self {
        match (token_file, from_env) {
            (Some(path), _) if token_file_from_flag => Self::File(path.to_owned()),
            (_, Some(token)) => Self::Given(token),
            (Some(path), None) => Self::File(path.to_owned()),
            (None, None) => Self::StateDir,
        }
    }

    fn read(&self, dir: &Path) -> Result<Option<String>, Failure> {
        match self {
            Self::Given(token) => Ok(Some(token.clone())),
            Self::File(path) => std::fs::read_to_string(path)
                .map(|t| Some(t.trim().to_owned()))
                .map_err(|e| {
                    fail(
                        Exit::Unreachable,
                        format!("cannot read token file {}: {e}", path.display()),
                    )
                }),
            Self::StateDir => Ok(std::fs::read_to_string(pki::token_path(dir))
                .ok()
                .map(|t| t.trim().to_owned())),
        }
    }
}

/// The state dir the CLI and node agree on by default.
pub fn state_dir(global: &Global) -> PathBuf {
    global.state_dir.clone().unwrap_or_else(|| {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("rserve")
    })
}

/// What a connection is for: the admin token goes only with calls that
/// change state, never to a node that is only read (a member, or any node
/// the operator points at, learns nothing it could replay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-only calls: status, config, nodes, logs, events, tap, diff.
    Read,
    /// Calls that change state (deploy, scale, delete, down, token create,
    /// restart); the token is read and sent.
    Admin,
}

/// Where this machine reaches a node bound to `addr`: a wildcard address
/// (`0.0.0.0`, `[::]`: a container's, or one serving every interface) is
/// reached on the loopback address of its family.
fn local_address(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, addr.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// Connects to the node named by flags, environment or the state dir, with
/// the admin token only for [`Access::Admin`].
pub async fn connect(
    global: &Global,
    token: &AdminToken,
    access: Access,
) -> Result<ControlClient, Failure> {
    let dir = state_dir(global);
    let node_file = NodeFile::read(&dir);
    if global.client.address.is_none() && !is_running(&dir) {
        return Err(fail(
            Exit::Unreachable,
            format!(
                "no rserve node is running with state dir {}; start one with `rserve up`, \
                 or point at another node with --state-dir or --address",
                dir.display()
            ),
        ));
    }
    let addr = match (global.client.address, &node_file) {
        (Some(addr), _) => addr,
        (None, Some(file)) => local_address(file.control_address),
        (None, None) => DEFAULT_CONTROL_ADDR.parse().expect("valid default"),
    };
    let client = &global.client;
    let ca_path = client
        .cacert
        .clone()
        .unwrap_or_else(|| pki::TlsPaths::new(&dir).ca_cert);
    let ca_pem = std::fs::read(&ca_path).map_err(|e| {
        fail(
            Exit::Unreachable,
            format!(
                "cannot read the CA certificate {}: {e}; is a node running with state dir {}? \
                 (start one with `rserve up`, or pass --cacert and --address, or set {} and {})",
                ca_path.display(),
                dir.display(),
                env::CACERT,
                env::ADDR,
            ),
        )
    })?;
    let opts = ClientOptions {
        addr,
        ca_pem,
        client_cert: client_certificate(global, &dir)?,
        server_name: client.tls_server_name.clone(),
        token: match access {
            Access::Admin => token.read(&dir)?,
            Access::Read => None,
        },
        timeout: CONNECT_TIMEOUT,
    };
    ControlClient::connect(opts).await.map_err(client_failure)
}

/// A certificate chain and its key, PEM.
type CertAndKey = (Vec<u8>, Vec<u8>);

/// The client certificate to present: --client-cert/--client-key (both or
/// neither), else the state dir's admin certificate (a head's),
/// else its node certificate (a member's).
pub(crate) fn client_certificate(
    global: &Global,
    dir: &Path,
) -> Result<Option<CertAndKey>, Failure> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| {
            fail(
                Exit::Unreachable,
                format!("cannot read {}: {e}", path.display()),
            )
        })
    };
    // Checked here, not by clap: a stray variable must not stop `rserve up`.
    match (&global.client.client_cert, &global.client.client_key) {
        (Some(cert), Some(key)) => return Ok(Some((read(cert)?, read(key)?))),
        (Some(_), None) | (None, Some(_)) => {
            return Err(fail(
                Exit::Usage,
                format!(
                    "--client-cert ({}) and --client-key ({}) go together: give both or neither",
                    env::CLIENT_CERT,
                    env::CLIENT_KEY
                ),
            ));
        }
        (None, None) => {}
    }
    let paths = pki::TlsPaths::new(dir);
    for (cert, key) in [
        (&paths.admin_cert, &paths.admin_key),
        (&paths.node_cert, &paths.node_key),
    ] {
        if let (Ok(cert), Ok(key)) = (std::fs::read(cert), std::fs::read(key)) {
            return Ok(Some((cert, key)));
        }
    }
    Ok(None)
}

pub fn client_failure(e: ClientError) -> Failure {
    Failure {
        exit: Exit::Unreachable,
        error: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_on_every_interface_is_reached_on_loopback() {
        let local = |a: &str| local_address(a.parse().unwrap()).to_string();
        assert_eq!(local("0.0.0.0:7000"), "127.0.0.1:7000");
        assert_eq!(local("[::]:7000"), "[::1]:7000");
        assert_eq!(local("10.0.0.5:7000"), "10.0.0.5:7000");
    }

    fn resolve(file: Option<&str>, flag: bool, env: Option<&str>) -> AdminToken {
        AdminToken::resolve(file.map(Path::new), flag, env.map(str::to_owned))
    }

    #[test]
    fn a_token_file_flag_beats_the_token_variable() {
        assert_eq!(
            resolve(Some("/t"), true, Some("secret")),
            AdminToken::File("/t".into())
        );
    }

    #[test]
    fn the_token_variable_beats_the_token_file_variable() {
        assert_eq!(
            resolve(Some("/t"), false, Some("secret")),
            AdminToken::Given("secret".into())
        );
    }

    #[test]
    fn without_either_the_state_dir_token_is_used() {
        assert_eq!(resolve(None, false, None), AdminToken::StateDir);
        assert_eq!(
            resolve(Some("/t"), false, None),
            AdminToken::File("/t".into())
        );
    }
}
