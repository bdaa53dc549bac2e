//! Command-line settings, parsed with memcached's flag names and defaults.
//!
//! `Settings::parse_from` validates everything up front so that a bad value
//! exits with one clear line instead of surfacing later at run time. The
//! `-l` list is read in `listen.rs`, the `-o` keys in `extended.rs`.

mod extended;
mod listen;
mod observe;
mod protocols;
mod ssl;
#[cfg(test)]
mod tests;

pub use extended::{known_keys as extended_keys, Notice};
pub use listen::ListenAddr;
pub use observe::MAX_HOTKEYS;
pub use protocols::{AuthSettings, BindingProtocol};
pub use ssl::{MinVersion, SslSettings};

use clap::{ArgAction, Parser};
use std::path::PathBuf;

/// memcached's default TCP port.
pub const DEFAULT_PORT: u16 = 11211;
/// memcached's default memory limit, in megabytes.
pub const DEFAULT_MEMORY_MB: u64 = 64;
/// memcached's default connection limit.
pub const DEFAULT_MAX_CONNS: u64 = 1024;
/// memcached's default number of worker threads.
pub const DEFAULT_THREADS: u64 = 4;
/// memcached's default requests handled per connection per wake-up.
pub const DEFAULT_REQS_PER_EVENT: u64 = 20;
/// memcached's default slab growth factor.
pub const DEFAULT_GROWTH_FACTOR: f64 = 1.25;
/// memcached's default minimum space for key + value + flags.
pub const DEFAULT_CHUNK_SIZE: u64 = 48;
/// memcached's default listen backlog.
pub const DEFAULT_BACKLOG: i32 = 1024;
/// memcached's default maximum item size (1 MiB).
pub const DEFAULT_ITEM_SIZE_MAX: usize = 1024 * 1024;
/// memcached's smallest allowed `-I`.
pub const MIN_ITEM_SIZE_MAX: usize = 1024;
/// memcached's largest allowed `-I` (1 GiB).
pub const MAX_ITEM_SIZE_MAX: usize = 1024 * 1024 * 1024;
/// memcached's slab page size (1 MiB).
pub const DEFAULT_SLAB_PAGE_SIZE: usize = 1024 * 1024;
/// memcached 1.6's default `slab_automove` mode.
pub const DEFAULT_SLAB_AUTOMOVE: u8 = 1;

