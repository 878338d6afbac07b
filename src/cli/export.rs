//! `madbus export`: the GTFS static feed of a network (`madbus export gtfs FILE`).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::gtfs::schedule::{DEFAULT_DAYS, ServiceWindow};

#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// The GTFS static feed (a zip) of the network over a window of service days.
    Gtfs(GtfsArgs),
}

#[derive(clap::Args)]
struct GtfsArgs {
    /// The zip file to write.
    file: PathBuf,
    /// Network file (default: the built-in data/lines.yaml).
    #[arg(long, env = "MADBUS_NETWORK")]
    network: Option<PathBuf>,
    /// The first service day, YYYY-MM-DD (default: yesterday in Madrid).
    #[arg(long)]
    from: Option<String>,
    /// How many service days the feed covers (1-31).
    #[arg(long, default_value_t = DEFAULT_DAYS)]
    days: u16,
}

pub fn run(args: ExportArgs) -> ExitCode {
    let result = match args.what {
        What::Gtfs(gtfs) => export_gtfs(gtfs),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn export_gtfs(args: GtfsArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let network = crate::app::load_network(args.network.as_deref())?;
    let default = ServiceWindow::around(crate::time::Millis::now());
    let first = args.from.unwrap_or_else(|| default.first.to_string());
    let window = ServiceWindow::parse(&first, args.days).map_err(anyhow::Error::msg)?;
    let file = std::fs::File::create(&args.file)
        .with_context(|| format!("cannot create {}", args.file.display()))?;
    crate::gtfs::schedule::write_zip(&network, window, std::io::BufWriter::new(file))
        .with_context(|| format!("cannot write {}", args.file.display()))?;
    eprintln!(
        "wrote {} (GTFS, {} to {})",
        args.file.display(),
        window.first,
        window.last()
    );
    Ok(())
}
