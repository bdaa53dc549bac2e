//! The `ferrocache` daemon: parse memcached's command line, start the server,
//! stop cleanly on SIGTERM / SIGINT.

use ferrocache::config::{Invocation, Listen, Settings};
use ferrocache::server::Server;
use std::io::Write;
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
            return ExitCode::from(64); // EX_USAGE, as memcached
        }
    };
    env_logger::Builder::new()
        .filter_level(ferrocache::log_level(settings.verbose as u32))
        .format_timestamp(None)
        .init();
    for notice in &settings.notices {
        log::log!(notice.level, "{}", notice.text);
    }
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrocache: {e}");
            ExitCode::from(71) // EX_OSERR
        }
    }
}

fn run(settings: Settings) -> std::io::Result<()> {
    let pidfile = settings.pidfile.clone();
    let announce =
        matches!(&settings.listen, Listen::Tcp(addrs) if addrs.iter().any(|a| a.port == 0));
    // Catch the stop signals before anyone can learn we are up.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGUSR1,
    ])?;
    raise_fd_limit(settings.max_conns);
    let server = Server::start(settings)?;
    if let Some(path) = &pidfile {
        std::fs::write(path, format!("{}\n", std::process::id()))?;
    }
    if announce {
        // With -p 0 the caller cannot know the port: tell it, once ready.
        let mut out = std::io::stdout().lock();
        writeln!(out, "ferrocache listening on {}", server.tcp_addrs()[0])?;
        out.flush()?;
    }
    let shared = server.shared();
    let signal_handle = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                log::info!("signal {sig}: shutting down");
                shared.shutdown.trigger();
            }
        })?;
    let result = server.run();
    signal_handle.close();
    if let Some(path) = &pidfile {
        let _ = std::fs::remove_file(path);
    }
    result
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
