//! Java TLS: JSSE does TLS in Java code, so there is no library function to probe. apitop loads
//! a small agent into the running JVM (on the user's explicit request, `--java`) that hands the
//! plaintext over a Unix socket; this module is apitop's side of that.
//!
//! - [`inspect`]: what `/proc` says about a JVM (version, whether it can be attached and why
//!   not, whether the agent is loaded) for `--list` and the picker.
//! - [`attach`]: HotSpot's attach protocol, in Rust (no `jcmd`, no JDK needed on apitop's side).
//! - [`frames`]: the hand-off protocol's frames, parsed with hard bounds.
//! - [`receiver`]: the socket the agents connect to, on its own thread, turning frames into the
//!   capture's [`crate::event::Event`]s.
//! - [`session`]: one capture session's agents: where their socket and jar live, attaching.
//! - [`agents`]: the same on a thread of its own, for the capture session.
pub mod agents;
pub mod attach;
pub mod frames;
pub mod inspect;
pub mod receiver;
pub mod session;

pub use agents::{JavaAgents, Note};
pub use inspect::{inspect, JavaStatus, JvmProcess};
pub use session::{find_agent_jar, JavaCapture, JavaError};

/// File names of apitop's agent jar start with this (`apitop-agent.jar`): how a JVM that has
/// it loaded is recognised among its open files.
pub const AGENT_JAR_PREFIX: &str = "apitop-agent";

/// The agent jar's file name, as built by `scripts/java-agent.sh`.
pub const AGENT_JAR_NAME: &str = "apitop-agent.jar";

/// High 16 bits of a Java connection's [`crate::event::ConnKey::conn`]: user-space `SSL*`
/// pointers never have them set (x86-64 and arm64 user addresses stay below 2^48 / 2^52) and
/// plain sockets use `0xFFFF` there, so Java connections of a pid never collide with either.
pub const JAVA_CONN: u64 = 0xFFFE_0000_0000_0000;

/// The key of the agent's connection `id` (ids are below 2^48; larger ones are refused by the
/// receiver).
pub const fn java_conn(id: u64) -> u64 {
    JAVA_CONN | (id & 0x0000_FFFF_FFFF_FFFF)
}

/// Wall-clock time in Unix nanoseconds (what the agent stamps DATA with).
pub fn now() -> crate::exchange::UnixNanos {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
