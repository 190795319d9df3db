//! Strings a plugin hands the host cross a trust boundary. Two things deal with all of them, and
//! every way from a plugin to a file name, a terminal, a log, the run store or a page goes
//! through one of them:
//!
//! - [`check_name`]: a name the host uses as a key or a path component (the plugin's own name,
//!   its ports, its metrics) must fit one strict grammar, checked where the plugin hands it over;
//!   a plugin that gives another is refused, never "fixed".
//! - [`PluginText`]: free text (log records, error and panic messages, descriptions) is cut to a
//!   bounded length and has its control characters escaped, so that it can never end a line,
//!   move the cursor, colour the terminal or hide what follows it.

use std::borrow::Cow;
use std::fmt::{self, Write};

use serde::Serialize;

/// What a name names; each has its grammar (see [`check_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// The plugin's own name, from `describe`.
    Plugin,
    /// An input or output port: becomes a file name (`<port>.arrows`) under the stage's folder.
    Port,
    /// A counter from `metrics`: stored in the run store and shown by `host runs show`.
    Metric,
    /// A stage of a pipeline file: not a plugin's, but a folder name all the same.
    Stage,
    /// A warehouse table of a pipeline file: a directory under the warehouse root.
    Table,
    /// A quarantine source (an ingest file's stem by default): a directory under the quarantine.
    Source,
    /// A run id: a directory name (`runs/<id>`, `run_id=<id>`); may be a timestamp.
    RunId,
}

impl NameKind {
    /// The longest name of this kind, in bytes.
    pub const fn max_len(self) -> usize {
        match self {
            NameKind::Plugin | NameKind::Port | NameKind::Stage => 64,
            NameKind::Metric | NameKind::Table | NameKind::Source | NameKind::RunId => 128,
        }
    }

    const fn label(self) -> &'static str {
        match self {
            NameKind::Plugin => "plugin name",
            NameKind::Port => "port name",
            NameKind::Metric => "metric name",
            NameKind::Stage => "stage name",
            NameKind::Table => "table name",
            NameKind::Source => "quarantine source",
            NameKind::RunId => "run id",
        }
    }

    /// Whether a name of this kind may start with `c`: always a letter; a digit too for the
    /// names that become directories readers glob (never `_`, `-` or `.`, which readers skip or
    /// take for hidden).
    fn allows_first(self, c: u8) -> bool {
        c.is_ascii_alphabetic()
            || (matches!(self, NameKind::Table | NameKind::Source | NameKind::RunId) && c.is_ascii_digit())
    }

    /// Whether `c` may appear in a name of this kind after its first character (always an ASCII
    /// letter).
    fn allows(self, c: u8) -> bool {
        c.is_ascii_alphanumeric()
            || c == b'_'
            || c == b'-'
            || (self == NameKind::Metric && matches!(c, b'.' | b':' | b'(' | b')' | b'[' | b']' | b',' | b'=' | b'/'))
            || (self == NameKind::RunId && c == b'.')
    }

    const fn rule(self) -> &'static str {
        match self {
            NameKind::Plugin | NameKind::Port | NameKind::Stage => {
                "it must be 1 to 64 ASCII letters, digits, `_` or `-`, starting with a letter"
            }
            NameKind::Metric => "it must be 1 to 128 ASCII letters, digits or `_-.:()[],=/`, starting with a letter",
            NameKind::Table | NameKind::Source => {
                "it must be 1 to 128 ASCII letters, digits, `_` or `-`, starting with a letter or digit"
            }
            NameKind::RunId => {
                "it must be 1 to 128 ASCII letters, digits, `.`, `_` or `-`, starting with a letter or digit"
            }
        }
    }
}

/// A name that does not fit its grammar. Shows the name escaped and cut.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} `{name}` is not allowed: {}", kind.label(), kind.rule())]
pub struct NameError {
    pub kind: NameKind,
    /// The name as given, escaped and cut to 80 bytes.
    pub name: PluginText,
}

/// Checks a name against the grammar of its kind:
///
/// - plugin, port and stage names: `[A-Za-z][A-Za-z0-9_-]*`, at most 64 bytes. No `.`, `/` or
///   `\`, so a port name is always one plain file name in its stage's folder, and never a hidden
///   one;
/// - metric names: `[A-Za-z][A-Za-z0-9_\-.:()\[\],=/]*`, at most 128 bytes
///   (`failures.not_null(order_id)`). They never become paths;
/// - table and quarantine source names: `[A-Za-z0-9][A-Za-z0-9_-]*`, at most 128 bytes; run ids
///   may also hold `:` and `+` (`2024-01-01T12:00:00+01:00`). No `.` in any: hidden staging
///   names (`.<table>.staging-...`) can't be confused with another target's.
pub fn check_name(kind: NameKind, name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    let fits = !bytes.is_empty()
        && bytes.len() <= kind.max_len()
        && kind.allows_first(bytes[0])
        && bytes[1..].iter().all(|&c| kind.allows(c));
    if fits { Ok(()) } else { Err(NameError { kind, name: PluginText::new(name, 80) }) }
}

