//! A sink that keeps every decided event in memory, for callers that want the events as well as
//! the files the other sinks write.

use crate::error::OutputError;
use crate::event::{ContractionEvent, OnsetNotice};
use crate::pipeline::{Processed, RunEnd, RunStart, Sink};
use std::sync::{Arc, Mutex};

/// Collects every decided event (for callers that want them in memory as well).
#[derive(Default)]
pub struct EventCollector {
    events: Arc<Mutex<Vec<ContractionEvent>>>,
    onsets: Arc<Mutex<Vec<OnsetNotice>>>,
}

impl EventCollector {
    /// A handle to the events, to read them after the pipeline has consumed the sink.
    pub fn handle(&self) -> Arc<Mutex<Vec<ContractionEvent>>> {
        self.events.clone()
    }

    /// A handle to the live onset notices (sent when an onset is confirmed).
    pub fn onset_handle(&self) -> Arc<Mutex<Vec<OnsetNotice>>> {
        self.onsets.clone()
    }
}

impl Sink for EventCollector {
    fn start(&mut self, _: &RunStart) -> Result<(), OutputError> {
        Ok(())
    }
    fn block(&mut self, p: &Processed) -> Result<(), OutputError> {
        if !p.events.is_empty() {
            if let Ok(mut v) = self.events.lock() {
                v.extend(p.events.iter().cloned());
            }
        }
        if !p.onsets.is_empty() {
            if let Ok(mut v) = self.onsets.lock() {
                v.extend(p.onsets.iter().cloned());
            }
        }
        Ok(())
    }
    fn finish(&mut self, _: &RunEnd) -> Result<(), OutputError> {
        Ok(())
    }
}

/// Takes the collected events out of a handle, sorted by onset.
pub fn take_events(h: &Arc<Mutex<Vec<ContractionEvent>>>) -> Vec<ContractionEvent> {
    let mut v = h
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default();
    v.sort_by(|a, b| a.onset_s.total_cmp(&b.onset_s));
    v
}
