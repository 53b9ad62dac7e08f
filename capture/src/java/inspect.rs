//! What `/proc` says about a JVM: HotSpot or not, its Java version, whether HotSpot's attach
//! mechanism will take apitop's agent (and if not, why), and whether the agent is loaded already.
//!
//! Everything is read without touching the JVM (no signal, no socket): `--list` and the picker
//! call this every refresh.
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::AGENT_JAR_PREFIX;

/// The oldest Java the agent runs on: it connects with `SocketChannel.open(UNIX)` (JDK 16).
pub const MIN_JAVA_FEATURE: u32 = 16;

/// What apitop knows about one JVM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JavaStatus {
    /// `JAVA_VERSION` from the `release` file of the JDK the JVM runs (`17.0.15`); None if that
    /// file could not be found or read.
    pub version: Option<String>,
    /// The JDK home (as the JVM sees it) the version was read from.
    pub home: Option<PathBuf>,
    /// HotSpot (OpenJDK, Temurin, Oracle, ...) rather than OpenJ9 or another VM.
    pub hotspot: bool,
    /// apitop's agent is loaded in this JVM (its jar is open or mapped).
    pub agent_loaded: bool,
    /// Why the agent cannot be loaded; None when it can.
    pub refusal: Option<String>,
}

impl JavaStatus {
    pub fn attachable(&self) -> bool {
        self.refusal.is_none()
    }

    /// `Java 17.0.15: attachable (loads an agent)`, `Java 17.0.15: agent loaded`, or `Java
    /// 17.0.15: not attachable: <why>`.
    pub fn describe(&self) -> String {
        let v = match &self.version {
            Some(v) => format!("Java {v}"),
            None => "Java (version unknown)".to_string(),
        };
        match (&self.refusal, self.agent_loaded) {
            (Some(why), _) => format!("{v}: not attachable: {why}"),
            (None, true) => format!("{v}: agent loaded"),
            (None, false) => format!("{v}: attachable (loads an agent)"),
        }
    }
}

/// Facts about the process the caller already has.
pub struct JvmProcess<'a> {
    pub pid: u32,
    /// Effective uid of the JVM.
    pub uid: u32,
    /// Paths of the files it maps, as its mount namespace names them.
    pub mapped: &'a [&'a str],
}

/// Inspects a process that maps `libjvm.so`. `apitop_euid` is apitop's effective uid (a
/// non-root apitop can only attach to its own user's JVMs).
pub fn inspect(p: &JvmProcess, apitop_euid: u32) -> JavaStatus {
    let libjvm = p
        .mapped
        .iter()
        .find(|m| file_name(m) == "libjvm.so")
        .copied();
    // OpenJ9 ships a libjvm.so too (a redirector), beside its own libj9vm*.so.
    let hotspot = !p.mapped.iter().any(|m| file_name(m).starts_with("libj9vm"));
    let (version, home) = match libjvm.and_then(|l| read_release(p.pid, Path::new(l))) {
        Some((v, h)) => (Some(v), Some(h)),
        None => (None, None),
    };
    let args = jvm_options(p.pid);
    let refusal = refusal(hotspot, version.as_deref(), &args, p.uid, apitop_euid)
        .or_else(|| quit_refusal(p.pid));
    JavaStatus {
        version,
        home,
        hotspot,
        agent_loaded: agent_loaded(p.pid, p.mapped),
        refusal,
    }
}

fn refusal(
    hotspot: bool,
    version: Option<&str>,
    options: &[String],
    uid: u32,
    apitop_euid: u32,
) -> Option<String> {
    if !hotspot {
        return Some("not HotSpot (OpenJ9): only HotSpot's attach mechanism is supported".into());
    }
    if let Some(feature) = version.and_then(feature_version) {
        if feature < MIN_JAVA_FEATURE {
            return Some(format!(
                "the agent needs Java {MIN_JAVA_FEATURE} or newer (Unix sockets from Java)"
            ));
        }
    }
    if attach_disabled(options) {
        return Some(
            "started with -XX:+DisableAttachMechanism (no agent can be loaded without a restart)"
                .into(),
        );
    }
    if dynamic_agents_disabled(options) {
        return Some(
            "started with -XX:-EnableDynamicAgentLoading (no agent can be loaded without a restart)"
                .into(),
        );
    }
    if apitop_euid != 0 && uid != apitop_euid {
        return Some(format!(
            "runs as {} (uid {uid}): run apitop as root or as that user",
            crate::procinfo::user_name(uid)
        ));
    }
    None
}

