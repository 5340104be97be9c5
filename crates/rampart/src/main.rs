//! rampart: one daemon for the L4 load balancer, VRRP and BGP roles of an
//! HAProxy + keepalived + BIRD load-balancer pair.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

mod admin;
mod bfd;
mod bgp;
mod cluster;
mod control;
mod demo;
mod gateway;
mod generate;
mod health;
mod hostcheck;
mod ipc;
mod logging;
mod nat;
mod nft;
mod peer;
mod privilege;
mod reload;
mod runtime;
mod show;
mod signals;
mod supervisor;
mod systemd;
mod task;
mod vrrp;
mod web;
mod worker;

/// Where an installed node's config lives, so `rampart run` and `rampart
/// check` need no `-c` (as `haproxy` and `keepalived` read theirs from
/// /etc by default).
const DEFAULT_CONFIG: &str = "/etc/rampart/rampart.toml";

#[derive(Parser)]
#[command(
    name = "rampart",
    version,
    about = "L4 load balancer (TCP proxy or kernel NAT), VRRP, BGP announcer with BFD \
             and NAT gateway in one daemon (HAProxy + keepalived + BIRD in one)",
    long_about = "L4 load balancer (TCP proxy or kernel NAT), VRRP, BGP announcer with BFD \
                  and NAT gateway in one daemon (HAProxy + keepalived + BIRD in one).\n\n\
                  `rampart run` runs the node a config file describes: it proxies TCP to \
                  healthy backends (or, with `mode = \"nat\"`, has the kernel forward the \
                  connections to them, so that the servers see the client's address), \
                  floats virtual addresses with VRRP, announces service \
                  prefixes with BGP and forwards and NATs for a private subnet. `rampart \
                  check` validates a config file (with --host, against this host too); \
                  `rampart status` and `rampart reload` talk to the running node over its \
                  control socket; `rampart import` converts haproxy.cfg, \
                  keepalived.conf and bird.conf."
)]
struct Cli {
    /// Log level (error, warn, info, debug, trace); overrides the config
    /// file's `log_level`. RUST_LOG, when set, wins over both.
    #[arg(long, global = true)]
    log_level: Option<String>,
    /// Log lines as text, or as one JSON object per line (for log
    /// shippers).
    #[arg(long, global = true, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum ShowCmd {
    /// Frontends, backends and servers: state, weight, connections,
    /// rates, bytes, errors, queue, health checks.
    Servers {
        #[command(flatten)]
        node: NodeArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// VRRP instances: addresses, priority and each tracker's part in
    /// it, the peer heard, the last transition and why.
    Vrrp {
        #[command(flatten)]
        node: NodeArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// BGP neighbors: state, uptime, messages, routes.
    Bgp {
        #[command(flatten)]
        node: NodeArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The connections being served: id, client, frontend, server, age,
    /// bytes (`rampart session kill ID` closes one).
    Sessions {
        #[command(flatten)]
        node: NodeArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The running config as applied (not the file, which may have
    /// changed since).
    Config {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Every prefix per BGP neighbor with its attributes (MED,
    /// local-pref, prepend, communities, next hop), whether it is
    /// announced or withdrawn and why: which policy, what it sees (VRRP
    /// mastership, servers up), a hold-down after a fall, a neighbor
    /// disabled by the operator. As `birdc show route export NEIGHBOR`,
    /// with the reasons.
    Routes {
        #[command(flatten)]
        node: NodeArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
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
        /// Internal: what a previous program handed over (`rampart upgrade`).
        #[arg(long, hide = true)]
        upgrade_fd: Option<i32>,
    },
    /// Show the running node's state: servers, NAT tables, VRRP instances,
    /// BGP and BFD sessions, the gateway, a node drain.
    Status {
        #[command(flatten)]
        node: NodeArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one part of the running node in detail: `servers` (every
    /// frontend, backend and server with its traffic counters and checks),
    /// `sessions` (every open connection: id, client, server, age, bytes),
    /// `vrrp` (instances, trackers, last transition and why), `bgp` (one
    /// line per neighbor), `routes` (every prefix per neighbor, announced
    /// or withdrawn and why), `config` (the running config, as applied;
    /// root or the daemon's user only: it holds passwords).
    Show {
        #[command(subcommand)]
        what: ShowCmd,
    },
    /// Ask the running node to reload its config file and wait for the
    /// outcome: exit 0 with a summary, 1 with every error.
    Reload {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Change a server's runtime state: `drain` (no new connections, open
    /// ones run to their end), `maint` (no traffic, no health checks),
    /// `ready` (back in service, configured weight), `weight N` (0-256, at
    /// once for every balancer). Kept across reloads and worker restarts,
    /// and across restarts with `[global] state_file`.
    Server {
        #[command(flatten)]
        node: NodeArgs,
        /// drain | maint | ready | weight
        #[arg(value_parser = ["drain", "maint", "ready", "weight"])]
        action: String,
        /// BACKEND/SERVER
        target: String,
        /// The weight, for `weight`.
        weight: Option<u32>,
        /// With `maint`: also close the server's open connections at once
        /// (HAProxy's `shutdown sessions server`).
        #[arg(long)]
        shutdown_sessions: bool,
        #[command(flatten)]
        follow: peer::FollowArgs,
    },
    /// Close one connection now (`kill ID`, the id from `rampart show
    /// sessions`), as HAProxy's `shutdown session`.
    Session {
        #[command(flatten)]
        node: NodeArgs,
        /// kill
        #[arg(value_parser = ["kill"])]
        action: String,
        /// The session's id.
        id: u64,
    },
    /// Stop accepting on a frontend without closing its sockets (clients
    /// wait in the kernel's backlog), or accept again: `disable NAME`,
    /// `enable NAME`. Kept as `server` states are.
    Frontend {
        #[command(flatten)]
        node: NodeArgs,
        /// disable | enable
        #[arg(value_parser = ["disable", "enable"])]
        action: String,
        /// The frontend.
        name: String,
        #[command(flatten)]
        follow: peer::FollowArgs,
    },
    /// Shut a BGP neighbor's session down gracefully and keep it down, as
    /// `birdc disable` (`disable NAME [--message TEXT]`: routes withdrawn,
    /// then Cease / Administrative Shutdown with the message, RFC 9003),
    /// or start it again (`enable NAME`). Kept across reloads and upgrades,
    /// and across restarts with `[global] state_file`.
    Bgp {
        #[command(flatten)]
        node: NodeArgs,
        /// disable | enable
        #[arg(value_parser = ["disable", "enable"])]
        action: String,
        /// The neighbor.
        name: String,
        /// The shutdown message the router logs.
        #[arg(long, default_value = "administratively disabled")]
        message: String,
    },
    /// Hand VRRP mastership over for maintenance without stopping the node
    /// (`resign INSTANCE|GROUP`: priority 0, the peer takes over with no
    /// failed request, as at a graceful stop; an instance in a sync group
    /// moves with its group), and take part again (`resume [NAME]`; all
    /// resigned ones without a name).
    Vrrp {
        #[command(flatten)]
        node: NodeArgs,
        /// resign | resume
        #[arg(value_parser = ["resign", "resume"])]
        action: String,
        /// The instance or sync group.
        name: Option<String>,
    },
    /// Take the whole node out of service (`drain`), in the order that
    /// drops no session: its BGP routes tagged GRACEFUL_SHUTDOWN (RFC
    /// 8326) and withdrawn `--withdraw-after` later; then every VRRP
    /// instance resigns; then idle connections close spread over
    /// `--window` while busy ones run to their end. `undrain` brings it
    /// all back. `rampart status` shows the step.
    Node {
        #[command(flatten)]
        node: NodeArgs,
        /// drain | undrain
        #[arg(value_parser = ["drain", "undrain"])]
        action: String,
        /// From tagging the routes to withdrawing them.
        #[arg(long, value_parser = rampart_config::parse_duration, default_value = "5s")]
        withdraw_after: std::time::Duration,
        /// Over which idle connections are closed (spread, so that their
        /// clients do not all come back at once).
        #[arg(long, value_parser = rampart_config::parse_duration, default_value = "10s")]
        window: std::time::Duration,
        /// A connection that moved no byte for this long counts as idle
        /// (a TCP proxy does not see requests; a slow answer looks idle
        /// too, so keep it above the backends' slowest).
        #[arg(long, value_parser = rampart_config::parse_duration, default_value = "5s")]
        idle: std::time::Duration,
        /// Return once the node is drained (printing each step), not once
        /// the drain has started.
        #[arg(long)]
        wait: bool,
    },
    /// Replace the running node's program with the binary now installed
    /// at its path, keeping its listeners, connections, VRRP state and BGP
    /// sessions (no failed request, no election, no route flap).
    Upgrade {
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
        #[arg(value_parser = ["haproxy", "keepalived", "bird"])]
        format: String,
        /// The file to convert (/etc/haproxy/haproxy.cfg,
        /// /etc/keepalived/keepalived.conf, /etc/bird/bird.conf).
        file: PathBuf,
        /// keepalived: the frontend whose health replaces a script that
        /// checks HAProxy runs (`pgrep haproxy`) — `track_proxy`. bird:
        /// announce each prefix while this frontend has a server up
        /// (`policy = { while_healthy = NAME }`) instead of always.
        #[arg(long)]
        frontend: Option<String>,
    },
    /// A self-contained demonstration. As root: the seed guide's whole
    /// cluster in network namespaces (two rampart nodes from the guide's
    /// files, VRRP failover, BGP, NAT), narrated. Otherwise on loopback: two
    /// built-in backends, round robin, a backend stopped with no failed
    /// request.
    Demo {
        /// The loopback demo even as root (no namespaces, no packages).
        #[arg(long)]
        loopback: bool,
        /// The cluster demo's BGP router: BIRD 2 if it is installed
        /// (auto), BIRD, or the built-in receiving peer.
        #[arg(long, value_enum, default_value_t = cluster::Router::Auto)]
        router: cluster::Router,
    },
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
    // The worker is this binary started by `run` under another name.
    if std::env::args_os()
        .next()
        .is_some_and(|a| a == ipc::WORKER_ARG0)
    {
        return worker_main();
    }
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
            let result = match format.as_str() {
                "keepalived" => {
                    rampart_config::import_keepalived(&origin, &text, frontend.as_deref())
                }
                "bird" => rampart_config::import_bird(&origin, &text, frontend.as_deref()),
                _ => rampart_config::import_haproxy(&origin, &text),
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
        Cmd::Show { what } => {
            match what {
                ShowCmd::Servers { node, json } => {
                    let stats = control::stats(&node.socket())?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&stats)?);
                    } else {
                        print!("{}", show::servers(&stats));
                    }
                }
                ShowCmd::Bgp { node, json } => {
                    let status = control::query(&node.socket())?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&status.bgp)?);
                    } else {
                        print!("{}", show::bgp(&status));
                    }
                }
                ShowCmd::Vrrp { node, json } => {
                    let status = control::query(&node.socket())?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&status.vrrp)?);
                    } else {
                        print!("{}", show::vrrp(&status));
                    }
                }
                ShowCmd::Sessions { node, json } => {
                    let sessions = control::sessions(&node.socket())?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&sessions)?);
                    } else {
                        print!("{}", show::sessions(&sessions));
                    }
                }
                ShowCmd::Config { node } => print!("{}", control::config(&node.socket())?),
                ShowCmd::Routes { node, json } => {
                    let routes = control::routes(&node.socket())?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&routes)?);
                    } else {
                        print!("{}", bgp::show::render(&routes));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Reload { node } => Ok(reload(&node.socket())?),
        Cmd::Upgrade { node } => Ok(upgrade(&node.socket())?),
        Cmd::Bgp {
            node,
            action,
            name,
            message,
        } => {
            println!(
                "{}",
                control::bgp(&node.socket(), action == "enable", name, message)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Frontend {
            node,
            action,
            name,
            follow,
        } => {
            let (enable, follow) = (action == "enable", follow.follow());
            println!(
                "{}",
                control::frontend(&node.socket(), enable, name, follow)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Node {
            node,
            action,
            withdraw_after,
            window,
            idle,
            wait,
        } => {
            let plan = match action.as_str() {
                "drain" => Some(
                    supervisor::DrainPlan::new(withdraw_after, window, idle)
                        .map_err(|e| anyhow::anyhow!(e))?,
                ),
                _ => None,
            };
            let socket = node.socket();
            println!("{}", control::node(&socket, plan)?);
            if wait && plan.is_some() {
                wait_drained(&socket)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Vrrp { node, action, name } => {
            if action == "resign" && name.is_none() {
                anyhow::bail!(
                    "name the VRRP instance or sync group to resign (`rampart node drain` takes the whole node out)"
                );
            }
            println!(
                "{}",
                control::vrrp(&node.socket(), action == "resign", name)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Session { node, id, .. } => {
            println!("{}", control::kill_session(&node.socket(), id)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Server {
            node,
            action,
            target,
            weight,
            shutdown_sessions,
            follow,
        } => {
            let weight = weight.map(|w| w.to_string());
            let mut words = vec![action.as_str(), target.as_str()];
            words.extend(weight.as_deref());
            if shutdown_sessions {
                words.push("--shutdown-sessions");
            }
            let cmd = admin::ServerCommand::parse(&words).map_err(|e| anyhow::anyhow!(e))?;
            println!("{}", control::server(&node.socket(), cmd, follow.follow())?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run {
            config,
            runtime_dir,
            control,
            control_group,
            upgrade_fd,
        } => {
            name_the_supervisor();
            // After `rampart upgrade`: the previous program's state, and the
            // config it ran (not the file, which may have changed since: a
            // reload applies that, with its checks).
            let adopted = upgrade_fd.map(supervisor::upgrade::adopt).transpose()?;
            let running = adopted
                .as_ref()
                .map(|a| a.state.config.clone())
                .filter(|t| !t.is_empty());
            let paths = supervisor::Paths {
                runtime_dir: runtime::dir(runtime_dir),
                control,
                control_group: control_group.as_deref().map(control::group).transpose()?,
                adopted,
            };
            let read = match running {
                Some(text) => Ok(text),
                None => rampart_config::read_file(&config),
            };
            let parsed = read.and_then(|text| {
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
            let _log = logging::init(
                log_override.as_deref().unwrap_or(&cfg.global.log_level),
                cli.log_format == "json",
            );
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(supervisor::run(config, cfg, text, log_override, paths))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Generate { dir } => {
            for path in generate::write_all(Cli::command(), &dir)? {
                println!("{}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Demo { loopback, router } => {
            // As root with iproute2: the whole cluster, in namespaces.
            // Otherwise (or asked) the loopback demo, and how to see the
            // cluster.
            let unavailable = if loopback {
                None
            } else {
                match cluster::unavailable() {
                    None => return cluster::main(router),
                    why => why,
                }
            };
            // Health transitions yes, one line per connection no: the demo
            // makes thousands. RUST_LOG=info shows them.
            let _log = logging::init(
                &std::env::var("RUST_LOG")
                    .ok()
                    .or(cli.log_level)
                    .unwrap_or_else(|| "info,rampart::tcplog=warn".into()),
                cli.log_format == "json",
            );
            let code = demo::main()?;
            if let Some(why) = unavailable {
                println!("\n{why}");
            }
            Ok(code)
        }
    }
}

/// `rampart run` re-executes itself (same pid, same arguments) with
/// `argv[0]` [`ipc::SUPERVISOR_ARG0`], so that `ps` tells the supervisor
/// from its worker as it does nginx's and postgres's processes; exec keeps
/// the pid, so systemd's main pid and a parent's `wait` are unchanged. It
/// runs before anything is opened. A failed exec only costs the name.
fn name_the_supervisor() {
    use std::os::unix::process::CommandExt;
    if std::env::args_os()
        .next()
        .is_none_or(|a| a != ipc::SUPERVISOR_ARG0)
    {
        let e = std::process::Command::new("/proc/self/exe")
            .arg0(ipc::SUPERVISOR_ARG0)
            .args(std::env::args_os().skip(1))
            .exec();
        eprintln!(
            "rampart: cannot re-execute as `{}` ({e})",
            ipc::SUPERVISOR_ARG0
        );
    }
    // exec of /proc/self/exe names the task `exe` (what top and pgrep see).
    let _ = nix::sys::prctl::set_name(c"rampart");
}

/// The worker: gives up its privileges while it has one thread (logging
/// starts a writer thread), then runs the proxy.
fn worker_main() -> ExitCode {
    let _ = nix::sys::prctl::set_name(c"rampart: worker");
    let to = match std::env::var(ipc::ENV_WORKER_IDENTITY) {
        Ok(v) => match rampart_sys::privilege::Identity::from_env(&v) {
            Some(id) => Some(id),
            None => {
                eprintln!("rampart worker: bad {} `{v}`", ipc::ENV_WORKER_IDENTITY);
                return ExitCode::FAILURE;
            }
        },
        Err(_) => None,
    };
    if let Err(e) = rampart_sys::privilege::drop_worker(to) {
        eprintln!("rampart worker: cannot drop privileges: {e}");
        return ExitCode::FAILURE;
    }
    let json = std::env::var(logging::ENV_FORMAT).is_ok_and(|f| f == "json");
    // `[global] tcplog_file`, opened by the supervisor.
    let tcplog = std::env::var(ipc::ENV_TCPLOG_FD)
        .ok()
        .and_then(|v| v.parse().ok())
        .and_then(|fd| rampart_sys::fds::inherited_fd(fd).ok())
        .map(std::fs::File::from);
    let _log = logging::init_with(
        &std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        json,
        tcplog,
    );
    if let Ok((eff, prm)) = rampart_sys::privilege::masks() {
        tracing::info!(
            "worker running as uid {} gid {}, capabilities effective {eff:#x}, permitted {prm:#x}",
            nix::unistd::Uid::effective(),
            nix::unistd::Gid::effective()
        );
    }
    match worker::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rampart: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// How long `rampart upgrade` waits for the new program to answer.
const UPGRADE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `rampart upgrade`: asks, then waits until the node answers `status`
/// with one more upgrade counted (the new program runs everything).
fn upgrade(socket: &std::path::Path) -> Result<ExitCode> {
    let before = control::query(socket)?;
    match control::upgrade(socket)? {
        Some(reload::ReloadOutcome::Failed { errors }) => {
            for e in &errors {
                eprintln!("{}", e.trim_end());
            }
            Ok(ExitCode::FAILURE)
        }
        // Only a failure is answered; anything else is no upgrade.
        Some(reload::ReloadOutcome::Reloaded(summary)) => {
            eprintln!("no upgrade: {summary}");
            Ok(ExitCode::FAILURE)
        }
        None => Ok(wait_upgraded(socket, &before)),
    }
}

/// After the node replaced its program: waits until the new one answers
/// `status` with one more upgrade than `before`.
fn wait_upgraded(socket: &std::path::Path, before: &control::Status) -> ExitCode {
    let deadline = std::time::Instant::now() + UPGRADE_WAIT;
    // The control socket crosses the exec (connections wait in its
    // backlog); one that cannot be reached for a while is gone: the node
    // stopped instead (a stop closes the connection without an answer too).
    let mut unreachable_since = None;
    loop {
        match control::query(socket) {
            Ok(now) if now.upgrades > before.upgrades => {
                println!(
                    "upgraded: rampart {} -> {} (upgrade {} of this node)",
                    before.version, now.version, now.upgrades
                );
                return ExitCode::SUCCESS;
            }
            Ok(_) => unreachable_since = None,
            Err(e) => {
                let since = *unreachable_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > std::time::Duration::from_secs(2) {
                    eprintln!("the node is gone (it stopped rather than upgraded): {e:#}");
                    return ExitCode::FAILURE;
                }
            }
        }
        if std::time::Instant::now() > deadline {
            eprintln!("the node did not answer within {UPGRADE_WAIT:?} after the upgrade");
            return ExitCode::FAILURE;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `rampart reload`: the outcome on stdout (success) or stderr (failure).
fn reload(socket: &std::path::Path) -> Result<ExitCode> {
    // A reload once the binary was replaced is an upgrade (`systemctl
    // reload` after a package upgrade): counted by status.
    let before = control::query(socket)?;
    match control::reload(socket)? {
        None => Ok(wait_upgraded(socket, &before)),
        // The config runs, but the kernel refused part of it: said, and
        // a failure, so that `systemctl reload` and scripts see it.
        Some(reload::ReloadOutcome::Reloaded(summary)) if !summary.not_applied.is_empty() => {
            eprintln!("{summary}");
            eprintln!("reload applied only in part: the kernel refused what is NOT APPLIED");
            Ok(ExitCode::FAILURE)
        }
        Some(reload::ReloadOutcome::Reloaded(summary)) => {
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Some(reload::ReloadOutcome::Failed { errors }) => {
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

/// `rampart node drain --wait`: prints each step the drain reaches until
/// the node is drained. Fails if the drain ends otherwise (undrained, the
/// node stopped).
fn wait_drained(socket: &std::path::Path) -> Result<()> {
    let mut printed = 0;
    loop {
        let Some(d) = control::query(socket)?.node_drain else {
            anyhow::bail!("the drain ended before the node was drained (`rampart node undrain`?)");
        };
        // Every step with the time it was reached, however short.
        for s in d.steps.iter().skip(printed) {
            println!("{:6.1} s  {}", s.at_seconds, s.step.text());
        }
        printed = d.steps.len();
        if d.step == supervisor::DrainStep::Drained {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
