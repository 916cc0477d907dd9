//! Channel mode strings: `+ov-t alice bob` into changes, and changes back.
//!
//! Owns the channel modes natter implements, the ISUPPORT values that
//! describe them (CHANMODES, PREFIX, MODES) and the syntax of a MODE line.
//! Must never decide who may change what, look up nicks or channels, or
//! validate keys, limits and masks: that is the caller's job. Pure: no I/O,
//! and never panics on any input.

/// ISUPPORT `CHANMODES=`: list modes, always-parameter, parameter-when-set,
/// then flags (Modern IRC types A, B, C and D).
pub const CHANMODES: &str = "beI,k,l,imnst";

/// ISUPPORT `PREFIX=`: the membership modes and the prefixes they show as.
pub const PREFIX: &str = "(ov)@+";

/// ISUPPORT `MODES=`: the most arguments one MODE line may use (InspIRCd
/// also allows 20). [`parse_channel_modes`] ignores the rest of a line once
/// it has taken that many.
pub const MODES_PER_LINE: usize = 20;

/// The most items [`parse_channel_modes`] returns for one line, whatever its
/// length: bounds the replies and work one MODE command can cause.
pub const MAX_MODE_ITEMS: usize = 100;

/// A channel mode natter implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelMode {
    /// `o`: channel operator (a member's nick).
    Op,
    /// `v`: voice (a member's nick).
    Voice,
    /// `b`: ban mask.
    Ban,
    /// `e`: ban exception mask.
    BanException,
    /// `I`: invite exception mask.
    InviteException,
    /// `k`: channel key.
    Key,
    /// `l`: member limit.
    Limit,
    /// `i`: invite only.
    InviteOnly,
    /// `m`: moderated (only voiced members and operators speak).
    Moderated,
    /// `n`: no messages from outside the channel.
    NoExternal,
    /// `s`: secret.
    Secret,
    /// `t`: only operators change the topic.
    TopicLock,
}

/// How a channel mode takes its argument (the ISUPPORT CHANMODES types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModeKind {
    /// Type A (`b e I`): adds or removes a mask; without one, lists them.
    List,
    /// PREFIX modes (`o v`): always a nick.
    Prefix,
    /// Type B (`k`): an argument both when set and when unset.
    AlwaysParam,
    /// Type C (`l`): an argument only when set.
    ParamWhenSet,
    /// Type D (`i m n s t`): never an argument.
    Flag,
}

impl ChannelMode {
    /// Every channel mode natter implements, in `CHANMODES` then `PREFIX`
    /// order.
    pub const ALL: [ChannelMode; 12] = [
        ChannelMode::Ban,
        ChannelMode::BanException,
        ChannelMode::InviteException,
        ChannelMode::Key,
        ChannelMode::Limit,
        ChannelMode::InviteOnly,
        ChannelMode::Moderated,
        ChannelMode::NoExternal,
        ChannelMode::Secret,
        ChannelMode::TopicLock,
        ChannelMode::Op,
        ChannelMode::Voice,
    ];

    /// The mode's letter on the wire.
    ///
    /// ```
    /// use natter::proto::ChannelMode;
    /// assert_eq!(ChannelMode::InviteException.letter(), 'I');
    /// ```
    pub fn letter(self) -> char {
        match self {
            ChannelMode::Op => 'o',
            ChannelMode::Voice => 'v',
            ChannelMode::Ban => 'b',
            ChannelMode::BanException => 'e',
            ChannelMode::InviteException => 'I',
            ChannelMode::Key => 'k',
            ChannelMode::Limit => 'l',
            ChannelMode::InviteOnly => 'i',
            ChannelMode::Moderated => 'm',
            ChannelMode::NoExternal => 'n',
            ChannelMode::Secret => 's',
            ChannelMode::TopicLock => 't',
        }
    }

    /// The mode a letter stands for, if natter implements it. Letters are
    /// case-sensitive: `I` is an invite exception, `i` invite-only.
    ///
    /// ```
    /// use natter::proto::ChannelMode;
    /// assert_eq!(ChannelMode::from_letter('i'), Some(ChannelMode::InviteOnly));
    /// assert_eq!(ChannelMode::from_letter('x'), None);
    /// ```
    pub fn from_letter(c: char) -> Option<ChannelMode> {
        ChannelMode::ALL.into_iter().find(|m| m.letter() == c)
    }

