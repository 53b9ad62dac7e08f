//! Masking of secrets in decoded exchanges (`--mask`, the default): credentials in headers are
//! replaced before an exchange is shown, printed or copied, so a screen share, a pasted JSON
//! line or a copied curl command does not leak them. What identifies the traffic stays
//! visible: the authentication scheme, cookie names, Set-Cookie attributes.
use crate::exchange::Exchange;

/// What a secret value is replaced with.
pub const MASK: &str = "***";

/// Masks the secret header values of a request, its response and the response's trailers.
pub fn mask_exchange(x: &mut Exchange) {
    mask_headers(&mut x.request.headers);
    if let Some(r) = x.response.as_mut() {
        mask_headers(&mut r.headers);
        mask_headers(&mut r.trailers);
    }
}

/// Masks every secret value in a header list, in place.
pub fn mask_headers(headers: &mut [(String, String)]) {
    for (name, value) in headers.iter_mut() {
        if let Some(masked) = mask_value(name, value) {
            *value = masked;
        }
    }
}

/// The masked form of one header's value, or None when the header is not a secret (or there is
/// nothing in it to hide).
pub fn mask_value(name: &str, value: &str) -> Option<String> {
    // Called for every header of every exchange: the name is classified in place (no
    // lower-cased copy, no substring searcher set up per pattern), which cut masking from a
    // sixth of headless apitop's CPU to next to nothing.
    let n = name.as_bytes();
    let mask: fn(&str) -> String = if n.eq_ignore_ascii_case(b"cookie") {
        mask_cookie
    } else if n.eq_ignore_ascii_case(b"set-cookie") {
        mask_set_cookie
    } else if ends_with_ignore_case(n, b"authorization") {
        mask_credentials
    } else if is_secret_name(n) {
        |_| MASK.to_string()
    } else {
        return None;
    };
    (!value.trim().is_empty()).then(|| mask(value))
}

