//! The account that shows every decision, seeded into a local IAM.

use super::local_iam::{LocalIam, SeededKey};

/// The keys of the account that shows every decision.
pub(crate) struct EveryDecision {
    /// alice: deactivate `alice_old`, keep `alice_new`.
    pub alice_old: SeededKey,
    pub alice_new: SeededKey,
    /// hank: `hank_old` was used two days ago, so its deactivation is held.
    pub hank_old: SeededKey,
    pub hank_new: SeededKey,
    /// rita: both keys are older than 90 days; the older was used 30 days ago (a
    /// monthly job), the newer a day ago: keep the newer, hold the older, and the
    /// kept key is due for rotation.
    pub rita_older: SeededKey,
    pub rita_old: SeededKey,
    /// erin: two keys, exempt by tag.
    pub erin_a: SeededKey,
    pub erin_b: SeededKey,
}

/// Seed seven users: carol (one key), dave (one active, one inactive), nokey (none) are
/// compliant; alice, hank, rita and erin show deactivate, hold (with a fresh key and
/// without one) and exempt. `rotate` comes only with `audit --require-fresh-key`, which
/// makes rita one.
pub(crate) fn seed_every_decision(iam: &LocalIam) -> EveryDecision {
    for user in ["alice", "carol", "dave", "hank", "nokey", "rita"] {
        iam.create_user(user);
    }
    iam.create_user_with_tags("erin", &[("keytrim:exempt", "break-glass account")]);

    iam.create_key("carol", 400);
    iam.create_key("dave", 300);
    let dave_new = iam.create_key("dave", 20);
    iam.set_status("dave", &dave_new.id, false);

    let alice_old = iam.create_key("alice", 200);
    iam.use_key(&alice_old, 30);
    let alice_new = iam.create_key("alice", 10);
    iam.use_key(&alice_new, 1);

    let hank_old = iam.create_key("hank", 150);
    iam.use_key(&hank_old, 2);
    let hank_new = iam.create_key("hank", 5);

    let rita_older = iam.create_key("rita", 120);
    iam.use_key(&rita_older, 30);
    let rita_old = iam.create_key("rita", 100);
    iam.use_key(&rita_old, 1);

    let erin_a = iam.create_key("erin", 400);
    let erin_b = iam.create_key("erin", 3);

    EveryDecision {
        alice_old,
        alice_new,
        hank_old,
        hank_new,
        rita_older,
        rita_old,
        erin_a,
        erin_b,
    }
}
