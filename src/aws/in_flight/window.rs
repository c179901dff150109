//! One account's window of calls in flight: the pure rule of how many attempts may be
//! on the wire, without clocks, tasks or the SDK (`AccountGate` applies it). It falls
//! by half when IAM throttles and grows back by one place per window's worth of
//! successes, and learns how often each size is throttled (see `Window`).

/// What the window multiplies itself by when IAM throttles.
const DECREASE: f64 = 0.5;

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
}
