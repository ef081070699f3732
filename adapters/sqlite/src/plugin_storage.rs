//! Storage for plugins, in the two modes a manifest can declare.
//!
//! - **kv** — the shared table `state_plugin_kv`, scoped by plugin and optionally by node:
//!   [`KvStore`] with `get`, `set`, `delete`, `list(prefix)` and typed errors ([`KvError`]).
//! - **dedicated** — the plugin's own tables, all named `plugin_<normalised id>_…`. Its migrations
//!   are parsed with a real SQL parser (sqlparser, SQLite dialect) and rejected unless every
//!   statement is DDL or seed DML on prefixed objects ([`validate_migration`]); they are recorded in
//!   the ledger `config_schema_versions` with scope `plugin`. At run time the plugin gets a
//!   [`ScopedConnection`] that accepts only single `SELECT`/`INSERT`/`UPDATE`/`DELETE` statements
//!   over its own tables.

use std::ops::ControlFlow;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use sqlparser::ast::{ObjectName, ObjectNamePart, ObjectType, Statement, visit_relations};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value, in bytes of JSON text.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Why a KV operation was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KvError {
    #[error("invalid key {key:?}: {reason}")]
    KeyInvalid { key: String, reason: String },
    #[error("value is not serialisable as JSON: {0}")]
    ValueNotSerializable(String),
    #[error("value is {bytes} bytes, over the {limit}-byte limit")]
    ValueTooLarge { bytes: usize, limit: usize },
    #[error("storage operation failed: {0}")]
    OperationFailed(String),
}

/// `lowercase`, runs of anything but `[a-z0-9]` → `_`, trimmed of `_`.
pub fn normalize_plugin_id(id: &str) -> String {
    let mut out = String::new();
    let mut underscore = false;
    for c in id.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            underscore = false;
        } else if !underscore {
            out.push('_');
            underscore = true;
        }
    }
    out.trim_matches('_').to_owned()
}

/// The table-name prefix of a plugin in dedicated mode.
pub fn table_prefix(plugin_id: &str) -> String {
    format!("plugin_{}_", normalize_plugin_id(plugin_id))
}

/// A plugin's view of `state_plugin_kv`.
pub struct KvStore<'c> {
    conn: &'c Connection,
    plugin_id: String,
}

impl<'c> KvStore<'c> {
    pub fn new(conn: &'c Connection, plugin_id: &str) -> Self {
        Self { conn, plugin_id: plugin_id.to_owned() }
    }

    fn check_key(key: &str) -> Result<(), KvError> {
        let bad = |reason: &str| Err(KvError::KeyInvalid { key: key.to_owned(), reason: reason.to_owned() });
        if key.is_empty() {
            return bad("empty");
        }
        if key.len() > MAX_KEY_BYTES {
            return bad(&format!("{} bytes, over {MAX_KEY_BYTES}", key.len()));
        }
        if key.chars().any(char::is_control) {
            return bad("contains a control character");
        }
        Ok(())
    }

    fn fail(e: rusqlite::Error) -> KvError {
        KvError::OperationFailed(e.to_string())
    }

