//! The decoded model: one request and its response, whatever protocol carried them.
use serde::Serialize;

/// Nanoseconds since the Unix epoch.
pub type UnixNanos = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Protocol {
    #[serde(rename = "HTTP/1.1")]
    Http1,
    #[serde(rename = "HTTP/2")]
    Http2,
}

/// A message body as kept for display: decoded (dechunked, decompressed) bytes up to a cap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    /// Bytes on the wire after transfer decoding (dechunked), before content decoding.
    pub raw_len: u64,
    /// Content-decoded bytes, at most the body cap.
    pub data: Vec<u8>,
    /// True when `data` is shorter than the body because a cap was reached.
    pub truncated: bool,
    /// The `Content-Encoding` that was decoded, if any.
    pub content_encoding: Option<String>,
    /// Why content decoding failed or stopped (data then holds the raw bytes).
    pub decode_error: Option<String>,
    /// True when `data` was dropped after capture to keep a consumer (the UI's store) within
    /// its memory budget: an empty `data` then means "no longer held", not "no body". Capture
    /// itself never sets it.
    pub evicted: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent (origin form `/path?q`, or absolute form).
    pub target: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Trailers (HTTP/2, chunked HTTP/1.1).
    pub trailers: Vec<(String, String)>,
}

/// Which side of the connection the traced process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Server,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub id: u64,
    pub pid: u32,
    pub comm: String,
    pub protocol: Protocol,
    pub tls: bool,
    pub role: Role,
    /// Connection id, unique within a capture.
    pub conn_id: u64,
    pub local_addr: Option<String>,
    pub peer_addr: Option<String>,
    pub stream_id: Option<u32>,
    pub request: Request,
    /// None when the connection ended (or the capture stopped) before a response.
    pub response: Option<Response>,
    /// When the first byte of the request was seen.
    pub start: UnixNanos,
    /// When the last byte of the response was seen.
    pub end: Option<UnixNanos>,
    /// When the request's last byte was seen (None if it never ended, or is not known).
    pub request_end: Option<UnixNanos>,
    /// When the response's first byte was seen (None without a response).
    pub response_start: Option<UnixNanos>,
    /// Why the exchange is incomplete, if it is (`"connection closed"`, `"capture ended"`, ...).
    pub error: Option<String>,
}

impl Exchange {
    pub fn duration_ns(&self) -> Option<u64> {
        self.end.map(|e| e.saturating_sub(self.start))
    }

    /// `Host` header, or HTTP/2 `:authority`, else the peer address.
    pub fn host(&self) -> String {
        self.host_str().to_string()
    }

    /// [`Exchange::host`] borrowed: the Host (or `:authority`) header, else the peer address.
    pub fn host_str(&self) -> &str {
        header(&self.request.headers, "host")
            .or_else(|| header(&self.request.headers, ":authority"))
            .or(self.peer_addr.as_deref())
            .unwrap_or_default()
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// Path and query, even when the request used the absolute form.
    pub fn path(&self) -> String {
        self.path_str().to_string()
    }

    /// [`Exchange::path`] borrowed.
    pub fn path_str(&self) -> &str {
        let t = &self.request.target;
        match t
            .strip_prefix("http://")
            .or_else(|| t.strip_prefix("https://"))
        {
            Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => t,
        }
    }

    pub fn url(&self) -> String {
        let t = &self.request.target;
        if t.starts_with("http://") || t.starts_with("https://") {
            return t.clone();
        }
        format!("{}://{}{}", self.scheme(), self.host_str(), self.path_str())
    }
}

/// First value of a header, case-insensitively.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A connection that carried no HTTP we could decode, reported with its byte counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpaqueConnection {
    pub conn_id: u64,
    pub pid: u32,
    pub comm: String,
    pub tls: bool,
    pub local_addr: Option<String>,
    pub peer_addr: Option<String>,
    pub bytes_written: u64,
    pub bytes_read: u64,
    pub start: UnixNanos,
    pub end: UnixNanos,
    /// What the decoder made of it (`"not HTTP"`), or why decoding stopped part-way
    /// (`"HTTP/2 decoding stopped: ..."`, reported when it happens).
    pub reason: String,
}
