//! `stagecoach client …`: what a CI job runs against a Stagecoach server's
//! API (`STAGECOACH_URL`, `STAGECOACH_TOKEN`). It creates releases, deploys
//! and follows a deployment (its log as it arrives, its end as the exit
//! status), shows where a release stands, and approves.

pub mod artifact;

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The server, e.g. https://stagecoach.example.com.
    #[arg(long, env = "STAGECOACH_URL")]
    pub url: String,
    /// An API token (Account → API tokens).
    #[arg(long, env = "STAGECOACH_TOKEN", hide_env_values = true)]
    pub token: String,
    #[command(subcommand)]
    pub command: ClientCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Releases.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Deploy a release to an environment, optionally going on as far as a
    /// later one; with --wait, follow it and exit non-zero unless it succeeds.
    Deploy(DeployArgs),
    /// Where a release stands in each environment.
    Status(StatusArgs),
    /// Approve a deployment that waits for you.
    Approve(ApproveArgs),
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Create a release (a rerun with the same content is harmless).
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The project's slug.
    #[arg(long, env = "STAGECOACH_PROJECT")]
    pub project: String,
    pub version: String,
    #[arg(long, default_value = "")]
    pub title: String,
    #[arg(long, default_value = "")]
    pub description: String,
    /// name=reference[,url=…][,sha256=…]; repeat for more.
    #[arg(long = "artifact")]
    pub artifacts: Vec<String>,
    /// Makes a retry of this very request harmless (e.g. the CI job's id).
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[arg(long, env = "STAGECOACH_PROJECT")]
    pub project: String,
    pub version: String,
    /// The environment's slug.
    #[arg(long)]
    pub to: String,
    /// Keep promoting after each success, up to this environment.
    #[arg(long)]
    pub as_far_as: Option<String>,
    #[arg(long, default_value = "")]
    pub comment: String,
    /// Follow the deployment (and the chain) to its end, printing its log.
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long, env = "STAGECOACH_PROJECT")]
    pub project: String,
    pub version: String,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The deployment's id.
    pub id: i64,
    #[arg(long, default_value = "")]
    pub comment: String,
}

/// The API, as this command sees it.
struct Api {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    fn new(url: &str, token: &str) -> Self {
        let config = ureq::Agent::config_builder()
            // Longer than the longest long poll.
            .timeout_global(Some(Duration::from_secs(90)))
            .http_status_as_error(false)
            .build();
        Self {
            base: url.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// Sends a request; an answer outside 2xx becomes an error saying what
    /// the server said.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let mut response = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            (_, body) => {
                let mut request = self.agent.post(&url).header("Authorization", &auth);
                if let Some(key) = key {
                    request = request.header("Idempotency-Key", key);
                }
                request.send_json(body.cloned().unwrap_or_else(|| json!({})))
            }
        }
        .with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let message = value["message"].as_str().unwrap_or(text.trim());
        let mut said = match value["field"].as_str() {
            Some(field) => format!("{status} ({field}): {message}"),
            None => format!("{status}: {message}"),
        };
        if let Some(checks) = value["readiness"].as_array() {
            for check in checks {
                // Writing to a String cannot fail.
                let _ = write!(
                    said,
                    "\n  [{}] {}",
                    check["state"].as_str().unwrap_or("?"),
                    check["text"].as_str().unwrap_or("")
                );
            }
        }
        Err(anyhow!(said))
    }
}

