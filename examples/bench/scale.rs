//! The benchmark at scale (`--part scale`): an Organization's audit against the floor
//! its calls allow at the run's budget, and apply while IAM throttles, against the
//! same apply in a quiet account. Writes its own section of BENCHMARKS.md, between
//! `SCALE_BEGIN` and `SCALE_END`, and keeps the rest of the file.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::support::proxy::{FaultProxy, Faults};
use super::support::{ACCOUNT_ID, LocalIam};
use super::{Options, Run, calls_text, local_iam_from_launcher, measure, seed};

const SCALE_BEGIN: &str = "<!-- scale: written by scripts/bench.sh --part scale -->";
const SCALE_END: &str = "<!-- scale: end -->";
/// The latency of every call in the Organization's runs, as in the setup.
const ORG_LATENCY: Duration = Duration::from_millis(20);
/// The latency of every call in the apply runs.
const APPLY_LATENCY: Duration = Duration::from_millis(10);
/// keytrim's default budget of calls in flight (4 x --concurrency 8).
const BUDGET: usize = 32;
const ROLE: &str = "KeytrimAudit";

/// An Organization in a local IAM: its member accounts, seeded, behind a proxy.
struct Organization {
    iam: LocalIam,
    members: Vec<String>,
    proxy: FaultProxy,
}

impl Organization {
    fn seed(options: &Options, accounts: usize, users: usize) -> Organization {
        let started = Instant::now();
        let mut iam = local_iam_from_launcher(&options.python, &options.launcher);
        let members: Vec<String> = (0..accounts)
            .map(|index| iam.create_member_account(&format!("member-{index:03}")))
            .collect();
        for member in &members {
            iam.use_account(member);
            seed(&iam, users);
        }
        iam.use_account(ACCOUNT_ID);
        // A few users in the management account, for measuring the server's answers.
        seed(&iam, 40);
        eprintln!(
            "seeded {accounts} accounts of {users} users in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        let proxy = FaultProxy::start(
            &iam.endpoint,
            Faults {
                latency: ORG_LATENCY,
                ..Faults::default()
            },
        );
        Organization {
            iam,
            members,
            proxy,
        }
    }

    fn audit(&self, out_dir: &str, extra: &[&str]) -> Run {
        let mut command = self.iam.keytrim_std();
        command
            .env("AWS_ENDPOINT_URL", &self.proxy.endpoint)
            .args(["audit", "-q", "--org-role", ROLE, "--out-dir", out_dir])
            .args(extra);
        let run = measure(command, &self.proxy);
        // 0 or 3: compliant, or work found; anything else is a failed audit.
        assert!(
            matches!(run.code, Some(0 | 3)),
            "the audit of {extra:?} ended with {:?}",
            run.code
        );
        run
    }

    /// Calls a second this server answers with `in_flight` calls always waiting:
    /// ListAccessKeys of the management account's users, through the proxy.
    fn answers_per_second(&self, in_flight: usize, calls: usize) -> f64 {
        let client = super::support::command::client(&self.proxy.endpoint, "testing", "testing");
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..in_flight)
            .map(|_| {
                let (client, next) = (client.clone(), Arc::clone(&next));
                async move {
                    while next.fetch_add(1, Ordering::Relaxed) < calls {
                        let user = format!("user{:05}", next.load(Ordering::Relaxed) % 40);
                        // Users without a key answer as fast: the error is an answer.
                        let _ = client.list_access_keys().user_name(user).send().await;
                    }
                }
            })
            .collect();
        self.iam.block_on(async move {
            let handles: Vec<_> = workers.into_iter().map(tokio::spawn).collect();
            for handle in handles {
                handle.await.expect("a worker ends");
            }
        });
        calls as f64 / started.elapsed().as_secs_f64()
    }
}

fn total(calls: &BTreeMap<String, usize>) -> usize {
    calls.values().sum()
}

