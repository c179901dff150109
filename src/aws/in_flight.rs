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

mod window;

pub(crate) use window::Window;

/// The budget of calls in flight for a whole run, shared by every account's gate.
#[derive(Debug, Clone)]
pub(crate) struct InFlightBudget {
    places: Arc<Semaphore>,
}

impl InFlightBudget {
    pub(crate) fn new(size: usize) -> InFlightBudget {
        InFlightBudget {
            places: Arc::new(Semaphore::new(size.max(1))),
        }
    }
}

/// How hard a run may push: its budget, and the most calls one account may have in
/// flight.
#[derive(Debug, Clone)]
pub(crate) struct CallLimits {
    pub run: InFlightBudget,
    pub per_account: usize,
    /// One HTTPS client for the run, so every account shares its connections.
    pub https: SharedHttpClient,
    /// How long one attempt may be on the wire, counted from when it has a place.
    pub attempt_timeout: std::time::Duration,
}

impl CallLimits {
    pub(crate) fn new(run_calls: usize, per_account: usize) -> CallLimits {
        CallLimits {
            run: InFlightBudget::new(run_calls),
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

/// One account's gate: its window, kept as a first-come-first-served semaphore of its
/// open places, under the run's budget.
#[derive(Debug)]
pub(crate) struct AccountGate {
    /// Which account of the run this is, for the SDK's retry partition.
    id: usize,
    state: Mutex<GateState>,
    /// As many permits as the window has places, less those owed.
    places: Arc<Semaphore>,
    run: InFlightBudget,
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
            run: InFlightBudget::new(3),
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
