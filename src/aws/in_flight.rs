//! How many calls are on the wire at once. One budget for the whole run, shared by every
//! account in progress, and within it one window per account, because IAM throttles
//! each account on its own. The window falls by half when IAM throttles a call and
//! grows back by one place per window's worth of successes (additive increase,
//! multiplicative decrease, as TCP does), up to `--concurrency`.
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
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The run's budget, by default, in accounts' worth of `--concurrency`: what 4 accounts
/// audited at once allowed before the budget was shared.
pub(crate) const ACCOUNTS_AT_FULL_SPEED: usize = 4;
/// Calls in flight at once in the whole run, by default.
pub(crate) const DEFAULT_RUN_CALLS: usize = ACCOUNTS_AT_FULL_SPEED * DEFAULT_ACCOUNT_CALLS;
/// Calls in flight at once in one account, by default (`--concurrency`).
pub(crate) const DEFAULT_ACCOUNT_CALLS: usize = 8;
/// Users (or accounts) kept in progress per place: while one waits out a back-off or
/// makes its calls in series, another has a call ready for the place.
pub(crate) const IN_PROGRESS_PER_PLACE: usize = 2;

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
}

impl CallLimits {
    pub(crate) fn new(run_calls: usize, per_account: usize) -> CallLimits {
        CallLimits {
            run: RunBudget::new(run_calls),
            per_account: per_account.max(1),
            https: https_client(),
        }
    }
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits::new(DEFAULT_RUN_CALLS, DEFAULT_ACCOUNT_CALLS)
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
}

impl Window {
    pub(crate) fn new(most: usize) -> Window {
        let most = most.max(1) as f64;
        Window {
            size: most,
            most,
            in_flight: 0,
            returned: 0,
            unheeded_until: 0,
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

    /// Whether another attempt may go on the wire now.
    pub(crate) fn has_room(&self) -> bool {
        self.in_flight < self.places()
    }

    /// An attempt went on the wire.
    pub(crate) fn sent(&mut self) {
        self.in_flight += 1;
    }

    /// An attempt came back (with any answer, or none).
    pub(crate) fn returned(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.returned += 1;
    }

    /// An attempt succeeded: one more place per window's worth of successes.
    pub(crate) fn succeeded(&mut self) {
        self.size = (self.size + 1.0 / self.size).min(self.most);
    }

    /// IAM throttled an attempt: halve the window, once for all the attempts that were
    /// already on the wire when it was last halved (they were sent under the old size).
    pub(crate) fn throttled(&mut self) {
        // `returned` already counts this attempt: it came back before it was judged.
        if self.returned <= self.unheeded_until {
            return;
        }
        self.size = (self.size * DECREASE).max(1.0);
        self.unheeded_until = self.returned + self.in_flight as u64;
    }
}

/// One account's gate: its window, under the run's budget.
#[derive(Debug)]
pub(crate) struct AccountGate {
    window: Mutex<Window>,
    room: Notify,
    run: RunBudget,
}

/// A place on the wire, held for one attempt; given back when dropped (also when the
/// attempt is cancelled by a timeout).
struct Place {
    gate: Arc<AccountGate>,
    /// The run's place; `None` while it is awaited, so that a cancelled wait still
    /// gives the window's place back.
    _run: Option<OwnedSemaphorePermit>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.gate.window().returned();
        self.gate.room.notify_waiters();
    }
}

impl AccountGate {
    pub(crate) fn new(limits: &CallLimits) -> Arc<AccountGate> {
        Arc::new(AccountGate {
            window: Mutex::new(Window::new(limits.per_account)),
            room: Notify::new(),
            run: limits.run.clone(),
        })
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        // The window is plain numbers: a panic elsewhere cannot leave it torn.
        self.window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wait for a place in this account's window, then for one in the run's budget.
    async fn enter(self: &Arc<Self>) -> Place {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut window = self.window();
                if window.has_room() {
                    window.sent();
                    break;
                }
            }
            notified.await;
        }
        // A place in the window is taken first, so an account waiting for room in
        // its own window never holds one of the run's places.
        let mut place = Place {
            gate: Arc::clone(self),
            _run: None,
        };
        place._run = Some(
            Arc::clone(&self.run.places)
                .acquire_owned()
                .await
                .expect("the run's budget is never closed"),
        );
        place
    }