/// A JVM without a SIGQUIT handler and without an attach socket yet cannot be asked to start
/// its attach listener: the signal would kill it (`-Xrs`, or a JVM still starting).
fn quit_refusal(pid: u32) -> Option<String> {
    let ids = super::attach::JvmIds::read(pid).ok()?;
    if ids.catches_quit || fs::symlink_metadata(ids.socket_path()).is_ok() {
        return None;
    }
    Some(
        "SIGQUIT not handled (started with -Xrs, or still starting): signalling it would kill it"
            .into(),
    )
}

/// `17` from `17.0.15`, `8` from `1.8.0_392`, `21` from `21`, `25` from `25-ea`.
pub fn feature_version(v: &str) -> Option<u32> {
    let mut parts = v.split(['.', '_', '-', '+']);
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 {
        return parts.next()?.parse().ok();
    }
    Some(first)
}

/// Whether the last `DisableAttachMechanism` setting among `options` (in the order HotSpot
/// applies them) turns attaching off.
pub fn attach_disabled(options: &[String]) -> bool {
    last_setting(options, "DisableAttachMechanism").unwrap_or(false)
}

/// Whether the last `EnableDynamicAgentLoading` setting among `options` forbids loading an
/// agent into the running JVM (JDK 21+, JEP 451; the attach mechanism itself still answers, and
/// the load fails).
pub fn dynamic_agents_disabled(options: &[String]) -> bool {
    last_setting(options, "EnableDynamicAgentLoading") == Some(false)
}

/// The value of the boolean `-XX:±flag` HotSpot ends up with from `options` (a later one
/// wins), or None when none sets it.
fn last_setting(options: &[String], flag: &str) -> Option<bool> {
    options
        .iter()
        .rev()
        .find_map(|o| match o.strip_prefix("-XX:")?.split_at_checked(1)? {
            ("+", f) if f == flag => Some(true),
            ("-", f) if f == flag => Some(false),
            _ => None,
        })
}