/// Text from a plugin, made safe to print, log, store and show: at most a given number of bytes
/// (plus a note of what was cut), with every control character escaped (`\n`, `\r`, `\t`,
/// `\u{1b}`, ...), as well as the invisible characters that reorder or separate lines (bidi
/// overrides and isolates, U+2028, U+2029, zero-width characters, the byte-order mark).
/// Backslashes are left alone: escaping is idempotent, so text already made safe goes through
/// again unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PluginText(String);

impl PluginText {
    /// The longest message (error, panic, log record) kept from a plugin, in bytes.
    pub const MESSAGE: usize = 4096;

    /// `raw` escaped and cut to at most `max_bytes` bytes of escaped text; if anything was cut,
    /// ` [cut: N more bytes]` follows.
    pub fn new(raw: &str, max_bytes: usize) -> Self {
        Self::build(raw, max_bytes, false)
    }

    /// Like [`new`](Self::new), but line breaks (`\n`) are kept: for text shown as an indented
    /// block of its own (a plugin's config help), where a line can't pass for the host's.
    pub fn lines(raw: &str, max_bytes: usize) -> Self {
        Self::build(raw, max_bytes, true)
    }

    fn build(raw: &str, max_bytes: usize, keep_newlines: bool) -> Self {
        let mut out = String::with_capacity(raw.len().min(max_bytes) + 32);
        for (at, c) in raw.char_indices() {
            let before = out.len();
            if keep_newlines && c == '\n' {
                out.push(c);
            } else {
                push_escaped(&mut out, c);
            }
            if out.len() > max_bytes {
                out.truncate(before);
                let _ = write!(out, " [cut: {} more bytes]", raw.len() - at);
                break;
            }
        }
        PluginText(out)
    }

