//! The checks, each as the checklist would run it by hand, over real HTTP, WebSocket and MCP.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use super::{Failure, Outcome, VerifyConfig, load};
use crate::mcp::remote::RemoteTools;
use crate::time::Millis;

/// What every check shares: the client, the endpoint, the credentials.
pub struct Context {
    pub http: reqwest::Client,
    pub base: String,
    pub config: VerifyConfig,
}

/// One answer: status, headers, body, time taken.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    pub took: Duration,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Status and the start of the body, for failure messages.
    fn brief(&self) -> String {
        let body: String = self.body.chars().take(200).collect();
        format!("{} {body}", self.status)
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

impl Context {
    pub fn new(config: &VerifyConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(config.concurrency.max(10))
            .build()
            .expect("an HTTP client");
        Self {
            http,
            base: config.endpoint.trim_end_matches('/').to_string(),
            config: config.clone(),
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// The request with both auth headers.
    pub fn authed(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path)
            .header("x-api-key", &self.config.api_key)
            .header("x-group-name", &self.config.group)
    }

    pub async fn send(&self, request: RequestBuilder) -> Result<Answer, Failure> {
        let started = Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| Failure::new("an HTTP answer", format!("no answer: {e}")))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            headers,
            body,
            took: started.elapsed(),
        })
    }

    /// `POST /mcp/list-tools` as the checklist sends it, with `headers`.
    pub fn list_tools(&self, headers: &[(&str, &str)]) -> RequestBuilder {
        let mut r = self
            .request(Method::POST, "/mcp/list-tools")
            .header("content-type", "application/json");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r
    }

    /// An authenticated GET that must answer 200 with JSON.
    async fn get_ok(&self, path: &str) -> Result<Value, Failure> {
        let a = self.send(self.authed(Method::GET, path)).await?;
        if a.status != 200 {
            return Err(Failure::new(format!("200 from GET {path}"), a.brief()));
        }
        Ok(a.json())
    }
}

pub async fn run(ctx: &Context, name: &str) -> Outcome {
    match name {
        "health" => health(ctx).await,
        "auth-valid" => auth_valid(ctx).await,
        "auth-missing-key" => {
            let group = ctx.config.group.clone();
            refused(ctx, &[("x-group-name", &group)], 401).await
        }
        "auth-missing-group" => {
            let key = ctx.config.api_key.clone();
            refused(ctx, &[("x-api-key", &key)], 401).await
        }
        "auth-invalid-key" => {
            let group = ctx.config.group.clone();
            refused(
                ctx,
                &[("x-api-key", "invalid-key"), ("x-group-name", &group)],
                403,
            )
            .await
        }
        "cors" => cors(ctx).await,
        "rest-latest" => rest_latest(ctx).await,
        "history" => history(ctx).await,
        "websocket" => websocket(ctx).await,
        "mcp" => mcp(ctx).await,
        "load-test" => load::load_test(ctx).await,
        "concurrent" => load::concurrent(ctx).await,
        other => Err(Failure::new("a known check", other.to_string())),
    }
}

async fn health(ctx: &Context) -> Outcome {
    let a = ctx.send(ctx.request(Method::GET, "/health")).await?;
    let body = a.json();
    if a.status == 200 && body["status"] == "healthy" {
        Ok(format!(
            "healthy, version {}, {}",
            body["version"].as_str().unwrap_or("?"),
            ms(a.took)
        ))
    } else {
        Err(Failure::new("200 with \"status\": \"healthy\"", a.brief()))
    }
}

async fn auth_valid(ctx: &Context) -> Outcome {
    let (key, group) = (ctx.config.api_key.clone(), ctx.config.group.clone());
    let a = ctx
        .send(ctx.list_tools(&[("x-api-key", &key), ("x-group-name", &group)]))
        .await?;
    let tools = a.json()["tools"].as_array().cloned().unwrap_or_default();
    if a.status == 200 && !tools.is_empty() {
        let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
        Ok(format!(
            "200, {} tools ({}), {}",
            tools.len(),
            names.join(", "),
            ms(a.took)
        ))
    } else {
        Err(Failure::new(
            "200 with a non-empty \"tools\" list",
            a.brief(),
        ))
    }
}

/// The checklist's failure cases: `headers` must get `status`.
async fn refused(ctx: &Context, headers: &[(&str, &str)], status: u16) -> Outcome {
    let a = ctx.send(ctx.list_tools(headers)).await?;
    let message = a.json()["message"].as_str().unwrap_or("").to_string();
    if a.status == status {
        Ok(format!("{status}: {message}"))
    } else {
        Err(Failure::new(status.to_string(), a.brief()))
    }
}