/// The memcached-compatible command line.
#[derive(Parser, Debug)]
#[command(
    name = "ferrocache",
    version,
    about = "A memcached-compatible, multi-threaded cache daemon",
    disable_version_flag = true,
    // getopt's rule: a flag given twice takes the last value.
    args_override_self = true
)]
struct Cli {
    /// TCP port to listen on (0 = an ephemeral port, printed on stdout)
    #[arg(short = 'p', long = "port", default_value_t = DEFAULT_PORT)]
    port: u16,
    /// UDP port to listen on (0 is off; UDP is not implemented, so only 0 is accepted)
    #[arg(short = 'U', long = "udp-port", default_value_t = 0)]
    udp_port: u16,
    /// UNIX socket to listen on (disables TCP)
    #[arg(short = 's', long = "unix-socket")]
    unix_socket: Option<PathBuf>,
    /// Access mask for the UNIX socket, in octal
    #[arg(short = 'a', long = "unix-mask", default_value = "0700")]
    unix_mask: String,
    /// Enable the ascii "shutdown" command
    #[arg(short = 'A', long = "enable-shutdown")]
    enable_shutdown: bool,
    /// Interfaces to listen on: ADDR, ADDR:PORT, [V6ADDR]:PORT or * (all),
    /// comma separated; repeatable. A port here overrides -p
    #[arg(
        short = 'l',
        long = "listen",
        default_value = "127.0.0.1",
        value_name = "ADDR"
    )]
    listen: Vec<String>,
    /// Run as a daemon: fork, detach from the terminal, chdir to /
    #[arg(short = 'd', long = "daemon")]
    daemon: bool,
    /// When started as root, switch to this user once the sockets are bound
    /// (required as root; ignored otherwise)
    #[arg(short = 'u', long = "user", value_name = "USER")]
    user: Option<String>,
    /// Lock all memory in RAM (mlockall); warns and goes on if not allowed
    #[arg(short = 'k', long = "lock-memory")]
    lock_memory: bool,
    /// Raise the core file size limit so that a crash leaves a core dump
    #[arg(short = 'r', long = "enable-coredumps")]
    enable_coredumps: bool,
    /// Large memory pages: accepted, no effect here
    #[arg(short = 'L', long = "enable-largepages")]
    large_pages: bool,
    /// Key prefix delimiter for `stats detail`; also turns detail stats on
    #[arg(short = 'D', value_name = "CHAR")]
    delimiter: Option<String>,
    /// Item memory in megabytes
    #[arg(short = 'm', long = "memory-limit", default_value_t = DEFAULT_MEMORY_MB, value_parser = parse_megabytes)]
    memory_limit: u64,
    /// Return an error on memory exhausted instead of evicting items
    #[arg(short = 'M', long = "disable-evictions")]
    disable_evictions: bool,
    /// Max simultaneous connections
    #[arg(short = 'c', long = "conn-limit", default_value_t = DEFAULT_MAX_CONNS, value_parser = clap::value_parser!(u64).range(1..))]
    conn_limit: u64,
    /// Verbose (-v), very verbose (-vv), extremely verbose (-vvv)
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    verbose: u8,
    /// Chunk size growth factor
    #[arg(short = 'f', long = "slab-growth-factor", default_value_t = DEFAULT_GROWTH_FACTOR)]
    growth_factor: f64,
    /// Minimum space allocated for key + value + flags
    #[arg(short = 'n', long = "slab-min-size", default_value_t = DEFAULT_CHUNK_SIZE, value_parser = clap::value_parser!(u64).range(1..))]
    slab_min_size: u64,
    /// Number of worker threads
    #[arg(short = 't', long = "threads", default_value_t = DEFAULT_THREADS, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: u64,
    /// Max requests handled per connection per wake-up
    #[arg(short = 'R', long = "max-reqs-per-event", default_value_t = DEFAULT_REQS_PER_EVENT, value_parser = clap::value_parser!(u64).range(1..))]
    reqs_per_event: u64,
    /// Disable use of CAS
    #[arg(short = 'C', long = "disable-cas")]
    disable_cas: bool,
    /// Backlog queue limit
    #[arg(short = 'b', long = "listen-backlog", default_value_t = DEFAULT_BACKLOG)]
    backlog: i32,
    /// Protocol: auto, ascii or binary [default: auto; binary with -S, ascii with -Y]
    #[arg(short = 'B', long = "protocol")]
    protocol: Option<String>,
    /// Max item size (k/m suffixes; 1k to 1024m)
    #[arg(short = 'I', long = "max-item-size", default_value = "1m", value_parser = parse_size)]
    max_item_size: u64,
    /// Disable the flush_all command
    #[arg(short = 'F', long = "disable-flush-all")]
    disable_flush_all: bool,
    /// Disable stats cachedump and lru_crawler metadump
    #[arg(short = 'X', long = "disable-dumping")]
    disable_dumping: bool,
    /// Disable watch commands (there are none here: accepted)
    #[arg(short = 'W', long = "disable-watch")]
    disable_watch: bool,
    /// Number of NAPI ids: accepted, no effect here
    #[arg(short = 'N', long = "napi-ids", value_name = "NUM", value_parser = clap::value_parser!(u32))]
    napi_ids: Option<u32>,
    /// SASL authentication (binary protocol) against MEMCACHED_SASL_PWDB or -Y's file
    #[arg(short = 'S', long = "enable-sasl")]
    sasl: bool,
    /// ASCII authentication: text clients log in with a user:password from FILE
    #[arg(short = 'Y', long = "auth-file", value_name = "FILE")]
    auth_file: Option<PathBuf>,
    /// TLS on every TCP listener but `notls:` ones (certificates from -o ssl_chain_cert, ssl_key)
    #[arg(short = 'Z', long = "enable-ssl")]
    ssl: bool,
    /// Restartable cache in a memory file: not implemented (refused)
    #[arg(short = 'e', long = "memory-file", value_name = "FILE")]
    memory_file: Option<PathBuf>,
    /// Save the process id in this file
    #[arg(short = 'P', long = "pidfile")]
    pidfile: Option<PathBuf>,
    /// Print the version and exit
    #[arg(short = 'V', long = "version")]
    version: bool,
    /// Print the license and exit
    #[arg(short = 'i', long = "license")]
    license: bool,
    /// Extended options, comma separated KEY[=VALUE]: memcached 1.6's keys;
    /// those with no effect here are logged at start-up (docs/operations.md)
    #[arg(short = 'o', long = "extended", value_name = "KEY=VALUE,...")]
    extended: Vec<String>,
}

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// TCP on these addresses (`-l`, each with its port).
    Tcp(Vec<ListenAddr>),
    /// A UNIX socket path and its permission mask.
    Unix(PathBuf, u32),
}

