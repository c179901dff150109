//! How many calls are on the wire at once. One budget for the whole run, shared by every
//! account in progress, and within it one window per account, because IAM throttles
//! each account on its own. The window falls by half when IAM throttles a call and
//! grows back by one place per window's worth of successes (additive increase,
//! multiplicative decrease, as TCP does), up to `--concurrency`. It also learns how
//! often each size is throttled: throttles that come as often with half the window are
//! not keytrim's doing and do not shrink it (robust when other automation spends the
//! quota), and a size known to throttle more than the one below reopens only after a
//! hold (polite against a quota).
//!
//! A place is held only while an attempt is on the wire: the SDK's retries wait out
//! their back-off outside the window, so a call backing off never leaves a place idle.
//! The SDK's standard retry mode decides what is retried and how long to wait; the
//! window decides how hard to push. `Window` is the pure rule; `AccountGate` puts it
//! between the SDK and its HTTP client (`GatedHttpClient`) and hears each attempt's
//! outcome from an interceptor (`ThrottleWatch`) that asks the SDK's own retry
//! classifiers whether the answer was a throttle.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime::client::retries::classifiers::run_classifiers_on_ctx;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::retries::classifiers::{RetryAction, RetryReason};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::ErrorKind;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What the window multiplies itself by when IAM throttles.
const DECREASE: f64 = 0.5;

/// The budget of calls in flight for a whole run, shared by every account's gate.
#[derive(Debug, Clone)]
pub(crate) struct RunBudget {
    places: Arc<Semaphore>,
}

impl RunBudget {
    pub(crate) fn new(size: usize) -> RunBudget {
        RunBudget {
            places: Arc::new(Semaphore::new(size.max(1))),
        }
    }
}

/// How hard a run may push: its budget, and the most calls one account may have in
/// flight.
#[derive(Debug, Clone)]
pub(crate) struct CallLimits {
    pub run: RunBudget,
    pub per_account: usize,
    /// One HTTPS client for the run, so every account shares its connections.
    pub https: SharedHttpClient,
    /// How long one attempt may be on the wire, counted from when it has a place.
    pub attempt_timeout: std::time::Duration,
}

impl CallLimits {
    pub(crate) fn new(run_calls: usize, per_account: usize) -> CallLimits {
        CallLimits {
            run: RunBudget::new(run_calls),
            per_account: per_account.max(1),
            https: https_client(),
            attempt_timeout: super::ATTEMPT_TIMEOUT,
        }
    }
}

/// The SDK's default HTTPS client, built as aws-smithy-runtime builds it (rustls with
/// aws-lc, a proxy from the environment, the runtime's sleep), for the gate to wrap:
/// the SDK offers no way to wrap its default client in place.
fn https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// One account's window of calls in flight: the pure rule, without clocks or tasks.
///
/// Throttles that come whatever keytrim's own pace (other automation spending the
/// account's quota) must not shrink the window: shrinking would not stop them, only
/// slow keytrim down. So the window keeps, for each number of places, how often the
/// attempts made with it were throttled, and listens to a throttle only when the
/// window throttles clearly more often than half its size did (or half its size has
/// not been tried yet). Likewise it reopens a place that throttles clearly more often
/// than the size below only after `HOLD` successes: against a quota it probes rarely.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Window {
    /// Places open now, from 1 to `most`; fractional while it grows.
    size: f64,
    most: f64,
    in_flight: usize,
    /// Attempts that have come back, ever.
    returned: u64,
    /// A throttle of an attempt that returns before this count was sent before the
    /// last decrease: it says nothing about the window as it is now.
    unheeded_until: u64,
    /// Per number of calls in flight: how often attempts sent with that many were
    /// throttled, lately.
    seen: Vec<Throttling>,
    /// Successes while the next place is one that throttles more.
    held: u32,
    /// Successes to wait before such a place opens: `HOLD`, doubled each time the
    /// place, once opened, was throttled back (up to `MOST_HOLD`).
    hold: u32,
    /// The last place opened was one that throttles more, and it has not yet been
    /// throttled back.
    probing: bool,
}

