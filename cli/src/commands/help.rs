//! `sm help [VERB] [--format human|md|json]`, generated from the clap definitions.

use clap::{Arg, Command, CommandFactory};
use serde_json::{Value, json};
use sm_kernel::model::SPEC_VERSION;

use crate::args::{Cli, HelpArgs, HelpFormat};
use crate::output::{CliError, Output, exit};

pub fn run(args: &HelpArgs, out: &Output) -> Result<u8, CliError> {
    let mut root = Cli::command();
    root.build();
    let target = find(&root, &args.verb)?;
    let format = if out.json { HelpFormat::Json } else { args.format };
    match format {
        HelpFormat::Human => {
            let mut cmd = target.clone();
            out.print_text(&format!("{}\n", cmd.render_long_help()));
        }
        HelpFormat::Md => out.print_text(&markdown(&root, target, &args.verb)),
        HelpFormat::Json => out.print_json(&json_doc(&root, target, &args.verb)),
    }
    Ok(exit::OK)
}

fn find<'a>(root: &'a Command, path: &[String]) -> Result<&'a Command, CliError> {
    let mut current = root;
    for name in path {
        current = current.find_subcommand(name).ok_or_else(|| {
            let known: Vec<&str> = current.get_subcommands().map(Command::get_name).collect();
            let suggestions: Vec<&str> = known.iter().copied().filter(|k| similar(k, name)).collect();
            let hint = if suggestions.is_empty() {
                format!("known verbs: {}", known.join(", "))
            } else {
                format!("did you mean {}?", suggestions.join(" or "))
            };
            CliError::not_found("unknown-verb", format!("no verb {name:?}; {hint}"))
        })?;
    }
    Ok(current)
}

/// Edit distance ≤ 2, or a prefix.
fn similar(a: &str, b: &str) -> bool {
    if a.starts_with(b) || b.starts_with(a) {
        return true;
    }
    crate::settings::edit_distance(a, b) <= 2
}

fn visible_args(cmd: &Command, globals: bool) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments().filter(move |a| {
        !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version" && a.is_global_set() == globals
    })
}

fn arg_json(a: &Arg) -> Value {
    let values: Vec<String> = a.get_possible_values().iter().map(|v| v.get_name().to_owned()).collect();
    json!({
        "name": a.get_id().as_str(),
        "long": a.get_long().map(|l| format!("--{l}")),
        "short": a.get_short().map(|s| format!("-{s}")),
        "positional": a.is_positional(),
        "required": a.is_required_set(),
        "valueName": a.get_value_names().and_then(|v| v.first()).map(|v| v.as_str()),
        "takesValue": a.get_action().takes_values(),
        "possibleValues": values,
        "env": a.get_env().map(|e| e.to_string_lossy().into_owned()),
        "description": a.get_help().map(|h| h.to_string()).unwrap_or_default(),
    })
}

fn verbs(cmd: &Command, prefix: &str, out: &mut Vec<(String, Command)>) {
    for sub in cmd.get_subcommands() {
        let name = if prefix.is_empty() { sub.get_name().to_owned() } else { format!("{prefix} {}", sub.get_name()) };
        if sub.has_subcommands() {
            verbs(sub, &name, out);
        } else {
            out.push((name, sub.clone()));
        }
    }
}

fn selected(root: &Command, target: &Command, path: &[String]) -> Vec<(String, Command)> {
    let mut list = Vec::new();
    if path.is_empty() {
        verbs(root, "", &mut list);
    } else if target.has_subcommands() {
        verbs(target, &path.join(" "), &mut list);
    } else {
        list.push((path.join(" "), target.clone()));
    }
    list
}

fn json_doc(root: &Command, target: &Command, path: &[String]) -> Value {
    let verbs: Vec<Value> = selected(root, target, path)
        .iter()
        .map(|(name, cmd)| {
            json!({
                "name": name,
                "description": cmd.get_about().map(|a| a.to_string()).unwrap_or_default(),
                "args": visible_args(cmd, false).filter(|a| a.is_positional()).map(arg_json).collect::<Vec<_>>(),
                "flags": visible_args(cmd, false).filter(|a| !a.is_positional()).map(arg_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "cliVersion": env!("CARGO_PKG_VERSION"),
        "specVersion": SPEC_VERSION,
        "globalFlags": visible_args(root, true).map(arg_json).collect::<Vec<_>>(),
        "verbs": verbs,
    })
}

fn flag_label(a: &Arg) -> String {
    let mut label = match (a.get_short(), a.get_long()) {
        (Some(s), Some(l)) => format!("-{s}, --{l}"),
        (None, Some(l)) => format!("--{l}"),
        (Some(s), None) => format!("-{s}"),
        (None, None) => a.get_id().as_str().to_uppercase(),
    };
    if a.get_action().takes_values() && !a.is_positional() {
        let v = a.get_value_names().and_then(|v| v.first()).map_or("VALUE".to_owned(), |v| v.to_string());
        label.push_str(&format!(" <{v}>"));
    }
    label
}

fn md_table(args: Vec<&Arg>) -> String {
    let mut s = String::from("| flag | description |\n|---|---|\n");
    for a in args {
        let mut help = a.get_help().map(|h| h.to_string()).unwrap_or_default().replace('|', "\\|");
        if let Some(env) = a.get_env().filter(|_| !help.contains("env:")) {
            help.push_str(&format!(" [env: {}]", env.to_string_lossy()));
        }
        s.push_str(&format!("| `{}` | {help} |\n", flag_label(a)));
    }
    s
}

fn markdown(root: &Command, target: &Command, path: &[String]) -> String {
    let mut s = String::new();
    if path.is_empty() {
        s.push_str(&format!("# sm {} — command reference\n\n", env!("CARGO_PKG_VERSION")));
        s.push_str("Generated from the command-line definitions by `sm help --format md`.\n\n");
        s.push_str("## Global flags\n\n");
        s.push_str(&md_table(visible_args(root, true).collect()));
        s.push('\n');
    }
    for (name, cmd) in selected(root, target, path) {
        s.push_str(&format!("## `sm {name}`\n\n"));
        if let Some(about) = cmd.get_about() {
            s.push_str(&format!("{about}\n\n"));
        }
        let positionals: Vec<&Arg> = visible_args(&cmd, false).filter(|a| a.is_positional()).collect();
        if !positionals.is_empty() {
            s.push_str("Arguments:\n\n");
            for a in positionals {
                let v = a.get_value_names().and_then(|v| v.first()).map_or("ARG".to_owned(), |v| v.to_string());
                s.push_str(&format!("- `{v}`: {}\n", a.get_help().map(|h| h.to_string()).unwrap_or_default()));
            }
            s.push('\n');
        }
        let flags: Vec<&Arg> = visible_args(&cmd, false).filter(|a| !a.is_positional()).collect();
        if !flags.is_empty() {
            s.push_str(&md_table(flags));
            s.push('\n');
        }
    }
    s
}
