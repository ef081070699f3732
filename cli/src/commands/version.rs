//! `sm version`

use serde_json::json;
use sm_kernel::model::SPEC_VERSION;

use crate::args::GlobalArgs;
use crate::output::{CliError, Output, exit};
use crate::settings::ScopeContext;
use crate::wiring;

pub fn run(global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let ctx = ScopeContext::resolve(global_scope)?;
    let db = global.db.clone().unwrap_or_else(|| ctx.default_db());
    let db_schema = match wiring::open_existing_storage(&db)? {
        Some(storage) => Some(storage.schema_version().map_err(|e| wiring::storage_error(&db, &e))?),
        None => None,
    };
    let latest = wiring::latest_schema_version();
    if out.json {
        out.print_json(&json!({
            "sm": env!("CARGO_PKG_VERSION"),
            "kernel": sm_kernel::KERNEL_VERSION,
            "spec": SPEC_VERSION,
            "dbSchema": db_schema,
            "dbSchemaLatest": latest,
        }));
    } else {
        let db_line = match db_schema {
            Some(v) => format!("{v} (latest {latest})"),
            None => format!("— (no database; latest {latest})"),
        };
        out.print_text(&format!(
            "sm         {}\nkernel     {}\nspec       {}\ndb-schema  {}\n",
            env!("CARGO_PKG_VERSION"),
            sm_kernel::KERNEL_VERSION,
            SPEC_VERSION,
            db_line
        ));
    }
    Ok(exit::OK)
}
