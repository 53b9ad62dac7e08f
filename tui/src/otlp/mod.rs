//! `--otlp URL`: every exchange as an OpenTelemetry span, sent over OTLP/HTTP protobuf to a
//! Collector. Spans are handed to the SDK's batch processor, whose bounded queue and own thread
//! keep export off the ring-draining and render paths; what it drops or fails to send is
//! counted here, since the SDK only logs it.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use capture::exchange::Exchange;
use opentelemetry::trace::{Span, Tracer, TracerProvider};
use opentelemetry::InstrumentationScope;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanData,
    SpanExporter,
};
use opentelemetry_sdk::Resource;

mod route;
pub mod span;

/// The default of `--otlp-queue`: spans held for export. At 8192 spans of ~1 KiB, a few MiB.
pub const DEFAULT_QUEUE: usize = 8192;
/// How long exit waits for the last spans to go out: an unreachable collector must not hang it.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// The OTLP/HTTP path for traces, appended to a Collector's base URL.
const TRACES_PATH: &str = "/v1/traces";

/// The export side of a session: shared between the session (which hands it each exchange as
/// it leaves) and the caller (which reports warnings and shuts it down).
pub struct Exporter {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    routes: Mutex<route::Routes>,
    counts: Arc<Counts>,
    endpoint: String,
}

/// What happened to the spans, counted by the exporter wrapper and by [`Exporter::export`].
#[derive(Debug, Default)]
struct Counts {
    ended: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    warned: AtomicBool,
    warning: Mutex<Option<String>>,
}

/// The totals reported on exit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub endpoint: String,
    pub spans: u64,
    pub exported: u64,
    /// Sent and refused, or not answered in time.
    pub failed: u64,
    /// Never sent: the queue was full, or exit came before they could go.
    pub unsent: u64,
}

impl Report {
    pub fn dropped(&self) -> u64 {
        self.failed + self.unsent
    }

    /// `apitop: otlp: N spans exported, M dropped (...)`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "apitop: otlp: {} spans exported, {} dropped",
            self.exported,
            self.dropped()
        );
        if self.dropped() > 0 {
            s.push_str(&format!(
                " (export failed {}, queue full or unsent at exit {})",
                self.failed, self.unsent
            ));
        }
        s.push_str(&format!(" ({})", self.endpoint));
        s
    }
}

/// Where spans are POSTed: a Collector's base URL gets `/v1/traces` (the OTLP/HTTP convention,
/// as for `OTEL_EXPORTER_OTLP_ENDPOINT`); a URL already ending in it is used as given.
pub fn traces_endpoint(url: &str) -> Result<String> {
    let url = url.trim();
    let Some(rest) = url.strip_prefix("http://") else {
        if url.starts_with("https://") {
            anyhow::bail!(
                "--otlp {url}: this build sends OTLP over plain HTTP only; point it at a \
                 Collector's http:// receiver (port 4318)"
            );
        }
        anyhow::bail!("--otlp {url}: expected a URL like http://collector:4318");
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        anyhow::bail!("--otlp {url}: the URL has no host (example: http://collector:4318)");
    }
    if url.contains(['?', '#']) {
        anyhow::bail!("--otlp {url}: a query or fragment has no place in an OTLP endpoint");
    }
    let base = url.trim_end_matches('/');
    Ok(if base.ends_with(TRACES_PATH) {
        base.to_string()
    } else {
        format!("{base}{TRACES_PATH}")
    })
}

