//! Traces over OpenTelemetry's OTLP, off unless the environment asks for them.
//!
//! Set `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g. `http://collector:4318`) or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, and smallpay sends its spans there over OTLP/HTTP —
//! protobuf, or JSON with `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`. The SDK honours the other
//! standard variables itself (`OTEL_SERVICE_NAME`, default `smallpay`;
//! `OTEL_RESOURCE_ATTRIBUTES`; `OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT`; `OTEL_BSP_*` for the
//! batching; `OTEL_TRACES_SAMPLER` and `…_ARG`); `OTEL_SDK_DISABLED=true` turns them off.
//!
//! What is sent: one span per HTTP request (`request`: method, path, request id, client,
//! account, shop, the GraphQL operation and its result code), continued from a W3C
//! `traceparent` header when the client sends one; under it a span per database statement and
//! transaction step (SeaORM's `tracing-spans`: `db.system`, `db.operation`, the parameterised
//! `db.statement`, never a value) and one per payment-channel call. Spans are batched and sent
//! from the SDK's own thread; a collector that is down costs dropped spans, never a request.
use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::{Subscriber, level_filters::LevelFilter};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{Layer, filter::Targets, registry::LookupSpan};

/// The running exporter: flushed and stopped by [`Traces::shutdown`] (or when dropped).
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Sends what is still batched, then stops.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "traces: the last spans could not be sent");
        }
    }
}

/// Whether the environment asks for traces.
pub fn wanted() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) && !disabled
}

/// The layer that turns smallpay's spans into OpenTelemetry spans, when [`wanted`]: only the
/// request spans, the payment-channel calls and SeaORM's statement spans, whatever `RUST_LOG`
/// says about log lines.
pub fn layer<S>() -> Result<Option<(impl Layer<S>, Traces)>, String>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    if !wanted() {
        return Ok(None);
    }
    let exporter =
        opentelemetry_otlp::SpanExporter::builder().with_http().build().map_err(|e| format!("OTLP exporter: {e}"))?;
    let mut resource = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name("smallpay");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            resource.with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))).build(),
        )
        .build();
    global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = provider.tracer("smallpay");
    let spans = Targets::new()
        .with_target("smallpay", LevelFilter::INFO)
        .with_target("sea_orm::database", LevelFilter::INFO)
        .with_default(LevelFilter::OFF);
    let layer = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(spans);
    Ok(Some((layer, Traces { provider })))
}

/// Continues the client's trace (a W3C `traceparent` header) in `span`, and answers the trace
/// id `span` belongs to — `None` when traces are off.
pub fn continue_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    if !wanted_cached() {
        return None;
    }
    let parent = global::get_text_map_propagator(|p| p.extract(&opentelemetry_http::HeaderExtractor(headers)));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    let trace = span.context().span().span_context().trace_id();
    (trace != opentelemetry::trace::TraceId::INVALID).then(|| trace.to_string())
}

/// [`wanted`], read once: the environment does not change while the process runs.
fn wanted_cached() -> bool {
    static WANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WANTED.get_or_init(wanted)
}
