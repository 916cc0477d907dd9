//! The configuration file: `natter-server --config natter.toml`.
//!
//! Owns reading a TOML file whose keys are the command line's long options
//! (dashes as underscores: `max_conns_per_ip = 16`; the positional port is
//! `port`) and merging it under the command line, which wins. The file is
//! turned into the command-line arguments it stands for and parsed by the
//! same clap definition, so every option has a key, a new option gets one
//! the day it is added, and a value is checked by exactly the parser that
//! checks it on the command line. An unknown key, a value of the wrong
//! kind or a value the option's parser refuses is a [`SettingsError`] that
//! names the file, the line and what to write instead.
//!
//! Must never start anything or read any file but the configuration file:
//! the caller turns the merged options into a server.
//!
//! ```
//! use clap::{Arg, ArgAction, Command};
//! use natter::settings::{merge, ConfigFile};
//! let command = Command::new("demo")
//!     .arg(Arg::new("config").long("config"))
//!     .arg(Arg::new("sendq").long("sendq").value_parser(clap::value_parser!(u64)));
//! let file = ConfigFile::new("natter.toml", "sendq = 4096\n");
//! let matches = merge(command, ["demo"], Some(&file), &["config"]).unwrap();
//! assert_eq!(matches.get_one::<u64>("sendq"), Some(&4096));
//! ```

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::{Spanned, Value};

/// The text of a configuration file and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    path: PathBuf,
    text: String,
}

