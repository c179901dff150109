//! A fault-injecting HTTP proxy between keytrim and moto, for the reliability tests.
//! Like IAM, it answers `Throttling` (HTTP 400 with the Query protocol's error body)
//! when requests come faster than an account's rate limit. By seeded random choice it
//! also throttles, answers `503 ServiceUnavailable`, drops the connection, adds
//! latency, or forwards UpdateAccessKey and then drops the connection before the answer
//! (a lost response). It can also act as someone else beside keytrim: make a change
//! of its own just before keytrim's UpdateAccessKey passes, or refuse a repeated
//! attempt as IAM does once a session has expired, and make its listings lag behind
//! status changes as IAM's eventual consistency does. It counts requests per Action. The random choice for a request
//! comes from the seed, the request's body and how often that body was sent before, so
//! the random faults do not depend on the order in which concurrent requests arrive.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A change someone else makes in IAM (a console click), just before keytrim's
/// UpdateAccessKey for another key is forwarded.
#[derive(Debug, Clone)]
pub(crate) struct SideChange {
    pub user_name: String,
    pub access_key_id: String,
    pub status: &'static str,
}

/// How often each fault happens, as probabilities per request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    pub seed: u64,
    /// Requests per second above which requests are throttled, as IAM does when an
    /// account exceeds its rate (a token bucket holding one second's worth).
    pub rate_limit: Option<f64>,
    pub throttle: f64,
    pub unavailable: f64,
    pub drop: f64,
    /// UpdateAccessKey only: forwarded, then the answer is lost.
    pub lost_update_response: f64,
    /// Added to every request before anything else.
    pub latency: Duration,
    /// Answer AccessDenied to requests whose form body contains any of these texts
    /// (one account's role ARN in sts:AssumeRole, as AWS does for a role that trusts no
    /// one; `UserName=x` for a user an explicit deny or an SCP protects). A text with
    /// `&` matches when the body contains each of its parts, in any order
    /// (`Action=ListUserTags&UserName=x`).
    pub deny_containing: Vec<String>,
    /// Made once, before the first UpdateAccessKey for another key of its user.
    pub side_change: Option<SideChange>,
    /// UpdateAccessKey only: an attempt that repeats an earlier one (the SDK's retry)
    /// is answered with this error code (HTTP 403), as IAM does when the session
    /// expired between two attempts (`ExpiredToken`) or a policy changed.
    pub refuse_repeated_update: Option<&'static str>,
    /// The message of that refusal; IAM's own for an expired session when None.
    pub refusal_message: Option<&'static str>,
    /// IAM's eventual consistency: ListAccessKeys shows each key's status as it was
    /// this long ago, as far as the proxy saw it change (its own listings and the
    /// status changes it forwarded, side changes included). A change is shown to
    /// every listing at once when its time comes: a listing that shows a later change
    /// shows every earlier one too.
    pub listing_lag: Duration,
    /// Never answer one request (a test kills keytrim while it waits): see `Hold`.
    pub hold: Option<Hold>,
}

/// The request a proxy never answers: the `nth` (from 1) of `action`, first sent on to
/// the local IAM when `after_forwarding` (the change is made and its answer lost).
/// The tally counts it under the fault `held` once it is held.
#[derive(Debug, Clone)]
pub(crate) struct Hold {
    pub action: &'static str,
    pub nth: usize,
    pub after_forwarding: bool,
}

/// What the proxy saw and did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// Requests received, per Action.
    pub received: BTreeMap<String, usize>,
    /// Requests forwarded to the local IAM, per Action.
    pub forwarded: BTreeMap<String, usize>,
    /// Faults injected, per kind.
    pub faults: BTreeMap<&'static str, usize>,
    /// The most requests the proxy was answering at once.
    pub peak_in_flight: usize,
    /// Every request as it arrived: when, its Action, and its form body.
    pub arrivals: Vec<(Instant, String, String)>,
}

impl Tally {
    pub(crate) fn faults_injected(&self) -> usize {
        self.faults.values().sum()
    }
}

