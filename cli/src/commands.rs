//! Commands that talk to a running node over the control protocol.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rserve_daemon::node::DEFAULT_CONTROL_ADDR;
use rserve_daemon::pki;
use rserve_daemon::rpc::client::{ClientError, ClientOptions, ControlClient};
use rserve_daemon::state_dir::{NodeFile, is_running};
use rserve_protocol::AppFile;
use rserve_protocol::status::{ApplicationStatus, ServeStatus};
use rserve_protocol::wire::{Change, ErrorCode, Request, Response, WireError};

use crate::Context;
use crate::args::{
    ConfigArgs, DeleteArgs, DeployArgs, DownArgs, Global, NodesArgs, Output, StatusArgs,
    TokenCommand,
};
use crate::env;
use crate::exit::{Exit, ExitContext, Failure, fail};
use crate::output;

/// How long to wait for a node to answer before saying it is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often `--wait` polls status.
const POLL: Duration = Duration::from_millis(250);

/// The state dir the CLI and node agree on by default.
pub fn state_dir(global: &Global) -> PathBuf {
    global.state_dir.clone().unwrap_or_else(|| {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("rserve")
    })
}

/// Connects to the node named by flags, environment or the state dir.
async fn connect_to(global: &Global) -> Result<ControlClient, Failure> {
    let dir = state_dir(global);
    let node_file = NodeFile::read(&dir);
    if global.address.is_none() && !is_running(&dir) {
        return Err(fail(
            Exit::Unreachable,
            format!(
                "no rserve node is running with state dir {}; start one with `rserve up`, \
                 or point at another node with --state-dir or --address",
                dir.display()
            ),
        ));
    }
    let addr = match (global.address, &node_file) {
        (Some(addr), _) => addr,
        (None, Some(file)) => file.control_address,
        (None, None) => DEFAULT_CONTROL_ADDR.parse().expect("valid default"),
    };
    let ca_path = std::env::var_os(env::CACERT)
        .map(PathBuf::from)
        .unwrap_or_else(|| pki::TlsPaths::new(&dir).ca_cert);
    let ca_pem = std::fs::read(&ca_path).map_err(|e| {
        fail(
            Exit::Unreachable,
            format!(
                "cannot read the CA certificate {}: {e}; is a node running with state dir {}? \
                 (start one with `rserve up`, or set {} and {})",
                ca_path.display(),
                dir.display(),
                env::CACERT,
                env::ADDR
            ),
        )
    })?;
    let from_env = std::env::var(env::TOKEN)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let token = match (from_env, std::env::var_os(env::TOKEN_FILE)) {
        (Some(token), _) => Some(token),
        (None, Some(path)) => Some(read_token(Path::new(&path))?),
        (None, None) => std::fs::read_to_string(pki::token_path(&dir))
            .ok()
            .map(|t| t.trim().to_owned()),
    };
    let client_cert = client_certificate(&dir)?;
    let opts = ClientOptions {
        addr,
        ca_pem,
        client_cert,
        server_name: std::env::var(env::TLS_SERVER_NAME)
            .unwrap_or_else(|_| pki::NODE_SERVER_NAME.to_owned()),
        token,
        timeout: CONNECT_TIMEOUT,
    };
    ControlClient::connect(opts).await.map_err(client_failure)
}

/// The client certificate to present: RSERVE_CLIENT_CERT/KEY, else the state
/// dir's admin certificate (a head's), else its node certificate (a member's).
/// A certificate chain and its key, PEM.
type CertAndKey = (Vec<u8>, Vec<u8>);

