//! `madbus verify`: the original system's deployment checklist (SPEC §6)
//! as one command. Every check talks to a running madbus over the network, as the
//! checklist's curl and hey commands did, and reports pass or fail with what it measured;
//! a failure says what was expected and what was seen.

mod checks;
mod load;

use std::time::{Duration, Instant};

use serde::Serialize;

/// Every check: its name (for `--only` / `--skip`) and the checklist step it covers.
pub const CHECKS: [(&str, &str); 12] = [
    ("health", "Post-Deployment 4: health check"),
    ("auth-valid", "Post-Deployment 5: valid credentials"),
    ("auth-missing-key", "Post-Deployment 6: missing API key"),
    (
        "auth-missing-group",
        "Post-Deployment 6: missing group name",
    ),
    ("auth-invalid-key", "Post-Deployment 6: invalid API key"),
    ("cors", "Post-Deployment 7: CORS preflight"),
    (
        "rest-latest",
        "SPEC 6: REST latest for stops, buses, a line",
    ),
    ("history", "SPEC 6: history span"),
    ("websocket", "SPEC 6: WebSocket live feed"),
    ("mcp", "SPEC 6: MCP Streamable HTTP"),
    ("load-test", "Performance Testing 1: load test"),
    ("concurrent", "Performance Testing 2: concurrent requests"),
];

#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// The madbus root URL, e.g. `https://bus.example.org`.
    pub endpoint: String,
    pub api_key: String,
    pub group: String,
    /// The browser origin the CORS check asks for.
    pub origin: String,
    /// Load test: requests in all, and at once.
    pub requests: usize,
    pub concurrency: usize,
    pub min_history: crate::time::Duration,
    pub max_avg_latency: Duration,
    /// Checks to run (empty: all) and to leave out.
    pub only: Vec<String>,
    pub skip: Vec<String>,
    /// Show a progress bar during the load test.
    pub progress: bool,
}

impl VerifyConfig {
    /// Checks that `--only` and `--skip` name real checks.
    pub fn validate(&self) -> Result<(), String> {
        for name in self.only.iter().chain(&self.skip) {
            if !CHECKS.iter().any(|(n, _)| n == name) {
                let all: Vec<&str> = CHECKS.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown check {name:?}; the checks are {}",
                    all.join(", ")
                ));
            }
        }
        if self.requests == 0 || self.concurrency == 0 {
            return Err("--requests and --concurrency must be at least 1".into());
        }
        Ok(())
    }

    fn selected(&self, name: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|n| n == name))
            && !self.skip.iter().any(|n| n == name)
    }
}

/// Why a check failed.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    pub expected: String,
    pub seen: String,
    /// What was measured all the same, if anything.
    pub figure: String,
}

impl Failure {
    pub fn new(expected: impl Into<String>, seen: impl Into<String>) -> Self {
        Self {
            expected: expected.into(),
            seen: seen.into(),
            figure: String::new(),
        }
    }

    pub fn with_figure(mut self, figure: impl Into<String>) -> Self {
        self.figure = figure.into();
        self
    }
}

/// A check's outcome: the measured figure, or why it failed.
pub type Outcome = Result<String, Failure>;

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: &'static str,
    pub step: &'static str,
    pub passed: bool,
    pub figure: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub endpoint: String,
    pub group: String,
    pub passed: bool,
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// The checklist as text: one line a check, then a summary.
    pub fn to_text(&self) -> String {
        let mut out = format!("madbus verify {} (group {})\n", self.endpoint, self.group);
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &self.checks {
            let mark = if c.passed { "✔" } else { "✘" };
            out += &format!(" {mark} {:width$}  {}\n", c.name, c.figure);
            if !c.passed {
                out += &format!(
                    "   {:width$}  expected: {}\n",
                    "",
                    c.expected.as_deref().unwrap_or("")
                );
                out += &format!(
                    "   {:width$}  seen:     {}\n",
                    "",
                    c.seen.as_deref().unwrap_or("")
                );
            }
        }
        let failed = self.checks.iter().filter(|c| !c.passed).count();
        out += &format!(
            "{} checks: {} passed, {failed} failed\n",
            self.checks.len(),
            self.checks.len() - failed
        );
        out
    }
}

/// Runs the selected checks against `config.endpoint`, in checklist order.
pub async fn run(config: &VerifyConfig) -> Report {
    let ctx = checks::Context::new(config);
    let mut results = Vec::new();
    for (name, step) in CHECKS {
        if !config.selected(name) {
            continue;
        }
        let started = Instant::now();
        let outcome = checks::run(&ctx, name).await;
        let duration_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
        results.push(match outcome {
            Ok(figure) => CheckResult {
                name,
                step,
                passed: true,
                figure,
                expected: None,
                seen: None,
                duration_ms,
            },
            Err(f) => CheckResult {
                name,
                step,
                passed: false,
                figure: f.figure,
                expected: Some(f.expected),
                seen: Some(f.seen),
                duration_ms,
            },
        });
    }
    Report {
        endpoint: config.endpoint.clone(),
        group: config.group.clone(),
        passed: results.iter().all(|r| r.passed),
        checks: results,
    }
}