    /// The value at `key` (node-scoped when `node` is given).
    pub fn get(&self, key: &str, node: Option<&str>) -> Result<Option<Value>, KvError> {
        Self::check_key(key)?;
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT value_json FROM state_plugin_kv WHERE plugin_id = ?1 AND node_id = ?2 AND key = ?3",
                params![self.plugin_id, node.unwrap_or(""), key],
                |r| r.get(0),
            )
            .optional()
            .map_err(Self::fail)?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| KvError::OperationFailed(e.to_string()))).transpose()
    }

    /// Stores `value` (any JSON; non-finite numbers cannot be represented and are refused).
    pub fn set(&self, key: &str, value: &Value, node: Option<&str>, now_ms: u64) -> Result<(), KvError> {
        Self::check_key(key)?;
        let text = serde_json::to_string(value).map_err(|e| KvError::ValueNotSerializable(e.to_string()))?;
        if text.len() > MAX_VALUE_BYTES {
            return Err(KvError::ValueTooLarge { bytes: text.len(), limit: MAX_VALUE_BYTES });
        }
        self.conn
            .execute(
                "INSERT INTO state_plugin_kv (plugin_id, node_id, key, value_json, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(plugin_id, node_id, key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at",
                params![self.plugin_id, node.unwrap_or(""), key, text, now_ms as i64],
            )
            .map_err(Self::fail)?;
        Ok(())
    }

    /// Stores a value given as JSON text (what crosses the plugin boundary).
    pub fn set_json_text(&self, key: &str, text: &str, node: Option<&str>, now_ms: u64) -> Result<(), KvError> {
        if text.len() > MAX_VALUE_BYTES {
            return Err(KvError::ValueTooLarge { bytes: text.len(), limit: MAX_VALUE_BYTES });
        }
        let value: Value = serde_json::from_str(text).map_err(|e| KvError::ValueNotSerializable(e.to_string()))?;
        self.set(key, &value, node, now_ms)
    }

    /// Deletes `key`; returns whether it existed.
    pub fn delete(&self, key: &str, node: Option<&str>) -> Result<bool, KvError> {
        Self::check_key(key)?;
        let n = self
            .conn
            .execute(
                "DELETE FROM state_plugin_kv WHERE plugin_id = ?1 AND node_id = ?2 AND key = ?3",
                params![self.plugin_id, node.unwrap_or(""), key],
            )
            .map_err(Self::fail)?;
        Ok(n > 0)
    }

    /// Keys starting with `prefix` (all keys when empty), sorted.
    pub fn list(&self, prefix: &str, node: Option<&str>) -> Result<Vec<String>, KvError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key FROM state_plugin_kv WHERE plugin_id = ?1 AND node_id = ?2 ORDER BY key")
            .map_err(Self::fail)?;
        let keys = stmt
            .query_map(params![self.plugin_id, node.unwrap_or("")], |r| r.get::<_, String>(0))
            .map_err(Self::fail)?
            .filter_map(Result::ok)
            .filter(|k| k.starts_with(prefix))
            .collect();
        Ok(keys)
    }
}

/// Why SQL from a plugin was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PluginSqlError {
    #[error("not valid SQL: {0}")]
    Parse(String),
    #[error("statement not allowed for a plugin: {0}")]
    Forbidden(String),
    #[error("{object} is outside the plugin's prefix {prefix}")]
    OutsidePrefix { object: String, prefix: String },
    #[error("expected exactly one statement, got {0}")]
    StatementCount(usize),
    #[error("database error: {0}")]
    Database(String),
}

fn parse(sql: &str) -> Result<Vec<Statement>, PluginSqlError> {
    Parser::parse_sql(&SQLiteDialect {}, sql).map_err(|e| PluginSqlError::Parse(e.to_string()))
}

/// The object's own name, checked: a schema qualifier may only be `main`.
fn object_name(name: &ObjectName) -> Result<String, PluginSqlError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect();
    match parts.as_slice() {
        [table] => Ok(table.clone()),
        [schema, table] if schema.eq_ignore_ascii_case("main") => Ok(table.clone()),
        _ => Err(PluginSqlError::Forbidden(format!("{name}: only the main database is reachable"))),
    }
}

fn require_prefix(name: &ObjectName, prefix: &str) -> Result<(), PluginSqlError> {
    let table = object_name(name)?;
    if table.to_ascii_lowercase().starts_with(prefix) && table.len() > prefix.len() {
        Ok(())
    } else {
        Err(PluginSqlError::OutsidePrefix { object: table, prefix: prefix.to_owned() })
    }
}

/// Every table the statement reads or writes (queries, subqueries, trigger bodies, views) must be
/// the plugin's own.
fn relations_in_prefix(stmt: &Statement, prefix: &str) -> Result<(), PluginSqlError> {
    let mut failure = None;
    let _ = visit_relations(stmt, |rel: &ObjectName| match require_prefix(rel, prefix) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            failure = Some(e);
            ControlFlow::Break(())
        }
    });
    failure.map_or(Ok(()), Err)
}