fn ends_with_ignore_case(s: &[u8], suffix: &[u8]) -> bool {
    s.len() >= suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// Header names whose values are keys, tokens or passwords, matched case-insensitively as
/// substrings, because every vendor spells them its own way (`X-Goog-Api-Key`,
/// `X-Amz-Security-Token`, `Private-Token`, `X-Client-Secret`).
fn is_secret_name(name: &[u8]) -> bool {
    // One pass over the name, comparing only where a pattern's first letter is: this runs for
    // every header of every exchange, and a search per pattern cost more than the rest of
    // masking together.
    (0..name.len()).any(|i| {
        let rest = &name[i..];
        let at = |p: &[u8]| rest.len() >= p.len() && rest[..p.len()].eq_ignore_ascii_case(p);
        match rest[0].to_ascii_lowercase() {
            b'a' => at(b"api-key") || at(b"apikey") || at(b"api_key"),
            b's' => at(b"secret"),
            b'p' => at(b"password"),
            b't' => at(b"token"),
            _ => false,
        }
    })
}

/// `Bearer abc` → `Bearer ***`: the scheme says how the client authenticates, which helps
/// debugging and is no secret. A value without a scheme is all secret.
fn mask_credentials(value: &str) -> String {
    let v = value.trim_start();
    match v.split_once(char::is_whitespace) {
        Some((scheme, rest)) if !rest.trim().is_empty() => format!("{scheme} {MASK}"),
        _ => MASK.to_string(),
    }
}

/// `session=abc; theme=dark` → `session=***; theme=***`: which cookies are sent is kept.
fn mask_cookie(value: &str) -> String {
    value
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(mask_pair)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `id=abc; Path=/; HttpOnly` → `id=***; Path=/; HttpOnly`: the attributes after the first `;`
/// are the server's policy, not the secret.
fn mask_set_cookie(value: &str) -> String {
    match value.split_once(';') {
        Some((pair, attributes)) => format!("{};{attributes}", mask_pair(pair.trim())),
        None => mask_pair(value.trim()),
    }
}

/// `name=value` → `name=***`; a cookie without a name is all value.
fn mask_pair(pair: &str) -> String {
    match pair.split_once('=') {
        Some((name, _)) => format!("{}={MASK}", name.trim()),
        None => MASK.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{Protocol, Request, Response, Role};

    fn masked(name: &str, value: &str) -> String {
        mask_value(name, value).unwrap_or_else(|| value.to_string())
    }

    #[test]
    fn authorization_keeps_its_scheme() {
        assert_eq!(masked("Authorization", "Bearer abc.def"), "Bearer ***");
        assert_eq!(masked("Authorization", "Basic dXNlcjpwYXNz"), "Basic ***");
        assert_eq!(masked("Proxy-Authorization", "Basic Zm9v"), "Basic ***");
        assert_eq!(masked("authorization", "sk-live-123"), "***");
        assert_eq!(masked("Authorization", "Bearer "), "***");
        assert_eq!(
            masked(
                "AUTHORIZATION",
                "AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=ff"
            ),
            "AWS4-HMAC-SHA256 ***"
        );
    }

    #[test]
    fn cookie_keeps_names() {
        assert_eq!(
            masked("Cookie", "session=abc; theme=dark"),
            "session=***; theme=***"
        );
        assert_eq!(masked("cookie", "lonely"), "***");
        assert_eq!(masked("Cookie", "a=1;b=2;"), "a=***; b=***");
    }

    #[test]
    fn set_cookie_keeps_name_and_attributes() {
        assert_eq!(
            masked("Set-Cookie", "id=abc123; Path=/; HttpOnly"),
            "id=***; Path=/; HttpOnly"
        );
        assert_eq!(masked("set-cookie", "id=abc123"), "id=***");
        // The value may itself contain '=' (base64): none of it is left.
        assert_eq!(
            masked("Set-Cookie", "tok=YWJj==; Secure"),
            "tok=***; Secure"
        );
    }

    #[test]
    fn key_and_token_headers_are_masked_whole() {
        for name in [
            "X-Api-Key",
            "Api-Key",
            "x-auth-token",
            "X-Access-Token",
            "X-Goog-Api-Key",
            "apikey",
            "X-API_KEY",
            "X-Client-Secret",
            "X-Password",
            "X-Amz-Security-Token",
        ] {
            assert_eq!(masked(name, "s3cr3t"), "***", "{name}");
        }
    }

    #[test]
    fn other_headers_are_untouched() {
        for (name, value) in [
            ("Content-Type", "application/json"),
            ("Host", "api.test"),
            (":authority", "api.test"),
            (":path", "/v1/login"),
            ("User-Agent", "curl/8.5.0"),
            ("Accept", "*/*"),
        ] {
            assert_eq!(mask_value(name, value), None, "{name}");
        }
        // Nothing to hide in an empty value.
        assert_eq!(mask_value("Authorization", ""), None);
    }

    /// Requests, responses and trailers are all masked, HTTP/2's lower-case names included.
    #[test]
    fn whole_exchange() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let mut x = Exchange {
            id: 1,
            pid: 1,
            comm: "c".into(),
            protocol: Protocol::Http2,
            tls: true,
            role: Role::Client,
            conn_id: 1,
            local_addr: None,
            peer_addr: None,
            stream_id: Some(1),
            request: Request {
                method: "GET".into(),
                target: "/".into(),
                version: "HTTP/2".into(),
                headers: h(&[
                    (":authority", "api.test"),
                    ("authorization", "Bearer abc"),
                    ("cookie", "sid=abc"),
                    ("x-api-key", "abc"),
                ]),
                body: Default::default(),
            },
            response: Some(Response {
                status: 200,
                version: "HTTP/2".into(),
                headers: h(&[
                    ("set-cookie", "sid=abc; Path=/"),
                    ("content-type", "text/plain"),
                ]),
                trailers: h(&[("x-session-token", "abc"), ("grpc-status", "0")]),
                ..Default::default()
            }),
            start: 0,
            end: None,
            request_end: None,
            response_start: None,
            error: None,
        };
        mask_exchange(&mut x);
        let r = x.response.as_ref().unwrap();
        assert_eq!(
            x.request.headers,
            h(&[
                (":authority", "api.test"),
                ("authorization", "Bearer ***"),
                ("cookie", "sid=***"),
                ("x-api-key", "***"),
            ])
        );
        assert_eq!(
            r.headers,
            h(&[
                ("set-cookie", "sid=***; Path=/"),
                ("content-type", "text/plain")
            ])
        );
        assert_eq!(
            r.trailers,
            h(&[("x-session-token", "***"), ("grpc-status", "0")])
        );
        // Masking a masked exchange changes nothing.
        let once = x.clone();
        mask_exchange(&mut x);
        assert_eq!(x, once);
    }
}
