//! `keytrim show PLAN`: validate a plan and render it (text, Markdown, JSON, SARIF).

use std::io::IsTerminal;

use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::plan::{self, render};
use crate::shell::cli::{ShowArgs, ShowFormat};
use crate::shell::output;
use crate::shell::style::{self, Palette};

use super::Settings;

pub(super) fn run(settings: &Settings, args: &ShowArgs) -> Result<ExitStatus> {
    let plan = plan::load(&args.plan)?;
    let text = match args.format {
        ShowFormat::Text => {
            let palette = Palette::new(
                settings.color,
                style::no_color_set(),
                std::io::stdout().is_terminal(),
            );
            render::to_text_styled(&plan, &palette)
        }
        ShowFormat::Markdown => render::to_markdown(&plan),
        ShowFormat::Json => render::to_json(&plan),
        ShowFormat::Sarif => {
            // The plan was just read and validated, so it is there and small.
            let text = std::fs::read_to_string(&args.plan).map_err(|err| Error::Plan {
                path: args.plan.display().to_string(),
                detail: err.to_string(),
            })?;
            let uri = args.plan.to_string_lossy().replace('\\', "/");
            render::to_sarif(&plan, &text, uri.trim_start_matches("./"))
        }
    };
    output::stdout(&text)?;
    Ok(ExitStatus::Ok)
}