/// One Organization: one member alone, then every account, against the floor: the
/// calls the whole audit made, at what this server answers to the run's budget.
fn organization_rows(options: &Options, accounts: usize, users: usize) -> String {
    let org = Organization::seed(options, accounts, users);
    let rate = org.answers_per_second(BUDGET, 3000);
    eprintln!("server: {rate:.0} answers/s at {BUDGET} in flight");
    let one = org.audit("one", &["--accounts", &org.members[0]]);
    let mut text = format!(
        "\n**{accounts} member accounts of {users} users** (plus the management account), every call {} ms late; this server answers {rate:.0} calls/s to {BUDGET} calls in flight.\n\n\
         | run | wall time (s) | calls | floor (s) | ratio |\n|---|---:|---:|---:|---:|\n",
        ORG_LATENCY.as_millis()
    );
    text.push_str(&format!(
        "| one member alone (`--accounts`) | {:.2} | {} | {:.2} | {:.2} |\n",
        one.wall,
        total(&one.calls),
        total(&one.calls) as f64 / rate,
        one.wall / (total(&one.calls) as f64 / rate)
    ));
    for (label, extra) in [
        ("every account, keytrim's defaults", vec![]),
        (
            "every account, 4 in progress (the old default)",
            vec!["--account-concurrency", "4"],
        ),
        (
            "every account, 8 in progress",
            vec!["--account-concurrency", "8"],
        ),
        (
            "every account, 16 in progress",
            vec!["--account-concurrency", "16"],
        ),
    ] {
        let run = org.audit("all", &extra);
        let floor = total(&run.calls) as f64 / rate;
        text.push_str(&format!(
            "| {label} | {:.2} | {} | {floor:.2} | **{:.2}** |\n",
            run.wall,
            total(&run.calls),
            run.wall / floor
        ));
        eprintln!(
            "{label}: {:.2} s, {:.2}x the floor",
            run.wall,
            run.wall / floor
        );
    }
    text
}

/// An apply to measure: its name, the proxy's faults, keytrim's extra environment, and
/// how long it may take before it is stopped (a run known to crawl).
struct Scenario {
    label: &'static str,
    faults: Faults,
    env: Vec<(&'static str, &'static str)>,
    stop_after: Option<Duration>,
    /// How many times to run it: a row each, since runs under throttling vary.
    runs: usize,
}

/// One apply of `plan.yaml` through a proxy with the scenario's faults, then its
/// rollback through no proxy, so that the next apply starts from the same keys.
fn apply_once(iam: &LocalIam, scenario: &Scenario, name: &str) -> (Run, FaultProxy) {
    let proxy = FaultProxy::start(&iam.endpoint, scenario.faults.clone());
    let journal = format!("{name}.journal.jsonl");
    let mut keytrim = iam.keytrim_std();
    keytrim
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .envs(scenario.env.iter().copied())
        .args(["apply", "--yes", "-q", "--journal", &journal, "plan.yaml"]);
    let command = match scenario.stop_after {
        None => keytrim,
        Some(limit) => {
            let mut capped = Command::new("timeout");
            capped
                .arg(limit.as_secs().to_string())
                .arg(keytrim.get_program())
                .args(keytrim.get_args())
                .envs(
                    keytrim
                        .get_envs()
                        .filter_map(|(key, value)| value.map(|value| (key, value))),
                )
                .current_dir(iam.dir());
            capped
        }
    };
    let run = measure(command, &proxy);
    let stopped = scenario.stop_after.is_some() && run.code == Some(124);
    assert!(
        run.code == Some(0) || stopped,
        "{name}: the apply ended with {:?}",
        run.code
    );
    let restored = iam
        .keytrim_std()
        .args(["rollback", "--yes", "-q", &journal])
        .status()
        .expect("keytrim rollback runs");
    assert!(
        restored.success(),
        "{name}: the rollback restores every key"
    );
    (run, proxy)
}