    /// How the mode takes its argument.
    ///
    /// ```
    /// use natter::proto::{ChannelMode, ModeKind};
    /// assert_eq!(ChannelMode::Limit.kind(), ModeKind::ParamWhenSet);
    /// ```
    pub fn kind(self) -> ModeKind {
        match self {
            ChannelMode::Ban | ChannelMode::BanException | ChannelMode::InviteException => {
                ModeKind::List
            }
            ChannelMode::Op | ChannelMode::Voice => ModeKind::Prefix,
            ChannelMode::Key => ModeKind::AlwaysParam,
            ChannelMode::Limit => ModeKind::ParamWhenSet,
            ChannelMode::InviteOnly
            | ChannelMode::Moderated
            | ChannelMode::NoExternal
            | ChannelMode::Secret
            | ChannelMode::TopicLock => ModeKind::Flag,
        }
    }

    /// Whether the letter takes an argument in this direction when one is
    /// there (list modes and `-k` also do without).
    fn takes_arg(self, set: bool) -> bool {
        match self.kind() {
            ModeKind::List | ModeKind::Prefix | ModeKind::AlwaysParam => true,
            ModeKind::ParamWhenSet => set,
            ModeKind::Flag => false,
        }
    }
}

/// One mode set (`set: true`) or unset, with its argument if it has one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModeChange {
    /// `+` (true) or `-` (false).
    pub set: bool,
    /// Which mode.
    pub mode: ChannelMode,
    /// The mask, nick, key or limit, exactly as given; `None` for flags,
    /// `-l`, and `-k` sent without a key.
    pub arg: Option<String>,
}

/// One letter of a MODE line, as [`parse_channel_modes`] understood it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModeItem {
    /// A change to apply (if the sender may).
    Change(ModeChange),
    /// A list mode without an argument (`MODE #c b` or `+b` or `-b`): a
    /// request for the list. Reported once per mode per line.
    ListQuery(ChannelMode),
    /// A letter natter does not implement: answered with 472
    /// ERR_UNKNOWNMODE. It takes no argument.
    Unknown(char),
    /// A mode that needs an argument and has none (`+o`, `+k`, `+l` at the
    /// end of the arguments): answered with 461 ERR_NEEDMOREPARAMS or 696
    /// ERR_INVALIDMODEPARAM.
    MissingParam {
        /// The direction the letter had.
        set: bool,
        /// Which mode.
        mode: ChannelMode,
    },
}

/// The letters of a MODE line's modestring, paired with its arguments in
/// order (Modern IRC "MODE" and the ISUPPORT CHANMODES types).
///
/// - `+` and `-` switch direction; a modestring without a leading sign
///   starts as `+`.
/// - List modes (`b e I`) take the next argument as the mask to add or
///   remove; with no argument left they are a [`ModeItem::ListQuery`], in
///   either direction.
/// - `o` and `v` take the next argument as a nick, else
///   [`ModeItem::MissingParam`].
/// - `+k` takes the next argument, else `MissingParam`. `-k` takes the next
///   argument too (CHANMODES type B), but some clients send `-k` alone, so
///   with none left it is a change with `arg: None`.
/// - `+l` takes the next argument, else `MissingParam`; `-l` and the flags
///   (`i m n s t`) take none.
/// - Other letters are [`ModeItem::Unknown`] and take no argument.
/// - An empty argument (only the trailing one can be: `+b :`) is used up but
///   counts as missing, so `+b :` lists bans rather than banning `*!*@*`.
/// - Once [`MODES_PER_LINE`] arguments are used, the line ends at the next
///   letter that would take one: it and everything after it are ignored.
/// - At most [`MAX_MODE_ITEMS`] items come back; the rest is ignored.
///
/// Arguments are returned as given: checking that a nick is a member, a key
/// is sane or a limit is a number is the caller's job.
///
/// ```
/// use natter::proto::{parse_channel_modes, ChannelMode, ModeChange, ModeItem};
/// let items = parse_channel_modes("+o-v+x", &["alice", "bob"]);
/// assert_eq!(
///     items,
///     [
///         ModeItem::Change(ModeChange { set: true, mode: ChannelMode::Op, arg: Some("alice".into()) }),
///         ModeItem::Change(ModeChange { set: false, mode: ChannelMode::Voice, arg: Some("bob".into()) }),
///         ModeItem::Unknown('x'),
///     ]
/// );
/// assert_eq!(parse_channel_modes("b", &[]), [ModeItem::ListQuery(ChannelMode::Ban)]);
/// ```
pub fn parse_channel_modes(modestring: &str, args: &[&str]) -> Vec<ModeItem> {
    let mut items: Vec<ModeItem> = Vec::new();
    let mut args = args.iter();
    let mut used = 0;
    let mut set = true;
    for c in modestring.chars() {
        if items.len() >= MAX_MODE_ITEMS {
            break;
        }
        let mode = match c {
            '+' | '-' => {
                set = c == '+';
                continue;
            }
            _ => match ChannelMode::from_letter(c) {
                Some(mode) => mode,
                None => {
                    items.push(ModeItem::Unknown(c));
                    continue;
                }
            },
        };
        let wants_arg = mode.takes_arg(set);
        let mut arg = None;
        if wants_arg {
            if used == MODES_PER_LINE {
                break;
            }
            if let Some(next) = args.next() {
                used += 1;
                arg = Some(next.to_string()).filter(|a| !a.is_empty());
            }
        }
        let change = |arg| ModeItem::Change(ModeChange { set, mode, arg });
        let item = match arg {
            Some(arg) => change(Some(arg)),
            None if !wants_arg => change(None),
            None => match mode.kind() {
                ModeKind::List => ModeItem::ListQuery(mode),
                ModeKind::AlwaysParam if !set => change(None),
                _ => ModeItem::MissingParam { set, mode },
            },
        };
        if matches!(item, ModeItem::ListQuery(_)) && items.contains(&item) {
            continue;
        }
        items.push(item);
    }
    items
}