fn header_list(a: &Answer, name: &str) -> String {
    a.headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase()
}

fn grants(list: &str, item: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|v| v == "*" || v == item)
}

async fn cors(ctx: &Context) -> Outcome {
    let origin = &ctx.config.origin;
    let a = ctx
        .send(
            ctx.request(Method::OPTIONS, "/mcp/list-tools")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "x-api-key,x-group-name"),
        )
        .await?;
    let allow_origin = header_list(&a, "access-control-allow-origin");
    let methods = header_list(&a, "access-control-allow-methods");
    let headers = header_list(&a, "access-control-allow-headers");
    let figure = format!("origin {allow_origin:?}, methods {methods:?}, headers {headers:?}");
    let mut missing = Vec::new();
    if !(200..300).contains(&a.status) {
        missing.push(format!("a 2xx answer (got {})", a.status));
    }
    if !(allow_origin == "*" || allow_origin == origin.to_ascii_lowercase()) {
        missing.push(format!("Access-Control-Allow-Origin {origin}"));
    }
    if !grants(&methods, "post") {
        missing.push("POST in Access-Control-Allow-Methods".into());
    }
    for h in ["x-api-key", "x-group-name"] {
        if !grants(&headers, h) {
            missing.push(format!("{h} in Access-Control-Allow-Headers"));
        }
    }
    if missing.is_empty() {
        Ok(figure)
    } else {
        Err(Failure::new(missing.join("; "), figure.clone()).with_figure(figure))
    }
}