struct State {
    upstream: String,
    faults: Faults,
    /// How often each distinct request body has been seen (retries repeat the body).
    seen: Mutex<HashMap<u64, u64>>,
    /// The rate limit's bucket: tokens left, and when it was last filled.
    bucket: Mutex<(f64, Instant)>,
    /// True once the side change was made.
    side_change_made: Mutex<bool>,
    /// Requests being answered now.
    in_flight: Mutex<usize>,
    /// Per access key, each status the proxy knew it to have, from when.
    statuses: Mutex<HashMap<String, Vec<(Instant, String)>>>,
    tally: Mutex<Tally>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

/// A running proxy; dropping it stops it.
pub(crate) struct FaultProxy {
    pub endpoint: String,
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

type Reply = Result<Response<Full<Bytes>>, std::io::Error>;

fn action_of(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("(none)")
        .to_string()
}

/// Take a token from the rate limit's bucket; false when it is empty.
fn within_rate_limit(state: &State) -> bool {
    let Some(per_second) = state.faults.rate_limit else {
        return true;
    };
    let mut bucket = state.bucket.lock().unwrap();
    let (tokens, filled) = &mut *bucket;
    let now = Instant::now();
    *tokens = (*tokens + now.duration_since(*filled).as_secs_f64() * per_second).min(per_second);
    *filled = now;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        true
    } else {
        false
    }
}

fn io_error(err: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(err.to_string())
}

fn error_reply(status: StatusCode, kind: &str, code: &str, message: &str) -> Reply {
    let body = format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
         <Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from(body)))
        .map_err(io_error)
}

/// The error a service returns to make hyper close the connection without an answer.
fn dropped(what: &str) -> Reply {
    Err(std::io::Error::other(format!("fault proxy: {what}")))
}

/// Counts a request as being answered until it is dropped.
struct Answering(Arc<State>);

