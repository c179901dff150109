//! The benchmark behind `scripts/bench.sh`: a local IAM (moto) seeded with N users, the
//! fault proxy adding 20 ms to every request, then keytrim's audit (live and
//! credential-report) and apply against Cloud Custodian's equivalent dry run and the
//! CIS procedure's own method (one `aws iam list-access-keys` process per user, on a
//! sample). Writes BENCHMARKS.md. Never reaches AWS.
//!
//! Usage: bench [--users N] [--concurrency N] [--sample N] [--out FILE]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use support::LocalIam;
use support::proxy::{FaultProxy, Faults, Tally};

const LATENCY: Duration = Duration::from_millis(20);

struct Options {
    users: usize,
    concurrency: usize,
    sample: usize,
    out: PathBuf,
    tools: PathBuf,
}

fn options() -> Options {
    let mut options = Options {
        users: 2000,
        concurrency: 8,
        sample: 40,
        out: PathBuf::from("BENCHMARKS.md"),
        tools: PathBuf::from(".venv-bench/bin"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--users" => options.users = value.parse().expect("--users N"),
            "--concurrency" => options.concurrency = value.parse().expect("--concurrency N"),
            "--sample" => options.sample = value.parse().expect("--sample N"),
            "--out" => options.out = PathBuf::from(value),
            "--tools" => options.tools = PathBuf::from(value),
            other => panic!("unknown option {other}"),
        }
    }
    options
}

/// The shape of the seeded account.
#[derive(Default)]
struct Seeded {
    two_active: BTreeSet<String>,
    keys: usize,
}

/// 10% no key, 55% one key, 10% one active and one inactive, 25% two active keys.
/// All keys are new (the server runs without libfaketime, which would slow it down):
/// both of a user's keys are under 90 days, so the plan keeps the newer one.
fn seed(iam: &LocalIam, users: usize) -> Seeded {
    let mut seeded = Seeded::default();
    let name = |index: usize| format!("user{index:05}");
    let kind = |index: usize| match index % 20 {
        0 | 1 => "none",
        2..=12 => "one",
        13 | 14 => "active+inactive",
        _ => "two",
    };
    let names: Vec<String> = (0..users).map(name).collect();
    let client = iam.iam().clone();
    iam.block_on(keytrim::bounded::map(names, 16, move |user| {
        let client = client.clone();
        async move {
            client
                .create_user()
                .user_name(user)
                .send()
                .await
                .expect("CreateUser");
        }
    }));
    let old_key_users: Vec<usize> = (0..users).filter(|&i| kind(i) == "two").collect();
    let created = create_keys(iam, old_key_users.iter().map(|&i| name(i)).collect());
    seeded.keys += created.len();
    let new_key_users: Vec<usize> = (0..users).filter(|&i| kind(i) != "none").collect();
    let fresh = create_keys(iam, new_key_users.iter().map(|&i| name(i)).collect());
    seeded.keys += fresh.len();
    let inactive: Vec<(String, String)> = (0..users)
        .filter(|&i| kind(i) == "active+inactive")
        .map(|i| {
            let user = name(i);
            let key = create_keys(iam, vec![user.clone()]).remove(0).1;
            (user, key)
        })
        .collect();
    seeded.keys += inactive.len();
    for (user, key) in inactive {
        iam.set_status(&user, &key, false);
    }
    seeded.two_active = old_key_users.iter().map(|&i| name(i)).collect();
    seeded
}

fn create_keys(iam: &LocalIam, users: Vec<String>) -> Vec<(String, String)> {
    let client = iam.iam().clone();
    iam.block_on(keytrim::bounded::map(users, 16, move |user| {
        let client = client.clone();
        async move {
            let key = client
                .create_access_key()
                .user_name(&user)
                .send()
                .await
                .expect("CreateAccessKey")
                .access_key
                .expect("key");
            (user, key.access_key_id)
        }
    }))
}

