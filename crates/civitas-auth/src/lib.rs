//! Who may do what. Four roles with explicit permission lists (no wildcard, no
//! inheritance to reason about), users scoped to cameras, and Argon2id
//! password hashes. Used by the CLI now and the HTTP API later.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use civitas_base::{Error, ErrorKind, Result};

civitas_base::wire_enum! {
    /// Something a user may be allowed to do.
    pub enum Permission ("permission") {
        /// See candidates and their images.
        ViewCandidates = "view_candidates",
        /// Confirm or reject candidates.
        Confirm = "confirm",
        /// Put people or plates on lists, under a legal basis.
        Enroll = "enroll",
        /// Mark a legal basis refused (deletes what was derived from it).
        RefuseBasis = "refuse_basis",
        /// Search stored data (forensic search, candidate lists).
        Search = "search",
        /// Export evidence.
        Export = "export",
        /// Read and verify the audit log.
        ReadAudit = "read_audit",
        /// Run retention, place and lift legal holds.
        ManageRetention = "manage_retention",
        /// Change configuration.
        ChangeConfig = "change_config",
        /// Add and disable users.
        ManageUsers = "manage_users",
        /// Produce the transparency report.
        Report = "report",
        /// See the cameras: list, health, last error, purpose, owner.
        ViewCameras = "view_cameras",
        /// Read the service's metrics (`/metrics`).
        ReadMetrics = "read_metrics",
        /// Open and run emergency incidents: dispatch units, work the procedure,
        /// view the cameras near an incident.
        Dispatch = "dispatch",
    }

    /// A role: a fixed set of permissions.
    pub enum Role ("role") {
        /// Watches cameras and reviews candidates.
        Operator = "operator",
        /// Operator, plus enrolment, search, export, holds and refusals.
        Supervisor = "supervisor",
        /// Reads the audit log and produces reports; sees no images.
        Auditor = "auditor",
        /// Manages users and configuration; reviews nothing.
        Administrator = "administrator",
    }
}

impl Role {
    /// The permissions of this role, listed explicitly.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Operator => &[ViewCandidates, Confirm, ViewCameras, Dispatch],
            Role::Supervisor => &[
                ViewCandidates,
                Confirm,
                Enroll,
                RefuseBasis,
                Search,
                Export,
                ManageRetention,
                ViewCameras,
                Dispatch,
            ],
            Role::Auditor => &[ReadAudit, Report],
            Role::Administrator => &[
                ManageUsers,
                ChangeConfig,
                ReadAudit,
                Report,
                ViewCameras,
                ReadMetrics,
            ],
        }
    }

    pub fn can(self, p: Permission) -> bool {
        self.permissions().contains(&p)
    }
}

/// An authenticated user acting now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub username: String,
    pub role: Role,
    /// Camera ids the user may act on; `*` for all.
    pub scope: Vec<String>,
}

impl Actor {
    /// Fails with a message naming the user, the role and the missing permission.
    pub fn require(&self, p: Permission) -> Result<()> {
        if self.role.can(p) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "user {:?} ({}) lacks the {} permission",
                    self.username,
                    self.role.name(),
                    p.name()
                ),
            ))
        }
    }

    pub fn covers_camera(&self, camera: &str) -> bool {
        self.scope.iter().any(|s| s == "*" || s == camera)
    }

    /// Whether the user may grant `scope` (a legal basis's cameras): every
    /// camera in it is in the user's own scope, and `*` (every camera, also
    /// those added later) only by a user whose scope is `*`.
    pub fn covers_scope(&self, scope: &[String]) -> bool {
        let all = self.scope.iter().any(|s| s == "*");
        all || scope.iter().all(|c| c != "*" && self.covers_camera(c))
    }

    /// Whether something scoped to `scope` applies to any camera the user
    /// may see (so the user may see it).
    pub fn overlaps_scope(&self, scope: &[String]) -> bool {
        let all = self.scope.iter().any(|s| s == "*");
        scope
            .iter()
            .any(|c| all || c == "*" || self.covers_camera(c))
    }
}

/// Argon2id hash in PHC string form, with a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < 12 {
        return Err(Error::invalid(
            "password: at least 12 characters are required",
        ));
    }
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw)
        .map_err(|e| Error::internal(format!("no randomness for a salt: {e}")))?;
    let salt = SaltString::encode_b64(&raw).map_err(|e| Error::internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("hashing password: {e}")))
}

/// Checks a password against a stored PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Checks `password` against the user's stored hash, or, for a user name
/// that does not exist (`None`), against a hash of a random password made
/// once per process with the same parameters: an unknown name costs the same
/// Argon2 work as a known one, so the answer's timing does not tell which
/// names exist. Blocking (tens of milliseconds): call it off async threads.
pub fn verify_password_or_dummy(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match phc {
        Some(phc) => verify_password(password, phc),
        None => {
            let dummy = DUMMY.get_or_init(|| {
                hash_password(&random_string(24)).unwrap_or_else(|_| String::new())
            });
            let _ = verify_password(password, dummy);
            false
        }
    }
}

/// `len` characters drawn from an alphabet without look-alikes (57 letters and digits).
fn random_string(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut buf = vec![0u8; len];
    getrandom::fill(&mut buf).expect("the operating system provides randomness");
    buf.iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// A random bearer token for a machine (40 characters from a 57-letter alphabet, ~233 bits).
pub fn generate_token() -> String {
    format!("civ_{}", random_string(40))
}

/// The SHA-256 of a token: what is stored and compared, never the token.
pub fn token_sha256(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.trim().as_bytes()).into()
}

/// Compares two digests in time independent of where they differ.
pub fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random password (for the first administrator and new users), 20 characters.
pub fn generate_password() -> String {
    random_string(20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_separated() {
        assert!(Role::Operator.can(Permission::Confirm));
        assert!(!Role::Operator.can(Permission::Enroll));
        assert!(
            !Role::Auditor.can(Permission::ViewCandidates),
            "auditors see no images"
        );
        assert!(
            !Role::Administrator.can(Permission::Confirm),
            "administrators review nothing"
        );
        assert!(Role::Supervisor.can(Permission::Enroll));
        let e = Actor {
            username: "ana".into(),
            role: Role::Operator,
            scope: vec!["*".into()],
        }
        .require(Permission::Enroll)
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(
            e.message()
                .contains("\"ana\" (operator) lacks the enroll permission")
        );
        assert!(
            Role::parse("root")
                .unwrap_err()
                .message()
                .contains("unknown role \"root\"")
        );
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(hash_password("short").is_err());
        assert_eq!(generate_password().len(), 20);
    }

    #[test]
    fn scope_limits_cameras() {
        let a = Actor {
            username: "b".into(),
            role: Role::Operator,
            scope: vec!["plaza-1".into()],
        };
        assert!(a.covers_camera("plaza-1") && !a.covers_camera("port-2"));
    }
}
