//! The terminal UI: [`app::App`] holds the state and turns messages into effects, `views`
//! draws it, and [`runtime::run`] owns the terminal and the event loop.
pub mod app;
pub mod clipboard;
pub mod copy_as;
pub mod copy_menu;
pub mod diff;
pub mod endpoints;
pub mod evict;
pub mod export;
pub mod filter;
pub mod format;
pub mod highlight;
pub mod keymap;
pub mod layout;
pub mod picker;
pub mod recording_out;
pub mod runtime;
pub mod search;
pub mod stats_table;
pub mod store;
#[cfg(test)]
mod testing;
pub mod theme;
pub mod views;

pub use app::{App, Config, Effect, Msg};
/// The old path of the curl builder, which tests and callers use.
pub use copy_as::curl;
