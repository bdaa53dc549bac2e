//! The `ferrocache` daemon: parse memcached's command line, start the server
//! in the order memcached's operators expect (daemonize, bind, pidfile,
//! give up root, serve), reload credentials, TLS certificates and the node
//! file on SIGHUP and stop cleanly on SIGTERM / SIGINT / SIGUSR1.

use ferrocache::cluster::Cluster;
use ferrocache::config::{Invocation, Listen, Settings};
use ferrocache::daemon::{self, PidFile, Startup};
use ferrocache::privileges::{self, Fatal, EX_USAGE};
use ferrocache::server::{self as server_mod, Server};
use ferrocache::session::Gate;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use std::process::ExitCode;

fn main() -> ExitCode {
    let settings = match Settings::parse_from(std::env::args_os()) {
        Ok(Invocation::Run(s)) => *s,
        Ok(Invocation::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("ferrocache: {message}");
            return ExitCode::from(EX_USAGE);
        }
    };
    init_logger(settings.verbose);
    for notice in &settings.notices {
        log::log!(notice.level, "{}", notice.text);
    }
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fatal { code, message }) => {
            eprintln!("ferrocache: {message}");
            ExitCode::from(code)
        }
    }
}

/// One line per event on stderr: RFC 3339 UTC time to the millisecond,
/// level, message. `-v`/`-vv`/`-vvv` set the level, and the `verbosity`
/// command changes it later (through `log::set_max_level`, so the logger
/// itself lets every level through); `RUST_LOG`, when set, overrides both.
fn init_logger(verbose: u8) {
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Trace)
        .parse_default_env()
        .format_timestamp_millis()
        .format_target(false)
        .init();
    if std::env::var_os("RUST_LOG").is_none() {
        log::set_max_level(ferrocache::log_level(verbose as u32));
    }
}

/// Auto-discovery's node list as `-o cluster_nodes`, `cluster_dns` and
/// `cluster_admin` ask; `Err` is one line for the operator. The node file
/// is read here; a DNS name is first resolved by the cluster thread.
fn cluster(settings: &Settings) -> Result<Option<Cluster>, String> {
    let cluster = match (&settings.cluster_nodes, &settings.cluster_dns) {
        (Some(_), Some(_)) => {
            return Err(
                "-o cluster_nodes and -o cluster_dns: give one node source, not both".into(),
            )
        }
        (Some(path), None) => {
            let path = std::path::absolute(path).map_err(|e| format!("-o cluster_nodes: {e}"))?;
            Cluster::open(&path).map_err(|e| format!("-o cluster_nodes: {e}"))?
        }
        (None, Some(name)) => {
            let server = match settings.cluster_dns_server {
                Some(server) => server,
                None => std::fs::read_to_string("/etc/resolv.conf")
                    .ok()
                    .and_then(|text| ferrocache::cluster::system_server(&text))
                    .ok_or("-o cluster_dns: no nameserver in /etc/resolv.conf; give -o cluster_dns_server=ADDR:PORT")?,
            };
            let target = ferrocache::cluster::Target::parse(name, settings.tcp_port, server)
                .map_err(|e| format!("-o cluster_dns: {e}"))?;
            let interval = std::time::Duration::from_secs(settings.cluster_dns_interval.into());
            Cluster::dns(target, interval)
        }
        (None, None) if settings.cluster_admin => Cluster::admin_only(),
        (None, None) if settings.cluster_state.is_some() => {
            return Err("-o cluster_state: give a node source (-o cluster_nodes, cluster_dns or cluster_admin) to keep".into())
        }
        (None, None) => return Ok(None),
    };
    let cluster = match &settings.cluster_state {
        Some(path) => {
            let path = std::path::absolute(path).map_err(|e| format!("-o cluster_state: {e}"))?;
            cluster
                .kept_in(&path)
                .map_err(|e| format!("-o cluster_state: {e}"))?
        }
        None => cluster,
    };
    Ok(Some(cluster.with_admin(settings.cluster_admin)))
}

