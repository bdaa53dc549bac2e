//! Credentials: a loaded `user:password` file ([`Credentials`]) that
//! answers "is this the password of this user?" in constant time, and the
//! handle sessions share ([`SharedCredentials`]), which SIGHUP reloads
//! atomically.
//!
//! **Constant time.** A check hashes the user and password given
//! (SHA-256: time depends on their lengths only, which the client chose)
//! and compares the digests with every entry's, all of them, with
//! `subtle`'s comparisons, folding the results without a branch. So the
//! time does not depend on the stored passwords (not even their lengths),
//! on which entry matched, or on whether the user exists at all; with no
//! entries, a fixed dummy is compared instead. memcached's SASL password
//! database check stopped at the first line naming the user and compared
//! with `memcmp` (CVE-2026-47783); `regression_` tests in
//! `src/auth/tests/credentials.rs` pin both.
//!
//! **SCRAM.** SCRAM-SHA-256 needs keys derived from each password
//! (PBKDF2, [`SCRAM_ITERATIONS`] rounds). They are derived once per
//! loaded file, for every user at once, the first time they are asked for
//! or when [`Credentials::prepare_scram`] is called (the reload path does
//! it before swapping, so no session waits). An unknown user gets keys and
//! a salt derived from a per-load random secret and the name, computed the
//! same way as a known user's salt, so the server's first message does not
//! tell whether a user exists.

use super::file::{self, Format};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// PBKDF2 rounds for SCRAM-SHA-256 keys (RFC 7677's minimum, and what
/// Cyrus SASL uses by default).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// The largest credentials file read; a larger one is refused (a file of
/// `user:password` lines has no reason to be this large, and `-Y
/// /dev/zero` must not read forever).
pub const MAX_FILE_LEN: u64 = 16 * 1024 * 1024;

type Digest32 = [u8; 32];

/// Why a credentials file could not be loaded. Its `Display` is one line.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be opened (missing, no permission, …).
    Open {
        /// Which kind of file.
        format: Format,
        /// Its path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file opened but could not be read (a directory, an I/O error).
    Read {
        /// Which kind of file.
        format: Format,
        /// Its path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file is larger than [`MAX_FILE_LEN`].
    TooLarge {
        /// Which kind of file.
        format: Format,
        /// Its path.
        path: PathBuf,
    },
    /// A line is not `user:password` (authfile only; see [`Format`]).
    Malformed {
        /// Which kind of file.
        format: Format,
        /// Its path, when it was read from a file.
        path: Option<PathBuf>,
        /// The line, counting from 1.
        line: usize,
    },
    /// The system gave no random bytes for the SCRAM salts.
    Random(getrandom::Error),
    /// [`SharedCredentials::reload`] on a handle made from credentials in
    /// memory: there is no file to read again.
    NoFile,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Open {
                format,
                path,
                source,
            } => write!(
                f,
                "could not open {} {}: {source}",
                format.describe(),
                path.display()
            ),
            LoadError::Read {
                format,
                path,
                source,
            } => write!(
                f,
                "could not read {} {}: {source}",
                format.describe(),
                path.display()
            ),
            LoadError::TooLarge { format, path } => write!(
                f,
                "{} {} is larger than {MAX_FILE_LEN} bytes",
                format.describe(),
                path.display()
            ),
            LoadError::Malformed { format, path, line } => {
                let malformed = file::Malformed { line: *line };
                match path {
                    Some(p) => write!(f, "{} {}: {malformed}", format.describe(), p.display()),
                    None => write!(f, "{}: {malformed}", format.describe()),
                }
            }
            LoadError::Random(e) => write!(f, "no random bytes for the SCRAM salts: {e}"),
            LoadError::NoFile => write!(f, "these credentials were not read from a file"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Open { source, .. } | LoadError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A user's SCRAM-SHA-256 secrets: what the server needs to verify a
/// client's proof without the password.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ScramSecret {
    /// PBKDF2 rounds ([`SCRAM_ITERATIONS`]).
    pub iterations: u32,
    /// The salt sent to the client.
    pub salt: [u8; 16],
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: [u8; 32],
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: [u8; 32],
}

impl fmt::Debug for ScramSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramSecret(..)")
    }
}

