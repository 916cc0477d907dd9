//! natter-client's configuration file, `~/.config/natter/client.toml`
//! (`%APPDATA%\natter\client.toml` on Windows; `--config FILE` for another):
//! the server, the nick, TLS, the login, the rooms, and how the screen
//! looks. The command line wins over the file.
//!
//! Pure parsing and the default path; reading the file is the binary's job.
//!
//! ```toml
//! server = "chat.example.org"
//! port = 6697
//! nick = "alice"
//! tls = true
//! account = "alice"                      # SASL login (needs a password)
//! password_file = "~/.config/natter/password"
//! rooms = ["#lobby", "#rust"]
//! timestamp_format = "%H:%M:%S"
//! nick_color = "hash"                    # or "off", or a colour: "cyan"
//! no_color = false
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The settings the file may hold; every one is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub server: Option<String>,
    pub port: Option<u16>,
    pub nick: Option<String>,
    pub tls: Option<bool>,
    /// A PEM file of CAs to trust (with `tls`).
    pub tls_ca: Option<PathBuf>,
    /// The server certificate's SHA-256 fingerprint (with `tls`).
    pub tls_fingerprint: Option<String>,
    /// The account to log in to with SASL.
    pub account: Option<String>,
    /// A file whose first line is the password (keep it readable only by you).
    pub password_file: Option<PathBuf>,
    /// The password itself; the file must then be readable only by you.
    pub password: Option<String>,
    /// Rooms to join on connecting.
    pub rooms: Option<Vec<String>>,
    pub timestamp_format: Option<String>,
    pub nick_color: Option<String>,
    pub no_color: Option<bool>,
}

impl ClientConfig {
    /// Parses the file's text; the error names the line and the problem.
    ///
    /// ```
    /// use natter::client::config::ClientConfig;
    /// let c = ClientConfig::parse("nick = \"alice\"\nrooms = [\"#a\", \"#b\"]").unwrap();
    /// assert_eq!(c.rooms, Some(vec!["#a".to_string(), "#b".to_string()]));
    /// assert!(ClientConfig::parse("nik = \"typo\"").unwrap_err().contains("nik"));
    /// ```
    pub fn parse(text: &str) -> Result<ClientConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Where the file is looked for when `--config` is not given:
    /// `$XDG_CONFIG_HOME/natter/client.toml`, else
    /// `~/.config/natter/client.toml`; on Windows
    /// `%APPDATA%\natter\client.toml`.
    pub fn default_path() -> Option<PathBuf> {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let base = if cfg!(windows) {
            var("APPDATA")
        } else {
            var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")))
        };
        base.map(|b| b.join("natter").join("client.toml"))
    }
}

/// `~/x` as the home directory's `x`; other paths as they are.
pub fn expand_home(path: &Path) -> PathBuf {
    let home = std::env::var_os(if cfg!(windows) { "USERPROFILE" } else { "HOME" });
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_reads_and_unknown_ones_are_refused_with_their_line() {
        let c = ClientConfig::parse(
            "server = \"chat.lan\"\nport = 6697\nnick = \"bob\"\ntls = true\n\
             account = \"bob\"\npassword_file = \"~/pw\"\nrooms = [\"#lobby\"]\n\
             timestamp_format = \"%H:%M:%S\"\nnick_color = \"off\"\nno_color = true\n",
        )
        .unwrap_or_default();
        assert_eq!(c.server.as_deref(), Some("chat.lan"));
        assert_eq!(c.port, Some(6697));
        assert_eq!(c.no_color, Some(true));
        let e = ClientConfig::parse("\n\nport = \"six\"").unwrap_err();
        assert!(e.contains("line 3"), "{e}");
    }
}
