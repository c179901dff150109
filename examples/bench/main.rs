//! The benchmark behind `scripts/bench.sh`: a local IAM (moto) seeded with N users, the
//! fault proxy adding 20 ms to every request, then keytrim's audit (live and
//! credential-report) and apply against Cloud Custodian's equivalent dry run and the
//! CIS procedure's own method (one `aws iam list-access-keys` process per user, on a
//! sample). Writes BENCHMARKS.md. Never reaches AWS.
//!
//! The local IAM is moto's application served by `scripts/lib/moto_bench_server.py`
//! (waitress, keep-alive, no request log); `moto_server` as shipped is also measured,
//! for comparison. A second, larger account measures keytrim's memory at scale.
//!
//! `--part scale` measures an Organization's audit and apply under throttling instead
//! (`scale.rs`); `--part all` measures both; `--part apply` only applies under
//! throttling, printing the rows without writing the report (set KEYTRIM_BENCH_STDERR
//! to a file to keep every run's stderr).
//!
//! Usage: bench [--part main|scale|all|apply] [--users N] [--scale-users N] [--concurrency N]
//!              [--sample N] [--org-accounts N] [--org-users N] [--many-accounts N]
//!              [--many-users N] [--repeat N] [--out FILE] [--tools DIR] [--python FILE] [--launcher FILE]

// A benchmark harness: it fails loudly on purpose, and reads best whole.
#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::print_stderr,
    clippy::print_stdout
)]

// The benchmark uses part of the integration tests' support.
#[path = "../../tests/it/support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod support;

mod main_part;
mod scale;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use support::LocalIam;
use support::proxy::{FaultProxy, Faults, Tally};

const LATENCY: Duration = Duration::from_millis(20);

#[derive(Clone)]
struct Options {
    part: String,
    org_accounts: usize,
    org_users: usize,
    many_accounts: usize,
    many_users: usize,
    /// Runs of each throttled apply (random, quota) in the scale part.
    repeat: usize,
    users: usize,
    scale_users: usize,
    concurrency: usize,
    sample: usize,
    out: PathBuf,
    tools: PathBuf,
    python: PathBuf,
    launcher: PathBuf,
}

