//! The `civitas` command: one binary, one module per subcommand under `cmds/`.

mod cmds;
mod session;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "civitas",
    version,
    about = "Open, accountable camera analysis: watchlists with a legal basis, humans in the loop"
)]
struct Cli {
    /// Configuration file (TOML). Defaults apply when it does not exist.
    #[arg(
        long,
        global = true,
        default_value = "civitas.toml",
        env = "CIVITAS_CONFIG"
    )]
    config: PathBuf,
    /// Log as JSON lines on stderr.
    #[arg(long, global = true)]
    log_json: bool,
    /// The person acting (password in CIVITAS_PASSWORD or the file CIVITAS_PASSWORD_FILE).
    #[arg(long, global = true, env = "CIVITAS_USER")]
    user: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create the database, the audit signing key and the first administrator.
    Init(cmds::admin::InitArgs),
    /// Manage users (administrators).
    #[command(subcommand)]
    User(cmds::admin::UserCmd),
    /// Confirm or reject candidates.
    #[command(subcommand)]
    Review(cmds::review::Cmd),
    /// Legal bases: refuse one after urgent use (deletes everything derived from it).
    #[command(subcommand)]
    Basis(cmds::review::BasisCmd),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(cmds::audit::Cmd),
    /// Retention sweeps and legal holds.
    #[command(subcommand)]
    Retention(cmds::retention::Cmd),
    /// Evidence bundles: export a confirmed match's case with bystanders blurred; verify one offline.
    #[command(subcommand)]
    Evidence(cmds::evidence::Cmd),
    /// Write the transparency report (JSON and a self-contained HTML page).
    Report(cmds::report::Args),
    /// Bearer tokens for machines (Prometheus, integrations).
    #[command(subcommand)]
    Token(cmds::token::Cmd),
    /// Cameras: make a snapshot-push token.
    #[command(subcommand)]
    Camera(cmds::camera::Cmd),
    /// Run the main job: analyse every configured camera, store and print candidates.
    Run(cmds::run::Args),
    /// At scale: a stateless analysis worker; analyses the cameras it owns
    /// (shared among workers by leases over NATS) and publishes results on NATS JetStream.
    Worker(cmds::worker::Args),
    /// At scale: the NATS server's permissions for workers and serve.
    #[command(subcommand)]
    Bus(cmds::bus::Cmd),
    /// At scale: the command centre and the single store writer, fed by the
    /// workers over NATS JetStream.
    Serve(cmds::serve::Args),
    /// Enrol a person on the face watchlist under a legal basis.
    Enroll(cmds::enroll::Args),
    /// Plate hotlists: create, add a plate under a legal basis, list.
    #[command(subcommand)]
    Hotlist(cmds::plates::HotlistCmd),
    /// Stored plate reads: audited search by full or partial plate.
    #[command(subcommand)]
    Plates(cmds::plates::PlatesCmd),
    /// Analyse an image, a folder of images or a video file.
    Analyze(cmds::analyze::Args),
    /// List stored candidates.
    Candidates(cmds::candidates::Args),
    /// Accuracy evaluations.
    #[command(subcommand)]
    Eval(cmds::eval::Cmd),
    /// Model installation steps.
    #[command(subcommand)]
    Models(cmds::models::Cmd),
    /// Speed benchmarks (figures for BENCHMARKS.md).
    #[command(subcommand)]
    Bench(civitas_bench::Cmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    civitas_base::logging::init("info,sqlx=warn,ort=warn", cli.log_json);
    let result = match cli.cmd {
        Cmd::Init(a) => cmds::admin::init(&cli.config, a),
        Cmd::User(c) => cmds::admin::user(&cli.config, cli.user.as_deref(), c),
        Cmd::Review(c) => cmds::review::main(&cli.config, cli.user.as_deref(), c),
        Cmd::Basis(c) => cmds::review::basis(&cli.config, cli.user.as_deref(), c),
        Cmd::Audit(c) => cmds::audit::main(&cli.config, cli.user.as_deref(), c),
        Cmd::Retention(c) => cmds::retention::main(&cli.config, cli.user.as_deref(), c),
        Cmd::Evidence(c) => cmds::evidence::main(&cli.config, cli.user.as_deref(), c),
        Cmd::Report(a) => cmds::report::main(&cli.config, cli.user.as_deref(), a),
        Cmd::Run(a) => cmds::run::main(&cli.config, a),
        Cmd::Worker(a) => cmds::worker::main(&cli.config, a),
        Cmd::Serve(a) => cmds::serve::main(&cli.config, a),
        Cmd::Bus(c) => cmds::bus::main(&cli.config, c),
        Cmd::Camera(c) => cmds::camera::main(c),
        Cmd::Token(c) => cmds::token::main(&cli.config, cli.user.as_deref(), c),
        Cmd::Enroll(a) => cmds::enroll::main(&cli.config, cli.user.as_deref(), a),
        Cmd::Hotlist(c) => cmds::plates::hotlist(&cli.config, cli.user.as_deref(), c),
        Cmd::Plates(c) => cmds::plates::plates(&cli.config, cli.user.as_deref(), c),
        Cmd::Analyze(a) => cmds::analyze::main(&cli.config, a),
        Cmd::Candidates(a) => cmds::candidates::main(&cli.config, cli.user.as_deref(), a),
        Cmd::Eval(c) => cmds::eval::main(&cli.config, c),
        Cmd::Models(c) => cmds::models::main(c),
        Cmd::Bench(c) => civitas_bench::main(&cli.config, c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
