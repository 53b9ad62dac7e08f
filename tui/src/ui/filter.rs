//! Filter expressions in mitmproxy's spirit: `~m POST & (~c 404 | ~c 5xx)`, `!~d cdn`, a bare
//! word matches the URL. Compiled once into a tree of predicates; the help overlay lists
//! [`PRIMITIVES`], the same table the parser dispatches on.
use capture::exchange::{header, Exchange};
use regex::{Regex, RegexBuilder};

/// One `~x ARG` primitive: its code, what its argument is, its help line, and how it compiles.
pub struct Primitive {
    pub code: char,
    pub arg: &'static str,
    pub help: &'static str,
    build: fn(&str, usize) -> Result<Node, FilterError>,
}

pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        code: 'm',
        arg: "METHOD",
        help: "request method (exact, any case)",
        build: |a, _| Ok(Node::Method(a.to_string())),
    },
    Primitive {
        code: 'c',
        arg: "CODE",
        help: "response status: 404, or a class 4xx / 5xx",
        build: code,
    },
    Primitive {
        code: 'd',
        arg: "REGEX",
        help: "host (domain)",
        build: |a, at| Ok(Node::Domain(regex(a, at)?)),
    },
    Primitive {
        code: 'u',
        arg: "REGEX",
        help: "full URL",
        build: |a, at| Ok(Node::Url(regex(a, at)?)),
    },
    Primitive {
        code: 'h',
        arg: "REGEX",
        help: "any request or response header, as `name: value`",
        build: |a, at| Ok(Node::Header(regex(a, at)?)),
    },
    Primitive {
        code: 'b',
        arg: "REGEX",
        help: "request or response body",
        build: body,
    },
    Primitive {
        code: 'p',
        arg: "PID|NAME",
        help: "process id, or process name regex",
        build: |a, at| {
            Ok(match a.parse::<u32>() {
                Ok(pid) => Node::Pid(PidSpec::Pid(pid)),
                Err(_) => Node::Pid(PidSpec::Name(regex(a, at)?)),
            })
        },
    },
    Primitive {
        code: 't',
        arg: "REGEX",
        help: "content-type of the request or response",
        build: |a, at| Ok(Node::ContentType(regex(a, at)?)),
    },
];

/// Operators, listed in the help overlay after the primitives.
pub const OPERATORS: &[(&str, &str)] = &[
    ("!X  not X", "negation"),
    ("X & Y  X Y  X and Y", "both"),
    ("X | Y  X or Y", "either"),
    ("( … )", "grouping"),
    ("word", "bare word: URL regex"),
];

#[derive(Debug)]
enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Method(String),
    Code(CodeSpec),
    Domain(Regex),
    Url(Regex),
    Header(Regex),
    Body(regex::bytes::Regex),
    Pid(PidSpec),
    ContentType(Regex),
}

#[derive(Debug, Clone, Copy)]
enum CodeSpec {
    Exact(u16),
    /// `5xx`: the hundreds digit.
    Class(u16),
}

#[derive(Debug)]
enum PidSpec {
    Pid(u32),
    Name(Regex),
}

/// A compiled filter expression.
#[derive(Debug)]
pub struct Filter {
    source: String,
    root: Node,
}

/// Why an expression does not compile, with the character offset it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub at: usize,
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at {})", self.message, self.at)
    }
}

impl Filter {
    /// Compiles `src`; an empty (or blank) expression is `Ok(None)`: no filter.
    pub fn parse(src: &str) -> Result<Option<Filter>, FilterError> {
        let tokens = tokenize(src)?;
        if tokens.is_empty() {
            return Ok(None);
        }
        // Parsing, matching and dropping recurse over the tree: bound its size and depth so a
        // pasted monster is an error, not a stack overflow.
        if let Some(t) = tokens.get(MAX_TOKENS) {
            return Err(FilterError {
                at: t.at,
                message: format!("expression too long (over {MAX_TOKENS} terms and operators)"),
            });
        }
        let mut p = Parser {
            tokens: &tokens,
            pos: 0,
            end: src.chars().count(),
            depth: 0,
        };
        let root = p.or()?;
        if let Some(t) = p.peek() {
            return Err(FilterError {
                at: t.at,
                message: match t.kind {
                    Tok::Close => "unbalanced ')'".into(),
                    _ => "unexpected token".into(),
                },
            });
        }
        Ok(Some(Filter {
            source: src.trim().to_string(),
            root,
        }))
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, ex: &Exchange) -> bool {
        eval(&self.root, ex)
    }
}