/// Wall time, peak RSS and calls of one command run through GNU time.
struct Run {
    wall: f64,
    peak_rss_kib: u64,
    calls: BTreeMap<String, usize>,
    code: Option<i32>,
}

fn measure(command: Command, proxy: &FaultProxy) -> Run {
    let before = proxy.tally();
    let timing = tempfile::NamedTempFile::new().unwrap();
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%e %M", "-o"])
        .arg(timing.path())
        .arg(program)
        .args(args)
        .envs(
            command
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    let status = timed.status().expect("/usr/bin/time (GNU time) runs");
    let text = std::fs::read_to_string(timing.path()).unwrap_or_default();
    let mut fields = text.lines().last().unwrap_or("0 0").split_whitespace();
    let wall = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0.0);
    let peak_rss_kib = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
    Run {
        wall,
        peak_rss_kib,
        calls: difference(&before, &proxy.tally()),
        code: status.code(),
    }
}

fn difference(before: &Tally, after: &Tally) -> BTreeMap<String, usize> {
    after
        .received
        .iter()
        .map(|(action, count)| {
            let earlier = before.received.get(action).copied().unwrap_or(0);
            (action.clone(), count - earlier)
        })
        .filter(|(_, count)| *count > 0)
        .collect()
}

fn plan_users(path: &Path) -> BTreeSet<String> {
    let plan = keytrim::plan::load(path).expect("the benchmark's plan");
    plan.users.into_iter().map(|u| u.user_name).collect()
}

