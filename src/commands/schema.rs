//! `keytrim schema`: the plan file's JSON Schema.

use crate::error::Result;
use crate::exit::ExitStatus;
use crate::plan;
use crate::shell::output;

pub(super) fn run() -> Result<ExitStatus> {
    output::stdout(&plan::schema::to_json())?;
    Ok(ExitStatus::Ok)
}
