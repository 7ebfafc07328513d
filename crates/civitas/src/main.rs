//! The `civitas` command: one binary, one module per subcommand under `cmds/`.

mod cmds;
mod engine;

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
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the main job: analyse every configured camera, store and print candidates.
    Run(cmds::run::Args),
    /// Enrol a person on the face watchlist under a legal basis.
    Enroll(cmds::enroll::Args),
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
    Bench(cmds::bench::Cmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    civitas_base::logging::init("info,sqlx=warn,ort=warn", cli.log_json);
    let result = match cli.cmd {
        Cmd::Run(a) => cmds::run::main(&cli.config, a),
        Cmd::Enroll(a) => cmds::enroll::main(&cli.config, a),
        Cmd::Analyze(a) => cmds::analyze::main(&cli.config, a),
        Cmd::Candidates(a) => cmds::candidates::main(&cli.config, a),
        Cmd::Eval(c) => cmds::eval::main(&cli.config, c),
        Cmd::Models(c) => cmds::models::main(c),
        Cmd::Bench(c) => cmds::bench::main(&cli.config, c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
