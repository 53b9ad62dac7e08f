//! Builds the kernel programs (capture-ebpf) for bpfel when live capture is enabled, so the eBPF
//! object always comes from source and is never committed.
fn main() {
    #[cfg(feature = "live")]
    build_probes();
}

#[cfg(feature = "live")]
fn build_probes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../capture-ebpf");
    let root = root.to_str().expect("UTF-8 path");
    // Stable with RUSTC_BOOTSTRAP for the nested build only: steadier than a moving nightly.
    std::env::set_var("RUSTC_BOOTSTRAP", "1");
    let toolchain = std::env::var("APITOP_EBPF_TOOLCHAIN").unwrap_or_else(|_| "stable".into());
    println!("cargo:rerun-if-env-changed=APITOP_EBPF_TOOLCHAIN");
    let pkg = aya_build::Package {
        name: "capture-ebpf",
        root_dir: root,
        ..Default::default()
    };
    if let Err(e) = aya_build::build_ebpf([pkg], aya_build::Toolchain::Custom(&toolchain)) {
        panic!(
            "building the eBPF programs failed: {e:#}\n\
             the toolchain is installed by ./scripts/setup.sh (rust-src, llvm-22-dev, bpf-linker)"
        );
    }
}
