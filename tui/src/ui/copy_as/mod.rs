//! "Copy as…": one exchange's request as something that resends it — a shell command (curl,
//! HTTPie, grpcurl), a program (Python `requests`, JavaScript `fetch`) or the raw HTTP/1.1
//! bytes. [`request::replay`] reconstructs the request once; each format only spells it.
pub mod curl;
pub mod fetch;
pub mod httpie;
pub mod python;
pub mod raw;
pub mod request;
pub mod shell;

use capture::exchange::Exchange;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Curl,
    Httpie,
    Raw,
    Python,
    Fetch,
    Grpcurl,
}

impl Format {
    /// In menu order; [`Format::key`] is the position.
    pub const ALL: [Format; 6] = [
        Format::Curl,
        Format::Httpie,
        Format::Raw,
        Format::Python,
        Format::Fetch,
        Format::Grpcurl,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Format::Curl => "curl",
            Format::Httpie => "HTTPie",
            Format::Raw => "raw HTTP/1.1",
            Format::Python => "Python requests",
            Format::Fetch => "JavaScript fetch (Node 18+)",
            Format::Grpcurl => "grpcurl",
        }
    }

    /// The digit that picks it in the menu.
    pub fn key(self) -> char {
        let i = Format::ALL.iter().position(|f| *f == self).unwrap_or(0);
        char::from(b'1' + i as u8)
    }

    pub fn from_key(c: char) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.key() == c)
    }
}

/// What is copied, and what it will not reproduce. Program and shell formats carry the notes
/// as comments too; the raw request cannot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snippet {
    pub text: String,
    pub notes: Vec<String>,
}

/// The snippet, or why the format cannot express this exchange.
pub fn snippet(format: Format, ex: &Exchange) -> Result<Snippet, String> {
    match format {
        Format::Curl => {
            let c = curl::curl(ex);
            Ok(Snippet {
                text: c.command,
                notes: c.warnings,
            })
        }
        Format::Httpie => httpie::httpie(ex),
        Format::Raw => raw::raw(ex),
        Format::Python => python::python(ex),
        Format::Fetch => fetch::fetch(ex),
        Format::Grpcurl => curl::grpcurl(ex)
            .map(|text| Snippet {
                text,
                notes: vec![
                    "fields are keyed by number: grpcurl needs the service's .proto (-proto) \
                     or server reflection to send them"
                        .into(),
                ],
            })
            .ok_or_else(|| {
                "only for a gRPC call whose request messages all decode as protobuf".into()
            }),
    }
}

/// `notes` as comment lines (`prefix` is the language's comment marker), control characters
/// made harmless so that a note cannot end the comment.
fn comments(prefix: &str, notes: &[String]) -> String {
    notes
        .iter()
        .map(|n| {
            let n: String = n
                .chars()
                .map(|c| match c {
                    // JavaScript ends a line comment at these too.
                    '\u{2028}' | '\u{2029}' => ' ',
                    c if c.is_control() => ' ',
                    c => c,
                })
                .collect();
            format!("{prefix} {n}\n")
        })
        .collect()
}
