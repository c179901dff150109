//! How many calls a run may have in flight, resolved once from `--concurrency` and
//! `--max-in-flight`: the one value the gates, the run budget and the users in
//! progress are all taken from.

use super::in_flight::CallLimits;

/// The run's budget, by default, in accounts' worth of `--concurrency`: what 4 accounts
/// audited at once allowed before the budget was shared.
const ACCOUNTS_AT_FULL_SPEED: usize = 4;
/// Calls in flight at once in one account, by default (`--concurrency`).
pub(crate) const DEFAULT_ACCOUNT_CALLS: u32 = 8;
/// Users (or accounts) kept in progress per place: while one waits out a back-off or
/// makes its calls in series, another has a call ready for the place.
const IN_PROGRESS_PER_PLACE: usize = 2;

/// How many calls a run may have in flight: in one account (`--concurrency`, the
/// places of the account's gate) and in the whole run (`--max-in-flight`, four
/// accounts' worth when not given). Resolved once from the options; every limit of a
/// run (the gates, the users in progress) is taken from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Concurrency {
    per_account: usize,
    run: usize,
}

impl Concurrency {
    pub(crate) fn new(per_account: u32, max_in_flight: Option<u32>) -> Concurrency {
        let per_account = (per_account as usize).max(1);
        Concurrency {
            per_account,
            run: max_in_flight.map_or(ACCOUNTS_AT_FULL_SPEED * per_account, |n| n as usize),
        }
    }

    /// Calls in flight at once in one account.
    pub(crate) fn per_account(self) -> usize {
        self.per_account
    }

    /// Users kept in progress in one account: more than its places, so that a user
    /// waiting out a back-off leaves its place to another.
    pub(crate) fn users_in_progress(self) -> usize {
        self.per_account * IN_PROGRESS_PER_PLACE
    }

    /// The limits the run's calls go under.
    pub(crate) fn limits(self) -> CallLimits {
        CallLimits::new(self.run, self.per_account)
    }
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency::new(DEFAULT_ACCOUNT_CALLS, None)
    }
}

/// The limits of a run with the default concurrency (here, so that `in_flight` need
/// not know where its limits come from).
impl Default for CallLimits {
    fn default() -> Self {
        Concurrency::default().limits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default is 8 calls per account, four accounts' worth in the run, and two
    /// users in progress per place; --max-in-flight sets the run's budget alone.
    #[test]
    fn one_value_gives_every_limit() {
        let default = Concurrency::default();
        assert_eq!(default, Concurrency::new(8, None));
        assert_eq!(default.per_account(), 8);
        assert_eq!(default.users_in_progress(), 16);
        assert_eq!(default.run, 32);
        let narrow = Concurrency::new(2, Some(5));
        assert_eq!((narrow.per_account(), narrow.run), (2, 5));
        assert_eq!(narrow.limits().per_account, 2);
        assert_eq!(Concurrency::new(0, None).per_account(), 1);
    }
}
