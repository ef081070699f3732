//! Event envelopes emitted through the ProgressEmitterPort.

use serde::Serialize;
use serde_json::Value;

/// `{type, timestamp, runId, jobId, data}`: one line of the ndjson event stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unix milliseconds.
    pub timestamp: u64,
    pub run_id: Option<String>,
    pub job_id: Option<String>,
    pub data: Value,
}

impl Event {
    pub fn scan(event_type: &str, timestamp: u64, run_id: &str, data: Value) -> Self {
        Self { event_type: event_type.to_owned(), timestamp, run_id: Some(run_id.to_owned()), job_id: None, data }
    }
}

/// Event type names.
pub mod types {
    pub const SCAN_STARTED: &str = "scan.started";
    pub const SCAN_PROGRESS: &str = "scan.progress";
    pub const SCAN_COMPLETED: &str = "scan.completed";
}
