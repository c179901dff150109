//! A seeded population of IAM users with two active keys, drawn to follow published
//! field data, audited and applied against the local IAM with the defaults; every key
//! is read back. It asserts what issue "whole" asks: at least 95% of the users whose
//! other key is idle by the rules end with one active key; no key of a daily or
//! weekly job is switched off, nor of a monthly job where no key is fresh; and with no
//! fresh key the key kept is the one last used. The figures are printed
//! (`--nocapture`) and recorded in docs/performance.md, with the two limits it shows:
//! a quarterly job's key idle 45 days or more is cut, and beside a fresh key the 7-day
//! in-use window cuts monthly and quarterly jobs' old keys.
//!
//! The jobs' protection follows from the thresholds being longer than their periods (a
//! job last ran within its period); what this test adds is that it holds end to end,
//! through the audit, the plan, apply's drift check and IAM. The 95% is measured against
//! the issue's own definition of idle (`Drawn::other_is_idle`), read back from IAM.
//!
//! The field data:
//! - Netskope (1,143 AWS accounts): 60.8% of users hold keys not rotated in 90 days,
//!   40% of keys are more than a year old;
//! - Datadog, State of Cloud Security 2025: 59% of IAM users hold a key older than a
//!   year.
//!
//! So about 60% of the users drawn have no key under 90 days, and the older key is over
//! a year old for about 40% of keys. Each user's main application uses one key daily;
//! the other key is idle (never used, or last used long ago) or belongs to a periodic
//! consumer (daily, weekly, monthly, quarterly job) last used at a uniform point of its
//! period, so its next use is that period later.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::support::{LocalIam, SeededKey};

const PLAN: &str = "plans/123456789012.yaml";
const USERS: usize = 160;

/// Who uses the key that is not the main application's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Other {
    /// Never used.
    Never,
    /// Last used this many days ago, and never again.
    Idle(i64),
    /// A job every `period` days, last run `since` days ago: next run in
    /// `period - since` days.
    Periodic { period: i64, since: i64 },
}

impl Other {
    fn label(self) -> &'static str {
        match self {
            Other::Never | Other::Idle(_) => "idle",
            Other::Periodic { period: 1, .. } => "daily",
            Other::Periodic { period: 7, .. } => "weekly",
            Other::Periodic { period: 30, .. } => "monthly",
            Other::Periodic { .. } => "quarterly",
        }
    }

    fn last_use(self) -> Option<i64> {
        match self {
            Other::Never => None,
            Other::Idle(days) => Some(days),
            Other::Periodic { since, .. } => Some(since),
        }
    }
}

/// One drawn user: the main key (used daily) and the other key, their ages.
#[derive(Debug, Clone)]
struct Drawn {
    name: String,
    main_age: i64,
    other_age: i64,
    other: Other,
    /// The user's SMTP credential for SES (named as the SES console names them).
    ses: bool,
}

impl Drawn {
    fn fresh(&self) -> bool {
        self.main_age < 90 || self.other_age < 90
    }

    /// The key to switch off is idle by the rules: unused 7 days beside a fresh
    /// key, 45 days when no key is fresh (a key never used counts from its creation).
    fn other_is_idle(&self) -> bool {
        let threshold = if self.fresh() { 7 } else { 45 };
        // Beside a fresh key, the rule keeps the newest fresh key: the other key is
        // the one to switch off only when the main key is that one.
        if self.fresh() && !(self.main_age < 90 && self.main_age < self.other_age) {
            return false;
        }
        match self.other.last_use() {
            Some(days) => days >= threshold,
            None => self.other_age >= threshold,
        }
    }
}

fn draw(rng: &mut StdRng, index: usize) -> Drawn {
    // About 60% of users have no key under 90 days (Netskope's 60.8%).
    let no_fresh = rng.random::<f64>() < 0.6;
    // 40% of keys are over a year old: the older key of most stale users.
    let old_age = |rng: &mut StdRng| {
        if rng.random::<f64>() < 0.6 {
            rng.random_range(366..1500)
        } else {
            rng.random_range(91..366)
        }
    };
    let (main_age, other_age) = if no_fresh {
        let a = old_age(rng);
        let b = rng.random_range(90..=a.max(91) - 1);
        // The main application uses either key.
        if rng.random::<bool>() { (a, b) } else { (b, a) }
    } else {
        // A rotation under way: the new key is fresh; usually the application moved.
        let fresh = rng.random_range(1..90);
        let old = old_age(rng);
        if rng.random::<f64>() < 0.8 {
            (fresh, old)
        } else {
            (old, fresh)
        }
    };
    let roll = rng.random::<f64>();
    let other = if roll < 0.15 {
        Other::Never
    } else if roll < 0.65 {
        Other::Idle(rng.random_range(1..=other_age.max(2)))
    } else {
        let period = match rng.random_range(0..4) {
            0 => 1,
            1 => 7,
            2 => 30,
            _ => 90,
        };
        Other::Periodic {
            period,
            since: rng.random_range(0..period),
        }
    };
    let ses = rng.random::<f64>() < 0.02;
    Drawn {
        name: if ses {
            format!("ses-smtp-user.2025{index:04}")
        } else {
            format!("user{index:03}")
        },
        main_age,
        other_age,
        other,
        ses,
    }
}