/// How often attempts made with one number of calls in flight were throttled: a
/// moving average, plain over the first `SETTLED` attempts, then weighting the last
/// ones; and when it was last told (in attempts come back, of the whole window).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Throttling {
    share: f64,
    attempts: u32,
    told_at: u64,
}

impl Throttling {
    fn add(&mut self, throttled: bool, now: u64) {
        self.attempts = self.attempts.saturating_add(1);
        let weight = (1.0 / f64::from(self.attempts)).max(1.0 / f64::from(SETTLED));
        self.share += (if throttled { 1.0 } else { 0.0 } - self.share) * weight;
        self.told_at = now;
    }

    /// Known when `SETTLED` attempts have told it, lately: a share last told more than
    /// `STALE` attempts ago may describe another load (other automation that has
    /// stopped, a quota that has come), so it is not relied on until an attempt at its
    /// level tells it again (which then weighs in with the old share).
    fn known(self, now: u64) -> bool {
        self.attempts >= SETTLED && now.saturating_sub(self.told_at) <= STALE
    }
}

/// Attempts (of the whole window) after which a throttle share is no longer known.
const STALE: u64 = 16 * SETTLED as u64;

/// Attempts after which a size's throttle share is taken as known; the share then
/// weighs the last `SETTLED` attempts most.
const SETTLED: u32 = 64;

/// Whether a throttle share is clearly above another: by half again and two points,
/// beyond the noise of two averages of `SETTLED` attempts each.
fn clearly_more(share: f64, than: f64) -> bool {
    share > than * 1.5 + 0.02
}
/// Successes before a place that throttles more than the size below opens again.
const HOLD: u32 = 64;
/// The longest wait between probes of such a place: against a token bucket the calls
/// made meanwhile at the smaller size fill it, so the quota stays in use as long as
/// the bucket holds what accrues in the wait.
const MOST_HOLD: u32 = 4 * HOLD;

impl Window {
    pub(crate) fn new(most: usize) -> Window {
        let most = most.max(1);
        Window {
            size: most as f64,
            most: most as f64,
            in_flight: 0,
            returned: 0,
            unheeded_until: 0,
            seen: vec![Throttling::default(); most + 1],
            held: 0,
            hold: HOLD,
            probing: false,
        }
    }

    /// Places open now.
    pub(crate) fn places(&self) -> usize {
        // Truncation is meant: a place opens once the size has grown past it.
        self.size.floor() as usize
    }

    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// An attempt went on the wire; returns how many are in flight with it (its
    /// level, which its outcome is counted for).
    pub(crate) fn sent(&mut self) -> usize {
        self.in_flight += 1;
        self.in_flight.min(self.seen.len() - 1)
    }

    /// An attempt came back (with any answer, or none).
    pub(crate) fn returned(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.returned += 1;
    }

    /// True when `level` calls in flight are expected to be throttled clearly more
    /// often than `than` or half of it were. A level not known is expected to throttle
    /// as `than` does: against a quota, more calls in flight are never throttled less.
    fn throttles_more(&self, level: usize, than: usize) -> bool {
        let now = self.returned;
        let known = |index: usize| {
            let seen = self.seen[index];
            seen.known(now).then_some(seen.share)
        };
        let expected = [level, than].into_iter().find_map(known);
        let base = [than, (than / 2).max(1)]
            .into_iter()
            .filter_map(known)
            .reduce(f64::min);
        matches!((expected, base), (Some(expected), Some(base)) if clearly_more(expected, base))
    }

