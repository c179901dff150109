//! The demo behind `scripts/demo.sh`: start a local IAM (moto) on loopback, seed an
//! account that shows every decision, then run the whole cycle against it: audit,
//! show, apply (with verification) and rollback. It needs no AWS account and never
//! reaches AWS.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::ExitCode;

fn run(iam: &support::LocalIam, args: &[&str]) -> Option<i32> {
    println!("\n$ keytrim {}", args.join(" "));
    let output = iam.keytrim().args(args).output().expect("keytrim runs");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    let code = output.status.code();
    println!(
        "(exit code {})",
        code.map_or("none".to_string(), |c| c.to_string())
    );
    code
}

fn main() -> ExitCode {
    println!("Starting a local IAM (moto under libfaketime) on 127.0.0.1 ...");
    let iam = support::LocalIam::start();
    println!("Local IAM at {}; seeding seven users:", iam.endpoint);
    support::seed_every_decision(&iam);
    println!("  carol, dave, nokey: compliant (one active key or none)");
    println!("  alice: keys 200 and 10 days old             -> deactivate the old one");
    println!("  hank:  old key used 2 days ago              -> hold for review");
    println!("  rita:  both keys older than 90 days         -> rotate first");
    println!("  erin:  tagged keytrim:exempt                -> exempt");

    let audit = run(&iam, &["audit"]);
    let plan = format!("plans/{}.yaml", support::ACCOUNT_ID);
    let show = run(&iam, &["show", &plan]);
    let markdown = run(&iam, &["show", &plan, "--format", "markdown"]);
    println!("\nThe plan file ({}):", iam.dir().join(&plan).display());
    println!(
        "{}",
        std::fs::read_to_string(iam.dir().join(&plan)).unwrap_or_default()
    );

    println!("Applying it: alice's old key is deactivated and verified; hank is held for review.");
    let apply = run(&iam, &["apply", "--yes", &plan]);
    let journal = std::fs::read_dir(iam.dir().join("plans"))
        .expect("plans/")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.to_string_lossy().ends_with(".journal.jsonl"))
        .expect("apply wrote a journal");
    let journal = journal
        .strip_prefix(iam.dir())
        .unwrap_or(&journal)
        .display()
        .to_string();
    println!("\nThe journal ({journal}):");
    print!(
        "{}",
        std::fs::read_to_string(iam.dir().join(&journal)).unwrap_or_default()
    );
    let again = run(&iam, &["apply", "--yes", &plan]);
    println!("\nRolling the apply back from its journal:");
    let rollback = run(&iam, &["rollback", "--yes", &journal]);

    // audit exits 3 (not compliant) and apply 4 (hank is held), as intended.
    let expected = [Some(3), Some(0), Some(0), Some(4), Some(4), Some(0)];
    let got = [audit, show, markdown, apply, again, rollback];
    if got == expected {
        println!("\nDemo finished: local IAM stopped, nothing reached AWS.");
        ExitCode::SUCCESS
    } else {
        eprintln!("Demo failed: exit codes {got:?}, expected {expected:?}");
        ExitCode::FAILURE
    }
}