impl Exporter {
    /// Sets up export to `url` (see [`traces_endpoint`]) with at most `queue` spans waiting.
    /// Nothing is sent yet: an unreachable collector shows on the first export.
    pub fn new(url: &str, queue: usize) -> Result<Self> {
        let endpoint = traces_endpoint(url)?;
        let otlp = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint.clone())
            .build()
            .with_context(|| format!("setting up OTLP export to {endpoint}"))?;
        let counts = Arc::new(Counts::default());
        let counting = Counting {
            inner: otlp,
            counts: counts.clone(),
            endpoint: endpoint.clone(),
        };
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(queue.max(1))
            .build();
        let processor = BatchSpanProcessor::builder(counting)
            .with_batch_config(batch)
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource())
            // Every exchange is exported; sampling, if wanted, is the Collector's business.
            .with_sampler(Sampler::AlwaysOn)
            .build();
        let scope = InstrumentationScope::builder("apitop")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let tracer = provider.tracer_with_scope(scope);
        Ok(Exporter {
            provider,
            tracer,
            routes: Mutex::new(route::Routes::default()),
            counts,
            endpoint,
        })
    }

    /// Where spans go.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Queues `x` as a span; never waits (a full queue drops it, and it is counted).
    pub fn export(&self, x: &Exchange) {
        let route = match self.routes.lock() {
            Ok(mut r) => r.route(x),
            Err(_) => None,
        };
        let f = span::fields(x, route.as_deref());
        let mut s = self
            .tracer
            .span_builder(f.name)
            .with_kind(f.kind)
            .with_start_time(at(f.start))
            .with_attributes(f.attributes)
            // A root span per exchange: nothing links a captured request to apitop's context.
            .start_with_context(&self.tracer, &opentelemetry::Context::new());
        s.set_status(f.status);
        s.end_with_timestamp(at(f.end));
        self.counts.ended.fetch_add(1, Ordering::Relaxed);
    }

    /// The one warning about a failing collector, once (then None forever).
    pub fn take_warning(&self) -> Option<String> {
        self.counts.warning.lock().ok()?.take()
    }

    /// Sends what is queued, waiting at most `timeout`, and returns the totals.
    pub fn finish(&self, timeout: Duration) -> Report {
        // A timeout leaves the rest unsent (counted below); the processor's thread is left to
        // the process's exit.
        let _ = self.provider.shutdown_with_timeout(timeout);
        let spans = self.counts.ended.load(Ordering::Relaxed);
        let exported = self.counts.exported.load(Ordering::Relaxed);
        let failed = self.counts.failed.load(Ordering::Relaxed);
        Report {
            endpoint: self.endpoint.clone(),
            spans,
            exported,
            failed,
            unsent: spans.saturating_sub(exported + failed),
        }
    }
}

/// `service.name` is apitop's unless `OTEL_SERVICE_NAME` says otherwise; the other resource
/// attributes come from the SDK's detectors (`OTEL_RESOURCE_ATTRIBUTES` among them).
fn resource() -> Resource {
    let b = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty()) {
        b.build()
    } else {
        b.with_service_name("apitop").build()
    }
}

fn at(unix_ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(unix_ns)
}

/// The OTLP exporter, counting what it sent and warning once when sending fails.
#[derive(Debug)]
struct Counting<E> {
    inner: E,
    counts: Arc<Counts>,
    endpoint: String,
}

impl<E: SpanExporter> SpanExporter for Counting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => self.counts.exported.fetch_add(n, Ordering::Relaxed),
            Err(e) => {
                if !self.counts.warned.swap(true, Ordering::Relaxed) {
                    if let Ok(mut w) = self.counts.warning.lock() {
                        *w = Some(format!(
                            "otlp: cannot export to {}: {e}; spans are dropped while it fails \
                             (counted on exit, no further warnings)",
                            self.endpoint
                        ));
                    }
                }
                self.counts.failed.fetch_add(n, Ordering::Relaxed)
            }
        };
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown()
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = |u| traces_endpoint(u);
        assert_eq!(
            e("http://collector:4318").unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            e("http://collector:4318/").unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(e("http://gw/otlp").unwrap(), "http://gw/otlp/v1/traces");
        assert_eq!(
            e("http://c:4318/v1/traces").unwrap(),
            "http://c:4318/v1/traces"
        );
        assert!(e("https://c:4318")
            .unwrap_err()
            .to_string()
            .contains("plain HTTP"));
        assert!(e("collector:4318").is_err());
        assert!(e("http://").is_err());
        assert!(e("http://c/?x").is_err());
    }

    #[test]
    fn report_line() {
        let r = Report {
            endpoint: "http://c/v1/traces".into(),
            spans: 10,
            exported: 7,
            failed: 2,
            unsent: 1,
        };
        assert_eq!(
            r.line(),
            "apitop: otlp: 7 spans exported, 3 dropped (export failed 2, queue full or unsent \
             at exit 1) (http://c/v1/traces)"
        );
    }
}