fn client_certificate(dir: &Path) -> Result<Option<CertAndKey>, Failure> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| {
            fail(
                Exit::Unreachable,
                format!("cannot read {}: {e}", path.display()),
            )
        })
    };
    match (
        std::env::var_os(env::CLIENT_CERT),
        std::env::var_os(env::CLIENT_KEY),
    ) {
        (Some(cert), Some(key)) => {
            return Ok(Some((read(Path::new(&cert))?, read(Path::new(&key))?)));
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(fail(
                Exit::Unreachable,
                format!("set both {} and {}", env::CLIENT_CERT, env::CLIENT_KEY),
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

fn read_token(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_owned())
        .map_err(|e| {
            fail(
                Exit::Unreachable,
                format!("cannot read token file {}: {e}", path.display()),
            )
        })
}

fn client_failure(e: ClientError) -> Failure {
    Failure {
        exit: Exit::Unreachable,
        error: e.into(),
    }
}

/// Makes one call; a node-side error becomes a failure with its exit code.
async fn call(client: &ControlClient, request: Request) -> Result<Response, Failure> {
    match client.call(&request).await.map_err(client_failure)? {
        Response::Error(WireError { code, message }) => Err(fail(
            match code {
                ErrorCode::Unauthorized => Exit::Unreachable,
                _ => Exit::Failed,
            },
            message,
        )),
        response => Ok(response),
    }
}

async fn fetch_status(client: &ControlClient, app: Option<String>) -> Result<ServeStatus, Failure> {
    match call(client, Request::Status { app }).await? {
        Response::Status(status) => Ok(*status),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(response: &Response) -> Failure {
    fail(
        Exit::Failed,
        format!("unexpected answer from the node: {response:?}"),
    )
}

/// Connects with the context's flags, environment and state dir.
async fn connect(cx: &Context) -> Result<ControlClient, Failure> {
    connect_to(&cx.global).await
}

pub async fn deploy(cx: &Context, args: DeployArgs) -> Result<Exit, Failure> {
    let path = args.path.or(args.file).expect("clap requires a file");
    let (name, text) = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .exit(Exit::Failed)?;
        ("<stdin>".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| fail(Exit::Failed, format!("cannot read {}: {e}", path.display())))?;
        (path.display().to_string(), text)
    };
    // Validate locally first: a typo is reported even when no node is running.
    let file = AppFile::parse(&name, &text).exit(Exit::Failed)?;
    let apps: Vec<String> = file.applications.iter().map(|a| a.name.clone()).collect();
    let client = connect(cx).await?;
    let changes = match call(
        &client,
        Request::Deploy {
            file: name,
            config: file,
        },
    )
    .await?
    {
        Response::Deployed { changes } => changes,
        other => return Err(unexpected(&other)),
    };
    let doc = || serde_json::json!({ "changes": changes });
    let text = match args.output {
        Output::Table => changes
            .iter()
            .map(|c| {
                let verb = match c.change {
                    Change::Created => "created",
                    Change::Updated => "updated",
                    Change::Unchanged => "unchanged",
                };
                format!("application/{} {verb}\n", c.app)
            })
            .collect(),
        Output::Json => output::json(&doc())?,
        Output::Yaml => output::yaml(&doc())?,
    };
    cx.printer.data(text).exit(Exit::Failed)?;
    if !args.wait {
        return Ok(Exit::Ok);
    }
    wait_for(
        cx,
        &client,
        &apps,
        Duration::from_secs_f64(args.timeout),
        |status| {
            let states: Vec<ApplicationStatus> = apps
                .iter()
                .filter_map(|a| status.applications.get(a).map(|d| d.status))
                .collect();
            if let Some((app, details)) = status.applications.iter().find(|(name, d)| {
                apps.contains(name) && d.status == ApplicationStatus::DeployFailed
            }) {
                return Some(Err(fail(
                    Exit::Failed,
                    format!("application {app} failed to deploy: {}", details.message),
                )));
            }
            (states.len() == apps.len() && states.iter().all(|s| *s == ApplicationStatus::Running))
                .then_some(Ok(()))
        },
    )
    .await?;
    Ok(Exit::Ok)
}

/// Polls status until `done` says so, printing each change of state on stderr.
async fn wait_for(
    cx: &Context,
    client: &ControlClient,
    apps: &[String],
    timeout: Duration,
    done: impl Fn(&ServeStatus) -> Option<Result<(), Failure>>,
) -> Result<(), Failure> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let status = fetch_status(client, None).await?;
        let line = output::progress_line(&status, apps);
        if line != last {
            cx.printer.note(format_args!(
                "[{:>5.1}s] {line}",
                start.elapsed().as_secs_f64()
            ));
            last = line;
        }
        if let Some(result) = done(&status) {
            return result;
        }
        if start.elapsed() >= timeout {
            return Err(fail(
                Exit::Timeout,
                format!(
                    "timed out after {:.0}s waiting; last state: {last}",
                    timeout.as_secs_f64()
                ),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

pub async fn delete(cx: &Context, args: DeleteArgs) -> Result<Exit, Failure> {
    let client = connect(cx).await?;
    call(
        &client,
        Request::Delete {
            app: args.app.clone(),
        },
    )
    .await?;
    cx.printer
        .data(format!("application/{} deleted\n", args.app))
        .exit(Exit::Failed)?;
    if args.wait {
        let app = args.app.clone();
        wait_for(
            cx,
            &client,
            std::slice::from_ref(&args.app),
            Duration::from_secs_f64(args.timeout),
            |s| (!s.applications.contains_key(&app)).then_some(Ok(())),
        )
        .await?;
    }
    Ok(Exit::Ok)
}

pub async fn status(cx: &Context, args: StatusArgs) -> Result<Exit, Failure> {
    let client = connect(cx).await?;
    let status = fetch_status(&client, args.app).await?;
    let text = match args.output {
        Output::Table => output::status_table(&status),
        Output::Json => output::json(&status)?,
        Output::Yaml => output::yaml(&status)?,
    };
    cx.printer.data(text).exit(Exit::Failed)?;
    Ok(Exit::Ok)
}

pub async fn config(cx: &Context, args: ConfigArgs) -> Result<Exit, Failure> {
    let client = connect(cx).await?;
    let file = match call(&client, Request::Config { app: args.app }).await? {
        Response::Config(file) => file,
        other => return Err(unexpected(&other)),
    };
    let text = match args.output {
        Output::Table => file.to_toml(),
        Output::Json => output::json(&file)?,
        Output::Yaml => output::yaml(&file)?,
    };
    cx.printer.data(text).exit(Exit::Failed)?;
    Ok(Exit::Ok)
}

pub async fn nodes(cx: &Context, args: NodesArgs) -> Result<Exit, Failure> {
    let client = connect(cx).await?;
    let nodes = match call(&client, Request::Nodes).await? {
        Response::Nodes { nodes } => nodes,
        other => return Err(unexpected(&other)),
    };
    let doc = || serde_json::json!({ "nodes": nodes });
    let text = match args.output {
        Output::Table => output::nodes_table(&nodes),
        Output::Json => output::json(&doc())?,
        Output::Yaml => output::yaml(&doc())?,
    };
    cx.printer.data(text).exit(Exit::Failed)?;
    Ok(Exit::Ok)
}

pub async fn token(cx: &Context, command: TokenCommand) -> Result<Exit, Failure> {
    let TokenCommand::Create(args) = command;
    let client = connect(cx).await?;
    let (token, expires_at_s) =
        match call(&client, Request::CreateJoinToken { ttl_s: args.ttl }).await? {
            Response::JoinToken {
                token,
                expires_at_s,
            } => (token, expires_at_s),
            other => return Err(unexpected(&other)),
        };
    let doc = || serde_json::json!({ "token": token, "expires_at_s": expires_at_s });
    let text = match args.output {
        Output::Table => format!("{token}\n"),
        Output::Json => output::json(&doc())?,
        Output::Yaml => output::yaml(&doc())?,
    };
    cx.printer.data(text).exit(Exit::Failed)?;
    Ok(Exit::Ok)
}

pub async fn down(cx: &Context, args: DownArgs) -> Result<Exit, Failure> {
    let client = connect(cx).await?;
    let addr = cx.global.address;
    call(&client, Request::Shutdown).await?;
    cx.printer.note(format_args!(
        "Node {} is shutting down (draining in-flight requests).",
        client.node_id
    ));
    drop(client);
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout);
    let dir = state_dir(&cx.global);
    // The node releases the state dir lock as it exits; with an explicit
    // address, wait for it to stop answering instead.
    loop {
        let gone = match addr {
            None => !is_running(&dir),
            Some(_) => connect(cx).await.is_err(),
        };
        if gone {
            cx.printer.note("Node stopped.");
            return Ok(Exit::Ok);
        }
        if Instant::now() >= deadline {
            return Err(fail(
                Exit::Timeout,
                "the node is still draining; it will stop after its drain timeout",
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}