fn keyword(stmt: &Statement) -> String {
    stmt.to_string().split_whitespace().take(2).collect::<Vec<_>>().join(" ").to_uppercase()
}

/// Checks one plugin migration: DDL (`CREATE`/`DROP`/`ALTER` of tables, indexes, views, triggers)
/// and seed DML, every object and every referenced table inside `plugin_<id>_`. Rejected: DDL on
/// kernel tables, triggers on kernel tables, `ATTACH`/`DETACH`, `PRAGMA`, transactions, `VACUUM`,
/// schema qualifiers other than `main`, anything else.
pub fn validate_migration(sql: &str, plugin_id: &str) -> Result<usize, PluginSqlError> {
    let prefix = table_prefix(plugin_id);
    let statements = parse(sql)?;
    for stmt in &statements {
        match stmt {
            Statement::CreateTable(t) => require_prefix(&t.name, &prefix)?,
            Statement::CreateIndex(i) => {
                if let Some(name) = &i.name {
                    require_prefix(name, &prefix)?;
                }
                require_prefix(&i.table_name, &prefix)?;
            }
            Statement::CreateView(v) => require_prefix(&v.name, &prefix)?,
            Statement::CreateTrigger(t) => {
                require_prefix(&t.name, &prefix)?;
                require_prefix(&t.table_name, &prefix)?;
            }
            Statement::Drop { object_type, names, .. } => {
                if !matches!(object_type, ObjectType::Table | ObjectType::Index | ObjectType::View) {
                    return Err(PluginSqlError::Forbidden(keyword(stmt)));
                }
                for n in names {
                    require_prefix(n, &prefix)?;
                }
            }
            Statement::DropTrigger(t) => {
                require_prefix(&t.trigger_name, &prefix)?;
                if let Some(table) = &t.table_name {
                    require_prefix(table, &prefix)?;
                }
            }
            Statement::AlterTable(a) => require_prefix(&a.name, &prefix)?,
            Statement::Insert(_) | Statement::Update { .. } | Statement::Delete(_) => {}
            other => return Err(PluginSqlError::Forbidden(keyword(other))),
        }
        relations_in_prefix(stmt, &prefix)?;
    }
    Ok(statements.len())
}

/// Applies a dedicated-mode plugin's pending migrations `(version, name, sql)`, each in its own
/// transaction, after validating all of them. Returns the versions applied now.
pub fn apply_plugin_migrations(
    conn: &mut Connection,
    plugin_id: &str,
    migrations: &[(u32, String, String)],
    now_ms: u64,
) -> Result<Vec<u32>, PluginSqlError> {
    for (version, name, sql) in migrations {
        validate_migration(sql, plugin_id).map_err(|e| match e {
            PluginSqlError::Database(_) => e,
            other => PluginSqlError::Forbidden(format!("migration {version:03} {name}: {other}")),
        })?;
    }
    let db = |e: rusqlite::Error| PluginSqlError::Database(e.to_string());
    let applied: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM config_schema_versions WHERE scope = 'plugin' AND owner_id = ?1",
            params![plugin_id],
            |r| r.get(0),
        )
        .map_err(db)?;
    let mut done = Vec::new();
    for (version, name, sql) in migrations.iter().filter(|(v, _, _)| i64::from(*v) > applied) {
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(sql).map_err(db)?;
        tx.execute(
            "INSERT INTO config_schema_versions (scope, owner_id, version, description, applied_at) VALUES ('plugin', ?1, ?2, ?3, ?4)",
            params![plugin_id, version, name, now_ms as i64],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        done.push(*version);
    }
    Ok(done)
}

/// A connection a dedicated-mode plugin may use: one DML or `SELECT` statement at a time, over its
/// own tables only.
pub struct ScopedConnection<'c> {
    conn: &'c Connection,
    prefix: String,
}