impl Answering {
    fn start(state: &Arc<State>) -> Answering {
        let mut in_flight = state.in_flight.lock().unwrap();
        *in_flight += 1;
        let mut tally = state.tally.lock().unwrap();
        tally.peak_in_flight = tally.peak_in_flight.max(*in_flight);
        Answering(Arc::clone(state))
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        *self.0.in_flight.lock().unwrap() -= 1;
    }
}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Reply {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(io_error)?.to_bytes();
    // A client sends its next request only after this answer is out, so the peak
    // here is never above the client's own.
    let _answering = Answering::start(&state);
    // The query protocols (IAM, STS) name the action in the body; the JSON ones
    // (Secrets Manager) in the X-Amz-Target header, after the service's name.
    let action = match parts
        .headers
        .get("x-amz-target")
        .and_then(|target| target.to_str().ok())
        .and_then(|target| target.rsplit_once('.'))
    {
        Some((_, action)) => action.to_string(),
        None => action_of(&body),
    };
    let nth = {
        let mut tally = state.tally.lock().unwrap();
        let received = tally.received.entry(action.clone()).or_default();
        *received += 1;
        let nth = *received;
        let form = String::from_utf8_lossy(&body).into_owned();
        tally.arrivals.push((Instant::now(), action.clone(), form));
        nth
    };
    let held = state
        .faults
        .hold
        .as_ref()
        .filter(|hold| hold.action == action && hold.nth == nth);
    if !state.faults.latency.is_zero() {
        // tokio's timer rounds up to whole milliseconds (20 ms measured 21.3 ms); a
        // thread's sleep is within a few microseconds of what was asked.
        let latency = state.faults.latency;
        tokio::task::spawn_blocking(move || std::thread::sleep(latency))
            .await
            .map_err(io_error)?;
    }
    // The choice depends on the seed, the request and how many times it was sent
    // before, not on the order concurrent requests arrive in: a run is reproducible.
    let (roll, lost_roll, attempt) = {
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        let digest = hasher.finish();
        let mut seen = state.seen.lock().unwrap();
        let attempt = seen.entry(digest).or_default();
        *attempt += 1;
        let mut rng = StdRng::seed_from_u64(state.faults.seed ^ digest ^ attempt.rotate_left(32));
        (rng.random::<f64>(), rng.random::<f64>(), *attempt)
    };
    let faults = &state.faults;
    let count = |kind: &'static str| {
        *state.tally.lock().unwrap().faults.entry(kind).or_default() += 1;
    };
    let form = String::from_utf8_lossy(&body)
        .replace("%3A", ":")
        .replace("%2F", "/");
    let denied = |needle: &String| needle.split('&').all(|part| form.contains(part));
    if faults.deny_containing.iter().any(denied) {
        count("access_denied");
        return error_reply(
            StatusCode::FORBIDDEN,
            "Sender",
            "AccessDenied",
            &format!("User is not authorized to perform: {action} with an explicit deny"),
        );
    }
    if !within_rate_limit(&state) {
        count("rate_exceeded");
        return error_reply(
            StatusCode::BAD_REQUEST,
            "Sender",
            "Throttling",
            "Rate exceeded",
        );
    }
    if roll < faults.throttle {
        count("throttling");
        return error_reply(
            StatusCode::BAD_REQUEST,
            "Sender",
            "Throttling",
            "Rate exceeded",
        );
    }
    if roll < faults.throttle + faults.unavailable {
        count("service_unavailable");
        return error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "Receiver",
            "ServiceUnavailable",
            "Service is unavailable",
        );
    }
    if roll < faults.throttle + faults.unavailable + faults.drop {
        count("dropped_connection");
        return dropped("connection dropped");
    }

    if action == "UpdateAccessKey" {
        if let Some(code) = faults.refuse_repeated_update.filter(|_| attempt > 1) {
            count("refused_retry");
            return error_reply(
                StatusCode::FORBIDDEN,
                "Sender",
                code,
                faults
                    .refusal_message
                    .unwrap_or("The security token included in the request is expired"),
            );
        }
        make_side_change(&state, &parts, &body).await?;
    }

    let mut forward = Request::builder().method(parts.method.clone()).uri(format!(
        "{}{}",
        state.upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    ));
    for (name, value) in &parts.headers {
        forward = forward.header(name, value);
    }
    if held.is_some_and(|hold| !hold.after_forwarding) {
        return hold_forever(&state).await;
    }
    let forward = forward.body(Full::new(body)).map_err(io_error)?;
    let answer = state.client.request(forward).await.map_err(io_error)?;
    *state
        .tally
        .lock()
        .unwrap()
        .forwarded
        .entry(action.clone())
        .or_default() += 1;
    let (mut answer_parts, answer_body) = answer.into_parts();
    let mut answer_body = answer_body.collect().await.map_err(io_error)?.to_bytes();
    if answer_parts.status.is_success() {
        if action == "UpdateAccessKey" {
            record_update(&state, &form);
        } else if action == "ListAccessKeys" {
            answer_body = lag_listing(&state, &answer_body);
            answer_parts.headers.insert(
                hyper::header::CONTENT_LENGTH,
                hyper::header::HeaderValue::from(answer_body.len()),
            );
        }
    }
    if held.is_some() {
        return hold_forever(&state).await;
    }
    if action == "UpdateAccessKey" && lost_roll < faults.lost_update_response {
        count("lost_response");
        return dropped("response lost after the change was made");
    }
    Ok(Response::from_parts(answer_parts, Full::new(answer_body)))
}

/// Count the hold, then never answer: the test kills the client meanwhile.
async fn hold_forever(state: &State) -> Reply {
    *state
        .tally
        .lock()
        .unwrap()
        .faults
        .entry("held")
        .or_default() += 1;
    std::future::pending().await
}

/// The value of `name` in a form body.
fn form_value<'a>(form: &'a str, name: &str) -> Option<&'a str> {
    form.split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// Remember the status an UpdateAccessKey that IAM accepted gave its key.
fn record_update(state: &State, form: &str) {
    if let (Some(key), Some(status)) = (form_value(form, "AccessKeyId"), form_value(form, "Status"))
    {
        state
            .statuses
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_default()
            .push((Instant::now(), status.to_string()));
    }
}

