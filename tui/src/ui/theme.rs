//! Themes: a UI palette plus a syntect theme. `dark` and `light` are built in (from
//! `themes/*.toml`); a user file names a `base` and overrides only the fields it sets.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::Color;
use serde::Deserialize;

const DARK: &str = include_str!("../../../themes/dark.toml");
const LIGHT: &str = include_str!("../../../themes/light.toml");

pub const BUILTIN: &[&str] = &["dark", "light"];

macro_rules! palette {
    ($($field:ident),* $(,)?) => {
        /// UI colours; every field is named in the theme files' `[palette]` table.
        #[derive(Clone, Debug, PartialEq)]
        pub struct Palette { $(pub $field: Color,)* }

        impl Default for Palette {
            fn default() -> Self { Palette { $($field: Color::Reset,)* } }
        }

        impl Palette {
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field),)*];

            fn set(&mut self, key: &str, value: &str) -> Result<(), ThemeError> {
                let color = Color::from_str(value).map_err(|_| ThemeError::BadColor {
                    key: key.to_string(),
                    value: value.to_string(),
                })?;
                match key {
                    $(stringify!($field) => self.$field = color,)*
                    _ => return Err(ThemeError::UnknownField(key.to_string())),
                }
                Ok(())
            }
        }
    };
}

palette!(
    fg,
    bg,
    dim,
    border,
    border_focused,
    title,
    header,
    selected_fg,
    selected_bg,
    marked,
    accent,
    method,
    status_1xx,
    status_2xx,
    status_3xx,
    status_4xx,
    status_5xx,
    status_none,
    error,
    warning,
    ok,
    header_name,
    tab_active,
    popup_border,
    statusbar_fg,
    statusbar_bg,
);

#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub palette: Palette,
    /// A theme bundled with syntect (`base16-ocean.dark`, `InspiredGitHub`, ...).
    pub syntax_theme: String,
    /// A `.tmTheme` file, preferred over `syntax_theme` when set.
    pub syntax_theme_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("no theme named {0:?}: use dark, light, or a path to a theme file")]
    NoSuchTheme(String),
    #[error("cannot read theme file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("theme file {path} is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("unknown theme field {0:?}: palette fields are listed in themes/dark.toml")]
    UnknownField(String),
    #[error("theme field {key}: {value:?} is not a colour (use a name, #rrggbb or 0-255)")]
    BadColor { key: String, value: String },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    base: Option<String>,
    syntax_theme: Option<String>,
    syntax_theme_file: Option<PathBuf>,
    #[serde(default)]
    palette: BTreeMap<String, String>,
}

impl Theme {
    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Result<Theme, ThemeError> {
        let text = match name {
            "dark" => DARK,
            "light" => LIGHT,
            _ => return Err(ThemeError::NoSuchTheme(name.to_string())),
        };
        let file = parse(text, Path::new(name))?;
        let mut theme = Theme {
            name: name.to_string(),
            palette: Palette::default(),
            syntax_theme: String::new(),
            syntax_theme_file: None,
        };
        theme.apply(file)?;
        Ok(theme)
    }

    /// `dark`, `light`, or a path to a theme file (which may start from either).
    pub fn load(spec: &str) -> Result<Theme, ThemeError> {
        if BUILTIN.contains(&spec) {
            return Theme::builtin(spec);
        }
        let path = Path::new(spec);
        if !path.exists() && !spec.contains('/') && !spec.ends_with(".toml") {
            return Err(ThemeError::NoSuchTheme(spec.to_string()));
        }
        let text = std::fs::read_to_string(path).map_err(|source| ThemeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Theme::from_user_file(&text, path)
    }

    /// A user theme file's text: its `base` (default dark) with the fields it names replaced.
    pub fn from_user_file(text: &str, path: &Path) -> Result<Theme, ThemeError> {
        let file = parse(text, path)?;
        let mut theme = Theme::builtin(file.base.as_deref().unwrap_or("dark"))?;
        theme.apply(file)?;
        if let Some(rel) = theme.syntax_theme_file.take() {
            // Relative to the theme file, like an include.
            let dir = path.parent().unwrap_or(Path::new("."));
            theme.syntax_theme_file = Some(if rel.is_absolute() {
                rel
            } else {
                dir.join(rel)
            });
        }
        Ok(theme)
    }

    fn apply(&mut self, file: ThemeFile) -> Result<(), ThemeError> {
        if let Some(n) = file.name {
            self.name = n;
        }
        if let Some(s) = file.syntax_theme {
            self.syntax_theme = s;
        }
        if file.syntax_theme_file.is_some() {
            self.syntax_theme_file = file.syntax_theme_file;
        }
        for (k, v) in &file.palette {
            self.palette.set(k, v)?;
        }
        Ok(())
    }

    pub fn status_color(&self, status: Option<u16>) -> Color {
        let p = &self.palette;
        match status.map(|s| s / 100) {
            Some(1) => p.status_1xx,
            Some(2) => p.status_2xx,
            Some(3) => p.status_3xx,
            Some(4) => p.status_4xx,
            Some(5) => p.status_5xx,
            _ => p.status_none,
        }
    }
}

fn parse(text: &str, path: &Path) -> Result<ThemeFile, ThemeError> {
    toml::from_str(text).map_err(|e| ThemeError::Parse {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })
}

impl Default for Theme {
    fn default() -> Self {
        // The built-in file is part of the binary and covered by tests.
        Theme::builtin("dark").unwrap_or_else(|_| Theme {
            name: "dark".into(),
            palette: Palette::default(),
            syntax_theme: "base16-ocean.dark".into(),
            syntax_theme_file: None,
        })
    }
}