impl<'c> ScopedConnection<'c> {
    pub fn new(conn: &'c Connection, plugin_id: &str) -> Self {
        Self { conn, prefix: table_prefix(plugin_id) }
    }

    fn check(&self, sql: &str) -> Result<(), PluginSqlError> {
        let statements = parse(sql)?;
        if statements.len() != 1 {
            return Err(PluginSqlError::StatementCount(statements.len()));
        }
        let stmt = &statements[0];
        match stmt {
            Statement::Query(_) | Statement::Insert(_) | Statement::Update { .. } | Statement::Delete(_) => {}
            other => return Err(PluginSqlError::Forbidden(keyword(other))),
        }
        relations_in_prefix(stmt, &self.prefix)
    }

    /// Runs an `INSERT`/`UPDATE`/`DELETE`; returns the rows changed.
    pub fn execute(&self, sql: &str, args: &[Value]) -> Result<usize, PluginSqlError> {
        self.check(sql)?;
        let params: Vec<rusqlite::types::Value> = args.iter().map(to_sql).collect();
        self.conn.execute(sql, rusqlite::params_from_iter(params)).map_err(|e| PluginSqlError::Database(e.to_string()))
    }

    /// Runs a `SELECT`; rows come back as JSON objects keyed by column name.
    pub fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<serde_json::Map<String, Value>>, PluginSqlError> {
        self.check(sql)?;
        let db = |e: rusqlite::Error| PluginSqlError::Database(e.to_string());
        let mut stmt = self.conn.prepare(sql).map_err(db)?;
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let params: Vec<rusqlite::types::Value> = args.iter().map(to_sql).collect();
        let mut rows = stmt.query(rusqlite::params_from_iter(params)).map_err(db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            let mut obj = serde_json::Map::new();
            for (i, c) in columns.iter().enumerate() {
                obj.insert(c.clone(), from_sql(row.get_ref(i).map_err(db)?));
            }
            out.push(obj);
        }
        Ok(out)
    }
}