/// Validated settings for the whole daemon.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen.
    pub listen: Listen,
    /// Item memory limit in bytes (`-m`).
    pub max_bytes: usize,
    /// `-M`: fail stores instead of evicting.
    pub disable_evictions: bool,
    /// `-c`: maximum simultaneous client connections.
    pub max_conns: usize,
    /// `-v` count.
    pub verbose: u8,
    /// `-f`.
    pub growth_factor: f64,
    /// `-n`.
    pub chunk_size: usize,
    /// `-t`.
    pub threads: usize,
    /// `-R`.
    pub reqs_per_event: usize,
    /// `!-C`.
    pub use_cas: bool,
    /// `-b`.
    pub backlog: i32,
    /// `-I` in bytes.
    pub item_size_max: usize,
    /// `!-F`.
    pub flush_enabled: bool,
    /// `!-X`.
    pub dump_enabled: bool,
    /// `watch` is served (`-W` refuses it).
    pub watch_enabled: bool,
    /// `-A`.
    pub shutdown_command: bool,
    /// `-P`.
    pub pidfile: Option<PathBuf>,
    /// `-o idle_timeout=N`: close connections idle this many seconds (0 = never).
    pub idle_timeout: u32,
    /// The TCP port as given (for `stats settings`).
    pub tcp_port: u16,
    /// `-o slab_page_size=N`: bytes per slab page (a power of two).
    pub slab_page_size: usize,
    /// `-o slab_automove=0|1|2`.
    pub slab_automove: u8,
    /// `-o track_sizes`: histogram for `stats sizes`.
    pub track_sizes: bool,
    /// `-o no_lru_crawler` turns the expired-item crawler off.
    pub lru_crawler: bool,
    /// `-o cluster_nodes=PATH`: the node file auto-discovery serves
    /// (`config get cluster`); none: `config` is an unknown command.
    pub cluster_nodes: Option<PathBuf>,
    /// `-o cluster_dns=NAME[:PORT]`: the DNS name whose A/AAAA (or, for
    /// `_service._proto.` names, SRV) records are the node list.
    pub cluster_dns: Option<String>,
    /// `-o cluster_dns_server=ADDR:PORT`: the DNS server asked; none: the
    /// first `nameserver` of /etc/resolv.conf.
    pub cluster_dns_server: Option<std::net::SocketAddr>,
    /// `-o cluster_dns_interval=SECONDS`: how often the name is resolved
    /// again (default 5).
    pub cluster_dns_interval: u32,
    /// `-o cluster_admin`: serve `config set cluster` and `config delete
    /// cluster` (refused as unknown commands otherwise).
    pub cluster_admin: bool,
    /// `-o cluster_state=PATH`: the file the node list's version (and a
    /// `config set` list) is kept in across restarts.
    pub cluster_state: Option<PathBuf>,
    /// `-l` as given, comma separated (`stats settings` shows it as `inter`).
    pub inter: String,
    /// `-d`: fork into the background.
    pub daemonize: bool,
    /// `-u`: the user to become after binding, when started as root.
    pub user: Option<String>,
    /// `-k`: mlockall.
    pub lock_memory: bool,
    /// `-r`: raise the core file limit.
    pub core_dumps: bool,
    /// `-D`: the byte ending a key's prefix for `stats detail` (`:`).
    pub prefix_delimiter: u8,
    /// `stats detail` recording from the start (`-D` turns it on, as in memcached).
    pub detail_enabled: bool,
    /// `-o metrics_listen=ADDR:PORT`: serve `GET /metrics` there (off: `None`).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `-o hotkeys=N`: track the N hottest keys (0: off).
    pub hotkeys: usize,
    /// Lines to log at start-up about options that are accepted but have
    /// no effect (or are already so).
    pub notices: Vec<Notice>,
    /// `-B`, settled with `-S` and `-Y` as memcached settles them.
    pub protocol: BindingProtocol,
    /// `-S`, `-Y`.
    pub auth: AuthSettings,
    /// `-Z` and the `-o ssl_*` keys.
    pub ssl: SslSettings,
}

