//! Output paths that are not regular files: `-o /dev/null`, `-o >(jq .)` (a FIFO) and
//! the like are written through, never replaced by a regular file. As root, as in
//! containers and CI, a rename over `/dev/null` would replace the device itself and
//! break every other program on the machine.

use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::process::Command;

use crate::support::{LocalIam, seed_every_decision};

const PLAN: &str = "plans/123456789012.yaml";

fn make_node(program: &str, args: &[&str], path: &Path) -> std::process::Output {
    Command::new(program)
        .arg(path)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program} (coreutils) could not run: {err}"))
}

/// `audit -o FIFO` with a reader at the other end: the reader gets the plan, and the
/// FIFO is still a FIFO.
#[test]
fn an_audit_written_to_a_fifo_reaches_its_reader_and_the_fifo_stays() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    let fifo = iam.dir().join("plan.fifo");
    let made = make_node("mkfifo", &[], &fifo);
    assert!(made.status.success(), "mkfifo: {made:?}");
    let reading = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    iam.keytrim()
        .args(["audit", "-o"])
        .arg(&fifo)
        .assert()
        .code(3);
    let still_a_fifo = std::fs::metadata(&fifo).unwrap().file_type().is_fifo();
    // Whatever keytrim did, the reader is released: opening the FIFO's write end
    // (without blocking) and closing it gives a reader still waiting an end of file.
    if still_a_fifo {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc_nonblock())
            .open(&fifo);
    }
    assert!(still_a_fifo, "the FIFO was replaced by a regular file");
    let received = reading.join().unwrap();
    let plan: keytrim::plan::Plan = serde_yaml::from_str(&received).unwrap();
    assert_eq!(plan.account_id, "123456789012");
    assert!(!plan.users.is_empty());
}

/// O_NONBLOCK on Linux, for opening a FIFO's write end without waiting for a reader.
fn libc_nonblock() -> i32 {
    0o4000
}

/// `report -o` a character device like `/dev/null` (made with mknod in a temporary
/// folder, never the machine's own): written through, and still a device. Skipped,
/// saying so, where mknod is not allowed (CI runs as root, where it is).
#[test]
fn a_report_written_to_a_device_leaves_the_device_in_place() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    iam.keytrim().arg("audit").assert().code(3);
    let null = iam.dir().join("null");
    let made = make_node("mknod", &["c", "1", "3"], &null);
    if !made.status.success() {
        eprintln!(
            "skipped: mknod is not allowed here ({})",
            String::from_utf8_lossy(&made.stderr).trim()
        );
        return;
    }
    iam.keytrim()
        .args(["report", PLAN, "-o"])
        .arg(&null)
        .assert()
        .code(0);
    let kind = std::fs::metadata(&null).unwrap().file_type();
    assert!(kind.is_char_device(), "{kind:?}");
    // A regular file the same way is still written whole, by a rename.
    iam.keytrim()
        .args(["report", PLAN, "-o", "report.html"])
        .assert()
        .code(0);
    assert!(
        std::fs::metadata(iam.dir().join("report.html"))
            .unwrap()
            .is_file()
    );
}