    /// An attempt sent at `level` succeeded. A full window grows by one place per
    /// window's worth of successes (a window keytrim does not fill says nothing of a
    /// larger one); into a place known to throttle more than the size below only after
    /// `HOLD` successes, twice as many each time such a probe was throttled back.
    pub(crate) fn succeeded(&mut self, level: usize) {
        self.seen[level].add(false, self.returned);
        let places = self.places();
        // Sent before the last decrease, or with the window not full: it says nothing
        // of a larger window.
        if level < places || self.returned <= self.unheeded_until {
            return;
        }
        let grown = (self.size + 1.0 / self.size).min(self.most);
        let next = grown.floor() as usize;
        if next > places && self.throttles_more(next, places) {
            self.held += 1;
            if self.held < self.hold {
                return;
            }
            self.probing = true;
        } else if next > places {
            // A place not known to throttle more: the probes start afresh.
            self.hold = HOLD;
            self.probing = false;
        }
        self.held = 0;
        self.size = grown;
    }

    /// IAM throttled an attempt sent at `level`: the window falls to half the calls
    /// that were in flight, once for all the attempts that were already on the wire
    /// when it last fell (they were sent under the old size); unless half as many calls
    /// are known to be throttled as often, as when other automation spends the quota:
    /// then the throttles are not keytrim's doing, and a smaller window would only be
    /// slower.
    pub(crate) fn throttled(&mut self, level: usize) {
        self.seen[level].add(true, self.returned);
        // `returned` already counts this attempt: it came back before it was judged.
        if self.returned <= self.unheeded_until {
            return;
        }
        let half = (level / 2).max(1);
        let (now, halved) = (self.seen[level], self.seen[half]);
        let at = self.returned;
        if now.known(at) && halved.known(at) && !clearly_more(now.share, halved.share) {
            return;
        }
        self.held = 0;
        if self.probing {
            // The probe overran again: probe half as often.
            self.hold = (self.hold * 2).min(MOST_HOLD);
            self.probing = false;
        }
        self.size = (level as f64 * DECREASE).max(1.0).min(self.size);
        self.unheeded_until = self.returned + self.in_flight as u64;
    }
}

/// One account's gate: its window, kept as a first-come-first-served semaphore of its
/// open places, under the run's budget.
#[derive(Debug)]
pub(crate) struct AccountGate {
    /// Which account of the run this is, for the SDK's retry partition.
    id: usize,
    state: Mutex<GateState>,
    /// As many permits as the window has places, less those owed.
    places: Arc<Semaphore>,
    run: RunBudget,
}

#[derive(Debug)]
struct GateState {
    window: Window,
    /// Places the window closed while they were in use: the next ones given back are
    /// kept, not returned to the semaphore.
    owed: usize,
}

/// A place on the wire, held for one attempt until its answer has been judged; given
/// back when dropped (also when the attempt is cancelled by a timeout, or while it
/// still waits for the run's place).
struct Place {
    gate: Arc<AccountGate>,
    account: Option<OwnedSemaphorePermit>,
    /// The run's place; `None` while it is awaited.
    run: Option<OwnedSemaphorePermit>,
    /// How many of the account's calls were in flight with this one when it was sent.
    level: usize,
}

impl Place {
    /// The attempt came back, and `outcome` is what it came to (`None`: not judged).
    /// The window hears it before the place is free, so that no other attempt takes
    /// the place of one that was throttled before the window has shrunk.
    fn settle(&mut self, outcome: Option<Heard>) {
        let mut state = self.gate.state();
        // Only an attempt that got on the wire comes back.
        if self.run.take().is_some() {
            state.window.returned();
        }
        if let Some(outcome) = outcome {
            self.gate.apply(&mut state, outcome, self.level);
        }
        if let Some(permit) = self.account.take()
            && state.owed > 0
        {
            state.owed -= 1;
            permit.forget();
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.settle(None);
    }
}

/// The place of an attempt whose answer is in, riding on the answer until the
/// interceptor has judged it.
#[derive(Clone)]
struct HeldPlace(Arc<Mutex<Option<Place>>>);

impl AccountGate {
    pub(crate) fn new(limits: &CallLimits) -> Arc<AccountGate> {
        static GATES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let window = Window::new(limits.per_account);
        Arc::new(AccountGate {
            id: GATES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            places: Arc::new(Semaphore::new(window.places())),
            state: Mutex::new(GateState { window, owed: 0 }),
            run: limits.run.clone(),
        })
    }

