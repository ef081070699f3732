//! `sm graph`

use sm_kernel::graph_query::neighbourhood;

use crate::args::{GlobalArgs, GraphArgs};
use crate::commands::{find_node, load_persisted};
use crate::output::{CliError, Output, exit};
use crate::wiring;

pub fn run(args: &GraphArgs, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let format = if out.json { "json" } else { args.format.as_str() };
    let ctx = crate::settings::ScopeContext::resolve(global_scope)?;
    let settings = crate::settings::Settings::load_with(&ctx, &global.config)?;
    let registry = wiring::extensions(&ctx, global, &settings, false)?.registry;
    let renderer = registry.renderers().iter().find(|r| r.format_id() == format).cloned().ok_or_else(|| {
        let known: Vec<String> = registry.renderers().iter().map(|r| r.format_id()).collect();
        CliError::operational("unknown-format", format!("no renderer {format:?}; available: {}", known.join(", ")))
    })?;
    let mut scan = load_persisted(global, global_scope)?;
    if let Some(root) = &args.root {
        let root = find_node(&scan, root)?.path.clone();
        scan = neighbourhood(&scan, &root, args.depth);
    }
    out.print_text(&renderer.render(&scan));
    Ok(exit::OK)
}