/// One user's SCRAM keys, keyed by the digest of the user's name.
struct ScramEntry {
    user: Digest32,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

/// A loaded credentials file. Holds digests, not passwords, except the
/// users' first passwords until the SCRAM keys are derived from them.
pub struct Credentials {
    format: Format,
    users: usize,
    /// (user digest, password digest) for every password accepted.
    pairs: Vec<(Digest32, Digest32)>,
    warnings: Vec<String>,
    /// Per-load random secret: SCRAM salts, and unknown users' keys.
    secret: [u8; 32],
    /// Each user's first password, for the SCRAM keys, dropped once they
    /// are derived.
    scram_input: std::sync::Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
    scram: OnceLock<Vec<ScramEntry>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("format", &self.format)
            .field("users", &self.users)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

fn sha256(parts: &[&[u8]]) -> Digest32 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn digest_user(user: &[u8]) -> Digest32 {
    sha256(&[b"user\0", user])
}

fn digest_password(password: &[u8]) -> Digest32 {
    sha256(&[b"password\0", password])
}

#[cfg(test)]
thread_local! {
    /// Entries compared by this thread's checks and SCRAM look-ups: the
    /// tests show that every one is compared, whatever the answer.
    pub(crate) static COMPARED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Compared against when there are no entries, so a check always does the
/// work of one comparison at least.
const DUMMY: (Digest32, Digest32) = ([0x5a; 32], [0xa5; 32]);

impl Credentials {
    /// Reads credentials from `data` in `format` (see [`Format`] for what
    /// each accepts). Warnings about skipped or cut lines are in
    /// [`Credentials::warnings`].
    pub fn parse(data: &[u8], format: Format) -> Result<Credentials, LoadError> {
        Self::parse_inner(data, format, None)
    }

    /// Reads the file at `path` in `format`.
    pub fn load(path: &Path, format: Format) -> Result<Credentials, LoadError> {
        let f = std::fs::File::open(path).map_err(|source| LoadError::Open {
            format,
            path: path.to_path_buf(),
            source,
        })?;
        let mut data = Vec::new();
        f.take(MAX_FILE_LEN + 1)
            .read_to_end(&mut data)
            .map_err(|source| LoadError::Read {
                format,
                path: path.to_path_buf(),
                source,
            })?;
        if data.len() as u64 > MAX_FILE_LEN {
            return Err(LoadError::TooLarge {
                format,
                path: path.to_path_buf(),
            });
        }
        Self::parse_inner(&data, format, Some(path))
    }

    fn parse_inner(
        data: &[u8],
        format: Format,
        path: Option<&Path>,
    ) -> Result<Credentials, LoadError> {
        let parsed = file::parse(data, format).map_err(|m| LoadError::Malformed {
            format,
            path: path.map(Path::to_path_buf),
            line: m.line,
        })?;
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(LoadError::Random)?;
        let mut pairs = Vec::new();
        let mut scram_input: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut scram_users = std::collections::HashSet::new();
        for entry in &parsed.entries {
            let user = digest_user(&entry.user);
            for p in &entry.passwords {
                pairs.push((user, digest_password(p)));
            }
            // SCRAM knows one password per user: the first line's first.
            if let Some(p) = entry.passwords.first() {
                if scram_users.insert(entry.user.as_slice()) {
                    scram_input.push((entry.user.clone(), p.clone()));
                }
            }
        }
        Ok(Credentials {
            format,
            users: parsed.entries.len(),
            pairs,
            warnings: parsed.warnings,
            secret,
            scram_input: std::sync::Mutex::new(scram_input),
            scram: OnceLock::new(),
        })
    }

    /// The format the credentials were read in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// How many entries (lines with a user) were loaded.
    pub fn len(&self) -> usize {
        self.users
    }

    /// Whether no entry was loaded (nobody can authenticate).
    pub fn is_empty(&self) -> bool {
        self.users == 0
    }

    /// How many (user, password) pairs a check compares.
    #[cfg(test)]
    pub(crate) fn pairs(&self) -> usize {
        self.pairs.len()
    }

    /// What the file held that memcached skips or cuts silently, one line
    /// each, for the log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Whether `password` is a password of `user`, in constant time (see
    /// the module documentation): every entry is compared, whatever the
    /// answer.
    pub fn check(&self, user: &[u8], password: &[u8]) -> bool {
        let u = digest_user(user);
        let p = digest_password(password);
        let pairs: &[(Digest32, Digest32)] = if self.pairs.is_empty() {
            std::slice::from_ref(&DUMMY)
        } else {
            &self.pairs
        };
        let mut found = Choice::from(0);
        for (eu, ep) in pairs {
            #[cfg(test)]
            COMPARED.with(|c| c.set(c.get() + 1));
            found |= u.ct_eq(eu) & p.ct_eq(ep);
        }
        // black_box: the dummy's comparison is not optimised away for
        // being unused. (The dummy cannot match: no known input has those
        // digests, and an empty file accepts nobody anyway.)
        let found = bool::from(std::hint::black_box(found));
        found && !self.pairs.is_empty()
    }

    /// Derives every user's SCRAM-SHA-256 keys now, if not done yet (a
    /// PBKDF2 of [`SCRAM_ITERATIONS`] rounds per user).
    pub fn prepare_scram(&self) {
        self.scram_table();
    }

    fn scram_table(&self) -> &[ScramEntry] {
        self.scram.get_or_init(|| {
            let input = std::mem::take(
                &mut *self
                    .scram_input
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            input
                .iter()
                .map(|(user, password)| {
                    let salt = self.scram_salt(user);
                    let mut salted = sha2::digest::Output::<Sha256>::default();
                    rsasl::mechanisms::scram::tools::hash_password::<Sha256>(
                        password,
                        SCRAM_ITERATIONS,
                        &salt,
                        &mut salted,
                    );
                    let (client_key, server_key) =
                        rsasl::mechanisms::scram::tools::derive_keys::<Sha256>(&salted);
                    ScramEntry {
                        user: digest_user(user),
                        stored_key: Sha256::digest(client_key).into(),
                        server_key: server_key.into(),
                    }
                })
                .collect()
        })
    }

    fn scram_salt(&self, user: &[u8]) -> [u8; 16] {
        let d = sha256(&[b"scram salt\0", &self.secret, user]);
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&d[..16]);
        salt
    }

    /// The SCRAM-SHA-256 secrets for `user`: the user's, or, for a user
    /// with no entry, keys no password produces and a salt made as a real
    /// user's is. Looked up in constant time over every user.
    pub fn scram_secret(&self, user: &[u8]) -> ScramSecret {
        let table = self.scram_table();
        let u = digest_user(user);
        let mut secret = ScramSecret {
            iterations: SCRAM_ITERATIONS,
            salt: self.scram_salt(user),
            stored_key: sha256(&[b"scram unknown stored\0", &self.secret, user]),
            server_key: sha256(&[b"scram unknown server\0", &self.secret, user]),
        };
        for e in table {
            #[cfg(test)]
            COMPARED.with(|c| c.set(c.get() + 1));
            let this = u.ct_eq(&e.user);
            for (out, k) in secret.stored_key.iter_mut().zip(&e.stored_key) {
                out.conditional_assign(k, this);
            }
            for (out, k) in secret.server_key.iter_mut().zip(&e.server_key) {
                out.conditional_assign(k, this);
            }
        }
        secret
    }
}

/// The credentials every session reads, swapped whole by a reload. Clones
/// share one set. A session takes the current set with
/// [`SharedCredentials::current`] (a read lock held just long enough to
/// clone an `Arc`) and keeps it for the exchange it is in; a reload reads
/// and parses the new file first and swaps only when that worked.
#[derive(Clone, Debug)]
pub struct SharedCredentials {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    source: Option<(PathBuf, Format)>,
    current: RwLock<Arc<Credentials>>,
    /// Set once a SASL server offers SCRAM: reloads then derive the SCRAM
    /// keys before swapping.
    scram: AtomicBool,
}

impl SharedCredentials {
    /// Loads the file at `path` in `format`; [`SharedCredentials::reload`]
    /// reads the same file again.
    pub fn open(path: impl Into<PathBuf>, format: Format) -> Result<SharedCredentials, LoadError> {
        let path = path.into();
        let credentials = Credentials::load(&path, format)?;
        Ok(SharedCredentials {
            inner: Arc::new(Shared {
                source: Some((path, format)),
                current: RwLock::new(Arc::new(credentials)),
                scram: AtomicBool::new(false),
            }),
        })
    }

    /// Shares credentials that were not read from a file (tests, or a
    /// caller reading the file itself); [`SharedCredentials::reload`] then
    /// answers [`LoadError::NoFile`], and [`SharedCredentials::replace`]
    /// swaps in new ones.
    pub fn new(credentials: Credentials) -> SharedCredentials {
        SharedCredentials {
            inner: Arc::new(Shared {
                source: None,
                current: RwLock::new(Arc::new(credentials)),
                scram: AtomicBool::new(false),
            }),
        }
    }

    /// The file this handle reloads, if any.
    pub fn path(&self) -> Option<&Path> {
        self.inner.source.as_ref().map(|(p, _)| p.as_path())
    }

    /// The credentials in force now.
    pub fn current(&self) -> Arc<Credentials> {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the file again and, if it loads, puts it in force and returns
    /// it; otherwise the credentials in force stay and the error is
    /// returned (memcached keeps its old authfile on a failed reload too).
    pub fn reload(&self) -> Result<Arc<Credentials>, LoadError> {
        let (path, format) = self.inner.source.as_ref().ok_or(LoadError::NoFile)?;
        let credentials = Credentials::load(path, *format)?;
        Ok(self.replace(credentials))
    }

    /// Puts `credentials` in force and returns them.
    pub fn replace(&self, credentials: Credentials) -> Arc<Credentials> {
        if self.inner.scram.load(Ordering::Acquire) {
            credentials.prepare_scram();
        }
        let new = Arc::new(credentials);
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = new.clone();
        new
    }

    /// From now on, derives SCRAM keys before credentials are put in force
    /// (and now, for those in force). The SASL server calls this when it
    /// offers SCRAM-SHA-256.
    pub fn prepare_scram(&self) {
        self.inner.scram.store(true, Ordering::Release);
        self.current().prepare_scram();
    }
}
