//! PostgreSQL, the store for deployments at scale: what only PostgreSQL
//! needs besides [`crate::Store`] itself (which runs on both engines, chosen
//! by its URL): databases made and dropped for tests and benchmarks, and
//! URLs with their password masked for messages.
//!
//! The schema lives in `migrations/postgres/`, numbered like
//! `migrations/sqlite/`, with the same tables and columns (a test compares
//! them) in PostgreSQL's types.
//!
//! Audit order: every write transaction takes `LOCK TABLE audit_frontier IN
//! EXCLUSIVE MODE` first, the equivalent of SQLite's `BEGIN IMMEDIATE`, so
//! appends are serialised and the tree has one order even with several
//! connections and several processes (readers are not blocked).

use crate::db_err;
use civitas_base::{Error, ErrorKind, Result};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// A database name safe to splice into DDL (which takes no parameters).
fn ident(name: &str) -> Result<&str> {
    if !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        Ok(name)
    } else {
        Err(Error::invalid(format!(
            "database name {name:?}: letters, digits and '_' only, at most 63"
        )))
    }
}

/// The URL without its password, for messages: the user-info before the
/// host, and any `password=` / `sslpassword=` query parameter (libpq takes
/// the password there too).
pub fn mask(url: &str) -> String {
    // User-info first, up to the last `@` (a password may hold `?`).
    let masked = match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    };
    let after = masked.find("***@").map_or(0, |i| i + 4);
    let (base, query) = match masked[after..].find('?') {
        Some(q) => (&masked[..after + q], Some(&masked[after + q + 1..])),
        None => (masked.as_str(), None),
    };
    let mut out = base.to_owned();
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod mask_tests {
    use super::mask;

    #[test]
    fn passwords_are_masked_wherever_libpq_takes_them() {
        assert_eq!(
            mask("postgres://civ:p@ss@db:5432/civitas"),
            "postgres://***@db:5432/civitas"
        );
        assert_eq!(
            mask("postgres://db/civitas?user=civ&password=hunter2&sslmode=verify-full"),
            "postgres://db/civitas?user=civ&password=***&sslmode=verify-full"
        );
        assert_eq!(
            mask("postgres://db/c?sslpassword=k3y"),
            "postgres://db/c?sslpassword=***"
        );
        assert_eq!(mask("var/civitas.db"), "var/civitas.db");
        assert_eq!(
            mask("postgres://civ:pa?ss@db/c?sslmode=require"),
            "postgres://***@db/c?sslmode=require"
        );
    }
}

/// `url` with its database replaced by `name` (the query string kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority = base.find("://").map_or(0, |s| s + 3);
    let root = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    format!("{root}/{name}{query}")
}

/// Creates database `name` on the server at `admin_url` (tests and
/// benchmarks make one per run). `name`: letters, digits and `_` only.
pub async fn create_database(admin_url: &str, name: &str) -> Result<()> {
    admin(admin_url, &format!("CREATE DATABASE {}", ident(name)?)).await
}

/// Drops database `name` (closing its connections).
pub async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    admin(
        admin_url,
        &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name)?),
    )
    .await
}

async fn admin(admin_url: &str, sql: &str) -> Result<()> {
    let mut c = PgConnection::connect(admin_url).await.map_err(|e| {
        Error::with_source(
            ErrorKind::Unavailable,
            format!(
                "connecting to PostgreSQL at {} (is it running?)",
                mask(admin_url)
            ),
            e,
        )
    })?;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut c)
        .await
        .map_err(db_err(format!("{sql} on {}", mask(admin_url))))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            mask("postgres://civitas:s3cret@db:5432/civitas"),
            "postgres://***@db:5432/civitas"
        );
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t_1"),
            "postgres://postgres@127.0.0.1:5432/t_1"
        );
        assert_eq!(
            with_database("postgres://127.0.0.1?sslmode=disable", "t_1"),
            "postgres://127.0.0.1/t_1?sslmode=disable"
        );
        assert!(ident("a; DROP").is_err());
    }
}
