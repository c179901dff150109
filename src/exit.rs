//! The process exit status: what a command's outcome means, as one ordered type. The
//! numbers are decided here and nowhere else (the README's exit codes), and combining
//! the outcomes of several runs or accounts is `max`: the worse one wins.

/// How a keytrim command ended, from best to worst (`Ord` is that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Success: the account is compliant, or the command did everything it was asked.
    Ok,
    /// diff: the two plans differ (exit 3, as audit's findings: a reviewer should look).
    Changed,
    /// audit: the account is not compliant; a plan with work was written (exit 3).
    NotCompliant,
    /// apply/rollback: finished, but some users were declined, held, drifted or
    /// unverified (exit 4).
    Partial,
    /// Bad input, an AWS or I/O failure, a refused plan, a user IAM would not show
    /// (exit 1).
    Error,
    /// A usage mistake: clap's own, or options keytrim refuses together (exit 2).
    Usage,
    /// Interrupted (Ctrl-C); the journal is complete up to that point (exit 130).
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Ok => 0,
            ExitStatus::Error => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Changed | ExitStatus::NotCompliant => 3,
            ExitStatus::Partial => 4,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> std::process::ExitCode {
        std::process::ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Combining is max: an interrupt outranks an error, an error a partial run, a
    /// partial run findings, findings success.
    #[test]
    fn the_worse_outcome_wins_and_each_has_its_documented_code() {
        let combined = [ExitStatus::Partial, ExitStatus::Ok, ExitStatus::Error]
            .into_iter()
            .max();
        assert_eq!(combined, Some(ExitStatus::Error));
        assert!(ExitStatus::Interrupted > ExitStatus::Error);
        assert!(ExitStatus::NotCompliant > ExitStatus::Ok);
        let codes: Vec<u8> = [
            ExitStatus::Ok,
            ExitStatus::Changed,
            ExitStatus::NotCompliant,
            ExitStatus::Partial,
            ExitStatus::Error,
            ExitStatus::Usage,
            ExitStatus::Interrupted,
        ]
        .into_iter()
        .map(ExitStatus::code)
        .collect();
        assert_eq!(codes, [0, 3, 3, 4, 1, 2, 130]);
    }
}
