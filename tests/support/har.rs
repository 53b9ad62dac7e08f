//! Validating a HAR file apitop wrote with npm's har-validator.
use std::path::Path;
use std::process::Command;

use super::have;

/// Where scripts/test-deps.sh installs npm's har-validator.
pub const HAR_VALIDATOR: &str = "/opt/apitop-test-tools/har-validator";

/// har-validator's verdict on `file`, or None (skipped, with the reason printed) when node or
/// the validator is missing; with `APITOP_REQUIRE_EBPF=1` (CI) a missing one fails instead.
pub fn validate_har(test: &str, file: &Path) -> Option<String> {
    let installed = Path::new(HAR_VALIDATOR).join("node_modules/har-validator/package.json");
    let reason = if !have("node") {
        Some("node is not installed")
    } else if !installed.exists() {
        Some("har-validator is not installed under /opt/apitop-test-tools")
    } else {
        None
    };
    if let Some(reason) = reason {
        let reason = format!("{reason}; scripts/test-deps.sh installs it");
        if std::env::var("APITOP_REQUIRE_EBPF").as_deref() == Ok("1") {
            panic!("{test}: {reason}, and APITOP_REQUIRE_EBPF=1 forbids skipping");
        }
        eprintln!("SKIPPED {test} (validation only): {reason}");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/validate_har.js");
    let out = Command::new("node")
        .arg(script)
        .arg(HAR_VALIDATOR)
        .arg(file)
        .output()
        .expect("running node");
    assert!(
        out.status.success(),
        "har-validator rejects {}:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