fn options() -> Options {
    let mut options = Options {
        part: "main".to_string(),
        org_accounts: 12,
        org_users: 150,
        many_accounts: 100,
        many_users: 10,
        repeat: 3,
        users: 2000,
        scale_users: 10_000,
        concurrency: 8,
        sample: 40,
        out: PathBuf::from("BENCHMARKS.md"),
        tools: PathBuf::from(".venv-bench/bin"),
        python: PathBuf::from(".venv-bench-iam/bin/python"),
        launcher: PathBuf::from("scripts/lib/moto_bench_server.py"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--part" => options.part = value,
            "--org-accounts" => options.org_accounts = value.parse().expect("--org-accounts N"),
            "--org-users" => options.org_users = value.parse().expect("--org-users N"),
            "--many-accounts" => options.many_accounts = value.parse().expect("--many-accounts N"),
            "--many-users" => options.many_users = value.parse().expect("--many-users N"),
            "--repeat" => options.repeat = value.parse().expect("--repeat N"),
            "--users" => options.users = value.parse().expect("--users N"),
            "--scale-users" => options.scale_users = value.parse().expect("--scale-users N"),
            "--python" => options.python = PathBuf::from(value),
            "--launcher" => options.launcher = PathBuf::from(value),
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
    users: usize,
    two_active: BTreeSet<String>,
    keys: usize,
}

/// 10% no key, 55% one key, 10% one active and one inactive, 25% two active keys.
/// All keys are new (the server runs without libfaketime, which would slow it down):
/// both of a user's keys are under 90 days, so the plan keeps the newer one.
fn seed(iam: &LocalIam, users: usize) -> Seeded {
    let mut seeded = Seeded {
        users,
        ..Seeded::default()
    };
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
        .stderr(match std::env::var_os("KEYTRIM_BENCH_STDERR") {
            // For looking into a run: every run's stderr appended to this file.
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_or_else(|_| std::process::Stdio::null(), std::process::Stdio::from),
            None => std::process::Stdio::null(),
        });
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

/// A local IAM seeded with `users` users, behind the proxy that adds the latency.
struct Account {
    iam: LocalIam,
    seeded: Seeded,
    proxy: FaultProxy,
}

impl Account {
    fn seed(iam: LocalIam, users: usize) -> Account {
        let started = Instant::now();
        eprintln!("seeding {users} users into {} ...", iam.endpoint);
        let seeded = seed(&iam, users);
        eprintln!(
            "seeded {users} users, {} keys, {} with two active keys in {:.0} s",
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
        Account { iam, seeded, proxy }
    }

    fn keytrim(&self, args: &[&str]) -> Command {
        let mut command = self.iam.keytrim_std();
        command
            .env("AWS_ENDPOINT_URL", &self.proxy.endpoint)
            .args(args);
        command
    }

    /// keytrim's audit into `out` in the account's directory, and the users it planned.
    fn audit(&self, source: &str, concurrency: usize, out: &str) -> (Run, BTreeSet<String>) {
        let limit = concurrency.to_string();
        let run = measure(
            self.keytrim(&[
                "audit",
                "-q",
                "--source",
                source,
                "--concurrency",
                &limit,
                "-o",
                out,
            ]),
            &self.proxy,
        );
        (run, plan_users(&self.iam.dir().join(out)))
    }

    /// The time one call takes through the proxy with nothing else in flight: the
    /// added latency plus moto's own work plus the SDK's, averaged over `calls`
    /// sequential ListAccessKeys.
    fn unloaded_call_time(&self, calls: usize) -> f64 {
        let client = support::command::client(&self.proxy.endpoint, "testing", "testing");
        // Users that exist, however few were seeded.
        let seeded = self.seeded.users.clamp(1, 1000);
        let users: Vec<String> = (0..calls)
            .map(|i| format!("user{:05}", i % seeded))
            .collect();
        let started = Instant::now();
        self.iam.block_on(async move {
            for user in users {
                client
                    .list_access_keys()
                    .user_name(user)
                    .send()
                    .await
                    .expect("ListAccessKeys");
            }
        });
        started.elapsed().as_secs_f64() / calls.max(1) as f64
    }

    /// Cloud Custodian's dry run of the same control, and the users it matched.
    fn custodian(&self, tools: &Path) -> (Run, BTreeSet<String>) {
        let dir = self.iam.dir();
        let policy = dir.join("custodian.yml");
        std::fs::write(
            &policy,
            "policies:\n  - name: cis-1-13-two-active-keys\n    resource: iam-user\n    filters:\n      - type: access-key\n        key: Status\n        value: Active\n      - type: value\n        key: 'length(\"c7n:matched-keys\")'\n        value: 2\n        op: gte\n",
        )
        .unwrap();
        let mut command = Command::new(tools.join("custodian"));
        command
            .env_clear()
            .envs(support::isolated_env(dir))
            .env("AWS_ENDPOINT_URL", &self.proxy.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .current_dir(dir)
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
        let run = measure(command, &self.proxy);
        let users = std::fs::read_to_string(
            dir.join("custodian-out/cis-1-13-two-active-keys/resources.json"),
        )
        .ok()
        .and_then(|text| serde_json::from_str::<Vec<serde_json::Value>>(&text).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|user| user["UserName"].as_str().map(String::from))
        .collect();
        (run, users)
    }
}

/// The CIS procedure's own method on a sample: one `aws iam list-access-keys` process
/// per user. Returns seconds per user, the calls, the sampled users and those found.
fn cis_procedure(
    account: &Account,
    tools: &Path,
    sample_size: usize,
    users: usize,
) -> (f64, BTreeMap<String, usize>, Vec<String>, BTreeSet<String>) {
    // A stride coprime with the 20-user pattern, so the sample has every kind of user.
    let sample: Vec<String> = (0..sample_size.min(users))
        .map(|k| format!("user{:05}", (k * 37) % users))
        .collect();
    let started = Instant::now();
    let before = account.proxy.tally();
    let mut found = BTreeSet::new();
    for user in &sample {
        let output = Command::new(tools.join("aws"))
            .env_clear()
            .envs(support::isolated_env(account.iam.dir()))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .args([
                "iam",
                "list-access-keys",
                "--user-name",
                user,
                "--endpoint-url",
                &account.proxy.endpoint,
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
            found.insert(user.clone());
        }
    }
    let per_user = started.elapsed().as_secs_f64() / sample.len().max(1) as f64;
    let calls = difference(&before, &account.proxy.tally());
    (per_user, calls, sample, found)
}

fn row(name: &str, run: &Run, users: usize) -> String {
    let total: usize = run.calls.values().sum();
    format!(
        "| {name} | {:.2} | {:.1} | {} | {:.2} | {} |\n",
        run.wall,
        run.peak_rss_kib as f64 / 1024.0,
        calls_text(&run.calls),
        total as f64 / users.max(1) as f64,
        run.code.map_or("-".to_string(), |c| c.to_string())
    )
}

const TABLE_HEAD: &str = "| run | wall time (s) | peak RSS (MiB) | API calls | calls per user | exit |\n|---|---:|---:|---|---:|---:|\n";

/// Where the report's kept sections start: everything from here on is not the
/// benchmark's to rewrite.
const KEPT_SECTIONS_MARKER: &str =
    "<!-- sections below are measured separately; scripts/bench.sh keeps them -->";

fn main() -> ExitCode {
    let mut options = options();
    // Absolute, not canonical: a virtualenv's python is a symlink that must stay one.
    for path in [&mut options.python, &mut options.launcher] {
        assert!(
            path.exists(),
            "{}: not found; scripts/bench.sh installs the benchmark's moto there",
            path.display()
        );
        *path = std::path::absolute(&*path).unwrap_or_else(|err| {
            panic!(
                "{}: {err}; scripts/bench.sh installs the benchmark's moto there",
                path.display()
            )
        });
    }
    let mut code = ExitCode::SUCCESS;
    if matches!(options.part.as_str(), "main" | "all") {
        code = main_part::main_part(options_with_tools(options.clone()));
    }
    if matches!(options.part.as_str(), "scale" | "all" | "apply") {
        scale::run(&options);
    }
    code
}

fn options_with_tools(mut options: Options) -> Options {
    options.tools = std::fs::canonicalize(&options.tools).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; scripts/bench.sh installs Custodian and the AWS CLI there",
            options.tools.display()
        )
    });
    options
}

fn moto_version(python: &Path) -> String {
    Command::new(python)
        .args(["-c", "import moto; print(moto.__version__)"])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|version| !version.is_empty())
        .unwrap_or_else(|| "unknown version".to_string())
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

/// moto's application served through a launcher script run by `python`, which is given
/// the port to listen on: faster than `moto_server`, and with no fake clock.
fn local_iam_from_launcher(python: &std::path::Path, launcher: &std::path::Path) -> LocalIam {
    LocalIam::launch_command(
        |port| {
            let mut command = std::process::Command::new(python);
            command.arg(launcher).arg(port.to_string());
            command
        },
        &[],
        false,
    )
}
