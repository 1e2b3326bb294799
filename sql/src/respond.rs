//! The answer of a running Select as the event stream the client reads:
//! Records as output is produced (flushed at least every second, each
//! message under 128 KiB), Cont while a scan produces nothing, Progress
//! when asked for, then Stats and End; or an error event, and nothing
//! after it, when the query fails once the response has started.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::engine::{Counters, Execution, OutputStream};
use crate::eventstream::{self, RecordsWriter, Stats};

/// How often pending records are flushed and a quiet scan sends Cont (and
/// Progress when requested).
const TICK: Duration = Duration::from_secs(1);

fn snapshot(c: &Counters) -> Stats {
    Stats {
        bytes_scanned: c.scanned.load(Ordering::Relaxed),
        bytes_processed: c.processed.load(Ordering::Relaxed),
        bytes_returned: c.returned.load(Ordering::Relaxed),
    }
}

struct State {
    output: OutputStream,
    counters: std::sync::Arc<Counters>,
    writer: RecordsWriter,
    tick: tokio::time::Interval,
    progress: bool,
    sent_since_tick: bool,
    finished: bool,
}

/// The event-stream body for `execution`.
pub fn event_stream(
    execution: Execution,
    request_progress: bool,
) -> Pin<Box<dyn Stream<Item = Bytes> + Send>> {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    let state = State {
        output: execution.output,
        counters: execution.counters,
        writer: RecordsWriter::new(),
        tick,
        progress: request_progress,
        sent_since_tick: false,
        finished: false,
    };
    let messages = futures_util::stream::unfold(state, |mut s| async move {
        if s.finished {
            return None;
        }
        loop {
            tokio::select! {
                item = s.output.next() => match item {
                    Some(Ok(bytes)) => {
                        let messages = s.writer.write(&bytes);
                        if !messages.is_empty() {
                            s.sent_since_tick = true;
                            return Some((messages, s));
                        }
                    }
                    Some(Err(e)) => {
                        let mut messages = s.writer.flush();
                        messages.push(eventstream::select_error(&e));
                        s.finished = true;
                        return Some((messages, s));
                    }
                    None => {
                        let mut messages = s.writer.flush();
                        messages.push(eventstream::stats(&snapshot(&s.counters)));
                        messages.push(eventstream::end());
                        s.finished = true;
                        return Some((messages, s));
                    }
                },
                _ = s.tick.tick() => {
                    let mut messages = s.writer.flush();
                    if messages.is_empty() && !s.sent_since_tick {
                        messages.push(eventstream::cont());
                    }
                    if s.progress {
                        messages.push(eventstream::progress(&snapshot(&s.counters)));
                    }
                    s.sent_since_tick = false;
                    if !messages.is_empty() {
                        return Some((messages, s));
                    }
                }
            }
        }
    });
    Box::pin(messages.flat_map(futures_util::stream::iter))
}