/// Seed one drawn user: the main key used today, the other as drawn. A key is never
/// used before it was created.
fn seed(iam: &LocalIam, user: &Drawn) -> (SeededKey, SeededKey) {
    iam.create_user(&user.name);
    let main = iam.create_key(&user.name, user.main_age);
    let other = iam.create_key(&user.name, user.other_age);
    iam.use_key(&main, 0);
    if let Some(days) = user.other.last_use() {
        iam.use_key(&other, days.min(user.other_age));
    }
    (main, other)
}

#[test]
fn a_drawn_population_ends_with_one_active_key_where_the_other_is_idle_and_no_job_is_cut() {
    let iam = LocalIam::start();
    let mut rng = StdRng::seed_from_u64(0x00C1_5113);
    let drawn: Vec<Drawn> = (0..USERS).map(|index| draw(&mut rng, index)).collect();
    let keys: Vec<(SeededKey, SeededKey)> = drawn.iter().map(|user| seed(&iam, user)).collect();

    iam.keytrim().arg("audit").assert().code(3);
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    let apply = iam
        .keytrim()
        .args(["apply", "--yes", PLAN])
        .output()
        .unwrap();
    assert!(
        matches!(apply.status.code(), Some(0 | 4)),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );

    let mut idle = (0, 0); // users whose other key is idle: (all, ending with one key)
    let mut cut: std::collections::BTreeMap<(&str, &str), (usize, usize)> = Default::default();
    let mut kept_last_used = (0, 0);
    for (user, (main, other)) in drawn.iter().zip(&keys) {
        let statuses = iam.key_statuses(&user.name);
        let active = |id: &str| statuses.iter().any(|(k, s)| k == id && s == "Active");
        let ones = usize::from(active(&main.id)) + usize::from(active(&other.id));
        assert!(ones >= 1, "{} has no active key: {user:?}", user.name);
        if user.other_is_idle() && !user.ses {
            idle.0 += 1;
            idle.1 += usize::from(ones == 1);
        }
        if let Other::Periodic { .. } = user.other {
            let reading = if user.fresh() {
                "fresh key"
            } else {
                "no fresh key"
            };
            let entry = cut.entry((user.other.label(), reading)).or_default();
            entry.0 += 1;
            entry.1 += usize::from(!active(&other.id));
        }
        // With no fresh key the key kept is the one last used: the main key, unless the
        // other key's job ran today too (then both were used today, and either may stay).
        if !user.fresh() && ones == 1 && user.other.last_use() != Some(0) {
            kept_last_used.0 += 1;
            kept_last_used.1 += usize::from(active(&main.id));
        }
        let planned = plan.users.iter().find(|u| u.user_name == user.name);
        if let Some(planned) = planned.filter(|_| !user.fresh()) {
            assert!(planned.rotation_due || planned.decision == keytrim::rule::Decision::Rotate);
        }
    }

    eprintln!("population of {USERS} users (seed 0x00C15113):");
    eprintln!(
        "  other key idle by the rules (SES users apart): {} users, {} end with one active key ({:.1}%)",
        idle.0,
        idle.1,
        100.0 * idle.1 as f64 / idle.0.max(1) as f64
    );
    for ((label, reading), (all, off)) in &cut {
        eprintln!(
            "  {label} consumers beside {reading}: {all}, switched off before their next use: {off}"
        );
    }
    eprintln!(
        "  no fresh key, one key left: {}, the one last used kept: {}",
        kept_last_used.0, kept_last_used.1
    );

    assert!(idle.0 >= 40, "too few idle users drawn: {}", idle.0);
    assert!(
        idle.1 * 100 >= idle.0 * 95,
        "only {} of {} users with an idle key end with one active key",
        idle.1,
        idle.0
    );
    for ((label, reading), (all, off)) in &cut {
        let protected = matches!(*label, "daily" | "weekly")
            || (*label == "monthly" && *reading == "no fresh key");
        if protected {
            assert_eq!(
                *off, 0,
                "{off} of {all} {label} consumers beside {reading} cut off"
            );
        }
    }
    assert_eq!(
        kept_last_used.0, kept_last_used.1,
        "a key not last used was kept"
    );
}
