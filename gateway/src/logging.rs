//! Which log lines are written: `DQ_LOG` (tracing's `EnvFilter` syntax), on top of dq's
//! defaults.

use tracing_subscriber::EnvFilter;

/// Always applied first, so `DQ_LOG` can override each. lapin is off: every failure of it
/// reaches dq's code as an error that dq reports itself, with context and at the right level,
/// whereas lapin's own lines put clients' mistakes at ERROR (a channel closed because a
/// request named a missing exchange) and dump message bodies at WARN (a returned message).
/// `DQ_LOG=info,lapin=warn` brings them back.
const DEFAULTS: &str = "lapin=off";

/// The filter for `DQ_LOG` (`None`: unset), `info` when unset or invalid.
pub fn filter(dq_log: Option<&str>) -> EnvFilter {
    let spec = dq_log.filter(|s| !s.trim().is_empty()).unwrap_or("info");
    EnvFilter::try_new(format!("{DEFAULTS},{spec}"))
        .unwrap_or_else(|_| EnvFilter::new(format!("{DEFAULTS},info")))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The lines written while `emit` runs under the filter for `dq_log`.
    fn written(dq_log: Option<&str>, emit: impl FnOnce()) -> String {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(dq_log))
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn emit() {
        tracing::error!(target: "lapin::channel", "Channel closed");
        tracing::warn!(target: "lapin::returned_messages", "Server returned us a message");
        tracing::info!(target: "dq_gateway", "listening");
        tracing::debug!(target: "dq_core::worker", "delivered");
    }

    #[test]
    fn lapin_is_quiet_unless_asked_for() {
        for dq_log in [None, Some("info"), Some("debug"), Some("no such=level=x")] {
            let text = written(dq_log, emit);
            assert!(!text.contains("lapin"), "{dq_log:?}: {text}");
            assert!(text.contains("listening"), "{dq_log:?}: {text}");
        }
        let text = written(Some("info,lapin=warn"), emit);
        assert!(
            text.contains("Channel closed") && text.contains("returned"),
            "{text}"
        );
        assert!(!text.contains("delivered"), "{text}");
        let text = written(Some("info,dq_core=debug"), emit);
        assert!(
            text.contains("delivered") && !text.contains("lapin"),
            "{text}"
        );
    }
}
