//! Commands that talk to a running node over the control protocol.

use std::io::Read;
use std::time::{Duration, Instant};

use rserve_daemon::rpc::client::ControlClient;
use rserve_daemon::state_dir::is_running;
use rserve_protocol::AppFile;
use rserve_protocol::status::{ApplicationStatus, ServeStatus};
use rserve_protocol::wire::{AppPlan, Change, ErrorCode, Request, Response, WireError};

use crate::Invocation;
use crate::args::{
    ConfigArgs, DeleteArgs, DeployArgs, DiffArgs, DownArgs, ListOutput, NodesArgs, NodesCommand,
    Output, ScaleArgs, StatusArgs, TokenCommand,
};
use crate::connect::{Access, client_failure, state_dir};
use crate::exit::{Exit, ExitContext, Failure, fail};
use crate::output::{self, View};
use crate::printer::Row;

/// How often `--wait` polls status.
const POLL: Duration = Duration::from_millis(250);

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

/// Connects with the context's flags, environment and state dir, for calls
/// that only read (no admin token is sent).
async fn connect(cx: &Invocation) -> Result<ControlClient, Failure> {
    crate::connect::connect(&cx.global, &cx.token, Access::Read).await
}

/// [`connect`] for calls that change state: the admin token is sent.
async fn connect_admin(cx: &Invocation) -> Result<ControlClient, Failure> {
    crate::connect::connect(&cx.global, &cx.token, Access::Admin).await
}

/// Reads and parses an application file (`-` is stdin): a typo is reported
/// even when no node is running. Returns the name messages use and the file.
fn read_app_file(path: &std::path::Path, invalid: Exit) -> Result<(String, AppFile), Failure> {
    let (name, text) = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).exit(invalid)?;
        ("<stdin>".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(invalid, format!("cannot read {}: {e}", path.display())))?;
        (path.display().to_string(), text)
    };
    let file = AppFile::parse(&name, &text).exit(invalid)?;
    Ok((name, file))
}

/// Asks the node what deploying `file` would change. A file the node refuses
/// (invalid, conflicting) fails with `invalid`.
async fn plan(
    client: &ControlClient,
    name: String,
    file: AppFile,
    invalid: Exit,
) -> Result<Vec<AppPlan>, Failure> {
    let request = Request::Plan {
        file: name,
        config: file,
    };
    match client.call(&request).await.map_err(client_failure)? {
        Response::Planned { changes } => Ok(changes),
        Response::Error(WireError {
            code: ErrorCode::BadRequest,
            message,
        }) => Err(fail(invalid, message)),
        Response::Error(WireError {
            code: ErrorCode::Unauthorized,
            message,
        }) => Err(fail(Exit::Unreachable, message)),
        Response::Error(WireError { message, .. }) => Err(fail(Exit::Failed, message)),
        other => Err(unexpected(&other)),
    }
}

/// Prints a plan as `output` asks.
fn print_plan(cx: &Invocation, output: Output, changes: &[AppPlan]) -> Result<(), Failure> {
    let doc = || serde_json::json!({ "changes": changes });
    let text = match output {
        Output::Table => output::plan::table(changes),
        Output::Json => output::json(&doc())?,
        Output::Yaml => output::yaml(&doc())?,
    };
    cx.printer.data(text).exit(Exit::Failed)
}

/// `rserve diff`: kubectl diff's exit codes, 0 nothing would change, 1
/// something would, 2 the file is invalid or refused, others as usual.
pub async fn diff(cx: &Invocation, args: DiffArgs) -> Result<Exit, Failure> {
    let changes = async {
        let path = args.source.path();
        let (name, file) = read_app_file(&path, Exit::Usage)?;
        let client = connect(cx).await?;
        let changes = plan(&client, name, file, Exit::Usage).await?;
        print_plan(cx, args.output, &changes)?;
        Ok(changes)
    }
    .await
    // 1 means "something would change": no error may exit with it.
    .map_err(|f: Failure| match f.exit {
        Exit::Failed => Failure {
            exit: Exit::Usage,
            ..f
        },
        _ => f,
    })?;
    Ok(if output::plan::changes_anything(&changes) {
        Exit::Failed
    } else {
        Exit::Ok
    })
}