impl ConfigFile {
    /// A file's text, as if read from `path` (for tests and examples).
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> ConfigFile {
        ConfigFile {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Reads `path`.
    pub fn read(path: &Path) -> Result<ConfigFile, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|e| SettingsError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(ConfigFile::new(path, text))
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

/// What is wrong with the configuration, worded for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    /// The file could not be read.
    Read { path: PathBuf, reason: String },
    /// The file is not valid TOML.
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// A key that is no option.
    UnknownKey {
        path: PathBuf,
        line: usize,
        key: String,
    },
    /// A key for a one-off action (`--hash-password`) or `config` itself.
    NotASetting {
        path: PathBuf,
        line: usize,
        key: String,
    },
    /// A value of the wrong kind, or one the option's parser refused.
    BadValue {
        path: PathBuf,
        line: usize,
        key: String,
        reason: String,
        expected: String,
    },
    /// The options together are refused (e.g. `tls_cert` without
    /// `tls_key`), or the command line itself is wrong.
    Combined { reason: String },
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::Read { path, reason } => write!(
                f,
                "cannot read the configuration file {}: {reason}; check the path given to --config",
                path.display()
            ),
            SettingsError::Syntax { path, line, reason } => write!(
                f,
                "{} line {line}: not valid TOML: {reason}",
                path.display()
            ),
            SettingsError::UnknownKey { path, line, key } => write!(
                f,
                "{} line {line}: unknown key `{key}`: every key is a long option of \
                 `natter-server --help` with underscores for dashes (e.g. max_conns_per_ip); \
                 docs/natter.example.toml lists them all",
                path.display()
            ),
            SettingsError::NotASetting { path, line, key } => write!(
                f,
                "{} line {line}: `{key}` is a one-off command-line action, not a setting; \
                 remove it from the file",
                path.display()
            ),
            SettingsError::BadValue {
                path,
                line,
                key,
                reason,
                expected,
            } => write!(
                f,
                "{} line {line}: bad value for `{key}`: {reason}; {key} wants {expected}",
                path.display()
            ),
            SettingsError::Combined { reason } => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for SettingsError {}

/// The file key of an option: its long name with `_` for `-`, or the id
/// of a positional argument.
pub fn key_of(arg: &Arg) -> String {
    match arg.get_long() {
        Some(long) => long.replace('-', "_"),
        None => arg.get_id().as_str().to_string(),
    }
}

/// Whether an option is a switch (`--no-sts`): `true` or `false` in the file.
fn is_switch(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse)
}

/// What a key wants, for error messages: its value name and help.
fn expected(arg: &Arg) -> String {
    let help = arg
        .get_help()
        .map(|h| h.to_string())
        .unwrap_or_default()
        .split(". ")
        .next()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_string();
    let what = if is_switch(arg) {
        "true or false".to_string()
    } else {
        let names = arg
            .get_value_names()
            .map(|names| names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap_or_default();
        let name = names
            .first()
            .cloned()
            .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
        match arg.get_action() {
            ArgAction::Append => format!("a {name} or a list of them, e.g. [\"…\", \"…\"]"),
            _ => format!("a {name}"),
        }
    };
    if help.is_empty() {
        what
    } else {
        format!("{what} ({help})")
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Float(x) => Some(x.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Datetime(d) => Some(d.to_string()),
        Value::Array(_) | Value::Table(_) => None,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "a number",
        Value::Float(_) => "a decimal number",
        Value::Boolean(_) => "true/false",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "a list",
        Value::Table(_) => "a section",
    }
}

/// The command-line arguments the file stands for, in file order, leaving
/// out every key whose option `given` says the command line set. `actions`
/// are the ids that may not appear in a file (`config`, one-off actions).
pub fn file_args(
    command: &Command,
    file: &ConfigFile,
    actions: &[&str],
    given: impl Fn(&str) -> bool,
) -> Result<Vec<OsString>, SettingsError> {
    let path = file.path.clone();
    let table: BTreeMap<Spanned<String>, Spanned<Value>> =
        toml::from_str(&file.text).map_err(|e| SettingsError::Syntax {
            path: path.clone(),
            line: e.span().map_or(1, |s| file.line_of(s.start)),
            reason: e.message().to_string(),
        })?;
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    let by_key: BTreeMap<String, &Arg> = command
        .get_arguments()
        .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
        .map(|a| (key_of(a), a))
        .collect();
    let mut options = Vec::new();
    let mut positionals = Vec::new();
    for (key, value) in entries {
        let line = file.line_of(key.span().start);
        let key = key.into_inner();
        let Some(arg) = by_key.get(&key).copied() else {
            return Err(SettingsError::UnknownKey { path, line, key });
        };
        if actions.contains(&arg.get_id().as_str()) {
            return Err(SettingsError::NotASetting { path, line, key });
        }
        let bad = |reason: String| SettingsError::BadValue {
            path: path.clone(),
            line,
            key: key.clone(),
            reason,
            expected: expected(arg),
        };
        let value = value.into_inner();
        let values: Vec<String> = if is_switch(arg) {
            match value {
                Value::Boolean(_) => Vec::new(),
                other => return Err(bad(format!("{} is {}", other, kind(&other)))),
            }
        } else {
            match (&value, arg.get_action()) {
                (Value::Array(items), ArgAction::Append) => items
                    .iter()
                    .map(|item| {
                        scalar(item).ok_or_else(|| bad(format!("{item} is {}", kind(item))))
                    })
                    .collect::<Result<_, _>>()?,
                (Value::Array(_) | Value::Table(_), _) => {
                    return Err(bad(format!("{value} is {}, not one value", kind(&value))))
                }
                (other, _) => vec![scalar(other).unwrap_or_default()],
            }
        };
        for text in &values {
            check_value(arg, text).map_err(|e| bad(clap_reason(&e)))?;
        }
        if given(arg.get_id().as_str()) {
            continue; // the command line wins
        }
        match arg.get_long() {
            None => positionals.extend(values.into_iter().map(OsString::from)),
            Some(long) if is_switch(arg) => {
                if value.as_bool() == Some(true) {
                    options.push(OsString::from(format!("--{long}")));
                }
            }
            Some(long) => options.extend(
                values
                    .into_iter()
                    .map(|v| OsString::from(format!("--{long}={v}"))),
            ),
        }
    }
    options.extend(positionals);
    Ok(options)
}

/// Runs `arg`'s own value parser on `text`, alone: the option's
/// requirements (`tls_cert` needs `tls_key`) are checked later, together.
fn check_value(arg: &Arg, text: &str) -> Result<(), clap::Error> {
    let mut alone = Arg::new(arg.get_id().clone())
        .value_parser(arg.get_value_parser().clone())
        .action(ArgAction::Set);
    if let Some(names) = arg.get_value_names() {
        alone = alone.value_names(names.iter().cloned());
    }
    Command::new("natter-server")
        .no_binary_name(true)
        .arg(alone)
        .try_get_matches_from(["--", text])
        .map(|_| ())
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_reason(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// Parses the command line `cli` (program name first) with the file's
/// settings under it: an option set on the command line wins; lists
/// (`--oper`) on the command line replace the file's. Errors in the
/// command line itself come back as [`SettingsError::Combined`] holding
/// clap's message.
pub fn merge<I, T>(
    command: Command,
    cli: I,
    file: Option<&ConfigFile>,
    actions: &[&str],
) -> Result<ArgMatches, SettingsError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli: Vec<OsString> = cli.into_iter().map(Into::into).collect();
    let Some(file) = file else {
        return command
            .try_get_matches_from(&cli)
            .map_err(|e| SettingsError::Combined {
                reason: e.to_string(),
            });
    };
    let alone =
        command
            .clone()
            .try_get_matches_from(&cli)
            .map_err(|e| SettingsError::Combined {
                reason: e.to_string(),
            })?;
    let given = |id: &str| alone.value_source(id) == Some(ValueSource::CommandLine);
    let from_file = file_args(&command, file, actions, given)?;
    let mut all = Vec::with_capacity(cli.len() + from_file.len());
    all.extend(cli.first().cloned());
    all.extend(from_file);
    all.extend(cli.iter().skip(1).cloned());
    command
        .try_get_matches_from(all)
        .map_err(|e| SettingsError::Combined {
            reason: format!(
                "with the settings of {}: {}",
                file.path.display(),
                clap_reason(&e)
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// A small command line shaped like natter-server's.
    #[derive(Parser, Debug, PartialEq)]
    struct Demo {
        #[arg(default_value_t = 6667)]
        port: u16,
        #[arg(long, default_value_t = 16)]
        max_conns_per_ip: u32,
        #[arg(long, value_name = "NAME")]
        server_name: Option<String>,
        #[arg(long)]
        no_sts: bool,
        #[arg(long = "oper", value_name = "NAME:HASH")]
        opers: Vec<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        hash_password: bool,
    }

    const ACTIONS: &[&str] = &["config", "hash_password"];

    fn parse(cli: &[&str], toml: &str) -> Result<Demo, SettingsError> {
        use clap::{CommandFactory, FromArgMatches};
        let file = ConfigFile::new("/etc/natter.toml", toml);
        let mut argv = vec!["demo"];
        argv.extend_from_slice(cli);
        let matches = merge(Demo::command(), argv, Some(&file), ACTIONS)?;
        Ok(Demo::from_arg_matches(&matches).expect("merged matches fit Demo"))
    }

    #[test]
    fn every_key_of_the_file_sets_its_option() {
        let demo = parse(
            &[],
            "port = 7000\nmax_conns_per_ip = 4\nserver_name = \"irc.example\"\n\
             no_sts = true\noper = [\"a:1\", \"b:2\"]\n",
        )
        .expect("a good file");
        assert_eq!(demo.port, 7000);
        assert_eq!(demo.max_conns_per_ip, 4);
        assert_eq!(demo.server_name.as_deref(), Some("irc.example"));
        assert!(demo.no_sts);
        assert_eq!(demo.opers, ["a:1", "b:2"]);
    }

    #[test]
    fn the_command_line_wins_over_the_file() {
        let demo = parse(
            &["--max-conns-per-ip", "9", "--oper", "c:3", "7001"],
            "port = 7000\nmax_conns_per_ip = 4\noper = [\"a:1\"]\nserver_name = \"f\"\n",
        )
        .expect("a good file");
        assert_eq!((demo.port, demo.max_conns_per_ip), (7001, 9));
        assert_eq!(
            demo.opers,
            ["c:3"],
            "a list on the command line replaces the file's"
        );
        assert_eq!(
            demo.server_name.as_deref(),
            Some("f"),
            "the rest still comes from the file"
        );
    }

    #[test]
    fn an_unknown_key_names_the_file_the_line_and_the_key() {
        let error = parse(&[], "# limits\nport = 7000\n\nmax_conns_per_host = 3\n")
            .expect_err("no such option");
        assert_eq!(
            error,
            SettingsError::UnknownKey {
                path: "/etc/natter.toml".into(),
                line: 4,
                key: "max_conns_per_host".into()
            }
        );
        let text = error.to_string();
        assert!(
            text.starts_with("/etc/natter.toml line 4: unknown key `max_conns_per_host`"),
            "{text}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_kind_says_what_is_expected() {
        let error = parse(&[], "\nmax_conns_per_ip = \"lots\"\n").expect_err("not a number");
        let text = error.to_string();
        assert!(
            text.starts_with("/etc/natter.toml line 2: bad value for `max_conns_per_ip`"),
            "{text}"
        );
        assert!(text.contains("'lots'"), "{text}");
        let error = parse(&[], "no_sts = \"yes\"\n").expect_err("not a bool");
        assert!(
            error.to_string().contains("no_sts wants true or false"),
            "{error}"
        );
        let error = parse(&[], "server_name = [\"a\", \"b\"]\n").expect_err("not a list");
        assert!(error.to_string().contains("not one value"), "{error}");
        let error = parse(&[], "port = 70000\n").expect_err("out of range");
        assert!(
            error.to_string().contains("line 1: bad value for `port`"),
            "{error}"
        );
    }

    #[test]
    fn actions_and_the_config_key_itself_are_not_settings() {
        let error = parse(&[], "hash_password = true\n").expect_err("an action");
        assert!(
            error.to_string().contains("one-off command-line action"),
            "{error}"
        );
        assert!(parse(&[], "config = \"other.toml\"\n").is_err());
    }

    #[test]
    fn bad_toml_is_reported_with_its_line() {
        let error = parse(&[], "port = 7000\nserver_name = \n").expect_err("no value");
        assert!(
            matches!(error, SettingsError::Syntax { line: 2, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn a_false_switch_in_the_file_leaves_the_option_off() {
        let demo = parse(&[], "no_sts = false\n").expect("a good file");
        assert!(!demo.no_sts);
    }
}