/// A ListAccessKeys answer as a lagging IAM gives it: each key's status as of
/// `listing_lag` ago, as far as the proxy knows its history. The answer's own statuses
/// (the truth now) join that history first.
fn lag_listing(state: &State, body: &Bytes) -> Bytes {
    let text = String::from_utf8_lossy(body).into_owned();
    let now = Instant::now();
    let shown_as_of = now.checked_sub(state.faults.listing_lag).unwrap_or(now);
    let mut statuses = state.statuses.lock().unwrap();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("<member>") {
        let Some(len) = rest[start..].find("</member>") else {
            break;
        };
        let member = &rest[start..start + len];
        out.push_str(&rest[..start]);
        let between = |open: &str, close: &str| {
            let from = member.find(open)? + open.len();
            Some(&member[from..from + member[from..].find(close)?])
        };
        let shown = match (between("<AccessKeyId>", "<"), between("<Status>", "<")) {
            (Some(key), Some(truth)) => {
                let history = statuses.entry(key.to_string()).or_default();
                if history.last().is_none_or(|(_, last)| last != truth) {
                    history.push((now, truth.to_string()));
                }
                // The last status known at or before the lagged instant; with none
                // known that early, the first one the proxy saw.
                let lagged = history
                    .iter()
                    .rev()
                    .find(|(when, _)| *when <= shown_as_of)
                    .or(history.first())
                    .map(|(_, status)| status.clone())
                    .unwrap_or_else(|| truth.to_string());
                if lagged != truth {
                    *state
                        .tally
                        .lock()
                        .unwrap()
                        .faults
                        .entry("lagged_status")
                        .or_default() += 1;
                }
                member.replacen(
                    &format!("<Status>{truth}<"),
                    &format!("<Status>{lagged}<"),
                    1,
                )
            }
            _ => member.to_string(),
        };
        out.push_str(&shown);
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    Bytes::from(out)
}

/// Make the side change, once, before an UpdateAccessKey for another key of the same
/// user: the same
/// request (moto reads the service from its signature) with the side change's form.
async fn make_side_change(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: &Bytes,
) -> Result<(), std::io::Error> {
    let Some(side) = &state.faults.side_change else {
        return Ok(());
    };
    let form = String::from_utf8_lossy(body);
    let for_side_user = form
        .split('&')
        .any(|pair| pair.strip_prefix("UserName=") == Some(side.user_name.as_str()));
    if !for_side_user || form.contains(&side.access_key_id) {
        return Ok(());
    }
    {
        let mut made = state.side_change_made.lock().unwrap();
        if *made {
            return Ok(());
        }
        *made = true;
    }
    let form = format!(
        "Action=UpdateAccessKey&Version=2010-05-08&UserName={}&AccessKeyId={}&Status={}",
        side.user_name, side.access_key_id, side.status
    );
    let mut request = Request::builder()
        .method(hyper::Method::POST)
        .uri(format!("{}/", state.upstream));
    for (name, value) in &parts.headers {
        if name != hyper::header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let request = request
        .body(Full::new(Bytes::from(form.clone())))
        .map_err(io_error)?;
    let answer = state.client.request(request).await.map_err(io_error)?;
    assert!(
        answer.status().is_success(),
        "the side change was refused: {}",
        answer.status()
    );
    record_update(state, &form);
    *state
        .tally
        .lock()
        .unwrap()
        .faults
        .entry("side_change")
        .or_default() += 1;
    Ok(())
}

/// Connections to the upstream, sending each write at once (no Nagle delay).
fn upstream_connector() -> hyper_util::client::legacy::connect::HttpConnector {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    connector
}

impl FaultProxy {
    /// Start a proxy on a free loopback port in front of `upstream`.
    pub(crate) fn start(upstream: &str, faults: Faults) -> FaultProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            seen: Mutex::new(HashMap::new()),
            bucket: Mutex::new((faults.rate_limit.unwrap_or_default(), Instant::now())),
            side_change_made: Mutex::new(false),
            in_flight: Mutex::new(0),
            statuses: Mutex::new(HashMap::new()),
            faults,
            tally: Mutex::new(Tally::default()),
            client: Client::builder(TokioExecutor::new()).build(upstream_connector()),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(SocketAddr::from((
                [127, 0, 0, 1],
                0,
            ))))
            .expect("a loopback port for the proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("bound address"));
        let serving = Arc::clone(&state);
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                // Answers go out at once: the only delay is the one configured.
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&serving);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { handle(state, request).await }
                    });
                    // A dropped connection ends here with an error, on purpose.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            endpoint,
            state,
            runtime: Some(runtime),
        }
    }

    /// A copy of the counts so far.
    pub(crate) fn tally(&self) -> Tally {
        self.state.tally.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