    /// The SDK's retry partition of this account: its own quota of retries, as IAM
    /// throttles each account on its own and one throttled account must not spend the
    /// retries of every other.
    pub(crate) fn retry_partition(&self) -> aws_smithy_runtime::client::retries::RetryPartition {
        aws_smithy_runtime::client::retries::RetryPartition::new(format!(
            "keytrim-account-{}",
            self.id
        ))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        // The state is plain numbers: a panic elsewhere cannot leave it torn.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(test)]
    fn window(&self) -> Window {
        self.state().window.clone()
    }

    /// Wait for a place in this account's window, then for one in the run's budget,
    /// each in turn of arrival. No clock of the SDK's counts this wait but the
    /// operation's (180 s); the attempt's starts once the place is taken.
    async fn enter(self: &Arc<Self>) -> Place {
        let mut place = Place {
            gate: Arc::clone(self),
            account: None,
            run: None,
            level: 1,
        };
        // A place in the window is taken first, so an account waiting for room in
        // its own window never holds one of the run's places.
        place.account = Some(
            Arc::clone(&self.places)
                .acquire_owned()
                .await
                .expect("an account's places are never closed"),
        );
        let run = Arc::clone(&self.run.places)
            .acquire_owned()
            .await
            .expect("the run's budget is never closed");
        place.level = self.state().window.sent();
        place.run = Some(run);
        place
    }

    /// Tell the window how an attempt ended whose place is already free (its level
    /// unknown: taken as a full window).
    fn heard(&self, outcome: Heard) {
        let mut state = self.state();
        let level = state.window.places();
        self.apply(&mut state, outcome, level);
    }

    /// Tell the window how an attempt sent at `level` ended, and open or close places
    /// to match it.
    fn apply(&self, state: &mut GateState, outcome: Heard, level: usize) {
        let before = state.window.places();
        match outcome {
            Heard::Succeeded => state.window.succeeded(level),
            Heard::Throttled => state.window.throttled(level),
        }
        let after = state.window.places();
        if after != before {
            tracing::debug!(account = self.id, places = after, "calls in flight");
        }
        if after < before {
            let closing = before - after;
            let closed = self.places.forget_permits(closing);
            state.owed += closing - closed;
        } else if after > before {
            let opening = after - before;
            let repaid = opening.min(state.owed);
            state.owed -= repaid;
            self.places.add_permits(opening - repaid);
        }
    }
}

enum Heard {
    Succeeded,
    Throttled,
}

/// The SDK's HTTP client, with every attempt passing through an account's gate, and
/// timed out only once it has a place.
#[derive(Debug, Clone)]
pub(crate) struct GatedHttpClient {
    inner: SharedHttpClient,
    gate: Arc<AccountGate>,
    attempt_timeout: std::time::Duration,
}

impl GatedHttpClient {
    pub(crate) fn new(
        inner: SharedHttpClient,
        gate: Arc<AccountGate>,
        attempt_timeout: std::time::Duration,
    ) -> GatedHttpClient {
        GatedHttpClient {
            inner,
            gate,
            attempt_timeout,
        }
    }
}

impl HttpClient for GatedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(GatedConnector {
            inner: self.inner.http_connector(settings, components),
            gate: Arc::clone(&self.gate),
            attempt_timeout: self.attempt_timeout,
        })
    }
}

#[derive(Debug)]
struct GatedConnector {
    inner: SharedHttpConnector,
    gate: Arc<AccountGate>,
    attempt_timeout: std::time::Duration,
}

