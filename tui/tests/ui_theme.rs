//! Themes: both built-ins are complete; a user file overrides only what it names.
use std::path::Path;

use apitop::ui::highlight::Highlighter;
use apitop::ui::theme::{Palette, Theme, ThemeError};
use ratatui::style::Color;

#[test]
fn builtins_name_every_field_and_a_bundled_syntax_theme() {
    for name in ["dark", "light"] {
        let text = std::fs::read_to_string(format!(
            "{}/../themes/{name}.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("theme file");
        for field in Palette::FIELDS {
            assert!(
                text.lines()
                    .any(|l| l.trim_start().starts_with(&format!("{field} ="))),
                "{name}.toml lacks {field}"
            );
        }
        let t = Theme::builtin(name).expect(name);
        let h = Highlighter::new(&t);
        assert_eq!(h.warning, None, "{name}: {:?}", h.warning);
    }
    assert_ne!(Theme::builtin("dark").ok(), Theme::builtin("light").ok());
}

#[test]
fn user_file_overrides_only_named_fields() {
    let text = r##"
base = "light"
syntax_theme = "Solarized (light)"
[palette]
status_5xx = "#ff0000"
selected_bg = "21"
"##;
    let t = Theme::from_user_file(text, Path::new("/tmp/mine.toml")).expect("theme");
    let light = Theme::builtin("light").expect("light");
    assert_eq!(t.palette.status_5xx, Color::Rgb(255, 0, 0));
    assert_eq!(t.palette.selected_bg, Color::Indexed(21));
    assert_eq!(t.palette.fg, light.palette.fg);
    assert_eq!(t.palette.status_2xx, light.palette.status_2xx);
    assert_eq!(t.syntax_theme, "Solarized (light)");
    // No base: dark.
    let t =
        Theme::from_user_file("[palette]\nfg = \"white\"\n", Path::new("x.toml")).expect("theme");
    assert_eq!(
        t.palette.border_focused,
        Theme::builtin("dark").expect("dark").palette.border_focused
    );
    assert_eq!(t.palette.fg, Color::White);
}

#[test]
fn mistakes_are_reported() {
    let p = Path::new("t.toml");
    assert!(matches!(
        Theme::from_user_file("[palette]\nstatus_6xx = \"red\"\n", p),
        Err(ThemeError::UnknownField(f)) if f == "status_6xx"
    ));
    assert!(matches!(
        Theme::from_user_file("[palette]\nfg = \"blurple\"\n", p),
        Err(ThemeError::BadColor { .. })
    ));
    assert!(matches!(
        Theme::from_user_file("colour = 1\n", p),
        Err(ThemeError::Parse { .. })
    ));
    assert!(matches!(
        Theme::load("solarized"),
        Err(ThemeError::NoSuchTheme(_))
    ));
    assert!(matches!(
        Theme::load("/nonexistent/x.toml"),
        Err(ThemeError::Read { .. })
    ));
    // An unknown syntax theme falls back with a warning rather than failing.
    let mut t = Theme::builtin("dark").expect("dark");
    t.syntax_theme = "nope".into();
    assert!(Highlighter::new(&t)
        .warning
        .is_some_and(|w| w.contains("InspiredGitHub")));
}

#[test]
fn load_reads_a_file() {
    let dir = std::env::temp_dir().join(format!("apitop-theme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("mine.toml");
    std::fs::write(&path, "name = \"mine\"\n[palette]\naccent = \"magenta\"\n").expect("write");
    let t = Theme::load(path.to_str().expect("utf8")).expect("load");
    assert_eq!(t.name, "mine");
    assert_eq!(t.palette.accent, Color::Magenta);
    std::fs::remove_dir_all(&dir).ok();
}
