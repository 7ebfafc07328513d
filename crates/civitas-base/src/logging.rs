//! Structured logging set-up. Logs go to stderr so stdout stays for results
//! (`--json` lines). Face templates are never logged: the types that hold them
//! do not implement `Display`, and their `Debug` prints only the dimension.

use tracing_subscriber::EnvFilter;

/// Installs a global subscriber. `RUST_LOG` overrides `default_filter`.
pub fn init(default_filter: &str, json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Colours only for a person at a terminal: a log file or journald gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