fn eval(n: &Node, ex: &Exchange) -> bool {
    match n {
        Node::And(a, b) => eval(a, ex) && eval(b, ex),
        Node::Or(a, b) => eval(a, ex) || eval(b, ex),
        Node::Not(a) => !eval(a, ex),
        Node::Method(m) => ex.request.method.eq_ignore_ascii_case(m),
        Node::Code(spec) => match (&ex.response, spec) {
            (Some(r), CodeSpec::Exact(c)) => r.status == *c,
            (Some(r), CodeSpec::Class(c)) => r.status / 100 == *c,
            (None, _) => false,
        },
        Node::Domain(re) => re.is_match(host(ex)),
        Node::Url(re) => SCRATCH.with_borrow_mut(|buf| {
            url_into(ex, buf);
            re.is_match(buf)
        }),
        Node::Header(re) => SCRATCH.with_borrow_mut(|buf| {
            let resp = ex.response.iter().flat_map(|r| r.headers.iter());
            ex.request.headers.iter().chain(resp).any(|(n, v)| {
                buf.clear();
                buf.push_str(n);
                buf.push_str(": ");
                buf.push_str(v);
                re.is_match(buf)
            })
        }),
        Node::Body(re) => {
            re.is_match(&ex.request.body.data)
                || ex
                    .response
                    .as_ref()
                    .is_some_and(|r| re.is_match(&r.body.data))
        }
        Node::Pid(PidSpec::Pid(p)) => ex.pid == *p,
        Node::Pid(PidSpec::Name(re)) => re.is_match(&ex.comm),
        Node::ContentType(re) => {
            header(&ex.request.headers, "content-type").is_some_and(|v| re.is_match(v))
                || ex.response.as_ref().is_some_and(|r| {
                    header(&r.headers, "content-type").is_some_and(|v| re.is_match(v))
                })
        }
    }
}

thread_local! {
    /// Re-filtering a million exchanges must not allocate a URL or header line per exchange.
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// `Exchange::host` without allocating.
fn host(ex: &Exchange) -> &str {
    header(&ex.request.headers, "host")
        .or_else(|| header(&ex.request.headers, ":authority"))
        .or(ex.peer_addr.as_deref())
        .unwrap_or("")
}

/// `Exchange::url` into a reused buffer.
fn url_into(ex: &Exchange, buf: &mut String) {
    buf.clear();
    let t = &ex.request.target;
    if t.starts_with("http://") || t.starts_with("https://") {
        buf.push_str(t);
        return;
    }
    buf.push_str(ex.scheme());
    buf.push_str("://");
    buf.push_str(host(ex));
    buf.push_str(t);
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Not,
    And,
    Or,
    Open,
    Close,
    /// `~x`
    Prim(char),
    Word(String),
}

#[derive(Debug)]
struct Token {
    kind: Tok,
    /// Character offset in the source.
    at: usize,
}

fn tokenize(src: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i;
        match c {
            c if c.is_whitespace() => i += 1,
            '!' => {
                out.push(Token { kind: Tok::Not, at });
                i += 1
            }
            '&' => {
                out.push(Token { kind: Tok::And, at });
                i += 1
            }
            '|' => {
                out.push(Token { kind: Tok::Or, at });
                i += 1
            }
            '(' => {
                out.push(Token {
                    kind: Tok::Open,
                    at,
                });
                i += 1
            }
            ')' => {
                out.push(Token {
                    kind: Tok::Close,
                    at,
                });
                i += 1
            }
            '~' => {
                let code = chars
                    .get(i + 1)
                    .copied()
                    .filter(|c| c.is_ascii_alphabetic());
                let Some(code) = code else {
                    return Err(FilterError {
                        at,
                        message: "'~' needs a letter: ~m ~c ~d ~u ~h ~b ~p ~t".into(),
                    });
                };
                out.push(Token {
                    kind: Tok::Prim(code),
                    at,
                });
                i += 2;
            }
            '"' | '\'' => {
                let quote = c;
                let mut word = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(FilterError {
                                at,
                                message: "unterminated quote".into(),
                            })
                        }
                        Some(&'\\') if chars.get(i + 1) == Some(&quote) => {
                            word.push(quote);
                            i += 2;
                        }
                        Some(&ch) if ch == quote => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            word.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token {
                    kind: Tok::Word(word),
                    at,
                });
            }
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.get(i) {
                    if ch.is_whitespace() || matches!(ch, '(' | ')' | '&' | '|') {
                        break;
                    }
                    // A '!' inside a word is literal; only a leading one negates.
                    word.push(ch);
                    i += 1;
                }
                let kind = match word.as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => Tok::Word(word),
                };
                out.push(Token { kind, at });
            }
        }
    }
    Ok(out)
}