fn to_sql(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as S;
    match v {
        Value::Null => S::Null,
        Value::Bool(b) => S::Integer(i64::from(*b)),
        Value::Number(n) => n.as_i64().map(S::Integer).unwrap_or_else(|| S::Real(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => S::Text(s.clone()),
        other => S::Text(other.to_string()),
    }
}

fn from_sql(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
    }
}

// ---------------------------------------------------------------------------------------------
// The PluginStoragePort
// ---------------------------------------------------------------------------------------------

use std::path::PathBuf;
use std::sync::Mutex;

use sm_kernel::ports::{PluginStorageMode, PluginStoragePort, StorageCallError};

/// Plugin storage on the project database. The connection opens on first use; a read-only instance
/// (e.g. for `sm scan --dry-run`) refuses writes and does not apply migrations.
pub struct SqlitePluginStorage {
    path: PathBuf,
    read_only: bool,
    conn: Mutex<Option<Connection>>,
}

fn err(code: &str, message: impl Into<String>) -> StorageCallError {
    StorageCallError { code: code.to_owned(), message: message.into() }
}

fn kv_err(e: KvError) -> StorageCallError {
    let code = match e {
        KvError::KeyInvalid { .. } => "key_invalid",
        KvError::ValueNotSerializable(_) => "value_not_serializable",
        KvError::ValueTooLarge { .. } => "value_too_large",
        KvError::OperationFailed(_) => "operation_failed",
    };
    err(code, e.to_string())
}

fn sql_err(e: PluginSqlError) -> StorageCallError {
    let code = match e {
        PluginSqlError::OutsidePrefix { .. } => "outside_prefix",
        PluginSqlError::Database(_) => "operation_failed",
        _ => "sql_forbidden",
    };
    err(code, e.to_string())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl SqlitePluginStorage {
    pub fn new(path: impl Into<PathBuf>, read_only: bool) -> Self {
        Self { path: path.into(), read_only, conn: Mutex::new(None) }
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StorageCallError>,
    ) -> Result<T, StorageCallError> {
        let mut slot = self.conn.lock().map_err(|_| err("operation_failed", "storage lock poisoned"))?;
        if slot.is_none() {
            if self.read_only && !self.path.exists() {
                return Err(err("operation_failed", format!("no database at {}", self.path.display())));
            }
            let mut storage =
                crate::SqliteStorage::open(&self.path).map_err(|e| err("operation_failed", e.to_string()))?;
            if !self.read_only {
                sm_kernel::ports::StoragePort::migrate(&mut storage)
                    .map_err(|e| err("operation_failed", e.to_string()))?;
            }
            *slot = Some(storage.into_connection());
        }
        f(slot.as_mut().expect("opened above"))
    }

    fn write_guard(&self) -> Result<(), StorageCallError> {
        if self.read_only { Err(err("read_only", "storage is read-only in this run (e.g. --dry-run)")) } else { Ok(()) }
    }
}

impl PluginStoragePort for SqlitePluginStorage {
    fn prepare(
        &self,
        plugin_id: &str,
        mode: PluginStorageMode,
        migrations: &[(u32, String, String)],
    ) -> Result<(), StorageCallError> {
        if mode != PluginStorageMode::Dedicated {
            return Ok(());
        }
        for (v, name, sql) in migrations {
            validate_migration(sql, plugin_id)
                .map_err(|e| err("sql_forbidden", format!("migration {v:03} {name}: {e}")))?;
        }
        if self.read_only {
            return Ok(());
        }
        self.with_conn(|conn| {
            apply_plugin_migrations(conn, plugin_id, migrations, now_ms()).map(|_| ()).map_err(sql_err)
        })
    }

    fn call(
        &self,
        plugin_id: &str,
        mode: PluginStorageMode,
        method: &str,
        input: &Value,
    ) -> Result<Value, StorageCallError> {
        let needs = if method.starts_with("kv.") { PluginStorageMode::Kv } else { PluginStorageMode::Dedicated };
        if !(method.starts_with("kv.") || method.starts_with("sql.")) {
            return Err(err("unknown_method", format!("no storage method {method:?}")));
        }
        if needs != mode {
            return Err(err(
                "wrong_mode",
                format!("{method} needs storage mode {needs:?}, the plugin declared {mode:?}"),
            ));
        }
        let key = input["key"].as_str().unwrap_or_default();
        let node = input["node"].as_str();
        let args: Vec<Value> = input["args"].as_array().cloned().unwrap_or_default();
        let sql = input["sql"].as_str().unwrap_or_default();
        self.with_conn(|conn| match method {
            "kv.get" => Ok(serde_json::json!({ "value": KvStore::new(conn, plugin_id).get(key, node).map_err(kv_err)? })),
            "kv.set" => {
                self.write_guard()?;
                let value = input.get("value").ok_or_else(|| err("bad_input", "kv.set needs a value"))?;
                KvStore::new(conn, plugin_id).set(key, value, node, now_ms()).map_err(kv_err)?;
                Ok(serde_json::json!({ "ok": true }))
            }
            "kv.delete" => {
                self.write_guard()?;
                Ok(serde_json::json!({ "deleted": KvStore::new(conn, plugin_id).delete(key, node).map_err(kv_err)? }))
            }
            "kv.list" => {
                let prefix = input["prefix"].as_str().unwrap_or("");
                Ok(serde_json::json!({ "keys": KvStore::new(conn, plugin_id).list(prefix, node).map_err(kv_err)? }))
            }
            "sql.query" => Ok(serde_json::json!({ "rows": ScopedConnection::new(conn, plugin_id).query(sql, &args).map_err(sql_err)? })),
            "sql.execute" => {
                self.write_guard()?;
                Ok(serde_json::json!({ "changed": ScopedConnection::new(conn, plugin_id).execute(sql, &args).map_err(sql_err)? }))
            }
            other => Err(err("unknown_method", format!("no storage method {other:?}"))),
        })
    }
}
