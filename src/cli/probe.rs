//! `madbus probe URL`: exit 0 when `URL` answers 2xx within a few seconds. For container
//! health checks, where the image carries no curl: `madbus probe http://127.0.0.1:8080/livez`.

use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ProbeArgs {
    /// The URL to GET (default: this container's `/livez`).
    #[arg(default_value = "http://127.0.0.1:8080/livez")]
    url: String,
    /// How long to wait for the answer.
    #[arg(long, default_value = "3s")]
    timeout: crate::time::Duration,
}

pub fn run(args: ProbeArgs) -> ExitCode {
    let probed = super::block_on(
        async {
            let client = reqwest::Client::builder()
                .timeout(args.timeout.as_std().max(Duration::from_millis(100)))
                .build()?;
            let status = client.get(&args.url).send().await?.status();
            anyhow::ensure!(status.is_success(), "{} answered {status}", args.url);
            Ok(())
        },
        ExitCode::FAILURE,
    );
    match probed {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
