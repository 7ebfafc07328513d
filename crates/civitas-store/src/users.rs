//! Users: creation, disabling, login (audited, timing-safe for unknown
//! names) and listing.

use crate::audit::{AuditRecord, append, bounded};
use crate::{Run, Store, db_err};
use civitas_auth::{Actor, Permission, Role};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use sqlx::Row;

/// A new password: 12 to 1024 characters.
pub fn check_new_password(p: &str) -> Result<()> {
    let n = p.chars().count();
    if !(12..=1024).contains(&n) {
        return Err(Error::invalid(format!(
            "field `new_password`: {n} characters; a password has 12 to 1024"
        )));
    }
    Ok(())
}

/// A user as an administrator lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub username: String,
    pub role: Role,
    /// The cameras the user may see (`*`: all).
    pub scope: Vec<String>,
    pub disabled: bool,
}

pub(crate) fn forbid(user: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        format!("user {:?}: {what}", bounded(user, 64)),
    )
}

impl Store {
    pub async fn user_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM app_user")
            .one(&self.pool, "counting users")
            .await?
            .get("n"))
    }

    /// Adds a user. `by` is the acting administrator (`None` only for the first user, at init).
    pub async fn add_user(
        &self,
        by: Option<&Actor>,
        username: &str,
        role: Role,
        scope: &[String],
        password_hash: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let creator = match by {
            Some(a) => {
                a.require(Permission::ManageUsers)?;
                a.username.clone()
            }
            None => {
                if self.user_count().await? > 0 {
                    return Err(forbid(
                        username,
                        "only an administrator can add users once the first exists",
                    ));
                }
                "system:init".into()
            }
        };
        if username.trim().is_empty() || username.contains(char::is_whitespace) {
            return Err(Error::invalid(format!(
                "field `username`: {username:?} must be one word"
            )));
        }
        let scope = if scope.is_empty() {
            vec!["*".to_string()]
        } else {
            scope.to_vec()
        };
        let mut tx = self.begin_immediate().await?;
        let id: i64 = sqlx::query("INSERT INTO app_user (username, password_hash, role, scope_json, created_at_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(username)
            .bind(password_hash)
            .bind(role.name())
            .bind(serde_json::to_string(&scope).unwrap_or_default())
            .bind(now.0)
            .one(&mut *tx, format!("adding user {username:?}")).await?
            .get("id");
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&creator, "user.add", format!("user:{username}"))
                .details(serde_json::json!({"role": role.name(), "scope": scope})),
        )
        .await?;
        tx.commit()
            .await
            .map_err(db_err("committing the new user"))?;
        Ok(id)
    }

    pub async fn disable_user(
        &self,
        by: &Actor,
        username: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        by.require(Permission::ManageUsers)?;
        let mut tx = self.begin_immediate().await?;
        let n = sqlx::query("UPDATE app_user SET disabled = 1 WHERE username = $1")
            .bind(username)
            .run(&mut *tx, "disabling user")
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::not_found(format!(
                "user {username:?} does not exist"
            )));
        }
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&by.username, "user.disable", format!("user:{username}")).why(reason),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }

    /// Checks a password; every attempt, failed or not, is audited.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        now: Timestamp,
    ) -> Result<Actor> {
        let (checked, outcome) = self.check_credentials(username, password).await?;
        self.audit(now, AuditRecord::login(username, outcome))
            .await?;
        checked
    }

    /// Checks a user name and password **without** auditing (the caller
    /// audits: `authenticate`, or `audit verify`, which must check the log
    /// before it writes to it). Returns the outcome (`ok`, `bad credentials`,
    /// `user disabled`) beside the actor or the refusal. The same Argon2 work
    /// is done for an unknown name, on the blocking pool.
    pub async fn check_credentials(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(Result<Actor>, &'static str)> {
        let row = sqlx::query(
            "SELECT password_hash, role, scope_json, disabled FROM app_user WHERE username = $1",
        )
        .bind(username)
        .optional(&self.pool, "reading users")
        .await?;
        let phc: Option<String> = row.as_ref().map(|r| r.get("password_hash"));
        // At most as many Argon2 checks at once as there are cores: each
        // holds ~19 MiB, and the blocking pool would otherwise run hundreds.
        static CHECKS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
        let _permit = CHECKS
            .get_or_init(|| {
                tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                )
            })
            .acquire()
            .await
            .map_err(|e| Error::internal(format!("password check queue: {e}")))?;
        let pw = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            civitas_auth::verify_password_or_dummy(&pw, phc.as_deref())
        })
        .await
        .map_err(|e| Error::internal(format!("checking a password: {e}")))?;
        let disabled = row
            .as_ref()
            .is_some_and(|r| r.get::<i64, _>("disabled") != 0);
        let outcome = if !ok {
            "bad credentials"
        } else if disabled {
            "user disabled"
        } else {
            "ok"
        };
        let checked = match (row, outcome) {
            (Some(r), "ok") => Ok(Actor {
                username: username.to_owned(),
                role: Role::parse(&r.get::<String, _>("role"))?,
                scope: serde_json::from_str(&r.get::<String, _>("scope_json")).unwrap_or_default(),
            }),
            (_, "user disabled") => Err(forbid(username, "this user is disabled")),
            _ => Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "login as {:?} failed: wrong user name or password",
                    bounded(username, 64)
                ),
            )),
        };
        Ok((checked, outcome))
    }

    /// A user changes their own password: the current one is checked (the
    /// same Argon2 work as a login), the new one must differ and be 12 to
    /// 1024 characters. Audited either way (`user.password.change`, with the
    /// outcome; never the passwords). Sessions started before the change
    /// end ([`Store::session_refusal`]).
    pub async fn change_password(
        &self,
        username: &str,
        current: &str,
        new: &str,
        now: Timestamp,
    ) -> Result<()> {
        check_new_password(new)?;
        if new == current {
            return Err(Error::invalid(
                "field `new_password`: it must differ from the current one",
            ));
        }
        let (checked, outcome) = self.check_credentials(username, current).await?;
        let record = |outcome: &str| {
            AuditRecord::new(username, "user.password.change", format!("user:{username}"))
                .details(serde_json::json!({"outcome": outcome}))
        };
        if let Err(e) = checked {
            self.audit(now, record(outcome)).await?;
            return Err(match outcome {
                "bad credentials" => Error::new(
                    ErrorKind::PermissionDenied,
                    "field `current_password`: wrong password; nothing was changed",
                ),
                _ => e,
            });
        }
        let hash = civitas_auth::hash_password(new)?;
        self.set_password(username, &hash, now, record("changed"))
            .await
    }

    /// An administrator sets a user's password (a forgotten one, or one
    /// that may be known to someone else). Audited as `user.password.reset`;
    /// the user's sessions end.
    pub async fn reset_password(
        &self,
        by: &Actor,
        username: &str,
        new_hash: &str,
        now: Timestamp,
    ) -> Result<()> {
        by.require(Permission::ManageUsers)?;
        let record = AuditRecord::new(
            &by.username,
            "user.password.reset",
            format!("user:{username}"),
        );
        self.set_password(username, new_hash, now, record).await
    }

    async fn set_password(
        &self,
        username: &str,
        hash: &str,
        now: Timestamp,
        record: AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_immediate().await?;
        let n = sqlx::query(
            "UPDATE app_user SET password_hash = $1, password_changed_at_ms = $2 WHERE username = $3",
        )
        .bind(hash)
        .bind(now.0)
        .bind(username)
        .run(&mut *tx, "storing the password")
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::not_found(format!(
                "user {:?} does not exist",
                bounded(username, 64)
            )));
        }
        append(&mut tx, self.key()?, now, &record).await?;
        tx.commit().await.map_err(db_err("committing the password"))
    }

    /// Why a console session of `username` started at `started` no longer
    /// holds, if it does not: the user is gone or disabled, or their
    /// password changed after the session began.
    pub async fn session_refusal(
        &self,
        username: &str,
        started: Timestamp,
    ) -> Result<Option<&'static str>> {
        let row = sqlx::query(
            "SELECT disabled, password_changed_at_ms FROM app_user WHERE username = $1",
        )
        .bind(username)
        .optional(&self.pool, "reading users")
        .await?;
        Ok(match row {
            None => Some("no longer exists"),
            Some(r) if r.get::<i64, _>("disabled") != 0 => Some("is disabled"),
            Some(r)
                if r.get::<Option<i64>, _>("password_changed_at_ms")
                    .is_some_and(|at| at > started.0) =>
            {
                Some("changed password after this session began")
            }
            Some(_) => None,
        })
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query(
            "SELECT username, role, scope_json, disabled FROM app_user ORDER BY username",
        )
        .all(&self.pool, "listing users")
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UserRecord {
                    username: r.get("username"),
                    role: Role::parse(&r.get::<String, _>("role"))?,
                    scope: serde_json::from_str(&r.get::<String, _>("scope_json")).map_err(
                        |e| Error::new(ErrorKind::DataLoss, format!("app_user scope_json: {e}")),
                    )?,
                    disabled: r.get::<i64, _>("disabled") != 0,
                })
            })
            .collect()
    }
}