impl HttpConnector for GatedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, gate) = (self.inner.clone(), Arc::clone(&self.gate));
        let attempt_timeout = self.attempt_timeout;
        HttpConnectorFuture::new(async move {
            let place = gate.enter().await;
            // The attempt's clock starts with its place: waiting is never failing. A
            // timeout is the SDK's kind of connector timeout, retried like its own.
            let answer = tokio::time::timeout(attempt_timeout, inner.call(request)).await;
            let mut response = answer.map_err(|_| {
                aws_smithy_runtime_api::client::result::ConnectorError::timeout(
                    format!(
                        "no answer within {} s of being sent",
                        attempt_timeout.as_secs_f64()
                    )
                    .into(),
                )
            })??;
            response.add_extension(HeldPlace(Arc::new(Mutex::new(Some(place)))));
            Ok(response)
        })
    }
}

/// Tells an account's gate how each attempt ended, as the SDK's own retry classifiers
/// judge it: a success grows the window, a throttle shrinks it, anything else (a
/// server error, a refusal, no answer) leaves it as it is.
#[derive(Debug)]
pub(crate) struct ThrottleWatch {
    gate: Arc<AccountGate>,
}

impl ThrottleWatch {
    pub(crate) fn new(gate: Arc<AccountGate>) -> ThrottleWatch {
        ThrottleWatch { gate }
    }
}