fn calls_text(calls: &BTreeMap<String, usize>) -> String {
    calls
        .iter()
        .map(|(action, count)| format!("{action} {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() -> ExitCode {
    let mut options = options();
    options.tools = std::fs::canonicalize(&options.tools).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; scripts/bench.sh installs Custodian and the AWS CLI there",
            options.tools.display()
        )
    });
    let started = Instant::now();
    eprintln!("seeding {} users into a local IAM ...", options.users);
    let iam = LocalIam::start_without_fake_clock();
    let seeded = seed(&iam, options.users);
    eprintln!(
        "seeded {} users, {} keys, {} with two active keys in {:.0} s",
        options.users,
        seeded.keys,
        seeded.two_active.len(),
        started.elapsed().as_secs_f64()
    );
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            latency: LATENCY,
            ..Faults::default()
        },
    );
    let keytrim = |args: &[&str]| {
        let mut command = iam.keytrim_std();
        command.env("AWS_ENDPOINT_URL", &proxy.endpoint).args(args);
        command
    };
    let concurrency = options.concurrency.to_string();

    eprintln!("keytrim audit --source live ...");
    let live = measure(
        keytrim(&[
            "audit",
            "-q",
            "--concurrency",
            &concurrency,
            "-o",
            "live.yaml",
        ]),
        &proxy,
    );
    eprintln!("keytrim audit --source credential-report ...");
    let report = measure(
        keytrim(&[
            "audit",
            "-q",
            "--source",
            "credential-report",
            "--concurrency",
            &concurrency,
            "-o",
            "report.yaml",
        ]),
        &proxy,
    );
    let live_users = plan_users(&iam.dir().join("live.yaml"));
    let report_users = plan_users(&iam.dir().join("report.yaml"));

    eprintln!("Cloud Custodian dry run ...");
    let policy = iam.dir().join("custodian.yml");
    std::fs::write(
        &policy,
        "policies:\n  - name: cis-1-13-two-active-keys\n    resource: iam-user\n    filters:\n      - type: access-key\n        key: Status\n        value: Active\n      - type: value\n        key: 'length(\"c7n:matched-keys\")'\n        value: 2\n        op: gte\n",
    )
    .unwrap();
    let mut custodian_command = Command::new(options.tools.join("custodian"));
    custodian_command
        .env_clear()
        .envs(support::isolated_env(iam.dir()))
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .current_dir(iam.dir())
        .args([
            "run",
            "--dryrun",
            "--cache-period",
            "0",
            "-s",
            "custodian-out",
            "--region",
            "us-east-1",
        ])
        .arg(&policy);
    let custodian = measure(custodian_command, &proxy);
    let custodian_users: BTreeSet<String> = std::fs::read_to_string(
        iam.dir()
            .join("custodian-out/cis-1-13-two-active-keys/resources.json"),
    )
    .ok()
    .and_then(|text| serde_json::from_str::<Vec<serde_json::Value>>(&text).ok())
    .unwrap_or_default()
    .iter()
    .filter_map(|user| user["UserName"].as_str().map(String::from))
    .collect();

    eprintln!(
        "CIS procedure (aws iam list-access-keys per user) on {} users ...",
        options.sample
    );
    // A stride coprime with the 20-user pattern, so the sample has every kind of user.
    let sample: Vec<String> = (0..options.sample.min(options.users))
        .map(|k| format!("user{:05}", (k * 37) % options.users))
        .collect();
    let cli_started = Instant::now();
    let before_cli = proxy.tally();
    let mut cli_found = BTreeSet::new();
    for user in &sample {
        let output = Command::new(options.tools.join("aws"))
            .env_clear()
            .envs(support::isolated_env(iam.dir()))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .args([
                "iam",
                "list-access-keys",
                "--user-name",
                user,
                "--endpoint-url",
                &proxy.endpoint,
                "--output",
                "json",
            ])
            .output()
            .expect("aws runs");
        let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        let active = listed["AccessKeyMetadata"]
            .as_array()
            .map(|keys| keys.iter().filter(|k| k["Status"] == "Active").count())
            .unwrap_or(0);
        if active >= 2 {
            cli_found.insert(user.clone());
        }
    }
    let cli_per_user = cli_started.elapsed().as_secs_f64() / sample.len().max(1) as f64;
    let cli_calls = difference(&before_cli, &proxy.tally());
    let cli_total = cli_per_user * options.users as f64;

    eprintln!("concurrency sweep of the live audit ...");
    let sweep: Vec<(usize, Run)> = [4, 8, 16, 32]
        .into_iter()
        .map(|n| {
            let limit = n.to_string();
            let run = measure(
                keytrim(&["audit", "-q", "--concurrency", &limit, "-o", "sweep.yaml"]),
                &proxy,
            );
            (n, run)
        })
        .collect();

    eprintln!("keytrim apply --yes ...");
    let apply = measure(
        keytrim(&[
            "apply",
            "--yes",
            "-q",
            "--concurrency",
            &concurrency,
            "live.yaml",
        ]),
        &proxy,
    );

    // The floor: the calls an audit cannot avoid, in flight `concurrency` at a time.
    let multi = seeded.two_active.len();
    let floor_calls = 1 + options.users + 2 * multi;
    let floor = floor_calls as f64 / options.concurrency as f64 * LATENCY.as_secs_f64();
    let live_calls: usize = live.calls.values().sum();
    let remediated = live_users.len();
    let apply_calls: usize = apply.calls.values().sum();
    let sample_expected: BTreeSet<String> = sample
        .iter()
        .filter(|u| seeded.two_active.contains(*u))
        .cloned()
        .collect();
    let same = live_users == seeded.two_active
        && report_users == seeded.two_active
        && custodian_users == seeded.two_active
        && cli_found == sample_expected;

    let machine = format!(
        "{} cores, {} GiB memory, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gib(),
        cpu_model()
    );
    let mut text = String::new();
    text.push_str(&format!(
        "# Benchmarks\n\nReproduce with `scripts/bench.sh --users {users} --concurrency {concurrency}` (it installs Cloud Custodian and the AWS CLI into `.venv-bench/`). \
         A local IAM (moto) seeded with {users} users (10% no key, 55% one key, 10% one active and one inactive, 25% two active: {multi} users), \
         behind a proxy that adds {latency} ms to every request. Machine: {machine}; keytrim built with `--release`.\n\n",
        users = options.users,
        concurrency = options.concurrency,
        latency = LATENCY.as_millis(),
    ));
    text.push_str("| run | wall time (s) | peak RSS (MiB) | API calls | calls per user | exit |\n|---|---:|---:|---|---:|---:|\n");
    let row = |name: &str, run: &Run, users: usize| {
        let total: usize = run.calls.values().sum();
        format!(
            "| {name} | {:.2} | {:.1} | {} | {:.2} | {} |\n",
            run.wall,
            run.peak_rss_kib as f64 / 1024.0,
            calls_text(&run.calls),
            total as f64 / users.max(1) as f64,
            run.code.map_or("-".to_string(), |c| c.to_string())
        )
    };
    text.push_str(&row("keytrim audit --source live", &live, options.users));
    text.push_str(&row(
        "keytrim audit --source credential-report",
        &report,
        options.users,
    ));
    text.push_str(&row(
        "custodian run --dryrun (Cloud Custodian)",
        &custodian,
        options.users,
    ));
    text.push_str(&format!(
        "| aws iam list-access-keys per user (CIS procedure), {} sampled, extrapolated | {:.2} | - | {} (sample) | 1.00 | - |\n",
        sample.len(),
        cli_total,
        calls_text(&cli_calls)
    ));
    text.push_str(&row("keytrim apply --yes", &apply, remediated));
    text.push_str(&format!(
        "\n- Same non-compliant users found by every tool: **{}** (keytrim live {}, credential report {}, Custodian {}, CLI sample {} of {} expected).\n",
        if same { "yes" } else { "NO" },
        live_users.len(),
        report_users.len(),
        custodian_users.len(),
        cli_found.len(),
        sample_expected.len()
    ));
    text.push_str(&format!(
        "- keytrim live audit vs Custodian: **{:.1}x** faster; vs the CIS procedure: **{:.1}x** faster.\n",
        custodian.wall / live.wall.max(0.001),
        cli_total / live.wall.max(0.001)
    ));
    text.push_str(&format!(
        "- Floor: {floor_calls} unavoidable calls (1 ListUsers page, {users} ListAccessKeys, {two} GetAccessKeyLastUsed) / concurrency {concurrency} x {latency} ms = {floor:.2} s; the live audit took **{ratio:.2}x** the floor, with {live_calls} calls: {extra} beyond the minimum (1 GetCallerIdentity and {multi} ListUserTags, which the spec requires for exemptions).\n",
        users = options.users,
        two = 2 * multi,
        concurrency = options.concurrency,
        latency = LATENCY.as_millis(),
        ratio = live.wall / floor,
        extra = live_calls as isize - floor_calls as isize,
    ));
    text.push_str(&format!(
        "- Apply: {apply_calls} calls for {remediated} remediated users = **{:.2}** per user (drift list, last-used check, update, verify list).\n",
        apply_calls as f64 / remediated.max(1) as f64
    ));
    text.push_str("\nLive audit by `--concurrency` (same account, same latency):\n\n| concurrency | wall time (s) | floor (s) | ratio |\n|---:|---:|---:|---:|\n");
    for (n, run) in &sweep {
        let floor_n = floor_calls as f64 / *n as f64 * LATENCY.as_secs_f64();
        text.push_str(&format!(
            "| {n} | {:.2} | {:.2} | {:.2} |\n",
            run.wall,
            floor_n,
            run.wall / floor_n
        ));
    }
    std::fs::write(&options.out, &text).expect("write the report");
    println!("{text}");
    eprintln!(
        "benchmark finished in {:.0} s; report in {}",
        started.elapsed().as_secs_f64(),
        options.out.display()
    );
    if same {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn memory_gib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or(0, |kib| (kib + 512 * 1024) / (1024 * 1024))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}
