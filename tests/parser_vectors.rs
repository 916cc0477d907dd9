//! The public ircdocs parser-tests vectors (tests/vectors/, CC0), every case.
//!
//! - msg-split: `Message::parse` splits each raw line into the listed atoms;
//! - msg-join: serializing the atoms gives one of the listed acceptable lines
//!   (and that line parses back to the same atoms);
//! - userhost-split: `Source::parse` splits each source into nick, user, host;
//! - mask-match: `mask_matches` accepts every listed match and rejects every
//!   listed failure for each mask.

use natter::proto::{mask_matches, Message, Source, Tag};
use serde::Deserialize;
use std::collections::BTreeMap;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/");

fn load<T: for<'de> Deserialize<'de>>(file: &str) -> T {
    let path = format!("{VECTORS}{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One message as the vector files describe it. Missing keys mean "none".
#[derive(Debug, Deserialize)]
struct Atoms {
    /// Tag key → value, in the file's order; a valueless tag is `""`.
    #[serde(default)]
    tags: Option<serde_yaml::Mapping>,
    #[serde(default)]
    source: Option<String>,
    verb: String,
    #[serde(default)]
    params: Vec<String>,
}

impl Atoms {
    /// The tags in file order as (key, value) pairs.
    fn tag_pairs(&self) -> Vec<(String, String)> {
        let Some(tags) = &self.tags else {
            return Vec::new();
        };
        tags.iter()
            .map(|(k, v)| {
                let key = k.as_str().expect("tag keys are strings").to_string();
                let value = v.as_str().unwrap_or("").to_string();
                (key, value)
            })
            .collect()
    }

    fn tag_map(&self) -> BTreeMap<String, String> {
        self.tag_pairs().into_iter().collect()
    }

    /// The atoms as a natter `Message`.
    ///
    /// The files write a valueless tag as `""`, so they cannot tell `@k` from
    /// `@k=`. IRCv3 says the two mean the same and a serializer "MUST NOT
    /// convert values from missing to empty" (msg-join accepts only `@asd` for
    /// the valueless case), so `""` becomes a tag without a value.
    fn to_message(&self) -> Message {
        Message {
            tags: self
                .tag_pairs()
                .into_iter()
                .map(|(key, value)| Tag {
                    key,
                    value: (!value.is_empty()).then_some(value),
                })
                .collect(),
            source: self.source.clone(),
            command: self.verb.clone(),
            params: self.params.clone(),
        }
    }

    /// Whether `msg` has exactly these atoms (tags compared as a map, as the
    /// files do, with a valueless tag equal to an empty one).
    fn describe_mismatch(&self, msg: &Message) -> Option<String> {
        let ours: BTreeMap<String, String> = msg
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone().unwrap_or_default()))
            .collect();
        let mut problems = Vec::new();
        if ours.len() != msg.tags.len() {
            problems.push(format!("duplicate tag keys kept: {:?}", msg.tags));
        }
        if ours != self.tag_map() {
            problems.push(format!("tags {ours:?} != {:?}", self.tag_map()));
        }
        if msg.source != self.source {
            problems.push(format!("source {:?} != {:?}", msg.source, self.source));
        }
        if msg.command != self.verb {
            problems.push(format!("verb {:?} != {:?}", msg.command, self.verb));
        }
        if msg.params != self.params {
            problems.push(format!("params {:?} != {:?}", msg.params, self.params));
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

#[derive(Debug, Deserialize)]
struct SplitFile {
    tests: Vec<SplitCase>,
}

#[derive(Debug, Deserialize)]
struct SplitCase {
    input: String,
    atoms: Atoms,
}

#[derive(Debug, Deserialize)]
struct JoinFile {
    tests: Vec<JoinCase>,
}

#[derive(Debug, Deserialize)]
struct JoinCase {
    #[serde(default)]
    desc: String,
    atoms: Atoms,
    matches: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct UserhostFile {
    tests: Vec<UserhostCase>,
}

#[derive(Debug, Deserialize)]
struct UserhostCase {
    source: String,
    atoms: UserhostAtoms,
}

/// A missing key means an empty string.
#[derive(Debug, Deserialize)]
struct UserhostAtoms {
    #[serde(default)]
    nick: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    host: String,
}

#[derive(Debug, Deserialize)]
struct MaskFile {
    tests: Vec<MaskCase>,
}

#[derive(Debug, Deserialize)]
struct MaskCase {
    mask: String,
    #[serde(default)]
    matches: Vec<String>,
    #[serde(default)]
    fails: Vec<String>,
}

fn assert_no_failures(file: &str, checked: usize, expected: usize, failures: Vec<String>) {
    assert_eq!(checked, expected, "{file}: every case must be checked");
    assert!(
        failures.is_empty(),
        "{file}: {} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_msg_split_line_parses_into_the_listed_tags_source_verb_and_params() {
    let file: SplitFile = load("msg-split.yaml");
    let mut failures = Vec::new();
    for case in &file.tests {
        match Message::parse(&case.input) {
            Ok(msg) => {
                if let Some(problem) = case.atoms.describe_mismatch(&msg) {
                    failures.push(format!("{:?}: {problem}", case.input));
                }
            }
            Err(e) => failures.push(format!("{:?}: parse error {e:?}", case.input)),
        }
    }
    assert_no_failures("msg-split.yaml", file.tests.len(), 35, failures);
}

#[test]
fn every_msg_join_atom_set_serializes_to_an_accepted_line_that_parses_back() {
    let file: JoinFile = load("msg-join.yaml");
    let mut failures = Vec::new();
    for case in &file.tests {
        let line = case.atoms.to_message().to_string();
        if !case.matches.contains(&line) {
            failures.push(format!(
                "{}: got {line:?}, want one of {:?}",
                case.desc, case.matches
            ));
            continue;
        }
        match Message::parse(&line) {
            Ok(back) => {
                if let Some(problem) = case.atoms.describe_mismatch(&back) {
                    failures.push(format!(
                        "{}: {line:?} parses back wrong: {problem}",
                        case.desc
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: {line:?} does not parse: {e:?}", case.desc)),
        }
    }
    assert_no_failures("msg-join.yaml", file.tests.len(), 18, failures);
}

#[test]
fn every_userhost_splits_into_the_listed_nick_user_and_host() {
    let file: UserhostFile = load("userhost-split.yaml");
    let mut failures = Vec::new();
    for case in &file.tests {
        let s = Source::parse(&case.source);
        let got = (s.nick, s.user.unwrap_or(""), s.host.unwrap_or(""));
        let want = (
            case.atoms.nick.as_str(),
            case.atoms.user.as_str(),
            case.atoms.host.as_str(),
        );
        if got != want {
            failures.push(format!("{:?}: got {got:?}, want {want:?}", case.source));
        }
        if s.to_string() != case.source {
            failures.push(format!(
                "{:?}: joins back as {:?}",
                case.source,
                s.to_string()
            ));
        }
    }
    assert_no_failures("userhost-split.yaml", file.tests.len(), 7, failures);
}

#[test]
fn mask_match_vectors() {
    let file: MaskFile = load("mask-match.yaml");
    let mut failures = Vec::new();
    for case in &file.tests {
        for subject in &case.matches {
            if !mask_matches(&case.mask, subject) {
                failures.push(format!("{:?} should match {subject:?}", case.mask));
            }
        }
        for subject in &case.fails {
            if mask_matches(&case.mask, subject) {
                failures.push(format!("{:?} should not match {subject:?}", case.mask));
            }
        }
    }
    assert_no_failures("mask-match.yaml", file.tests.len(), 6, failures);
}

#[test]
fn message_source_splits_with_the_userhost_helper() {
    let msg = Message::parse(":coolguy!~ag@localhost PRIVMSG #lobby :hi").unwrap();
    let source = Source::parse(msg.source.as_deref().unwrap_or(""));
    assert_eq!(source.nick, "coolguy");
    assert_eq!(source.user, Some("~ag"));
    assert_eq!(source.host, Some("localhost"));
}
