//! rampart: one daemon for the L4 load balancer, VRRP and BGP roles of an
//! HAProxy + keepalived + BIRD load-balancer pair.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

mod bgp;
mod control;
mod demo;
mod gateway;
mod generate;
mod health;
mod hostcheck;
mod ipc;
mod logging;
mod reload;
mod runtime;
mod signals;
mod supervisor;
mod systemd;
mod task;
mod vrrp;
mod worker;

/// Where an installed node's config lives, so `rampart run` and `rampart
/// check` need no `-c` (as `haproxy` and `keepalived` read theirs from
/// /etc by default).
const DEFAULT_CONFIG: &str = "/etc/rampart/rampart.toml";

#[derive(Parser)]
#[command(
    name = "rampart",
    version,
    about = "L4 load balancer, VRRP, BGP announcer and NAT gateway in one daemon \
             (HAProxy + keepalived + BIRD in one)",
    long_about = "L4 load balancer, VRRP, BGP announcer and NAT gateway in one daemon \
                  (HAProxy + keepalived + BIRD in one).\n\n\
                  `rampart run` runs the node a config file describes: it proxies TCP to \
                  healthy backends, floats virtual addresses with VRRP, announces service \
                  prefixes with BGP and forwards and NATs for a private subnet. `rampart \
                  check` validates a config file (with --host, against this host too); \
                  `rampart status` and `rampart reload` talk to the running node over its \
                  control socket; `rampart import` converts haproxy.cfg and \
                  keepalived.conf."
)]
struct Cli {
    /// Log level (error, warn, info, debug, trace); overrides the config
    /// file's `log_level`. RUST_LOG, when set, wins over both.
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the node described by a config file (supervisor + proxy worker).
    Run {
        /// The config file.
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Lock, control socket and state files; one node per directory
        /// [default: /run/rampart; $XDG_RUNTIME_DIR/rampart if not root].
        #[arg(long)]
        runtime_dir: Option<PathBuf>,
        /// Control socket [default: RUNTIME_DIR/rampart.sock].
        #[arg(long)]
        control: Option<PathBuf>,
        /// A group (name or gid) whose members may connect to the control
        /// socket (mode 0660 instead of 0600) and read `status`.
        #[arg(long)]
        control_group: Option<String>,
    },
    /// Show the running node's state: servers, VRRP instances, BGP sessions.
    Status {
        #[command(flatten)]
        node: NodeArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask the running node to reload its config file and wait for the
    /// outcome: exit 0 with a summary, 1 with every error.
    Reload {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Validate a config file: exit 0 if valid, 1 with every error otherwise.
    Check {
        /// The config file.
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Also check the file against this host, as `keepalived -t` does:
        /// interfaces exist, source addresses are local, bind addresses are
        /// local or VRRP addresses, listen ports are free (run it before
        /// starting the node: the ports of a running rampart are busy).
        #[arg(long)]
        host: bool,
    },
    /// Convert another program's config to rampart TOML (printed on
    /// stdout; what is not carried over is named on stderr).
    Import {
        /// The format of FILE.
        #[arg(value_parser = ["haproxy", "keepalived"])]
        format: String,
        /// The file to convert (/etc/haproxy/haproxy.cfg,
        /// /etc/keepalived/keepalived.conf).
        file: PathBuf,
        /// keepalived: the frontend whose health replaces a script that
        /// checks HAProxy runs (`pgrep haproxy`) — `track_proxy`.
        #[arg(long)]
        frontend: Option<String>,
    },
    /// A self-contained demonstration on loopback: two built-in backends,
    /// round robin, a backend stopped under load with no failed request.
    Demo,
    /// Internal: the proxy worker process started by `run`.
    #[command(hide = true)]
    Worker,
    /// Internal, for packaging: write the man pages (rampart(8), one per
    /// subcommand, rampart.toml(5)) and the bash, zsh and fish completions
    /// under DIR (`DIR/man/`, `DIR/completions/`).
    #[command(hide = true)]
    Generate {
        /// Output directory, created if needed.
        dir: PathBuf,
    },
}

/// Which running node a client subcommand talks to.
#[derive(clap::Args)]
struct NodeArgs {
    /// Control socket of the node [default: RUNTIME_DIR/rampart.sock].
    #[arg(long)]
    control: Option<PathBuf>,
    /// The node's runtime directory [default: as `run`'s].
    #[arg(long)]
    runtime_dir: Option<PathBuf>,
}

impl NodeArgs {
    fn socket(self) -> PathBuf {
        runtime::control_path(self.control, &runtime::dir(self.runtime_dir))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rampart: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Check { config, host } => Ok(check(&config, host)),
        Cmd::Import {
            format,
            file,
            frontend,
        } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => anyhow::bail!("cannot read {}: {e}", file.display()),
            };
            let origin = file.display().to_string();
            let result = if format == "keepalived" {
                rampart_config::import_keepalived(&origin, &text, frontend.as_deref())
            } else {
                rampart_config::import_haproxy(&origin, &text)
            };
            match result {
                Ok(imported) => {
                    for w in &imported.warnings {
                        eprintln!("warning: {w}");
                    }
                    print!("{}", imported.toml);
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    for e in &errors {
                        eprintln!("error: {e}");
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Cmd::Status { node, json } => {
            let status = control::query(&node.socket())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", control::render(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Reload { node } => Ok(reload(&node.socket())?),
        Cmd::Run {
            config,
            runtime_dir,
            control,
            control_group,
        } => {
            let paths = supervisor::Paths {
                runtime_dir: runtime::dir(runtime_dir),
                control,
                control_group: control_group.as_deref().map(control::group).transpose()?,
            };
            let parsed = rampart_config::read_file(&config).and_then(|text| {
                Ok((
                    rampart_config::parse(&config.display().to_string(), &text)?,
                    text,
                ))
            });
            let (cfg, text) = match parsed {
                Ok(c) => c,
                Err(errors) => {
                    eprint!("{}", errors.render());
                    return Ok(ExitCode::FAILURE);
                }
            };
            // What only this host can tell: RFC 5798's owner rule.
            let origin = config.display().to_string();
            if let Err(errors) = hostcheck::check(&origin, &text, &cfg, hostcheck::Scope::Start) {
                eprint!("{}", errors.render());
                return Ok(ExitCode::FAILURE);
            }
            // RUST_LOG or --log-level win over the file, for the worker too.
            let log_override = std::env::var("RUST_LOG").ok().or(cli.log_level);
            let _log = logging::init(log_override.as_deref().unwrap_or(&cfg.global.log_level));
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(supervisor::run(config, cfg, text, log_override, paths))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Worker => {
            let _log = logging::init(&std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
            worker::main()?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Generate { dir } => {
            for path in generate::write_all(Cli::command(), &dir)? {
                println!("{}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Demo => {
            // Health transitions yes, one line per connection no: the demo
            // makes thousands. RUST_LOG=info shows them.
            let _log = logging::init(
                &std::env::var("RUST_LOG")
                    .ok()
                    .or(cli.log_level)
                    .unwrap_or_else(|| "info,rampart::tcplog=warn".into()),
            );
            demo::main()
        }
    }
}

/// `rampart reload`: the outcome on stdout (success) or stderr (failure).
fn reload(socket: &std::path::Path) -> Result<ExitCode> {
    match control::reload(socket)? {
        reload::ReloadOutcome::Reloaded(summary) => {
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        reload::ReloadOutcome::Failed { errors } => {
            for e in &errors {
                eprintln!("{}", e.trim_end());
            }
            eprintln!("reload failed: the running config is unchanged");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `rampart check`: like `haproxy -c`; with `--host`, like `keepalived -t`.
fn check(path: &std::path::Path, host: bool) -> ExitCode {
    let origin = path.display().to_string();
    let checked = rampart_config::read_file(path).and_then(|text| {
        let cfg = rampart_config::parse(&origin, &text)?;
        if host {
            hostcheck::check(&origin, &text, &cfg, hostcheck::Scope::Full)?;
        }
        Ok(cfg)
    });
    match checked {
        Ok(cfg) => {
            let servers: usize = cfg.backends.iter().map(|b| b.servers.len()).sum();
            println!(
                "{origin}: configuration is valid{} ({} frontend(s), {} backend(s), {} server(s))",
                if host { " on this host" } else { "" },
                cfg.frontends.len(),
                cfg.backends.len(),
                servers
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprint!("{}", errors.render());
            ExitCode::FAILURE
        }
    }
}