/// The compact modestring and its arguments for broadcasting `changes`, in
/// order: `+o bob`, `+v bob`, `-t` become `("+ov-t", ["bob", "bob"])`.
///
/// Every letter that CHANMODES says takes an argument gets one, or clients
/// would pair later arguments with the wrong letters: a `-k` without a key
/// is written `-k *`, and a change missing an argument it needs (`+o` with
/// `arg: None` or an empty one) is left out. An argument on a letter that
/// takes none (a flag, `-l`) is dropped.
///
/// ```
/// use natter::proto::{render_mode_changes, ChannelMode, ModeChange};
/// let changes = [
///     ModeChange { set: true, mode: ChannelMode::Op, arg: Some("bob".into()) },
///     ModeChange { set: true, mode: ChannelMode::Voice, arg: Some("bob".into()) },
///     ModeChange { set: false, mode: ChannelMode::TopicLock, arg: None },
/// ];
/// assert_eq!(
///     render_mode_changes(&changes),
///     ("+ov-t".to_string(), vec!["bob".to_string(), "bob".to_string()])
/// );
/// ```
pub fn render_mode_changes(changes: &[ModeChange]) -> (String, Vec<String>) {
    let mut modestring = String::new();
    let mut args = Vec::new();
    let mut direction = None;
    for change in changes {
        let given = change.arg.as_deref().filter(|a| !a.is_empty());
        let arg = match (change.mode.takes_arg(change.set), given) {
            (false, _) => None,
            (true, Some(arg)) => Some(arg),
            (true, None) if change.mode == ChannelMode::Key && !change.set => Some("*"),
            (true, None) => continue,
        };
        if direction != Some(change.set) {
            modestring.push(if change.set { '+' } else { '-' });
            direction = Some(change.set);
        }
        modestring.push(change.mode.letter());
        args.extend(arg.map(str::to_string));
    }
    (modestring, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isupport_values_agree_with_each_mode_kind() {
        let letters = |kind: ModeKind| -> String {
            ChannelMode::ALL
                .into_iter()
                .filter(|m| m.kind() == kind)
                .map(ChannelMode::letter)
                .collect()
        };
        let chanmodes = [
            ModeKind::List,
            ModeKind::AlwaysParam,
            ModeKind::ParamWhenSet,
            ModeKind::Flag,
        ]
        .map(letters)
        .join(",");
        assert_eq!(chanmodes, CHANMODES);
        assert_eq!(format!("({})@+", letters(ModeKind::Prefix)), PREFIX);
    }

    #[test]
    fn every_letter_maps_back_to_its_mode() {
        for mode in ChannelMode::ALL {
            assert_eq!(ChannelMode::from_letter(mode.letter()), Some(mode));
        }
    }
}