/// What the command line asks the process to do.
#[derive(Debug)]
pub enum Invocation {
    /// Run the daemon with these settings.
    Run(Box<Settings>),
    /// Print this text on stdout and exit 0 (`-h`, `-V`, `-i`).
    Print(String),
}

impl Default for Settings {
    fn default() -> Self {
        match Settings::parse_from(["ferrocache"]) {
            Ok(Invocation::Run(s)) => *s,
            _ => unreachable!("defaults are valid"),
        }
    }
}

impl Settings {
    /// Parses and validates a command line; `Err` is one line for stderr.
    pub fn parse_from<I, T>(args: I) -> Result<Invocation, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = match Cli::try_parse_from(args) {
            Ok(cli) => cli,
            Err(e) => {
                use clap::error::ErrorKind;
                return match e.kind() {
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                        Ok(Invocation::Print(e.render().to_string()))
                    }
                    _ => Err(first_line(&e.render().to_string())),
                };
            }
        };
        if cli.version {
            return Ok(Invocation::Print(format!(
                "ferrocache {} (memcached {} compatible)\n",
                env!("CARGO_PKG_VERSION"),
                crate::MEMCACHED_VERSION
            )));
        }
        if cli.license {
            return Ok(Invocation::Print(format!(
                "ferrocache {}: {} license\n",
                env!("CARGO_PKG_VERSION"),
                env!("CARGO_PKG_LICENSE")
            )));
        }
        Self::from_cli(cli).map(|s| Invocation::Run(Box::new(s)))
    }

    fn from_cli(cli: Cli) -> Result<Settings, String> {
        refuse_missing_features(&cli)?;
        let auth = AuthSettings {
            sasl: cli.sasl,
            auth_file: cli.auth_file.clone(),
        };
        let protocol = protocols::resolve(cli.protocol.as_deref(), &auth)?;
        if cli.growth_factor <= 1.0 || !cli.growth_factor.is_finite() {
            return Err("Factor must be greater than 1".into());
        }
        let item_size_max = cli.max_item_size as usize;
        if item_size_max < MIN_ITEM_SIZE_MAX {
            return Err("Item max size cannot be less than 1024 bytes.".into());
        }
        if item_size_max > MAX_ITEM_SIZE_MAX {
            return Err("Cannot set item size limit higher than 1 GB.".into());
        }
        let max_bytes = (cli.memory_limit as usize).saturating_mul(1024 * 1024);
        if item_size_max > max_bytes / 2 {
            return Err("Cannot set item size limit higher than 1/2 of memory max.".into());
        }
        let listen = match cli.unix_socket {
            Some(path) => {
                let mask = u32::from_str_radix(&cli.unix_mask, 8)
                    .ok()
                    .filter(|m| *m <= 0o777)
                    .ok_or_else(|| {
                        format!("Invalid -a mask {:?}: give octal like 0700", cli.unix_mask)
                    })?;
                Listen::Unix(path, mask)
            }
            None => Listen::Tcp(listen::parse(&cli.listen, cli.port)?),
        };
        let mut notices = Vec::new();
        let prefix_delimiter = match &cli.delimiter {
            None => b':',
            Some(d) => prefix_delimiter(d, &mut notices)?,
        };
        if cli.large_pages {
            notices.push(Notice::warn("-L: no effect here: slab pages are allocated on demand, and the kernel's transparent huge page setting applies to them"));
        }
        if let Some(n) = cli.napi_ids {
            notices.push(Notice::warn(format!(
                "-N {n}: no effect here: connections are not grouped by NAPI id"
            )));
        }
        let mut settings = Settings {
            protocol,
            auth,
            listen,
            max_bytes,
            disable_evictions: cli.disable_evictions,
            max_conns: cli.conn_limit as usize,
            verbose: cli.verbose,
            growth_factor: cli.growth_factor,
            chunk_size: cli.slab_min_size as usize,
            threads: cli.threads as usize,
            reqs_per_event: cli.reqs_per_event as usize,
            use_cas: !cli.disable_cas,
            backlog: cli.backlog,
            item_size_max,
            flush_enabled: !cli.disable_flush_all,
            dump_enabled: !cli.disable_dumping,
            watch_enabled: !cli.disable_watch,
            shutdown_command: cli.enable_shutdown,
            pidfile: cli.pidfile,
            idle_timeout: 0,
            tcp_port: cli.port,
            slab_page_size: DEFAULT_SLAB_PAGE_SIZE,
            slab_automove: DEFAULT_SLAB_AUTOMOVE,
            track_sizes: false,
            lru_crawler: true,
            cluster_nodes: None,
            cluster_dns: None,
            cluster_dns_server: None,
            cluster_dns_interval: 5,
            cluster_admin: false,
            cluster_state: None,
            inter: cli.listen.join(","),
            daemonize: cli.daemon,
            user: cli.user,
            lock_memory: cli.lock_memory,
            core_dumps: cli.enable_coredumps,
            prefix_delimiter,
            detail_enabled: cli.delimiter.is_some(),
            metrics_listen: None,
            hotkeys: 0,
            notices,
            ssl: SslSettings {
                enabled: cli.ssl,
                ..SslSettings::default()
            },
        };
        for option in cli.extended.iter().flat_map(|o| o.split(',')) {
            extended::apply(&mut settings, option)?;
        }
        ssl::finish(&settings.ssl, &mut settings.notices)?;
        // Item handles are 32 bits: page number and offset / 8.
        let max_pages = (1usize << (32 - (settings.slab_page_size / 8).trailing_zeros())) - 1;
        if settings.max_bytes / settings.slab_page_size > max_pages {
            return Err(format!(
                "-m {} MB is more than the {} MB that 32-bit item handles address",
                settings.max_bytes >> 20,
                (max_pages * settings.slab_page_size) >> 20
            ));
        }
        Ok(settings)
    }
}