fn run(mut settings: Settings) -> Result<(), Fatal> {
    // Everything that can be refused is refused before forking, so the
    // error reaches the terminal that started us.
    let user = privileges::user_to_become(settings.user.as_deref(), privileges::is_root())?;
    // Credentials files are read as the user who started us (they may be
    // readable by root only), before forking so an error reaches the
    // terminal.
    let gate = Gate::from_settings(
        &settings,
        std::env::var_os("MEMCACHED_SASL_PWDB").map(Into::into),
    )
    .map_err(|message| Fatal {
        code: EX_USAGE,
        message,
    })?;
    // Certificates and keys too: a bad one stops start-up with one line
    // on the terminal, as memcached's does.
    let tls = ferrocache::tls::Tls::load(&settings.ssl).map_err(|message| Fatal {
        code: EX_USAGE,
        message,
    })?;
    // The node source too: a bad node file or DNS setting stops the start
    // with one line.
    let cluster = cluster(&settings).map_err(|message| Fatal {
        code: EX_USAGE,
        message,
    })?;
    if settings.core_dumps {
        privileges::enable_core_dumps()?;
    }
    let startup = if settings.daemonize {
        // Paths are used after the daemon's chdir to /.
        if let Some(p) = &settings.pidfile {
            settings.pidfile = Some(std::path::absolute(p)?);
        }
        if let Listen::Unix(p, _) = &mut settings.listen {
            *p = std::path::absolute(&*p)?;
        }
        daemon::daemonize(settings.verbose > 0, !settings.core_dumps)?
    } else {
        Startup::foreground()
    };
    // Catch the signals before anyone can learn we are up.
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGUSR1, SIGHUP])?;
    raise_fd_limit(settings.max_conns);
    if settings.lock_memory {
        let keeps_capabilities = user.as_ref().is_none_or(|u| u.uid.is_root());
        privileges::lock_memory(
            settings.max_bytes as u64,
            settings.threads as u64,
            keeps_capabilities,
        );
    }
    let pidfile_path = settings.pidfile.clone();
    let ephemeral = match &settings.listen {
        Listen::Tcp(addrs) => addrs.iter().any(|a| a.port == 0),
        Listen::Unix(..) => false,
    };
    let bound = Server::bind_with(settings, gate, tls, cluster)?;
    let pidfile = pidfile_path.as_deref().map(PidFile::write).transpose()?;
    if let Some(user) = &user {
        if let Some(p) = &pidfile {
            p.give_to(user)?;
        }
        privileges::become_user(user)?;
    }
    // The state file is first written as the user that writes it from now
    // on, so one that user cannot write stops the start here.
    if let Some(cluster) = bound.cluster() {
        cluster.save_state().map_err(|e| Fatal {
            code: EX_USAGE,
            message: format!("-o cluster_state: {e}"),
        })?;
    }
    // With -p 0 (or :0 in -l) the caller cannot know the port: tell it.
    let announce = ephemeral.then(|| format!("ferrocache listening on {}", bound.tcp_addrs()[0]));
    let server = bound.start()?;
    let shared = server.shared();
    let signal_handle = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGHUP {
                    match shared.gate.reload() {
                        None if shared.tls.is_none() && shared.cluster.is_none() => {
                            log::info!("SIGHUP: nothing to reload; still serving")
                        }
                        None => {}
                        Some(Ok(line)) => log::info!("SIGHUP: reloaded {line}"),
                        Some(Err(line)) => log::error!("SIGHUP: {line}"),
                    }
                    // As `refresh_certs`: new connections get the new
                    // certificates, open ones keep theirs.
                    match shared.tls.as_deref().map(|tls| tls.refresh()) {
                        None => {}
                        Some(Ok(())) => log::info!("SIGHUP: reloaded the TLS certificates"),
                        Some(Err(line)) => log::error!("SIGHUP: {line}"),
                    }
                    if let Some(result) = shared.cluster.as_ref().and_then(|c| c.hangup()) {
                        server_mod::log_reload("SIGHUP", shared.cluster.as_ref().unwrap(), result);
                    }
                    continue;
                }
                log::info!("{}: shutting down", signal_name(sig));
                shared.shutdown.trigger();
                break;
            }
        })?;
    startup.ready(announce)?;
    let result = server.run();
    signal_handle.close();
    drop(pidfile);
    Ok(result?)
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        SIGTERM => "SIGTERM",
        SIGINT => "SIGINT",
        SIGUSR1 => "SIGUSR1",
        SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

/// File descriptors needed beyond the client connections (listeners,
/// event loops, wakers, the log), as memcached reserves some too.
const RESERVED_FDS: u64 = 64;

/// Raises the open-file limit so that `-c` connections fit, as memcached
/// does; warns if the system does not allow it.
fn raise_fd_limit(max_conns: usize) {
    let wanted = max_conns as u64 + RESERVED_FDS;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(got) if got < wanted => log::warn!(
            "open files limit is {got}: fewer than the -c {max_conns} connections can be served"
        ),
        Ok(_) => {}
        Err(e) => log::warn!("cannot raise the open files limit: {e}"),
    }
}
