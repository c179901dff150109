//! A real local IAM for one test: moto's server under libfaketime on a free loopback
//! port, handed from a finished test to the next after moto's own reset; helpers to
//! seed it with users and keys of any age (the calls it received are read in `calls`).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};

use super::command::{client, isolated_env, keytrim_isolated, keytrim_path};

/// The account moto serves unless told otherwise.
pub(crate) const ACCOUNT_ID: &str = "123456789012";

const INSTALL_MOTO: &str = "moto_server not found: install it with `pip install 'moto[server]==5.2.1'` \
     (or run scripts/test.sh, which installs it into .venv), or point KEYTRIM_MOTO_SERVER at it";
const INSTALL_FAKETIME: &str = "libfaketime not found: install it with `apt-get install faketime` \
     (scripts/test.sh does), or point KEYTRIM_LIBFAKETIME at libfaketime.so.1";

pub(super) fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// moto_server: $KEYTRIM_MOTO_SERVER, the project's .venv, then PATH.
fn moto_server_path() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYTRIM_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = project_root().join(".venv/bin/moto_server");
    if venv.is_file() {
        return venv;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("moto_server"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{INSTALL_MOTO}"))
}

/// The Python that runs moto_server (it has botocore, and the standard library's csv
/// module): $KEYTRIM_MOTO_PYTHON, else the `python3` beside moto_server.
pub(crate) fn moto_python() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYTRIM_MOTO_PYTHON") {
        return PathBuf::from(path);
    }
    let beside = moto_server_path().with_file_name("python3");
    assert!(
        beside.is_file(),
        "no python3 beside moto_server: {INSTALL_MOTO}"
    );
    beside
}