/// Flags whose feature ferrocache does not have: one line, exit 64.
fn refuse_missing_features(cli: &Cli) -> Result<(), String> {
    let missing = if cli.udp_port != 0 {
        "-U: UDP is not implemented: use -U 0 (memcached's default since 1.5.6)"
    } else if cli.memory_file.is_some() {
        "-e: the restartable cache (memory file) is not implemented"
    } else {
        return Ok(());
    };
    Err(missing.into())
}

/// `-D`: memcached uses the first character; so does ferrocache, saying so
/// when more were given. Keys are bytes, so it must be one ASCII character.
fn prefix_delimiter(d: &str, notices: &mut Vec<Notice>) -> Result<u8, String> {
    let first = d.chars().next().ok_or("No delimiter specified (-D)")?;
    if !first.is_ascii() || first.is_ascii_whitespace() || first.is_ascii_control() {
        return Err(format!(
            "-D {d:?}: the delimiter must be one printable ASCII character"
        ));
    }
    if d.len() > 1 {
        notices.push(Notice::warn(format!(
            "-D {d:?}: only the first character, {first:?}, is used (as memcached does)"
        )));
    }
    Ok(first as u8)
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments")
        .to_string()
}

/// `-m`: megabytes, optionally with a k/m/g/t unit as memcached 1.6 accepts.
fn parse_megabytes(s: &str) -> Result<u64, String> {
    let bytes = parse_size_with_default_unit(s, 1024 * 1024)?;
    let mb = bytes / (1024 * 1024);
    if mb == 0 {
        return Err(format!("memory limit {s:?} is below 1 megabyte"));
    }
    Ok(mb)
}

/// `-I`: bytes, with an optional k/m/g unit (memcached's "1m", "512k").
fn parse_size(s: &str) -> Result<u64, String> {
    parse_size_with_default_unit(s, 1)
}

fn parse_size_with_default_unit(s: &str, unit: u64) -> Result<u64, String> {
    let t = s.trim();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_lowercase() {
                'k' => 1u64 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                't' => 1 << 40,
                _ => return Err(format!("{s:?} is not a size (use a number with k, m or g)")),
            };
            (&t[..i], m)
        }
        _ => (t, unit),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (use a number with k, m or g)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}
