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
            print!("{}", fleet_report(&loaded.network));
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

/// Per line: the service its timetable gives and the buses it needs at its busiest (cycle
/// time over headway) against the buses listed, with a warning when short.
fn fleet_report(net: &network::Network) -> String {
    use crate::network::timetable::format_service_time;
    let mut out = String::from("timetables:\n");
    for line in &net.lines {
        let id = line.id.as_str();
        let Some(t) = &line.timetable else {
            out.push_str(&format!(
                "  {id:<6} no timetable: all day, at the headway its {} bus(es) give\n",
                line.buses.len()
            ));
            continue;
        };
        let span = |day: network::DayType| {
            let d = &t.day(day).departures[0];
            match (d.first(), d.last()) {
                (Some(a), Some(b)) => format!(
                    "{} {}-{}",
                    day.as_str(),
                    format_service_time(*a),
                    format_service_time(*b)
                ),
                _ => format!("{} none", day.as_str()),
            }
        };
        let days: Vec<String> = network::DayType::ALL.into_iter().map(span).collect();
        let has = line.buses.len() as u32;
        match crate::sim::schedule::fleet_needed(line, t) {
            Some((needed, day, at)) => {
                let headway = t.headway_at(day, at).unwrap_or(0) / 60;
                out.push_str(&format!(
                    "  {id:<6} {}; needs {needed} buses ({} {}, every {headway} min), has {has}\n",
                    days.join(", "),
                    day.as_str(),
                    format_service_time(at)
                ));
                if needed > has {
                    out.push_str(&format!(
                        "  warning: line {id} is {} bus(es) short: trips will leave late or be cancelled\n",
                        needed - has
                    ));
                }
            }
            None => out.push_str(&format!("  {id:<6} {}\n", days.join(", "))),
        }
    }
    out
}