pub fn run(args: ClientArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.url, &args.token);
    let out = &mut std::io::stdout().lock();
    match args.command {
        ClientCommand::Release(ReleaseCommand::Create(create)) => {
            create_release(&api, out, &create)
        }
        ClientCommand::Deploy(deploy) => deploy_release(&api, out, &deploy),
        ClientCommand::Status(status) => show_status(&api, out, &status),
        ClientCommand::Approve(approve) => {
            let answer = api.call(
                "POST",
                &format!("/deployments/{}/approve", approve.id),
                Some(&json!({ "comment": approve.comment })),
                None,
            )?;
            let d = &answer["deployment"];
            writeln!(
                out,
                "Deployment {} of {} to {}: {}",
                d["id"],
                text(&d["version"]),
                text(&d["environment"]),
                text(&d["state"])
            )?;
            Ok(())
        }
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn create_release(api: &Api, out: &mut impl Write, args: &CreateArgs) -> anyhow::Result<()> {
    let artifacts = args
        .artifacts
        .iter()
        .map(|a| artifact::parse(a).map_err(|e| anyhow!(e)))
        .collect::<anyhow::Result<Vec<Value>>>()?;
    let body = json!({
        "version": args.version,
        "title": args.title,
        "description": args.description,
        "artifacts": artifacts,
    });
    let release = api.call(
        "POST",
        &format!("/projects/{}/releases", args.project),
        Some(&body),
        args.idempotency_key.as_deref(),
    )?;
    writeln!(
        out,
        "Release {} of {} ({})",
        text(&release["version"]),
        args.project,
        text(&release["links"]["page"])
    )?;
    Ok(())
}

fn deploy_release(api: &Api, out: &mut impl Write, args: &DeployArgs) -> anyhow::Result<()> {
    let mut body = json!({ "environment": args.to, "comment": args.comment });
    if let Some(target) = &args.as_far_as {
        body["target_environment"] = json!(target);
    }
    let deployment = api.call(
        "POST",
        &format!(
            "/projects/{}/releases/{}/deployments",
            args.project, args.version
        ),
        Some(&body),
        args.idempotency_key.as_deref(),
    )?;
    writeln!(
        out,
        "Deployment {} of {} to {}: {}",
        deployment["id"],
        args.version,
        args.to,
        text(&deployment["state"])
    )?;
    if !args.wait {
        return Ok(());
    }
    let last = args.as_far_as.as_deref().unwrap_or(&args.to);
    let mut id = deployment["id"]
        .as_i64()
        .ok_or_else(|| anyhow!("no deployment id in the answer"))?;
    loop {
        let ended = follow(api, out, id)?;
        let state = text(&ended["state"]).to_owned();
        let environment = text(&ended["environment"]).to_owned();
        if state != "succeeded" {
            bail!(
                "deployment {id} to {environment} ended {state}{}",
                note(&ended)
            );
        }
        if environment == last {
            return Ok(());
        }
        // "As far as": the next environment's deployment was requested as
        // this one succeeded.
        id = next_in_chain(api, &args.project, &args.version, &environment)?;
        writeln!(out, "Deployment {id} of {} goes on", args.version)?;
    }
}

fn note(deployment: &Value) -> String {
    match text(&deployment["note"]) {
        "" => String::new(),
        note => format!(": {note}"),
    }
}

/// Prints a deployment's log as it arrives and its changes of state, until
/// it has ended and its log is read; returns it as it ended.
fn follow(api: &Api, out: &mut impl Write, id: i64) -> anyhow::Result<Value> {
    let mut offset = 0;
    let mut state = String::new();
    loop {
        let log = api.call(
            "GET",
            &format!("/deployments/{id}/log?offset={offset}"),
            None,
            None,
        )?;
        out.write_all(text(&log["text"]).as_bytes())?;
        out.flush()?;
        offset = log["next_offset"].as_i64().unwrap_or(offset);
        if log["complete"].as_bool() == Some(true) {
            return api.call("GET", &format!("/deployments/{id}"), None, None);
        }
        // Until the state changes, or a moment passes to read more log.
        let now = api.call("GET", &format!("/deployments/{id}?wait=2"), None, None)?;
        let now_state = text(&now["state"]);
        if now_state != state {
            if now_state == "awaiting_approval" {
                writeln!(
                    out,
                    "Deployment {id} waits for approval ({})",
                    text(&now["links"]["page"])
                )?;
            }
            state = now_state.to_owned();
        }
    }
}

fn next_in_chain(api: &Api, project: &str, version: &str, after: &str) -> anyhow::Result<i64> {
    let release = api.call(
        "GET",
        &format!("/projects/{project}/releases/{version}"),
        None,
        None,
    )?;
    let stages = release["environments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let here = stages
        .iter()
        .position(|s| text(&s["environment"]) == after)
        .ok_or_else(|| anyhow!("{after} is not in the pipeline"))?;
    stages
        .get(here + 1)
        .and_then(|next| next["deployments"].as_array()?.last()?["id"].as_i64())
        .ok_or_else(|| anyhow!("the chain stopped after {after}: see the release page"))
}

fn show_status(api: &Api, out: &mut impl Write, args: &StatusArgs) -> anyhow::Result<()> {
    let release = api.call(
        "GET",
        &format!("/projects/{}/releases/{}", args.project, args.version),
        None,
        None,
    )?;
    writeln!(
        out,
        "{} {}",
        text(&release["version"]),
        text(&release["title"])
    )?;
    for stage in release["environments"].as_array().into_iter().flatten() {
        let state = match (text(&stage["state"]), stage["live"].as_bool()) {
            (_, Some(true)) => "live".to_owned(),
            ("", _) => "-".to_owned(),
            (state, _) => state.to_owned(),
        };
        writeln!(out, "  {:<16} {state}", text(&stage["environment"]))?;
        for check in stage["readiness"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "    [{}] {}",
                text(&check["state"]),
                text(&check["text"])
            )?;
        }
    }
    Ok(())
}
