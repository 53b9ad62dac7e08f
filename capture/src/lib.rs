//! apitop's capture library: events from eBPF probes (or a recording) → connections →
//! decoded HTTP exchanges.
pub mod body;
pub mod event;
pub mod exchange;
pub mod golang;
pub mod grpc;
pub mod handoff;
pub mod http1;
pub mod http2;
mod input;
pub mod java;
#[cfg(feature = "live")]
pub mod live;
pub mod mask;
pub mod output;
pub mod pipeline;
pub mod placement;
pub mod procinfo;
pub mod protobuf;
pub mod record;
pub mod safe_create;
pub mod signature;
pub mod x86;
