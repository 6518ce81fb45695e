//! Log set-up: `RUST_LOG` filters (default `info` for `serve`, `warn` for
//! every other command, whose output is for people); pretty lines on a
//! terminal, one JSON object per line otherwise.
//!
//! A JSON line is flat: the event's fields, and the fields of every span it
//! happened in (`qbwc.method`, `qbwc.ticket`, `company.id`, `user`, `job.id`,
//! `outcome`, `duration_ms`, …), sit at the top level beside `timestamp`,
//! `level`, `target`, `message` and `span` (the innermost span's name), so
//! a log shipper can filter on `qbwc.method` without digging into nested
//! objects. An event field wins over a span field of the same name.
//! `docs/logging.md` lists the events and fields.

use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FmtSpan, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Pretty on a terminal, JSON otherwise.
    #[default]
    Auto,
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Installs the global subscriber (logs go to stderr). Safe to call once.
/// `default_filter` applies when `RUST_LOG` is not set: `info` for the
/// server, `warn` for a command whose output is for people.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_span_events(FmtSpan::NONE);
    let _ = if json {
        builder.fmt_fields(JsonFields::new()).event_format(FlatJson).try_init()
    } else {
        // Colours only on a terminal: in a file they are noise.
        builder.compact().with_ansi(std::io::stderr().is_terminal()).fmt_fields(escaped_fields()).try_init()
    };
}

/// The longest field value a pretty line shows, whatever its source.
const PRETTY_FIELD_MAX_CHARS: usize = 4 * crate::clip::CLIENT_TEXT_MAX;

/// Pretty-line fields with control characters escaped and long values cut.
/// The compact formatter writes `%`-fields and messages as they are, so a
/// user name holding a newline and an ANSI escape forged a log line; JSON
/// lines are safe already (serde escapes them).
pub fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    use tracing_subscriber::field::MakeExt as _;
    tracing_subscriber::fmt::format::debug_fn(|w: &mut Writer<'_>, field: &Field, value: &dyn std::fmt::Debug| {
        let text = crate::clip::clip(&format!("{value:?}"), PRETTY_FIELD_MAX_CHARS);
        if field.name() == "message" {
            write!(w, "{text}")
        } else {
            write!(w, "{}={text}", field.name())
        }
    })
    .delimited(" ")
}

/// One flat JSON object per event (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        line.insert("timestamp".into(), now.into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            let mut innermost = None;
            for span in scope.from_root() {
                innermost = Some(span.name());
                let ext = span.extensions();
                // With JsonFields the span's recorded fields are kept as one
                // JSON object string, updated as fields are recorded.
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&fields.fields) {
                        line.extend(m);
                    }
                }
            }
            if let Some(name) = innermost {
                line.insert("span".into(), name.into());
            }
        }
        event.record(&mut Fields(&mut line));
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| std::fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Copies an event's fields into the line.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    /// A user name with a newline and an ANSI escape, in a span field and
    /// in a message, comes out escaped on one line.
    #[test]
    fn pretty_lines_escape_client_text() {
        let buf = Buf::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buf.clone())
            .with_ansi(false)
            .compact()
            .fmt_fields(escaped_fields())
            .finish();
        let evil = "bob\n2026-01-01T00:00:00Z  INFO forged: \x1b[31mlogin ok";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("qbwc.call", user = tracing::field::Empty);
            let _g = span.enter();
            span.record("user", tracing::field::display(evil));
            tracing::warn!(remote_addr = %evil, "login as {evil} refused");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\x1b') && !text.contains(evil), "{text}");
        assert!(text.contains("bob\\u{a}2026") && text.contains("\\u{1b}[31m"), "{text}");
    }

    #[test]
    fn span_fields_are_flattened_into_one_object_per_line() {
        let buf = Buf::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buf.clone())
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("qbwc.call", qbwc.method = "authenticate", outcome = tracing::field::Empty);
            let _g = span.enter();
            span.record("outcome", "nvu");
            tracing::warn!(diagnostic = "auth.bad_password", "authentication refused");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let v: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["qbwc.method"], "authenticate");
        assert_eq!(v["outcome"], "nvu");
        assert_eq!(v["diagnostic"], "auth.bad_password");
        assert_eq!(v["message"], "authentication refused");
        assert_eq!(v["span"], "qbwc.call");
        assert_eq!(v["level"], "WARN");
    }
}