impl Intercept for ThrottleWatch {
    fn name(&self) -> &'static str {
        "keytrim::ThrottleWatch"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let outcome = match context.output_or_error() {
            Some(Ok(_)) => Some(Heard::Succeeded),
            Some(Err(_)) => {
                let judged =
                    run_classifiers_on_ctx(runtime_components.retry_classifiers(), context.inner());
                matches!(
                    judged,
                    RetryAction::RetryIndicated(RetryReason::RetryableError {
                        kind: ErrorKind::ThrottlingError,
                        ..
                    })
                )
                .then_some(Heard::Throttled)
            }
            None => None,
        };
        let held = context
            .response()
            .and_then(|response| response.extension::<HeldPlace>())
            .and_then(|held| {
                held.0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
            });
        match (held, outcome) {
            // The usual case: the window hears the answer, then the place is free.
            (Some(mut place), outcome) => place.settle(outcome),
            (None, Some(outcome)) => self.gate.heard(outcome),
            (None, None) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` attempts, each sent and come back with `outcome`, with the window full:
    /// each counts for as many calls in flight as the window has places.
    fn round_trips(window: &mut Window, n: usize, outcome: fn(&mut Window, usize)) {
        for _ in 0..n {
            let level = window.places();
            window.sent();
            window.returned();
            outcome(window, level);
        }
    }

    #[test]
    fn a_new_window_is_fully_open() {
        let window = Window::new(8);
        assert_eq!(window.places(), 8);
        assert_eq!(Window::new(0).places(), 1, "never fewer than one place");
    }

    /// What a simulated run of the window came to.
    #[derive(Debug)]
    struct Simulated {
        /// Successful calls per tick.
        goodput: f64,
        /// Throttled attempts, of all attempts.
        throttled: f64,
    }

    /// A simulated account: each tick, every open place sends an attempt, which comes
    /// back within the tick (the tick is a call's latency) and is throttled when
    /// `throttles` says so.
    fn simulate(most: usize, ticks: u32, mut throttles: impl FnMut(u32) -> bool) -> Simulated {
        let mut window = Window::new(most);
        let (mut succeeded, mut throttled) = (0u32, 0u32);
        for tick in 0..ticks {
            // Every place's attempt goes out at once: each with `places` in flight.
            let places = window.places();
            for _ in 0..places {
                window.sent();
            }
            for _ in 0..places {
                window.returned();
                if throttles(tick) {
                    throttled += 1;
                    window.throttled(places);
                } else {
                    succeeded += 1;
                    window.succeeded(places);
                }
            }
        }
        Simulated {
            goodput: f64::from(succeeded) / f64::from(ticks),
            throttled: f64::from(throttled) / f64::from(succeeded + throttled),
        }
    }

    /// A quota of `per_tick` calls a tick, as a token bucket holding `held` calls.
    fn quota(per_tick: f64, held: f64) -> impl FnMut(u32) -> bool {
        let (mut tokens, mut filled_at) = (held, 0u32);
        move |tick| {
            tokens = (tokens + f64::from(tick - filled_at) * per_tick).min(held);
            filled_at = tick;
            if tokens >= 1.0 {
                tokens -= 1.0;
                false
            } else {
                true
            }
        }
    }

    /// The benchmark's quota in ticks: 100 calls a second where one place makes 77,
    /// so the quota lies between one place and two; and one of five places' worth.
    /// The window must come within 1.2x of the quota's floor (its goodput at least
    /// 1/1.2 of the quota) with at most 2% of attempts throttled (the target
    /// is 5%; the simulation gives about 1.3%, 3.3% without the doubling wait).
    #[test]
    fn under_a_quota_the_window_keeps_near_it_and_rarely_overruns_it() {
        for per_tick in [100.0 / 77.0, 4.6] {
            let run = simulate(8, 20_000, quota(per_tick, per_tick * 77.0));
            assert!(run.goodput >= per_tick / 1.2, "quota {per_tick}: {run:?}");
            assert!(run.throttled <= 0.02, "quota {per_tick}: {run:?}");
        }
    }

    /// A probe of a size that throttles more, throttled back, doubles the wait before
    /// the next probe, up to `MOST_HOLD`; a growth into a size not known to throttle
    /// more starts the waits afresh.
    #[test]
    fn each_probe_throttled_back_doubles_the_wait_before_the_next() {
        let mut window = Window::new(2);
        // One call in flight never throttles, two always do: both become known.
        for _ in 0..SETTLED {
            window.sent();
            window.returned();
            window.succeeded(1);
        }
        assert_eq!(window.places(), 2, "a window not full does not change");
        for _ in 0..SETTLED {
            window.sent();
            window.returned();
            window.throttled(2);
        }
        assert_eq!(window.places(), 1);
        let mut waits = Vec::new();
        for _ in 0..4 {
            let mut successes = 0;
            while window.places() == 1 {
                round_trips(&mut window, 1, Window::succeeded);
                successes += 1;
            }
            waits.push(successes);
            round_trips(&mut window, 1, Window::throttled);
        }
        assert_eq!(waits, [HOLD, 2 * HOLD, MOST_HOLD, MOST_HOLD]);
        assert_eq!(MOST_HOLD, 4 * HOLD);
    }

    /// Successes of attempts sent before the last decrease do not grow the window:
    /// they were sent under the old size.
    #[test]
    fn successes_sent_before_a_decrease_do_not_grow_the_window() {
        let mut window = Window::new(8);
        for _ in 0..8 {
            window.sent();
        }
        window.returned();
        window.throttled(8);
        assert_eq!(window.places(), 4);
        for _ in 0..7 {
            window.returned();
            window.succeeded(8);
        }
        assert_eq!(window.places(), 4);
    }

    /// Shares learned under one load are not trusted forever: after a long spell of
    /// random throttles, a quota that comes is still found and kept to.
    #[test]
    fn a_quota_that_comes_after_random_throttles_is_still_kept_to() {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        let mut bucket = quota(4.6, 4.6 * 77.0);
        let mut phase_two = (0u32, 0u32);
        let run = simulate(8, 20_000, |tick| {
            if tick < 10_000 {
                rand::RngExt::random::<f64>(&mut rng) < 0.3
            } else {
                let throttled = bucket(tick);
                phase_two.0 += 1;
                phase_two.1 += u32::from(throttled);
                throttled
            }
        });
        let share = f64::from(phase_two.1) / f64::from(phase_two.0);
        assert!(
            share <= 0.05,
            "{share} of the quota's attempts throttled: {run:?}"
        );
        // And the quota is used: the second half's goodput near 4.6 a tick.
        let second_half = (f64::from(phase_two.0) - f64::from(phase_two.1)) / 10_000.0;
        assert!(second_half >= 4.6 / 1.2, "{second_half} a tick: {run:?}");
    }

    /// Throttles at random, whatever the window (other automation spending the quota):
    /// shrinking would not stop them, so the window stays near its most.
    #[test]
    fn throttles_at_random_leave_the_window_near_its_most() {
        for share in [0.1, 0.3] {
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
            let run = simulate(8, 20_000, |_| rand::RngExt::random::<f64>(&mut rng) < share);
            // Eight places make eight calls a tick, of which `share` are throttled.
            assert!(
                run.goodput >= 8.0 * (1.0 - share) * 0.85,
                "{share}: {run:?}"
            );
        }
    }

    #[test]
    fn a_throttle_halves_the_window_down_to_one_place() {
        let mut window = Window::new(8);
        round_trips(&mut window, 1, Window::throttled);
        assert_eq!(window.places(), 4);
        round_trips(&mut window, 1, Window::throttled);
        round_trips(&mut window, 1, Window::throttled);
        round_trips(&mut window, 1, Window::throttled);
        assert_eq!(window.places(), 1, "never below one place");
    }

    /// Eight attempts sent together and all throttled are one signal, not eight: they
    /// were sent under the old window.
    #[test]
    fn throttles_of_attempts_sent_before_the_decrease_are_one_signal() {
        let mut window = Window::new(8);
        for _ in 0..8 {
            window.sent();
        }
        for _ in 0..8 {
            window.returned();
            window.throttled(8);
        }
        assert_eq!(window.places(), 4);
        // The next attempt was sent under the halved window: its throttle counts.
        round_trips(&mut window, 1, Window::throttled);
        assert_eq!(window.places(), 2);
    }

    #[test]
    fn successes_grow_the_window_back_by_one_place_per_window() {
        let mut window = Window::new(8);
        round_trips(&mut window, 1, Window::throttled);
        round_trips(&mut window, 1, Window::throttled);
        assert_eq!(window.places(), 2);
        // At two places, a window's worth of successes (2 + 1/2 + 1/2.5) is not yet a
        // third place; one more success is.
        round_trips(&mut window, 2, Window::succeeded);
        assert_eq!(window.places(), 2);
        round_trips(&mut window, 1, Window::succeeded);
        assert_eq!(window.places(), 3);
        round_trips(&mut window, 1000, Window::succeeded);
        assert_eq!(window.places(), 8, "never above --concurrency");
    }

    /// A window keytrim does not fill (users waiting out back-offs, verifying) says
    /// nothing of a larger one: it does not grow; and a throttle brings it to half the
    /// calls that were in flight, not half its size.
    #[test]
    fn only_a_full_window_grows_and_a_throttle_halves_what_was_in_flight() {
        let mut window = Window::new(8);
        round_trips(&mut window, 1, Window::throttled);
        assert_eq!(window.places(), 4);
        for _ in 0..100 {
            window.sent();
            window.returned();
            window.succeeded(1);
        }
        assert_eq!(window.places(), 4, "one call in flight at a time");
        window.sent();
        window.returned();
        window.throttled(2);
        assert_eq!(window.places(), 1, "half of the two calls in flight");
    }

    /// IAM's answers as they come over the wire, judged by the SDK's own classifiers: a
    /// Throttling answer halves the window, a refusal leaves it, a success grows it.
    #[tokio::test]
    async fn the_gate_hears_throttles_as_the_sdk_judges_them() {
        use aws_sdk_iam::config::retry::RetryConfig;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        use aws_smithy_types::body::SdkBody;

        let answer = |status: u16, code: &str| {
            Response::new(
                StatusCode::try_from(status).unwrap(),
                SdkBody::from(format!(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>"
                )),
            )
        };
        let throttled = mock!(aws_sdk_iam::Client::list_users)
            .then_http_response(move || answer(400, "Throttling"));
        let denied = mock!(aws_sdk_iam::Client::get_user)
            .then_http_response(move || answer(403, "AccessDenied"));
        let listed = mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| {
            aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput::builder()
                .set_access_key_metadata(Some(Vec::new()))
                .build()
                .unwrap()
        });
        let gate = AccountGate::new(&CallLimits::new(8, 8));
        let configured = Arc::clone(&gate);
        let iam = mock_client!(
            aws_sdk_iam,
            RuleMode::MatchAny,
            [&throttled, &denied, &listed],
            move |config| config
                .http_client(GatedHttpClient::new(
                    aws_smithy_mocks::create_mock_http_client(),
                    Arc::clone(&configured),
                    crate::aws::ATTEMPT_TIMEOUT,
                ))
                .interceptor(ThrottleWatch::new(Arc::clone(&configured)))
                .retry_config(RetryConfig::disabled())
        );
        let places = || gate.window().places();
        assert!(iam.get_user().send().await.is_err());
        assert_eq!(places(), 8, "a refusal is not a throttle");
        assert!(iam.list_users().send().await.is_err());
        assert_eq!(
            places(),
            1,
            "IAM's Throttling brings the window to half the calls in flight: one"
        );
        iam.list_access_keys()
            .user_name("alice")
            .send()
            .await
            .unwrap();
        assert_eq!(places(), 2, "a success of a full window opens a place");
        for _ in 0..4 {
            iam.list_access_keys()
                .user_name("alice")
                .send()
                .await
                .unwrap();
        }
        assert_eq!(places(), 2, "one call at a time does not fill two places");
        assert_eq!(gate.window().in_flight(), 0, "every place was given back");
    }

    /// Whether `enter` would have to wait now.
    async fn waits(gate: &Arc<AccountGate>) -> bool {
        tokio::time::timeout(std::time::Duration::ZERO, gate.enter())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn a_gate_lets_no_more_than_its_window_and_the_run_allows() {
        let limits = CallLimits {
            run: RunBudget::new(3),
            per_account: 2,
            https: https_client(),
            attempt_timeout: crate::aws::ATTEMPT_TIMEOUT,
        };
        let (first, second) = (AccountGate::new(&limits), AccountGate::new(&limits));
        let a = first.enter().await;
        let _b = first.enter().await;
        assert!(waits(&first).await, "the account's window is full");
        let _c = second.enter().await;
        // The run's budget of three is spent: the other account waits too, and its
        // cancelled wait gives back the window's place it had taken.
        assert!(waits(&second).await);
        drop(a);
        let _d = second.enter().await;
        assert_eq!(first.window().in_flight(), 1);
        assert_eq!(second.window().in_flight(), 2);
    }

    /// Places the window closes while they are in use are kept when they come back,
    /// so the account never has more calls out than its window.
    #[tokio::test]
    async fn places_closed_while_in_use_are_kept_when_they_come_back() {
        let gate = AccountGate::new(&CallLimits::new(8, 4));
        let a = gate.enter().await;
        let b = gate.enter().await;
        let c = gate.enter().await;
        let _d = gate.enter().await;
        drop(a);
        gate.heard(Heard::Throttled);
        assert_eq!(gate.window().places(), 2);
        // Three out, two places: nothing more until two have come back.
        assert!(waits(&gate).await);
        drop(b);
        assert!(waits(&gate).await, "the place given back was owed");
        drop(c);
        let _e = gate.enter().await;
        assert!(waits(&gate).await);
        assert_eq!(gate.window().in_flight(), 2);
    }
}
