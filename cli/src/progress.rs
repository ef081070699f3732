//! The ProgressEmitterPort for the terminal: a bar on stderr for long scans, or ndjson events.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sm_kernel::events::{Event, types};
use sm_kernel::ports::ProgressEmitterPort;

use crate::args::ProgressMode;

/// Decides the effective mode: `auto` becomes a bar only on a terminal, never with -q or --json.
pub fn effective_mode(requested: Option<ProgressMode>, quiet: bool, json: bool) -> ProgressMode {
    match requested {
        Some(ProgressMode::Ndjson) => ProgressMode::Ndjson,
        Some(ProgressMode::None) => ProgressMode::None,
        _ if quiet || json || !std::io::stderr().is_terminal() => ProgressMode::None,
        _ => ProgressMode::Auto,
    }
}

/// Writes progress to stderr.
pub struct StderrProgress {
    mode: ProgressMode,
    started: Instant,
    state: Mutex<BarState>,
}

struct BarState {
    last_draw: Option<Instant>,
    drawn: bool,
}

/// A bar appears only once the work has run this long.
const BAR_DELAY: Duration = Duration::from_secs(1);
const BAR_INTERVAL: Duration = Duration::from_millis(100);

impl StderrProgress {
    pub fn new(mode: ProgressMode) -> Self {
        Self { mode, started: Instant::now(), state: Mutex::new(BarState { last_draw: None, drawn: false }) }
    }

    fn draw_bar(&self, event: &Event) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let now = Instant::now();
        if event.event_type == types::SCAN_COMPLETED {
            if state.drawn {
                eprint!("\r\x1b[2K");
                state.drawn = false;
            }
            return;
        }
        if event.event_type != types::SCAN_PROGRESS || now.duration_since(self.started) < BAR_DELAY {
            return;
        }
        if state.last_draw.is_some_and(|t| now.duration_since(t) < BAR_INTERVAL) {
            return;
        }
        let index = event.data.get("index").and_then(|v| v.as_u64()).unwrap_or(0);
        let total = event.data.get("total").and_then(|v| v.as_u64()).unwrap_or(0).max(1);
        let width = 30u64;
        let filled = (index * width / total).min(width) as usize;
        let bar = format!("{}{}", "#".repeat(filled), ".".repeat(width as usize - filled));
        eprint!("\r\x1b[2Kscanning [{bar}] {index}/{total}");
        let _ = std::io::stderr().flush();
        state.last_draw = Some(now);
        state.drawn = true;
    }
}

impl ProgressEmitterPort for StderrProgress {
    fn wants(&self, _event_type: &str) -> bool {
        !matches!(self.mode, ProgressMode::None)
    }

    fn emit(&self, event: &Event) {
        match self.mode {
            ProgressMode::None => {}
            ProgressMode::Auto => self.draw_bar(event),
            ProgressMode::Ndjson => {
                let line = serde_json::to_string(event).expect("events always serialise");
                let stderr = std::io::stderr();
                let mut lock = stderr.lock();
                let _ = writeln!(lock, "{line}");
            }
        }
    }
}
