//! `sm conformance run`

use serde_json::json;
use sm_conformance::runner::{self, CaseSource, RunOptions};

use crate::args::ConformanceRunArgs;
use crate::output::{CliError, Output, exit, sanitize};

pub fn run(args: &ConformanceRunArgs, out: &Output) -> Result<u8, CliError> {
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map_err(|e| CliError::operational("no-binary", format!("cannot locate the sm binary: {e}")))?,
    };
    let source = args.dir.clone().map_or(CaseSource::Embedded, CaseSource::Dir);
    let options = RunOptions { binary, source, only: args.cases.clone() };
    let outcomes = runner::run(&options).map_err(|e| CliError::operational("conformance-setup", e))?;
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    let failed = outcomes.len() - passed;
    if out.json {
        out.print_json(&json!({
            "passed": passed,
            "failed": failed,
            "cases": outcomes.iter().map(|o| json!({ "id": o.id, "passed": o.passed(), "failures": o.failures })).collect::<Vec<_>>(),
        }));
    } else {
        let mut text = String::new();
        for o in &outcomes {
            let tag = if o.passed() { out.paint("PASS", "32") } else { out.paint("FAIL", "31") };
            text.push_str(&format!("{tag} {}\n", o.id));
            for f in &o.failures {
                text.push_str(&format!("     {}\n", sanitize(f)));
            }
        }
        text.push_str(&format!("{passed} passed, {failed} failed\n"));
        out.print_text(&text);
    }
    Ok(if failed == 0 { exit::OK } else { exit::ISSUES })
}