    /// A message (error, panic, log record): [`new`](Self::new) with [`MESSAGE`](Self::MESSAGE).
    pub fn message(raw: &str) -> Self {
        Self::new(raw, Self::MESSAGE)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for PluginText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for PluginText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for PluginText {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for PluginText {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// `text` with every character [`PluginText`] escapes escaped, nothing cut: for showing text
/// that may come from a plugin and was stored before it was checked (the run store's views).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// Checks the column names of a schema a plugin returned: at most 256 bytes each, no character
/// [`PluginText`] would escape, at any depth (nested fields show in a column's type, which is
/// bounded too). Column
/// names are data, not paths, so any other character is allowed; but they reach error messages,
/// reports and the warehouse, where they must read as what they are.
pub fn check_columns(schema: &arrow_schema::Schema) -> Result<(), String> {
    const MAX_TYPE: usize = 4096;
    for field in schema.fields() {
        check_column(field)?;
        let ty = field.data_type().to_string();
        if ty.len() > MAX_TYPE {
            return Err(format!("column `{}` has a type longer than {MAX_TYPE} bytes", field.name()));
        }
    }
    Ok(())
}

/// One field's name, then its children's, at any depth.
fn check_column(field: &arrow_schema::Field) -> Result<(), String> {
    const MAX_COLUMN: usize = 256;
    let name = field.name();
    if name.len() > MAX_COLUMN {
        return Err(format!("column name `{}` is longer than {MAX_COLUMN} bytes", PluginText::new(name, 80)));
    }
    if name.chars().any(needs_escape) {
        return Err(format!("column name `{}` has control characters", PluginText::new(name, 80)));
    }
    check_nested(field.data_type())
}

fn check_nested(data_type: &arrow_schema::DataType) -> Result<(), String> {
    use arrow_schema::DataType::*;
    match data_type {
        Struct(fields) => fields.iter().try_for_each(|f| check_column(f)),
        Union(fields, _) => fields.iter().try_for_each(|(_, f)| check_column(f)),
        List(f) | LargeList(f) | ListView(f) | LargeListView(f) | FixedSizeList(f, _) | Map(f, _) => check_column(f),
        RunEndEncoded(ends, values) => check_column(ends).and_then(|()| check_column(values)),
        Dictionary(_, values) => check_nested(values),
        _ => Ok(()),
    }
}

/// Control characters (C0, DEL, C1) and the format characters that change how the text around
/// them is laid out or read.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if needs_escape(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_one_grammar_per_kind() {
        for good in ["in", "out", "rejected", "daily_sales", "lookup-2", "A"] {
            check_name(NameKind::Port, good).unwrap();
            check_name(NameKind::Plugin, good).unwrap();
        }
        for good in ["failures.not_null(order_id)", "groups.daily_sales", "rows_in", "a:b[1],c=2/3"] {
            check_name(NameKind::Metric, good).unwrap();
        }
        let port = |name: &str| check_name(NameKind::Port, name).map_err(|e| e.to_string());
        let rule = "it must be 1 to 64 ASCII letters, digits, `_` or `-`, starting with a letter";
        for bad in ["", "../../../../tmp/x", "/tmp/x", "a/b", "a.b", ".hidden", "_x", "-x", "1x", "x y", "é", "a\\b"] {
            assert_eq!(port(bad), Err(format!("port name `{bad}` is not allowed: {rule}")), "{bad:?}");
        }
        assert!(port(&"a".repeat(64)).is_ok());
        assert!(port(&"a".repeat(65)).is_err());
        assert!(check_name(NameKind::Metric, &"m".repeat(128)).is_ok());
        assert!(check_name(NameKind::Metric, &"m".repeat(129)).is_err());
        assert!(check_name(NameKind::Metric, "rows in").is_err());

        // Names that become directories readers glob: a leading digit is fine, a leading `_`,
        // `-` or `.` (hidden, or skipped by readers) and any `.` are not.
        for good in ["sales", "sales_by_category_daily", "orders-2", "2024_orders"] {
            check_name(NameKind::Table, good).unwrap();
            check_name(NameKind::Source, good).unwrap();
        }
        for good in ["20240101T120000Z", "manual__2024-01-01T12_00_00.123_00_00", "r1"] {
            check_name(NameKind::RunId, good).unwrap();
        }
        let table = |name: &str| check_name(NameKind::Table, name).map_err(|e| e.to_string());
        let rule = "it must be 1 to 128 ASCII letters, digits, `_` or `-`, starting with a letter or digit";
        for bad in ["", "../etc", "_tmp", "-x", ".x", "a.b", "a:b"] {
            assert_eq!(table(bad), Err(format!("table name `{bad}` is not allowed: {rule}")), "{bad:?}");
        }
        assert!(table(&"t".repeat(128)).is_ok());
        assert!(table(&"t".repeat(129)).is_err());
        assert_eq!(
            check_name(NameKind::RunId, "2024-01-01T12:00:00+01:00").map_err(|e| e.to_string()),
            Err("run id `2024-01-01T12:00:00+01:00` is not allowed: it must be 1 to 128 ASCII letters, digits, \
                 `.`, `_` or `-`, starting with a letter or digit"
                .to_owned())
        );
        assert!(check_name(NameKind::RunId, ".hidden").is_err());
    }

    #[test]
    fn a_refused_name_is_shown_escaped_and_cut() {
        let error = check_name(NameKind::Port, &format!("x\n\u{1b}[2J{}", "y".repeat(1000))).unwrap_err();
        assert_eq!(error.name.as_str(), format!("x\\n\\u{{1b}}[2J{} [cut: 932 more bytes]", "y".repeat(68)));
    }

    #[test]
    fn text_has_its_control_characters_escaped() {
        let forged = "done\n\u{1b}[32m✓ load_warehouse: 0 records\u{1b}[0m\r\0\u{7f}\u{9b}2J\u{202e}txt.exe\u{2028}";
        assert_eq!(
            PluginText::message(forged).as_str(),
            "done\\n\\u{1b}[32m✓ load_warehouse: 0 records\\u{1b}[0m\\r\\u{0}\\u{7f}\\u{9b}2J\\u{202e}txt.exe\\u{2028}"
        );
        assert_eq!(
            PluginText::message("tab\there, ünïcode ✓ kept, \\n kept").as_str(),
            "tab\\there, ünïcode ✓ kept, \\n kept"
        );
        // Idempotent: safe text goes through unchanged.
        let once = PluginText::message(forged);
        assert_eq!(escape(once.as_str()), once.as_str());
        assert!(matches!(escape("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn column_names_are_bounded_and_free_of_control_characters() {
        use arrow_schema::{DataType, Field, Fields, Schema};
        let schema = |name: &str| Schema::new(vec![Field::new(name, DataType::Int64, true)]);
        check_columns(&schema("order id (€), ✓")).unwrap();
        assert_eq!(
            check_columns(&schema("a\n\u{1b}[2J")),
            Err("column name `a\\n\\u{1b}[2J` has control characters".to_owned())
        );
        assert!(check_columns(&schema(&"x".repeat(257))).unwrap_err().starts_with("column name `xxx"));
        let nested = Schema::new(vec![Field::new(
            "s",
            DataType::Struct(Fields::from(vec![Field::new("in\nner", DataType::Int64, true)])),
            true,
        )]);
        assert_eq!(check_columns(&nested), Err("column name `in\\nner` has control characters".to_owned()));
    }

    #[test]
    fn lines_keep_their_breaks_and_nothing_else() {
        assert_eq!(PluginText::lines("a: 1\nb: \u{1b}[2J\r\n", 100).as_str(), "a: 1\nb: \\u{1b}[2J\\r\n");
    }

    #[test]
    fn text_is_cut_to_its_bound_on_a_character_boundary() {
        let text = PluginText::new(&"é".repeat(100), 11);
        assert_eq!(text.as_str(), "ééééé [cut: 190 more bytes]");
        // Escapes count at their escaped length and are never split.
        let text = PluginText::new("ab\u{1b}cd", 7);
        assert_eq!(text.as_str(), "ab [cut: 3 more bytes]");
        let huge = "x".repeat(64 << 20);
        let text = PluginText::message(&huge);
        assert_eq!(text.len(), PluginText::MESSAGE + " [cut: 67104768 more bytes]".len());
        assert_eq!(PluginText::new("short", 5).as_str(), "short");
    }
}