fn libfaketime_path() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYTRIM_LIBFAKETIME") {
        return PathBuf::from(path);
    }
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
        "/usr/local/lib/faketime/libfaketime.so.1",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|path| path.is_file())
    .unwrap_or_else(|| panic!("{INSTALL_FAKETIME}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A key created on the local IAM, with its secret so it can sign requests.
#[derive(Debug, Clone)]
pub(crate) struct SeededKey {
    pub id: String,
    pub secret: String,
}

/// A moto_server process, started through a shell that stops it when its standard
/// input closes: when `stop` closes it, and when the test binary exits however it
/// exits, so no server outlives the tests.
struct Server {
    watcher: Child,
    port: u16,
    /// The server's clock file, log and recording.
    files: tempfile::TempDir,
}

/// Servers of the default kind (fake clock, recording, default account), reset and
/// waiting for the next test.
static IDLE_SERVERS: Mutex<Vec<Server>> = Mutex::new(Vec::new());

/// Runs `"$@"` (the server) and stops it when standard input closes; the shell ends
/// with the server, with its exit status (127: the command was not found).
/// (A background job's standard input is /dev/null unless redirected, hence fd 3.)
const STOP_ON_EOF: &str = r#"exec 3<&0
"$@" </dev/null 3<&- & server=$!
( read -r _; kill "$server" 2>/dev/null ) <&3 &
wait "$server""#;

impl Server {
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Back to the state of a fresh server; false if it cannot be.
    fn reset(&mut self) -> bool {
        let endpoint = self.endpoint();
        matches!(self.watcher.try_wait(), Ok(None))
            && std::fs::write(self.files.path().join("clock"), "+0\n").is_ok()
            && ureq::post(&format!("{endpoint}/moto-api/reset"))
                .send_empty()
                .is_ok()
            && ureq::post(&format!("{endpoint}/moto-api/recorder/reset-recording"))
                .send_empty()
                .is_ok()
    }

    fn stop(mut self) {
        drop(self.watcher.stdin.take());
        let _ = self.watcher.wait();
    }
}

/// A moto server for one test. Dropped, it is reset for the next test (the default
/// kind, after a test that passed) or stopped.
pub(crate) struct LocalIam {
    server: Option<Server>,
    reusable: bool,
    pub endpoint: String,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    iam: aws_sdk_iam::Client,
    /// The administrator `turn_auth_on` made, once.
    pub(super) admin: std::sync::OnceLock<SeededKey>,
}

impl LocalIam {
    /// Start a server for the default account.
    pub(crate) fn start() -> LocalIam {
        LocalIam::start_with_env(&[])
    }

    /// Start a server with extra environment, e.g. MOTO_ACCOUNT_ID.
    pub(crate) fn start_with_env(extra_env: &[(&str, &str)]) -> LocalIam {
        LocalIam::launch(extra_env, true)
    }

    /// Start a server with `extra_env`, under libfaketime when `fake_clock` (the
    /// benchmark starts one without, where key ages do not matter).
    pub(crate) fn launch(extra_env: &[(&str, &str)], fake_clock: bool) -> LocalIam {
        let reusable = extra_env.is_empty() && fake_clock;
        if reusable {
            let idle = IDLE_SERVERS.lock().unwrap_or_else(|e| e.into_inner()).pop();
            if let Some(server) = idle {
                return LocalIam::around(server, true);
            }
        }
        let mut iam = LocalIam::launch_command(
            |port| {
                let mut command = Command::new(moto_server_path());
                command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
                command
            },
            extra_env,
            fake_clock,
        );
        iam.reusable = reusable;
        iam
    }

    /// A test's view of a running server: its own working directory and clients.
    fn around(server: Server, reusable: bool) -> LocalIam {
        let endpoint = server.endpoint();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let iam = client(&endpoint, "testing", "testing");
        LocalIam {
            server: Some(server),
            reusable,
            endpoint,
            dir: tempfile::tempdir().expect("a temporary directory"),
            runtime,
            iam,
            admin: std::sync::OnceLock::new(),
        }
    }

    /// Start a server with the command `serve` makes for a port (the benchmark serves
    /// moto's application its own faster way).
    pub(crate) fn launch_command(
        server: impl FnOnce(u16) -> Command,
        extra_env: &[(&str, &str)],
        fake_clock: bool,
    ) -> LocalIam {
        let files = tempfile::tempdir().expect("a temporary directory");
        let clock = files.path().join("clock");
        std::fs::write(&clock, "+0\n").expect("clock file");
        let port = free_port();
        let log = std::fs::File::create(files.path().join("moto.log")).expect("log file");
        let server = server(port);
        let mut command = Command::new("sh");
        command
            .args(["-c", STOP_ON_EOF, "moto-server"])
            .arg(server.get_program())
            .args(server.get_args());
        if fake_clock {
            command
                .env("LD_PRELOAD", libfaketime_path())
                .env("FAKETIME_TIMESTAMP_FILE", &clock)
                .env("FAKETIME_NO_CACHE", "1");
        }
        command
            .env("MOTO_ENABLE_RECORDING", "True")
            .env(
                "MOTO_RECORDER_FILEPATH",
                files.path().join("recording.jsonl"),
            )
            .current_dir(files.path())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let watcher = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start moto_server: {err}; {INSTALL_MOTO}"));
        let server = Server {
            watcher,
            port,
            files,
        };
        let mut iam = LocalIam::around(server, false);
        iam.wait_until_ready(port);
        iam
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("a server until dropped")
    }

    /// Poll until the server answers, or fail with its log.
    fn wait_until_ready(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let watcher = &mut self.server.as_mut().expect("a server").watcher;
            if let Ok(Some(status)) = watcher.try_wait() {
                let hint = if matches!(status.code(), Some(126 | 127)) {
                    INSTALL_MOTO
                } else {
                    ""
                };
                panic!("moto_server exited with {status}: {hint}\n{}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok()
                && ureq::get(&format!("{}/moto-api/data.json", self.endpoint))
                    .call()
                    .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the server printed.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.server().files.path().join("moto.log")).unwrap_or_default()
    }

    /// Set the server's clock by libfaketime's offset syntax (`+2h`, `-3d`, `+0`).
    pub(crate) fn set_clock_offset(&self, offset: &str) {
        std::fs::write(
            self.server().files.path().join("clock"),
            format!("{offset}\n"),
        )
        .expect("clock file");
    }

    /// Move the server's clock `days` into the past (0: back to now).
    pub(crate) fn set_clock_days_ago(&self, days: i64) {
        if days == 0 {
            self.set_clock_offset("+0");
        } else {
            self.set_clock_offset(&format!("-{days}d"));
        }
    }

    /// Seed and inspect another account from now on: an IAM client with the
    /// credentials of a role assumed there (moto serves the account the credentials
    /// belong to). `ACCOUNT_ID` goes back to the default account's admin.
    pub(crate) fn use_account(&mut self, account_id: &str) {
        if account_id == ACCOUNT_ID {
            self.iam = client(&self.endpoint, "testing", "testing");
            return;
        }
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
                .region(aws_sdk_sts::config::Region::new("us-east-1"))
                .endpoint_url(&self.endpoint)
                .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
                .build(),
        );
        let assumed = self
            .block_on(
                sts.assume_role()
                    .role_arn(format!("arn:aws:iam::{account_id}:role/KeytrimSeeder"))
                    .role_session_name("keytrim-tests")
                    .send(),
            )
            .expect("AssumeRole for seeding");
        let credentials = assumed.credentials().expect("credentials");
        let config = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                credentials.access_key_id(),
                credentials.secret_access_key(),
                Some(credentials.session_token().to_string()),
                None,
                "keytrim-tests",
            ))
            .build();
        self.iam = aws_sdk_iam::Client::from_conf(config);
    }

    /// The admin client used for seeding.
    pub(crate) fn iam(&self) -> &aws_sdk_iam::Client {
        &self.iam
    }

    /// Run a future on this server's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Users `<prefix>-deactivate` (keys 200 and 10 days old) and `<prefix>-ok` (one
    /// key), in the account in use; returns the old and new key of the first.
    pub(crate) fn seed_small_account(&self, prefix: &str) -> (SeededKey, SeededKey) {
        let user = format!("{prefix}-deactivate");
        self.create_user(&user);
        let old = self.create_key(&user, 200);
        let new = self.create_key(&user, 10);
        let compliant = format!("{prefix}-ok");
        self.create_user(&compliant);
        self.create_key(&compliant, 5);
        (old, new)
    }

    pub(crate) fn create_user(&self, name: &str) {
        self.create_user_with_tags(name, &[]);
    }

    pub(crate) fn create_user_with_tags(&self, name: &str, tags: &[(&str, &str)]) {
        let mut request = self.iam.create_user().user_name(name);
        for (key, value) in tags {
            request = request.tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(*key)
                    .value(*value)
                    .build()
                    .expect("tag"),
            );
        }
        self.block_on(request.send()).expect("CreateUser");
    }

    /// Tag a user, as the IAM console does when it stores a key's description (the
    /// tag's key is the access key id).
    pub(crate) fn tag_user(&self, name: &str, key: &str, value: &str) {
        let tag = aws_sdk_iam::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .expect("tag");
        self.block_on(self.iam.tag_user().user_name(name).tags(tag).send())
            .expect("TagUser");
    }

    /// Create a key as if it had been created `days_ago` days ago.
    pub(crate) fn create_key(&self, user: &str, days_ago: i64) -> SeededKey {
        self.set_clock_days_ago(days_ago);
        let created = self.block_on(self.iam.create_access_key().user_name(user).send());
        self.set_clock_days_ago(0);
        let key = created.expect("CreateAccessKey").access_key.expect("key");
        SeededKey {
            id: key.access_key_id,
            secret: key.secret_access_key,
        }
    }

    /// Sign a request with the key, as if `days_ago` days ago: IAM records its last use.
    pub(crate) fn use_key(&self, key: &SeededKey, days_ago: i64) {
        self.set_clock_days_ago(days_ago);
        let as_key = client(&self.endpoint, &key.id, &key.secret);
        let used = self.block_on(as_key.list_users().send());
        self.set_clock_days_ago(0);
        used.expect("a call signed with the seeded key");
    }

    /// Sign a request with the key as if `hours` hours from now: a use that comes
    /// after anything keytrim does in this test.
    pub(crate) fn use_key_hours_from_now(&self, key: &SeededKey, hours: u32) {
        self.set_clock_offset(&format!("+{hours}h"));
        let as_key = client(&self.endpoint, &key.id, &key.secret);
        let used = self.block_on(as_key.list_users().send());
        self.set_clock_days_ago(0);
        used.expect("a call signed with the seeded key");
    }

    pub(crate) fn set_status(&self, user: &str, key_id: &str, active: bool) {
        let status = if active {
            aws_sdk_iam::types::StatusType::Active
        } else {
            aws_sdk_iam::types::StatusType::Inactive
        };
        self.block_on(
            self.iam
                .update_access_key()
                .user_name(user)
                .access_key_id(key_id)
                .status(status)
                .send(),
        )
        .expect("UpdateAccessKey");
    }

    /// The status of one of the user's keys, as IAM reports it now.
    pub(crate) fn key_status(&self, user: &str, key_id: &str) -> String {
        self.key_statuses(user)
            .into_iter()
            .find(|(id, _)| id == key_id)
            .map(|(_, status)| status)
            .unwrap_or_else(|| panic!("{key_id} not found for {user}"))
    }

    /// Each key of the user with its status, as IAM reports it now.
    pub(crate) fn key_statuses(&self, user: &str) -> Vec<(String, String)> {
        let listed = self
            .block_on(self.iam.list_access_keys().user_name(user).send())
            .expect("ListAccessKeys");
        let mut keys: Vec<(String, String)> = listed
            .access_key_metadata()
            .iter()
            .map(|key| {
                (
                    key.access_key_id().unwrap_or_default().to_string(),
                    key.status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        keys.sort();
        keys
    }

    /// A `keytrim` command that can reach this server and nothing else: no inherited
    /// AWS settings, no config files, no instance metadata.
    pub(crate) fn keytrim(&self) -> assert_cmd::Command {
        let mut command = keytrim_isolated(self.dir.path());
        command
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
        command
    }

    /// The same command, sending every AWS call to `endpoint` (a fault proxy in front
    /// of this server).
    pub(crate) fn keytrim_via(&self, endpoint: &str) -> assert_cmd::Command {
        let mut command = self.keytrim();
        command.env("AWS_ENDPOINT_URL", endpoint);
        command
    }

    /// The same, as a plain process command (for a pseudo-terminal).
    pub(crate) fn keytrim_std(&self) -> Command {
        let mut command = Command::new(keytrim_path());
        command
            .env_clear()
            .envs(isolated_env(self.dir.path()))
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .current_dir(self.dir.path());
        command
    }

    /// The test's working directory (plans are written below it by default).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl LocalIam {
    /// What the next test gets from this one's server: the same process, reset.
    fn handed_on(mut self) -> LocalIam {
        let mut server = self.server.take().expect("a server");
        assert!(server.reset(), "the server could not be reset");
        LocalIam::around(server, true)
    }
}

#[test]
fn a_server_handed_to_the_next_test_is_as_fresh_as_a_new_one() {
    let iam = LocalIam::start();
    iam.create_user("leftover");
    iam.create_key("leftover", 200);
    iam.create_member_account("member");
    iam.set_clock_days_ago(300);
    let endpoint = iam.endpoint.clone();

    let next = iam.handed_on();
    assert_eq!(next.endpoint, endpoint, "the same server");
    assert!(next.recorded_calls().is_empty(), "the recording is cleared");
    let users = next
        .block_on(next.iam().list_users().send())
        .expect("ListUsers");
    assert!(users.users().is_empty(), "{:?}", users.users());
    let organization = next.block_on(next.organizations().describe_organization().send());
    assert!(organization.is_err(), "the Organization is gone");
    next.create_user("fresh");
    next.block_on(next.iam().create_access_key().user_name("fresh").send())
        .expect("CreateAccessKey");
    let keys = next
        .block_on(next.iam().list_access_keys().user_name("fresh").send())
        .expect("ListAccessKeys");
    let created = keys.access_key_metadata()[0].create_date().expect("a date");
    let age = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .abs_diff(created.secs().unsigned_abs());
    assert!(
        age < 3600,
        "the clock is back to now: the key is {age} s old"
    );
}

impl Drop for LocalIam {
    fn drop(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        // After a failure a keytrim the test started may still be calling the server.
        if self.reusable && !std::thread::panicking() && server.reset() {
            IDLE_SERVERS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(server);
        } else {
            server.stop();
        }
    }
}
