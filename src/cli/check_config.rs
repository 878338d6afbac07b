//! `madbus check-config [FILE]`: validate a network file.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::network::{self, Severity};

#[derive(clap::Args)]
pub struct CheckConfigArgs {
    /// The network file (default: the built-in data/lines.yaml).
    file: Option<PathBuf>,
}

pub fn run(args: CheckConfigArgs) -> ExitCode {
    let result = match &args.file {
        Some(path) => network::load_file(path),
        None => network::parse_str(network::DEFAULT_NETWORK_YAML, network::DEFAULT_NETWORK_NAME),
    };
    let name = args
        .file
        .as_ref()
        .map_or(network::DEFAULT_NETWORK_NAME.to_string(), |p| {
            p.display().to_string()
        });
    match result {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            println!("{name}: OK");
            print!("{}", loaded.network.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            for issue in &e.issues {
                eprintln!("{issue}");
            }
            let errors = e
                .issues
                .iter()
                .filter(|i| i.severity == Severity::Error)
                .count();
            eprintln!("{name}: {errors} error(s)");
            ExitCode::FAILURE
        }
    }
}
