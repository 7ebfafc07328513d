//! Test support shared by the store's, the API's and the binary's tests: a
//! fresh store on the engine the run asks for. `CIVITAS_TEST_STORE=postgres`
//! gives each store its own database on the PostgreSQL server at
//! `CIVITAS_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! dropped when the [`TestStore`] is; otherwise a SQLite file in a temporary
//! directory. `scripts/test` runs the store and API suites once on each.
#![doc(hidden)]

use crate::{Backend, Store, postgres};
use civitas_base::Result;
use std::sync::atomic::{AtomicU32, Ordering};

/// The server tests make their databases on.
pub fn admin_url() -> String {
    std::env::var("CIVITAS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The engine this test run asks for.
pub fn engine() -> Backend {
    match std::env::var("CIVITAS_TEST_STORE").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// A database of its own for one test; dropped (connections closed) on drop.
#[derive(Debug)]
pub struct TestStore {
    /// The store's URL (`sqlite://…` or `postgres://…`).
    pub url: String,
    /// The temporary directory (SQLite's file, and anything else the test keeps).
    pub dir: tempfile::TempDir,
    database: Option<String>,
}

impl TestStore {
    /// A fresh, empty place for a store on [`engine`]; `tag` goes into the
    /// PostgreSQL database's name (letters, digits, `_`).
    pub async fn new(tag: &str) -> Result<TestStore> {
        Self::on(engine(), tag).await
    }

    /// A fresh, empty place for a store on `backend`.
    pub async fn on(backend: Backend, tag: &str) -> Result<TestStore> {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = tempfile::tempdir().map_err(|e| {
            civitas_base::Error::with_source(
                civitas_base::ErrorKind::Unavailable,
                "making a temporary directory",
                e,
            )
        })?;
        Ok(match backend {
            Backend::Sqlite => TestStore {
                url: format!("sqlite://{}", dir.path().join("c.db").display()),
                dir,
                database: None,
            },
            Backend::Postgres => {
                let name = format!(
                    "civitas_t_{}_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed),
                    tag.chars()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .take(30)
                        .collect::<String>()
                );
                postgres::create_database(&admin_url(), &name).await?;
                TestStore {
                    url: postgres::with_database(&admin_url(), &name),
                    dir,
                    database: Some(name),
                }
            }
        })
    }

    /// The engine this store is on.
    pub fn backend(&self) -> Backend {
        if self.database.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// Opens (migrating) the store.
    pub async fn open(&self) -> Result<Store> {
        Store::connect(&self.url).await
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(name) = self.database.take() {
            // Drop may run inside a runtime: drop the database from a thread
            // of its own with its own small runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    let _ = rt.block_on(postgres::drop_database(&admin_url(), &name));
                }
            })
            .join();
        }
    }
}