/// Tokens in one expression, at most.
const MAX_TOKENS: usize = 1000;
/// Nesting of `(` and `!`, at most.
const MAX_NESTING: usize = 100;

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    /// Source length, for errors at the end of input.
    end: usize,
    /// Current nesting of `(` and `!`.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<&Token> {
        let t = self.tokens.get(self.pos);
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Node, FilterError> {
        let mut left = self.and()?;
        while self.peek().is_some_and(|t| t.kind == Tok::Or) {
            self.pos += 1;
            let right = self.and()?;
            left = Node::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `a & b`, and juxtaposition `a b` (mitmproxy treats both as and).
    fn and(&mut self) -> Result<Node, FilterError> {
        let mut left = self.unary()?;
        loop {
            match self.peek().map(|t| &t.kind) {
                Some(Tok::And) => {
                    self.pos += 1;
                }
                Some(Tok::Not | Tok::Open | Tok::Prim(_) | Tok::Word(_)) => {}
                _ => break,
            }
            let right = self.unary()?;
            left = Node::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, FilterError> {
        let end = self.end;
        let Some(tok) = self.next() else {
            return Err(FilterError {
                at: end,
                message: "expression ends too early".into(),
            });
        };
        let at = tok.at;
        let kind = tok.kind.clone();
        if matches!(kind, Tok::Not | Tok::Open) {
            if self.depth >= MAX_NESTING {
                return Err(FilterError {
                    at,
                    message: format!("nested too deeply (over {MAX_NESTING} levels)"),
                });
            }
            self.depth += 1;
        }
        self.unary_inner(kind, at)
    }

    fn unary_inner(&mut self, kind: Tok, at: usize) -> Result<Node, FilterError> {
        match kind {
            Tok::Not => {
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Node::Not(Box::new(inner)))
            }
            Tok::Open => {
                let inner = self.or()?;
                self.depth -= 1;
                match self.next() {
                    Some(Token {
                        kind: Tok::Close, ..
                    }) => Ok(inner),
                    _ => Err(FilterError {
                        at,
                        message: "'(' is never closed".into(),
                    }),
                }
            }
            Tok::Prim(code) => {
                let arg = match self.next() {
                    Some(Token {
                        kind: Tok::Word(w), ..
                    }) => w.clone(),
                    _ => {
                        return Err(FilterError {
                            at,
                            message: format!("~{code} needs an argument"),
                        })
                    }
                };
                primitive(code, &arg, at)
            }
            Tok::Word(w) => Ok(Node::Url(regex(&w, at)?)),
            Tok::Close => Err(FilterError {
                at,
                message: "unbalanced ')'".into(),
            }),
            Tok::And | Tok::Or => Err(FilterError {
                at,
                message: "operator needs something on its left".into(),
            }),
        }
    }
}

fn primitive(code: char, arg: &str, at: usize) -> Result<Node, FilterError> {
    match PRIMITIVES.iter().find(|p| p.code == code) {
        Some(p) => (p.build)(arg, at),
        None => Err(FilterError {
            at,
            message: format!(
                "unknown ~{code}: use one of {}",
                PRIMITIVES
                    .iter()
                    .map(|p| format!("~{}", p.code))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }),
    }
}

fn code(arg: &str, at: usize) -> Result<Node, FilterError> {
    let bad = || FilterError {
        at,
        message: format!("~c {arg}: use a code like 404 or a class like 5xx"),
    };
    let lower = arg.to_ascii_lowercase();
    if let Some(d) = lower.strip_suffix("xx") {
        match d.parse::<u16>() {
            Ok(d @ 1..=5) => Ok(Node::Code(CodeSpec::Class(d))),
            _ => Err(bad()),
        }
    } else {
        match arg.parse::<u16>() {
            Ok(c @ 100..=999) => Ok(Node::Code(CodeSpec::Exact(c))),
            _ => Err(bad()),
        }
    }
}

fn body(arg: &str, at: usize) -> Result<Node, FilterError> {
    regex::bytes::RegexBuilder::new(arg)
        .case_insensitive(true)
        .build()
        .map(Node::Body)
        .map_err(|e| FilterError {
            at,
            message: regex_error(&e),
        })
}

fn regex(src: &str, at: usize) -> Result<Regex, FilterError> {
    RegexBuilder::new(src)
        .case_insensitive(true)
        .build()
        .map_err(|e| FilterError {
            at,
            message: regex_error(&e),
        })
}

/// The regex crate's errors span several lines; the filter bar has one.
fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid regex");
    format!(
        "invalid regex: {}",
        last.trim().trim_start_matches("error: ")
    )
}
