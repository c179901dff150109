//! `keytrim show PLAN...`: validate plans and render them (text, Markdown, JSON, SARIF and
//! ASFF for one plan; CSV for one or more).

use std::io::IsTerminal;

use clap::ValueEnum;

use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::plan::{self, render};
use crate::shell::cli::{ShowArgs, ShowFormat};
use crate::shell::output;
use crate::shell::style::{self, Palette};

use super::Settings;

pub(super) fn run(settings: &Settings, args: &ShowArgs) -> Result<ExitStatus> {
    let path = match (args.format, args.plans.as_slice()) {
        (ShowFormat::Csv, paths) => {
            // Every plan is read and checked before anything is written.
            let plans = paths
                .iter()
                .map(|path| plan::load(path))
                .collect::<Result<Vec<_>>>()?;
            output::stdout(&render::to_csv(&plans))?;
            return Ok(ExitStatus::Ok);
        }
        (_, [one]) => one,
        (format, _) => {
            return Err(Error::Usage(format!(
                "--format {} shows one plan; only --format csv takes several",
                format
                    .to_possible_value()
                    .map_or_else(String::new, |v| v.get_name().to_string())
            )));
        }
    };
    let plan = plan::load(path)?;
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
            let text = std::fs::read_to_string(path).map_err(|err| Error::Plan {
                path: path.display().to_string(),
                detail: err.to_string(),
            })?;
            let uri = path.to_string_lossy().replace('\\', "/");
            render::to_sarif(&plan, &text, uri.trim_start_matches("./"))
        }
        ShowFormat::Asff => {
            let region = super::security_hub_region(settings, &plan.partition)?;
            let none = std::collections::HashMap::new();
            render::to_asff(
                &plan,
                &render::FindingContext {
                    region: &region,
                    updated_at: plan.generated_at,
                    after_runs: &none,
                },
            )
        }
        ShowFormat::Csv => unreachable!("CSV is rendered above"),
    };
    output::stdout(&text)?;
    Ok(ExitStatus::Ok)
}