fn apply_rows(options: &Options, users: usize) -> String {
    let iam = local_iam_from_launcher(&options.python, &options.launcher);
    let seeded = seed(&iam, users);
    let audited = iam
        .keytrim_std()
        .args(["audit", "-q", "-o", "plan.yaml"])
        .status()
        .expect("keytrim audit runs");
    assert_eq!(audited.code(), Some(3));
    let quiet = Faults {
        latency: APPLY_LATENCY,
        ..Faults::default()
    };
    let quota = 100.0;
    let random = Faults {
        seed: 7,
        throttle: 0.10,
        ..quiet.clone()
    };
    let limited = Faults {
        rate_limit: Some(quota),
        ..quiet.clone()
    };
    let adaptive = vec![("AWS_RETRY_MODE", "adaptive")];
    let scenarios = [
        Scenario {
            label: "quiet",
            faults: quiet.clone(),
            env: vec![],
            stop_after: None,
            runs: 1,
        },
        Scenario {
            label: "10% of calls throttled at random",
            faults: random.clone(),
            env: vec![],
            stop_after: None,
            runs: options.repeat,
        },
        Scenario {
            label: "a quota of 100 calls/s",
            faults: limited.clone(),
            env: vec![],
            stop_after: None,
            runs: options.repeat,
        },
        Scenario {
            label: "10% throttled at random, AWS_RETRY_MODE=adaptive (stopped after 120 s)",
            faults: random,
            env: adaptive.clone(),
            stop_after: Some(Duration::from_secs(120)),
            runs: 1,
        },
        Scenario {
            label: "a quota of 100 calls/s, AWS_RETRY_MODE=adaptive",
            faults: limited,
            env: adaptive,
            stop_after: None,
            runs: 1,
        },
    ];
    let mut text = format!(
        "\n**Apply under throttling:** one account of {users} users, {} to deactivate, every call {} ms late. \
         The quota is a token bucket of {quota:.0} calls/s holding one second's worth; its floor is the calls beyond the first second's {quota:.0}, at {quota:.0} a second. \
         Attempts are what the proxy received; the SDK's retries repeat a call.\n\n\
         | run | wall time (s) | vs quiet | calls answered | attempts | throttled | share throttled | floor (s) | vs floor |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        seeded.two_active.len(),
        APPLY_LATENCY.as_millis()
    );
    let mut quiet_wall = None;
    let runs = scenarios
        .iter()
        .flat_map(|scenario| (1..=scenario.runs).map(move |number| (scenario, number)));
    for (index, (scenario, number)) in runs.enumerate() {
        let label = if scenario.runs > 1 {
            format!("{} (run {number} of {})", scenario.label, scenario.runs)
        } else {
            scenario.label.to_string()
        };
        let (run, proxy) = apply_once(&iam, scenario, &format!("apply-{index}"));
        let tally = proxy.tally();
        let answered: usize = tally.forwarded.values().sum();
        let received: usize = tally.received.values().sum();
        let throttled = tally.faults.get("throttling").copied().unwrap_or(0)
            + tally.faults.get("rate_exceeded").copied().unwrap_or(0);
        let quiet = *quiet_wall.get_or_insert(run.wall);
        let floor = scenario
            .faults
            .rate_limit
            .map(|quota| answered.saturating_sub(quota as usize) as f64 / quota);
        let wall = if run.code == Some(124) {
            format!("> {:.0} (stopped)", run.wall)
        } else {
            format!("{:.2}", run.wall)
        };
        text.push_str(&format!(
            "| {label} | {wall} | {:.2}x | {answered} | {received} | {throttled} | {:.1}% | {} | {} |\n",
            run.wall / quiet,
            100.0 * throttled as f64 / received.max(1) as f64,
            floor.map_or("-".to_string(), |f| format!("{f:.2}")),
            floor.map_or("-".to_string(), |f| format!("**{:.2}x**", run.wall / f)),
        ));
        eprintln!(
            "apply, {label}: {:.2} s, {throttled} throttled of {received}; {}",
            run.wall,
            calls_text(&run.calls)
        );
    }
    text
}

/// Measure, then put the section into `out` in place of the last one.
pub(crate) fn run(options: &Options) {
    let started = Instant::now();
    let mut section = format!(
        "{SCALE_BEGIN}\n## At scale and under load\n\nReproduce with `scripts/bench.sh --part scale`. keytrim's defaults: {BUDGET} calls in flight in the run, 8 per account, 12 accounts in progress; standard retries, 8 attempts.\n"
    );
    // `--part apply`: only the apply rows, to look into them (not written to the report).
    if options.part == "apply" {
        eprintln!("{}", apply_rows(options, options.users));
        return;
    }
    section.push_str(&organization_rows(
        options,
        options.org_accounts,
        options.org_users,
    ));
    section.push_str(&organization_rows(
        options,
        options.many_accounts,
        options.many_users,
    ));
    section.push_str(&apply_rows(options, options.users));
    section.push_str(&format!("\n{SCALE_END}\n"));
    let previous = std::fs::read_to_string(&options.out).unwrap_or_default();
    let updated = replace_section(&previous, &section);
    std::fs::write(&options.out, updated).expect("write the report");
    println!("{section}");
    eprintln!(
        "scale benchmark finished in {:.0} s; report in {}",
        started.elapsed().as_secs_f64(),
        options.out.display()
    );
}

fn replace_section(previous: &str, section: &str) -> String {
    match (previous.find(SCALE_BEGIN), previous.find(SCALE_END)) {
        (Some(begin), Some(end)) if begin < end => format!(
            "{}{section}{}",
            &previous[..begin],
            previous[end + SCALE_END.len()..].trim_start_matches('\n')
        ),
        _ => format!("{}\n\n{section}", previous.trim_end()),
    }
}