    fn heard(&self, outcome: Heard) {
        let mut window = self.window();
        match outcome {
            Heard::Succeeded => window.succeeded(),
            Heard::Throttled => window.throttled(),
        }
        drop(window);
        self.room.notify_waiters();
    }
}

enum Heard {
    Succeeded,
    Throttled,
}

/// The SDK's HTTP client, with every attempt passing through an account's gate.
#[derive(Debug, Clone)]
pub(crate) struct GatedHttpClient {
    inner: SharedHttpClient,
    gate: Arc<AccountGate>,
}

impl GatedHttpClient {
    pub(crate) fn new(inner: SharedHttpClient, gate: Arc<AccountGate>) -> GatedHttpClient {
        GatedHttpClient { inner, gate }
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
        })
    }
}

#[derive(Debug)]
struct GatedConnector {
    inner: SharedHttpConnector,
    gate: Arc<AccountGate>,
}

impl HttpConnector for GatedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, gate) = (self.inner.clone(), Arc::clone(&self.gate));
        HttpConnectorFuture::new(async move {
            let _place = gate.enter().await;
            inner.call(request).await
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
        match context.output_or_error() {
            Some(Ok(_)) => self.gate.heard(Heard::Succeeded),
            Some(Err(_)) => {
                let judged =
                    run_classifiers_on_ctx(runtime_components.retry_classifiers(), context.inner());
                if matches!(
                    judged,
                    RetryAction::RetryIndicated(RetryReason::RetryableError {
                        kind: ErrorKind::ThrottlingError,
                        ..
                    })
                ) {
                    self.gate.heard(Heard::Throttled);
                }
            }
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Send and return `n` attempts one after another, each with `outcome`.
    fn round_trips(window: &mut Window, n: usize, outcome: fn(&mut Window)) {
        for _ in 0..n {
            window.sent();
            window.returned();
            outcome(window);
        }
    }

    #[test]
    fn a_new_window_is_fully_open_and_holds_its_size() {
        let mut window = Window::new(8);
        for _ in 0..8 {
            assert!(window.has_room());
            window.sent();
        }
        assert!(!window.has_room(), "a ninth attempt while eight are out");
        window.returned();
        assert!(window.has_room());
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
            window.throttled();
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
                ))
                .interceptor(ThrottleWatch::new(Arc::clone(&configured)))
                .retry_config(RetryConfig::disabled())
        );
        let places = || gate.window().places();
        assert!(iam.get_user().send().await.is_err());
        assert_eq!(places(), 8, "a refusal is not a throttle");
        assert!(iam.list_users().send().await.is_err());
        assert_eq!(places(), 4, "IAM's Throttling halves the window");
        for _ in 0..3 {
            iam.list_access_keys()
                .user_name("alice")
                .send()
                .await
                .unwrap();
        }
        assert_eq!(places(), 4, "4 + 1/4 + ... : not yet a fifth place");
        for _ in 0..2 {
            iam.list_access_keys()
                .user_name("alice")
                .send()
                .await
                .unwrap();
        }
        assert_eq!(places(), 5, "a window's worth of successes opens a place");
        assert_eq!(gate.window().in_flight(), 0, "every place was given back");
    }

    #[tokio::test]
    async fn a_gate_lets_no_more_than_its_window_and_the_run_allows() {
        let run = RunBudget::new(3);
        let limits = CallLimits {
            run,
            per_account: 2,
            https: https_client(),
        };
        let (first, second) = (AccountGate::new(&limits), AccountGate::new(&limits));
        let a = first.enter().await;
        let _b = first.enter().await;
        // The account's window is full: a third waits.
        assert!(
            tokio::time::timeout(std::time::Duration::ZERO, first.enter())
                .await
                .is_err()
        );
        let _c = second.enter().await;
        // The run's budget of three is spent: the other account waits too.
        assert!(
            tokio::time::timeout(std::time::Duration::ZERO, second.enter())
                .await
                .is_err()
        );
        drop(a);
        let _d = second.enter().await;
        assert_eq!(first.window().in_flight(), 1);
        assert_eq!(second.window().in_flight(), 2);
    }
}