/// The first line, with its stops and buses, from `/lines`.
async fn first_line(ctx: &Context) -> Result<(String, Vec<String>, Vec<String>), Failure> {
    let lines = ctx.get_ok("/lines").await?;
    let line = lines
        .get(0)
        .ok_or_else(|| Failure::new("at least one line in /lines", lines.to_string()))?;
    let ids = |key: &str| -> Vec<String> {
        line[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let id = line["line_id"].as_str().unwrap_or_default().to_string();
    Ok((id, ids("stop_ids"), ids("bus_ids")))
}

async fn rest_latest(ctx: &Context) -> Outcome {
    let (line, stops, buses) = first_line(ctx).await?;
    let mut paths = Vec::new();
    for stop in stops.iter().take(3) {
        paths.push((
            format!("/people-count/{stop}?mode=latest"),
            "stop_id",
            stop.clone(),
        ));
        paths.push((
            format!("/sensors/stop/{stop}?mode=latest"),
            "entity_id",
            stop.clone(),
        ));
    }
    for bus in buses.iter().take(3) {
        paths.push((
            format!("/bus-position/{bus}?mode=latest"),
            "bus_id",
            bus.clone(),
        ));
        paths.push((
            format!("/sensors/bus/{bus}?mode=latest"),
            "entity_id",
            bus.clone(),
        ));
    }
    paths.push((
        format!("/bus-position/line/{line}?mode=latest"),
        "line_id",
        line.clone(),
    ));
    for (path, field, id) in &paths {
        let body = ctx.get_ok(path).await?;
        if body[*field] != *id.as_str() {
            return Err(Failure::new(
                format!("{field} {id} from GET {path}"),
                body.to_string(),
            ));
        }
    }
    Ok(format!(
        "{} answers: {} stops, {} buses and line {line}",
        paths.len(),
        stops.len().min(3),
        buses.len().min(3)
    ))
}

fn span_text(ms: i64) -> String {
    let minutes = ms / 60_000;
    format!(
        "{}d {}h {}m",
        minutes / 1440,
        minutes / 60 % 24,
        minutes % 60
    )
}

async fn history(ctx: &Context) -> Outcome {
    let (_, _, buses) = first_line(ctx).await?;
    let bus = buses
        .first()
        .ok_or_else(|| Failure::new("a bus on the first line", "none"))?;
    let latest = ctx
        .get_ok(&format!("/bus-position/{bus}?mode=latest"))
        .await?;
    let newest = latest["time"].as_str().and_then(|t| Millis::parse(t).ok());
    let Some(newest) = newest else {
        return Err(Failure::new(
            "a time in the latest position",
            latest.to_string(),
        ));
    };
    let page = ctx
        .get_ok(&format!(
            "/bus-position/{bus}?from=0&to={}&limit=1",
            newest.0
        ))
        .await?;
    let oldest = page["items"][0]["time"]
        .as_str()
        .and_then(|t| Millis::parse(t).ok());
    let Some(oldest) = oldest else {
        return Err(Failure::new("a first record", page.to_string()));
    };
    let span = newest.0 - oldest.0;
    let figure = format!(
        "{} of history ({oldest} to {newest}, bus {bus})",
        span_text(span)
    );
    let wanted = ctx.config.min_history.as_millis();
    if span >= wanted {
        Ok(figure)
    } else {
        Err(
            Failure::new(format!("at least {}", span_text(wanted)), span_text(span))
                .with_figure(figure),
        )
    }
}

fn ws_url(base: &str) -> String {
    let rest = base
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
        .unwrap_or_else(|| base.to_string());
    format!("{rest}/ws")
}

async fn websocket(ctx: &Context) -> Outcome {
    let (line, _, _) = first_line(ctx).await?;
    let url = ws_url(&ctx.base);
    let request = |key: &str| {
        let mut r = url
            .as_str()
            .into_client_request()
            .map_err(|e| Failure::new("a WebSocket URL", e.to_string()))?;
        let h = r.headers_mut();
        h.insert(
            "x-api-key",
            key.parse()
                .map_err(|_| Failure::new("a printable key", "not one"))?,
        );
        h.insert(
            "x-group-name",
            ctx.config
                .group
                .parse()
                .map_err(|_| Failure::new("a printable group", "not one"))?,
        );
        Ok::<_, Failure>(r)
    };
    let started = Instant::now();
    let (mut ws, _) = tokio_tungstenite::connect_async(request(&ctx.config.api_key)?)
        .await
        .map_err(|e| Failure::new("the handshake accepted", e.to_string()))?;
    let subscribe = json!({"action": "subscribe", "line_ids": [line]});
    ws.send(Message::Text(subscribe.to_string().into()))
        .await
        .map_err(|e| Failure::new("the subscription sent", e.to_string()))?;
    let (mut acked, mut first_event) = (None, None);
    let deadline = started + Duration::from_secs(30);
    while first_event.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                serde_json::from_str::<Value>(&t).unwrap_or(Value::Null)
            }
            Ok(Some(Ok(_))) => continue,
            Ok(other) => {
                return Err(Failure::new(
                    "a position event",
                    format!("the connection ended: {other:?}"),
                ));
            }
            Err(_) => {
                return Err(Failure::new(
                    "an ack and a bus.position.updated event within 30 s",
                    format!("ack: {}", if acked.is_some() { "yes" } else { "no" }),
                ));
            }
        };
        match message["type"].as_str() {
            Some("ack") => acked = Some(started.elapsed()),
            Some("bus.position.updated") => first_event = Some(started.elapsed()),
            _ => {}
        }
    }
    let _ = ws.close(None).await;
    let refused = match tokio_tungstenite::connect_async(request("invalid-key")?).await {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => return Err(Failure::new("a bad key refused with 403", e.to_string())),
        Ok(_) => {
            return Err(Failure::new(
                "a bad key refused with 403",
                "the handshake was accepted",
            ));
        }
    };
    let figure = format!(
        "ack in {}, first position of line {line} in {}; bad key refused with {refused}",
        ms(acked.unwrap_or_default()),
        ms(first_event.unwrap_or_default())
    );
    if refused == 403 {
        Ok(figure)
    } else {
        Err(Failure::new("a bad key refused with 403", refused.to_string()).with_figure(figure))
    }
}

async fn mcp(ctx: &Context) -> Outcome {
    let (_, _, buses) = first_line(ctx).await?;
    let bus = buses.first().cloned().unwrap_or_default();
    let started = Instant::now();
    let remote = RemoteTools::connect(&ctx.base, &ctx.config.api_key, &ctx.config.group)
        .await
        .map_err(|e| Failure::new("an MCP session (initialize)", format!("{e:#}")))?;
    let tools = remote
        .tools()
        .await
        .map_err(|e| Failure::new("tools/list", format!("{e:#}")))?;
    let args = json!({"bus_id": bus});
    let result = remote
        .call("query_bus_position", args)
        .await
        .map_err(|e| Failure::new("tools/call query_bus_position", format!("{e:#}")))?;
    let answered = result
        .structured_content
        .as_ref()
        .and_then(|v| v["bus_id"].as_str())
        .is_some_and(|b| b == bus);
    let figure = format!(
        "protocol {}, {} tools, query_bus_position({bus}) answered, {}",
        remote.protocol_version(),
        tools.len(),
        ms(started.elapsed())
    );
    if result.is_error != Some(true) && answered {
        Ok(figure)
    } else {
        Err(Failure::new(
            format!("the position of {bus}"),
            serde_json::to_string(&result).unwrap_or_default(),
        )
        .with_figure(figure))
    }
}
