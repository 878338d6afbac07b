//! `madbus export`: the GTFS static feed of a network (`madbus export gtfs FILE`), or a
//! series of the local store as CSV, NDJSON or Parquet
//! (`madbus export bus_positions --from T --to T --format parquet --out FILE`).

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::Write;

use anyhow::Context;

use crate::export::{Encoder, ExportSeries, Format};
use crate::gtfs::schedule::{DEFAULT_DAYS, ServiceWindow};
use crate::query::export::ExportRequest;
use crate::time::Millis;

#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// The GTFS static feed (a zip) of the network over a window of service days.
    Gtfs(GtfsArgs),
    /// Bus positions (every 5 s of each bus).
    #[command(name = "bus_positions")]
    BusPositions(SeriesArgs),
    /// People waiting at each stop (every minute).
    #[command(name = "people_count")]
    PeopleCount(SeriesArgs),
    /// Temperature, humidity, CO2 and doors of buses and stops (every minute).
    Sensors(SeriesArgs),
    /// Each bus serving each stop: boarded, alighted, delay.
    #[command(name = "bus_arrivals")]
    BusArrivals(SeriesArgs),
}

#[derive(clap::Args)]
struct SeriesArgs {
    /// Start of the window (inclusive): RFC 3339 or epoch milliseconds.
    #[arg(long)]
    from: String,
    /// End of the window (inclusive).
    #[arg(long)]
    to: String,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// The file to write.
    #[arg(long)]
    out: PathBuf,
    /// Only the buses (or stops) of this line.
    #[arg(long)]
    line_id: Option<String>,
    /// Only this bus.
    #[arg(long)]
    bus_id: Option<String>,
    /// Only this stop.
    #[arg(long)]
    stop_id: Option<String>,
    #[command(flatten)]
    local: super::LocalData,
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
        What::BusPositions(a) => export_series(ExportSeries::BusPositions, a),
        What::PeopleCount(a) => export_series(ExportSeries::PeopleCount, a),
        What::Sensors(a) => export_series(ExportSeries::Sensors, a),
        What::BusArrivals(a) => export_series(ExportSeries::BusArrivals, a),
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

fn export_series(series: ExportSeries, args: SeriesArgs) -> anyhow::Result<()> {
    let time = |name: &str, v: &str| {
        Millis::parse(v).map_err(|e| anyhow::anyhow!("invalid --{name}: {e}"))
    };
    let request = ExportRequest {
        series,
        from: time("from", &args.from)?,
        to: time("to", &args.to)?,
        line_id: args.line_id,
        bus_id: args.bus_id,
        stop_id: args.stop_id,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let query = args.local.query().await?;
        let mut rows = query.export(request).map_err(|e| anyhow::anyhow!("{e}"))?;
        // Written beside the target and renamed when complete: a failed export leaves no
        // file that looks whole.
        let dir = args.out.parent().filter(|d| !d.as_os_str().is_empty());
        let part = tempfile::NamedTempFile::new_in(dir.unwrap_or(std::path::Path::new(".")))
            .with_context(|| format!("cannot create a file beside {}", args.out.display()))?;
        let mut out = std::io::BufWriter::new(part);
        let mut encoder = Encoder::new(series, args.format)?;
        let bar = indicatif::ProgressBar::new(1000).with_style(
            indicatif::ProgressStyle::with_template(
                "export [{bar:40}] {percent:>3}% {msg} (eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let mut count = 0u64;
        let write_err =
            |e: std::io::Error| anyhow::anyhow!("cannot write {}: {e}", args.out.display());
        while let Some(page) = rows.next_page().await.map_err(|e| anyhow::anyhow!("{e}"))? {
            count += page.len() as u64;
            out.write_all(&encoder.page(&page)?).map_err(write_err)?;
            bar.set_position((rows.progress() * 1000.0) as u64);
            bar.set_message(format!("{count} rows"));
        }
        out.write_all(&encoder.finish()?).map_err(write_err)?;
        let part = out.into_inner().map_err(|e| write_err(e.into_error()))?;
        part.persist(&args.out)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {}", args.out.display(), e.error))?;
        bar.finish_and_clear();
        eprintln!(
            "wrote {} ({count} rows of {}, {})",
            args.out.display(),
            series.name(),
            args.format.name()
        );
        Ok(())
    })
}