/// The JVM options of `pid` in the order HotSpot applies them (a later one wins):
/// `JAVA_TOOL_OPTIONS`, `JDK_JAVA_OPTIONS` (read by the `java` launcher), the command line up to
/// the main class or jar, then `_JAVA_OPTIONS`. (`@argfiles` and `-XX:Flags=` files are not
/// read.)
pub fn jvm_options(pid: u32) -> Vec<String> {
    let env = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let var = |name: &str| -> Vec<String> {
        env.split(|&b| b == 0)
            .filter_map(|kv| kv.strip_prefix(name.as_bytes())?.strip_prefix(b"="))
            .flat_map(|v| {
                String::from_utf8_lossy(v)
                    .split_ascii_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let mut out = var("JAVA_TOOL_OPTIONS");
    out.extend(var("JDK_JAVA_OPTIONS"));
    out.extend(launcher_options(&argv));
    out.extend(var("_JAVA_OPTIONS"));
    out
}

/// The options of a `java` command line: the arguments after argv\[0\] up to the main class,
/// `-jar FILE`, `-m MODULE` or a source file (what follows belongs to the application).
pub fn launcher_options(argv: &[String]) -> Vec<String> {
    const WITH_VALUE: &[&str] = &[
        "-cp",
        "-classpath",
        "--class-path",
        "-p",
        "--module-path",
        "--upgrade-module-path",
        "--add-modules",
        "--add-reads",
        "--add-exports",
        "--add-opens",
        "--limit-modules",
        "--patch-module",
        "--source",
        "--enable-native-access",
    ];
    let mut out = Vec::new();
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        if !a.starts_with('-') || a == "-jar" || a == "-m" || a == "--module" {
            break;
        }
        out.push(a.clone());
        // The value is not an option, whatever it looks like.
        if WITH_VALUE.contains(&a.as_str()) {
            it.next();
        }
    }
    out
}

/// `JAVA_VERSION` and the JDK home, from the `release` file up to four directories above
/// `libjvm` (`lib/server/libjvm.so` in JDK 9+, `jre/lib/amd64/server/libjvm.so` in JDK 8),
/// read through `/proc/PID/root` so that a JVM in a container finds its own JDK.
fn read_release(pid: u32, libjvm: &Path) -> Option<(String, PathBuf)> {
    for home in libjvm.ancestors().skip(1).take(4) {
        let inside = format!("/proc/{pid}/root{}/release", home.display());
        let Ok(text) = fs::read_to_string(&inside) else {
            continue;
        };
        if let Some(v) = release_version(&text) {
            return Some((v, home.to_path_buf()));
        }
    }
    None
}

/// `JAVA_VERSION="17.0.15"` → `17.0.15`.
pub fn release_version(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("JAVA_VERSION="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

/// Whether apitop's agent jar is among the JVM's open files or mappings (the JDK reads jars
/// through a file descriptor it keeps open; the file may have been deleted since).
fn agent_loaded(pid: u32, mapped: &[&str]) -> bool {
    if mapped.iter().any(|m| is_agent_jar(m)) {
        return true;
    }
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    dir.flatten().any(|e| {
        fs::read_link(e.path())
            .ok()
            .and_then(|t| t.to_str().map(is_agent_jar))
            .unwrap_or(false)
    })
}

fn is_agent_jar(path: &str) -> bool {
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    let name = file_name(path);
    name.starts_with(AGENT_JAR_PREFIX) && name.ends_with(".jar")
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn versions() {
        assert_eq!(feature_version("17.0.15"), Some(17));
        assert_eq!(feature_version("1.8.0_392"), Some(8));
        assert_eq!(feature_version("21"), Some(21));
        assert_eq!(feature_version("25-ea"), Some(25));
        assert_eq!(feature_version("x"), None);
        let rel = "IMPLEMENTOR=\"Debian\"\nJAVA_VERSION=\"17.0.15\"\nLIBC=\"gnu\"\n";
        assert_eq!(release_version(rel).as_deref(), Some("17.0.15"));
        assert_eq!(release_version("JAVA_VERSION=\"\"\n"), None);
    }

    #[test]
    fn launcher_options_stop_at_the_application() {
        let argv = v(&[
            "java",
            "-cp",
            "-XX:+DisableAttachMechanism",
            "-Xmx1g",
            "Main",
            "-XX:+DisableAttachMechanism",
        ]);
        let o = launcher_options(&argv);
        assert_eq!(o, v(&["-cp", "-Xmx1g"]));
        let o = launcher_options(&v(&[
            "java",
            "-jar",
            "app.jar",
            "-XX:+DisableAttachMechanism",
        ]));
        assert!(o.is_empty());
    }

    #[test]
    fn last_setting_wins() {
        assert!(attach_disabled(&v(&["-XX:+DisableAttachMechanism"])));
        assert!(!attach_disabled(&v(&[
            "-XX:+DisableAttachMechanism",
            "-XX:-DisableAttachMechanism"
        ])));
        assert!(!attach_disabled(&v(&["-Xmx1g"])));
        assert!(dynamic_agents_disabled(&v(&[
            "-XX:-EnableDynamicAgentLoading"
        ])));
        assert!(!dynamic_agents_disabled(&v(&[
            "-XX:-EnableDynamicAgentLoading",
            "-XX:+EnableDynamicAgentLoading"
        ])));
        assert!(!dynamic_agents_disabled(&v(&["-Xmx1g"])));
    }

    #[test]
    fn refusals() {
        let opts = v(&[]);
        assert!(refusal(true, Some("17.0.15"), &opts, 1000, 1000).is_none());
        assert!(refusal(true, Some("17.0.15"), &opts, 1000, 0).is_none());
        assert!(refusal(false, Some("17.0.15"), &opts, 0, 0)
            .unwrap()
            .contains("OpenJ9"));
        assert!(refusal(true, Some("11.0.2"), &opts, 0, 0)
            .unwrap()
            .contains("Java 16 or newer"));
        assert!(
            refusal(true, Some("17"), &v(&["-XX:+DisableAttachMechanism"]), 0, 0)
                .unwrap()
                .contains("DisableAttachMechanism")
        );
        let no_dynamic = v(&["-XX:-EnableDynamicAgentLoading"]);
        assert!(refusal(true, Some("25.0.3"), &no_dynamic, 0, 0)
            .unwrap()
            .contains("-XX:-EnableDynamicAgentLoading"));
        assert!(refusal(true, None, &opts, 1001, 1000)
            .unwrap()
            .contains("run apitop as root"));
        let s = JavaStatus {
            version: Some("17.0.15".into()),
            home: None,
            hotspot: true,
            agent_loaded: false,
            refusal: None,
        };
        assert_eq!(s.describe(), "Java 17.0.15: attachable (loads an agent)");
        let loaded = JavaStatus {
            agent_loaded: true,
            ..s.clone()
        };
        assert_eq!(loaded.describe(), "Java 17.0.15: agent loaded");
        assert!(is_agent_jar("/tmp/x/apitop-agent.jar (deleted)"));
        assert!(!is_agent_jar("/tmp/x/other.jar"));
    }
}
