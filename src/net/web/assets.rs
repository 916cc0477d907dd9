//! The web client's files, embedded in the binary at build time, and the
//! HTTP answers that serve them.
//!
//! Owns the table of files (from `src/web/`), their content types, cache
//! validators and the security headers every answer carries. Must never
//! read the disk at run time, and never serve anything not in the table.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One embedded file.
pub(super) struct Asset {
    /// Where it is served (`/` serves `/index.html`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// Everything the page needs; nothing else is served.
pub(super) const ASSETS: &[Asset] = &[
    Asset {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/app.js"),
    },
    Asset {
        path: "/irc.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/irc.js"),
    },
    Asset {
        path: "/ui.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/ui.js"),
    },
    Asset {
        path: "/sasl.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/sasl.js"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/style.css"),
    },
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../web/favicon.svg"),
    },
];

/// What the page may do, and nothing more: its own scripts, styles and
/// images, WebSockets (to this server: `'self'` covers ws/wss of the same
/// host in current browsers; `ws:`/`wss:` for the rest), no plugins, no
/// frames around it, no forms posting elsewhere.
pub(super) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; font-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The file served at `path`, if there is one.
pub(super) fn find(path: &str) -> Option<(usize, &'static Asset)> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().enumerate().find(|(_, a)| a.path == path)
}

/// A strong validator for each asset: the start of its SHA-256, computed
/// once. A new binary with a changed file gets a new one.
fn etag(index: usize) -> &'static str {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    let etags = ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = Sha256::digest(asset.body);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    });
    etags.get(index).map_or("\"\"", String::as_str)
}

/// The answer to `GET`/`HEAD path`: the file (or 304 when the client's
/// copy, named by `if_none_match`, is current), or 404.
pub(super) fn serve(path: &str, if_none_match: Option<&str>, head: bool) -> Response<Full<Bytes>> {
    let Some((index, asset)) = find(path) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let tag = etag(index);
    let current = if_none_match.is_some_and(|wanted| {
        wanted
            .split(',')
            .any(|candidate| candidate.trim() == tag || candidate.trim() == "*")
    });
    let (status, body) = match (current, head) {
        (true, _) => (StatusCode::NOT_MODIFIED, Bytes::new()),
        (false, true) => (StatusCode::OK, Bytes::new()),
        (false, false) => (StatusCode::OK, Bytes::from_static(asset.body)),
    };
    let mut response = with_security_headers(Response::new(Full::new(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if head {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.body.len()));
    }
    // Always revalidate: the files change with the binary, and a 304 costs
    // one small round trip.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(tag) = HeaderValue::from_str(tag) {
        headers.insert(header::ETAG, tag);
    }
    response
}

/// A short plain-text answer (an error, with what to do about it).
pub(super) fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response =
        with_security_headers(Response::new(Full::new(Bytes::from(text.to_owned()))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Adds the headers every answer carries.
fn with_security_headers(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_unique_path_a_type_and_content() {
        for (i, asset) in ASSETS.iter().enumerate() {
            assert!(asset.path.starts_with('/'), "{}", asset.path);
            assert!(!asset.body.is_empty(), "{} is empty", asset.path);
            assert!(!asset.content_type.is_empty());
            assert!(
                ASSETS[i + 1..].iter().all(|other| other.path != asset.path),
                "{} twice",
                asset.path
            );
        }
    }

    #[test]
    fn the_root_serves_the_page_and_unknown_paths_are_not_found() {
        let page = serve("/", None, false);
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(
            page.headers()[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(
            serve("/../Cargo.toml", None, false).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            serve("/secret", None, false).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn a_current_copy_gets_not_modified_and_an_old_one_the_file() {
        let first = serve("/app.js", None, false);
        let tag = first.headers()[header::ETAG]
            .to_str()
            .expect("ascii etag")
            .to_owned();
        assert_eq!(
            serve("/app.js", Some(&tag), false).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            serve("/app.js", Some("\"0000\""), false).status(),
            StatusCode::OK
        );
    }
}