pub async fn deploy(cx: &Invocation, args: DeployArgs) -> Result<Exit, Failure> {
    let path = args.source.path();
    let (name, file) = read_app_file(&path, Exit::Failed)?;
    if args.dry_run {
        let client = connect(cx).await?;
        let changes = plan(&client, name, file, Exit::Failed).await?;
        print_plan(cx, args.output, &changes)?;
        return Ok(Exit::Ok);
    }
    let apps: Vec<String> = file.applications.iter().map(|a| a.name.clone()).collect();
    let client = connect_admin(cx).await?;
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
        args.output != Output::Table,
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

/// Polls status until `done` says so, showing progress on stderr (bars on
/// a terminal; one line per change of state otherwise or with `plain`).
async fn wait_for(
    cx: &Invocation,
    client: &ControlClient,
    apps: &[String],
    timeout: Duration,
    plain: bool,
    done: impl Fn(&ServeStatus) -> Option<Result<(), Failure>>,
) -> Result<(), Failure> {
    let start = Instant::now();
    let mut progress = cx.printer.progress(plain);
    loop {
        let status = fetch_status(client, None).await?;
        progress.update(
            &output::status::progress_line(&status, apps),
            &output::status::progress_rows(&status, apps),
        );
        if let Some(result) = done(&status) {
            return result;
        }
        if start.elapsed() >= timeout {
            return Err(fail(
                Exit::Timeout,
                format!(
                    "timed out after {:.0}s waiting; last state: {}",
                    timeout.as_secs_f64(),
                    progress.last()
                ),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

pub async fn scale(cx: &Invocation, args: ScaleArgs) -> Result<Exit, Failure> {
    let client = connect_admin(cx).await?;
    let (app, deployment) = args.target;
    let request = Request::Scale {
        app: app.clone(),
        deployment: deployment.clone(),
        num_replicas: args.replicas,
    };
    let change = match call(&client, request).await? {
        Response::Scaled { change } => change,
        other => return Err(unexpected(&other)),
    };
    let what = match change {
        Change::Unchanged => "unchanged".to_owned(),
        _ => format!("scaled to {}", args.replicas),
    };
    cx.printer
        .data(format!("deployment/{app}/{deployment} {what}\n"))
        .exit(Exit::Failed)?;
    Ok(Exit::Ok)
}

pub async fn delete(cx: &Invocation, args: DeleteArgs) -> Result<Exit, Failure> {
    let client = connect_admin(cx).await?;
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
            false,
            |s| (!s.applications.contains_key(&app)).then_some(Ok(())),
        )
        .await?;
    }
    Ok(Exit::Ok)
}

pub async fn status(cx: &Invocation, args: StatusArgs) -> Result<Exit, Failure> {
    let client = connect(cx).await?;
    let status = fetch_status(&client, args.app).await?;
    let view = |wide| View {
        wide,
        headers: !args.no_headers,
    };
    let text = match args.output {
        ListOutput::Table => output::status::table(&status, view(false)),
        ListOutput::Wide => output::status::table(&status, view(true)),
        ListOutput::Name => output::status::names(&status),
        ListOutput::Json => output::json(&status)?,
        ListOutput::Yaml => output::yaml(&status)?,
    };
    cx.printer.data(text).exit(Exit::Failed)?;
    Ok(Exit::Ok)
}

pub async fn config(cx: &Invocation, args: ConfigArgs) -> Result<Exit, Failure> {
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

pub async fn nodes(cx: &Invocation, args: NodesArgs) -> Result<Exit, Failure> {
    if let Some(NodesCommand::Remove { node_id }) = args.command {
        let client = connect_admin(cx).await?;
        return match call(
            &client,
            Request::RemoveNode {
                node_id: node_id.clone(),
            },
        )
        .await?
        {
            Response::Accepted => {
                cx.printer
                    .data(format!("node/{node_id} removed\n"))
                    .exit(Exit::Failed)?;
                Ok(Exit::Ok)
            }
            other => Err(unexpected(&other)),
        };
    }
    let client = connect(cx).await?;
    let nodes = match call(&client, Request::Nodes).await? {
        Response::Nodes { nodes } => nodes,
        other => return Err(unexpected(&other)),
    };
    let view = |wide| View {
        wide,
        headers: !args.no_headers,
    };
    let doc = || serde_json::json!({ "nodes": nodes });
    let text = match args.output {
        ListOutput::Table => output::nodes::table(&nodes, view(false), rserve_daemon::unix_now_s()),
        ListOutput::Wide => output::nodes::table(&nodes, view(true), rserve_daemon::unix_now_s()),
        ListOutput::Name => output::nodes::names(&nodes),
        ListOutput::Json => output::json(&doc())?,
        ListOutput::Yaml => output::yaml(&doc())?,
    };
    cx.printer.data(text).exit(Exit::Failed)?;
    Ok(Exit::Ok)
}

pub async fn token(cx: &Invocation, command: TokenCommand) -> Result<Exit, Failure> {
    let TokenCommand::Create(args) = command;
    let (token, expires_at_s) = if args.pool {
        // Made here: no node holds it until the head reads its file.
        let pool = rserve_daemon::cluster::pool_token::PoolToken::generate(
            args.ttl,
            rserve_daemon::unix_now_s(),
        );
        (pool.to_text(), pool.expires_at_s as f64)
    } else {
        node_token(cx, &args).await?
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

/// A one-time join token, made by the head.
async fn node_token(
    cx: &Invocation,
    args: &crate::args::TokenCreateArgs,
) -> Result<(String, f64), Failure> {
    let client = connect_admin(cx).await?;
    match call(
        &client,
        Request::CreateJoinToken {
            ttl_s: args.ttl,
            uses: args.uses,
        },
    )
    .await?
    {
        Response::JoinToken {
            token,
            expires_at_s,
        } => Ok((token, expires_at_s)),
        other => Err(unexpected(&other)),
    }
}

pub async fn down(cx: &Invocation, args: DownArgs) -> Result<Exit, Failure> {
    let client = connect_admin(cx).await?;
    let addr = cx.global.client.address;
    call(&client, Request::Shutdown).await?;
    cx.printer.note(format_args!(
        "Node {} is shutting down (draining in-flight requests).",
        client.node_id
    ));
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout);
    let dir = state_dir(&cx.global);
    let mut progress = cx.printer.progress(false);
    let node = format!("node/{}", client.node_id);
    let row = Row {
        key: node.clone(),
        running: 0,
        target: 0,
        phase: "draining in-flight requests".to_owned(),
    };
    drop(client);
    // The node releases the state dir lock as it exits; with an explicit
    // address, wait for it to stop answering instead.
    loop {
        progress.update(&format!("{node}: draining"), std::slice::from_ref(&row));
        let gone = match addr {
            None => !is_running(&dir),
            Some(_) => connect(cx).await.is_err(),
        };
        if gone {
            drop(progress);
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
