//! An RFC 4180 record reader (settled details 1-4) over one bounded, reused byte buffer.
//!
//! [`RecordReader`] reads the source in large chunks into its buffer and hands out one
//! [`Record`] at a time as field slices into that buffer: no allocation per record or field.
//! Only a quoted field holding doubled quotes is copied, unescaped, into a reused scratch buffer.
//! A record that straddles the end of the buffer is moved to its front before the next read, and
//! the buffer grows only for a record longer than itself, up to a limit.
//!
//! Grammar, byte by byte:
//!
//! - A record ends at LF or CRLF outside quotes, or at the end of the file. A lone CR is data.
//! - A field starting with `"` is quoted: it runs to the next lone `"` and may hold commas, line
//!   breaks and doubled quotes (`""` is one `"`). Anything else is an unquoted field.
//! - Malformed quoting marks the record malformed but never loses the position: a `"` inside an
//!   unquoted field is kept as data; after garbage behind a closing quote the field continues as
//!   unquoted; an unterminated quote runs to the end of the file. A malformed field's text is its
//!   raw bytes, quotes included.
//! - An empty physical line outside quotes is blank, not a record; it still counts as a line.
//! - A UTF-8 byte order mark at the very start of the source is skipped.

use std::io::{self, Read};

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where one field's text is: a range of the record's bytes, or of the scratch buffer once a
/// quoted field's doubled quotes have been unescaped.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    place: Place,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In the record's bytes, as is.
    Record,
    /// In the record's bytes, but holding doubled quotes still to unescape.
    Escaped,
    /// In the scratch buffer.
    Scratch,
}

impl Span {
    fn new(start: usize, end: usize) -> Self {
        Span { start, end, place: Place::Record }
    }
}

/// One record, borrowed from the reader until its next call.
#[derive(Debug)]
pub(super) struct Record<'a> {
    /// The physical line where the record starts (1-based).
    pub line: u64,
    /// The byte offset in the source where the record starts.
    pub offset: u64,
    /// The record's bytes as in the source, without its line terminator.
    pub raw: &'a [u8],
    /// Whether quoting was malformed somewhere in the record.
    pub malformed: bool,
    bytes: &'a [u8],
    scratch: &'a [u8],
    spans: &'a [Span],
}

impl<'a> Record<'a> {
    /// The number of fields.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// The text of field `index` (unquoted and unescaped; raw if the quoting is malformed).
    pub fn field(&self, index: usize) -> &'a [u8] {
        let span = self.spans[index];
        match span.place {
            Place::Scratch => &self.scratch[span.start..span.end],
            Place::Record | Place::Escaped => &self.bytes[span.start..span.end],
        }
    }

    /// The texts of every field, in order.
    pub fn fields(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.len()).map(|index| self.field(index))
    }
}

/// Why a record could not be read.
#[derive(Debug)]
pub(super) enum ReadError {
    Io(io::Error),
    /// The record starting at `line` is longer than the reader's limit.
    TooLarge {
        line: u64,
    },
}

/// Reads [`Record`]s from a byte source; see the module documentation for the grammar.
#[derive(Debug)]
pub(super) struct RecordReader<R> {
    source: R,
    buf: Vec<u8>,
    /// The start of the bytes not yet handed out.
    pos: usize,
    /// The end of the bytes read into `buf`.
    filled: usize,
    eof: bool,
    /// Whether the start of the source (and a possible BOM) is still ahead.
    at_start: bool,
    /// The source offset of `buf[0]`.
    buf_offset: u64,
    /// The physical line of the byte at `pos`.
    line: u64,
    max_record_bytes: usize,
    spans: Vec<Span>,
    scratch: Vec<u8>,
}

impl<R: Read> RecordReader<R> {
    /// A reader with a buffer of `capacity` bytes that fails on a record longer than
    /// `max_record_bytes` (at least `capacity`).
    pub fn new(source: R, capacity: usize, max_record_bytes: usize) -> Self {
        // Room for the BOM at least, so that the first fill sees it whole.
        let capacity = capacity.max(BOM.len());
        RecordReader {
            source,
            buf: vec![0; capacity],
            pos: 0,
            filled: 0,
            eof: false,
            at_start: true,
            buf_offset: 0,
            line: 1,
            max_record_bytes: max_record_bytes.max(capacity),
            spans: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The bytes of the source consumed so far: through the end of the last record handed out
    /// (and any blank lines before it).
    pub fn consumed(&self) -> u64 {
        self.buf_offset + self.pos as u64
    }

    /// Reads the first bytes and steps over a BOM, once.
    fn start(&mut self) -> io::Result<()> {
        if self.at_start {
            self.fill()?;
            if self.buf[..self.filled].starts_with(BOM) {
                self.pos = BOM.len();
            }
            self.at_start = false;
        }
        Ok(())
    }

    /// Moves on to byte `position` of the source without scanning the bytes before it: the next
    /// record is read from there. For a caller that knows where records start; the skipped
    /// bytes' lines are not counted. A position behind what was consumed is an error.
    pub fn skip_to(&mut self, position: u64) -> io::Result<()> {
        self.start()?;
        loop {
            let ahead = position.checked_sub(self.consumed()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("cannot skip back to byte {position}"))
            })?;
            let buffered = self.filled - self.pos;
            if ahead <= buffered as u64 {
                self.pos += ahead as usize;
                return Ok(());
            }
            if self.eof {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("byte {position} is past the end")));
            }
            self.buf_offset += self.filled as u64;
            (self.pos, self.filled) = (0, 0);
            self.fill()?;
        }
    }

    /// The next record, or `None` at the end of the source.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, ReadError> {
        self.start().map_err(ReadError::Io)?;
        loop {
            match scan(&self.buf[self.pos..self.filled], self.eof, &mut self.spans) {
                Scan::End => return Ok(None),
                Scan::NeedMore => self.refill()?,
                Scan::Blank { next } => {
                    self.pos += next;
                    self.line += 1;
                }
                Scan::Record(scanned) => return Ok(Some(self.take(scanned))),
            }
        }
    }

    /// Hands out the record just scanned at `pos` and moves past it.
    fn take(&mut self, scanned: Scanned) -> Record<'_> {
        let start = self.pos;
        let bytes = &self.buf[start..start + scanned.next];
        if scanned.escaped {
            self.scratch.clear();
            for span in self.spans.iter_mut().filter(|span| span.place == Place::Escaped) {
                let from = self.scratch.len();
                unescape(&bytes[span.start..span.end], &mut self.scratch);
                *span = Span { start: from, end: self.scratch.len(), place: Place::Scratch };
            }
        }
        let line = self.line;
        self.line += scanned.newlines;
        self.pos += scanned.next;
        Record {
            line,
            offset: self.buf_offset + start as u64,
            raw: &bytes[..scanned.content_end],
            malformed: scanned.malformed,
            bytes,
            scratch: &self.scratch,
            spans: &self.spans,
        }
    }

    /// Makes room and reads more: moves the unfinished record to the front of the buffer, grows
    /// the buffer if the record fills it, then fills it.
    fn refill(&mut self) -> Result<(), ReadError> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.buf_offset += self.pos as u64;
            self.pos = 0;
        }
        if self.filled == self.buf.len() {
            if self.buf.len() >= self.max_record_bytes {
                return Err(ReadError::TooLarge { line: self.line });
            }
            let grown = self.buf.len().saturating_mul(2).min(self.max_record_bytes);
            self.buf.resize(grown, 0);
        }
        self.fill().map_err(ReadError::Io)
    }

    /// Reads until the buffer is full or the source ends, so that a record needing more bytes
    /// is scanned again only after the buffer filled up (keeping rescans linear overall).
    fn fill(&mut self) -> io::Result<()> {
        while !self.eof && self.filled < self.buf.len() {
            match self.source.read(&mut self.buf[self.filled..]) {
                Ok(0) => self.eof = true,
                Ok(read) => self.filled += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// What [`scan`] found at the start of the unread bytes.
#[derive(Debug)]
enum Scan {
    /// No bytes left and the source ended.
    End,
    /// The record continues past the bytes read so far.
    NeedMore,
    /// A blank line, `next` bytes long with its terminator.
    Blank {
        next: usize,
    },
    Record(Scanned),
}

/// A complete record at the start of the unread bytes; its field spans are in the span list.
#[derive(Debug)]
struct Scanned {
    /// The length of the record without its line terminator.
    content_end: usize,
    /// The length of the record with its line terminator: where the next record starts.
    next: usize,
    /// The line breaks the record spans, its terminator included.
    newlines: u64,
    malformed: bool,
    /// Whether some span is [`Place::Escaped`].
    escaped: bool,
}

/// Scans one record (or blank line) at the start of `data`, pushing its field spans (relative to
/// `data`) into `spans`. `eof` says whether `data` runs to the end of the source.
fn scan(data: &[u8], eof: bool, spans: &mut Vec<Span>) -> Scan {
    spans.clear();
    let n = data.len();
    match data {
        [] => return if eof { Scan::End } else { Scan::NeedMore },
        [b'\n', ..] => return Scan::Blank { next: 1 },
        [b'\r', b'\n', ..] => return Scan::Blank { next: 2 },
        // A stray CR at the very end is no record either.
        [b'\r'] => return if eof { Scan::Blank { next: 1 } } else { Scan::NeedMore },
        _ => {}
    }
    let mut newlines = 0;
    let mut malformed = false;
    let mut escaped = false;
    let complete = |content_end, next, newlines, malformed, escaped| {
        Scan::Record(Scanned { content_end, next, newlines, malformed, escaped })
    };
    let mut i = 0;
    'fields: loop {
        let field_start = i;
        if data.get(i) == Some(&b'"') {
            i += 1;
            let mut field = Span::new(i, i);
            'quoted: loop {
                while i < n && data[i] != b'"' {
                    newlines += u64::from(data[i] == b'\n');
                    i += 1;
                }
                if i == n {
                    if !eof {
                        return Scan::NeedMore;
                    }
                    // Unterminated: the field and the record run to the end of the source.
                    spans.push(Span::new(field_start, n));
                    return complete(n, n, newlines, true, escaped);
                }
                // data[i] is a quote: a doubled quote, or the closing one and what follows it.
                field.end = i;
                match (data.get(i + 1), data.get(i + 2)) {
                    (Some(b'"'), _) => {
                        field.place = Place::Escaped;
                        escaped = true;
                        i += 2;
                    }
                    (Some(b','), _) => {
                        spans.push(field);
                        i += 2;
                        continue 'fields;
                    }
                    (Some(b'\n'), _) => {
                        spans.push(field);
                        return complete(i + 1, i + 2, newlines + 1, malformed, escaped);
                    }
                    (Some(b'\r'), Some(b'\n')) => {
                        spans.push(field);
                        return complete(i + 1, i + 3, newlines + 1, malformed, escaped);
                    }
                    (None, _) | (Some(b'\r'), None) if !eof => return Scan::NeedMore,
                    (None, _) | (Some(b'\r'), None) => {
                        // The end of the source (a stray CR before it is dropped).
                        spans.push(field);
                        return complete(i + 1, n, newlines, malformed, escaped);
                    }
                    (Some(_), _) => {
                        // Garbage after the closing quote: carry on as an unquoted field.
                        malformed = true;
                        i += 1;
                        break 'quoted;
                    }
                }
            }
        }
        // An unquoted field, or the rest of a malformed quoted one.
        loop {
            let Some(&byte) = data.get(i) else {
                if !eof {
                    return Scan::NeedMore;
                }
                // The last record has no terminator (a stray CR at the very end is dropped).
                let end = if n > field_start && data[n - 1] == b'\r' { n - 1 } else { n };
                spans.push(Span::new(field_start, end));
                return complete(end, n, newlines, malformed, escaped);
            };
            match byte {
                b',' => {
                    spans.push(Span::new(field_start, i));
                    i += 1;
                    continue 'fields;
                }
                b'\n' => {
                    let end = if i > field_start && data[i - 1] == b'\r' { i - 1 } else { i };
                    spans.push(Span::new(field_start, end));
                    return complete(end, i + 1, newlines + 1, malformed, escaped);
                }
                b'"' => {
                    malformed = true;
                    i += 1;
                }
                _ => i += 1,
            }
        }
    }
}

/// Appends `quoted` (a quoted field's inside) to `out` with every `""` made one `"`.
fn unescape(quoted: &[u8], out: &mut Vec<u8>) {
    let mut rest = quoted;
    while let Some(quote) = rest.iter().position(|&byte| byte == b'"') {
        out.extend_from_slice(&rest[..=quote]);
        rest = rest.get(quote + 2..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One record as the tests see it: line, offset, malformed, raw text, field texts.
    type Seen = (u64, u64, bool, String, Vec<String>);

    fn read_all_with(input: &[u8], capacity: usize) -> Vec<Seen> {
        let mut reader = RecordReader::new(input, capacity, 1 << 20);
        let mut seen = Vec::new();
        while let Some(record) = reader.next_record().unwrap() {
            let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
            seen.push((
                record.line,
                record.offset,
                record.malformed,
                text(record.raw),
                record.fields().map(text).collect(),
            ));
        }
        assert_eq!(reader.consumed(), input.len() as u64);
        seen
    }

    /// Reads `input` with buffers from 1 byte up, checking that every size sees the same records,
    /// and returns them.
    fn read_all(input: &str) -> Vec<Seen> {
        let expected = read_all_with(input.as_bytes(), 64 * 1024);
        for capacity in 1..=input.len() + 1 {
            assert_eq!(read_all_with(input.as_bytes(), capacity), expected, "buffer of {capacity} bytes");
        }
        expected
    }

    fn seen(line: u64, offset: u64, malformed: bool, raw: &str, fields: &[&str]) -> Seen {
        (line, offset, malformed, raw.to_owned(), fields.iter().map(|f| f.to_string()).collect())
    }

    #[test]
    fn lf_and_crlf() {
        let expected = |nl: u64| {
            vec![
                seen(1, 0, false, "a,b", &["a", "b"]),
                seen(2, 3 + nl, false, "1,", &["1", ""]),
                seen(3, 5 + 2 * nl, false, ",2", &["", "2"]),
            ]
        };
        assert_eq!(read_all("a,b\n1,\n,2\n"), expected(1));
        assert_eq!(read_all("a,b\r\n1,\r\n,2\r\n"), expected(2));
        assert_eq!(read_all("a,b\n1,\n,2"), expected(1), "no final terminator");
        assert_eq!(read_all("a,b\r\n1,\r\n,2\r"), expected(2), "a stray CR at the end");
    }

    #[test]
    fn quoted_fields() {
        let records = read_all("\"a,b\",\"say \"\"hi\"\"\",\"\"\n\"\"\"\",x\r\n\"end\"");
        assert_eq!(
            records,
            [
                seen(1, 0, false, r#""a,b","say ""hi""","""#, &["a,b", r#"say "hi""#, ""]),
                seen(2, 22, false, "\"\"\"\",x", &["\"", "x"]),
                seen(3, 30, false, r#""end""#, &["end"]),
            ]
        );
    }

    #[test]
    fn quoted_line_breaks_count_as_lines() {
        let records = read_all("h\n\"one\ntwo\",\"x\r\ny\"\r\nnext\n");
        assert_eq!(
            records,
            [
                seen(1, 0, false, "h", &["h"]),
                seen(2, 2, false, "\"one\ntwo\",\"x\r\ny\"", &["one\ntwo", "x\r\ny"]),
                seen(5, 20, false, "next", &["next"]),
            ]
        );
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        let records = read_all("\na\n\n\r\nb\r\n\r\n\n");
        assert_eq!(records, [seen(2, 1, false, "a", &["a"]), seen(5, 6, false, "b", &["b"])]);
        assert_eq!(read_all(""), []);
        assert_eq!(read_all("\n\r\n"), []);
        // Whitespace is not blank, and neither is a quoted empty field.
        assert_eq!(read_all(" \n\"\"\n"), [seen(1, 0, false, " ", &[" "]), seen(2, 2, false, "\"\"", &[""])]);
    }

    #[test]
    fn bom_is_skipped_at_the_start_only() {
        let records = read_all("\u{feff}\"a\",b\n\u{feff}c\n");
        assert_eq!(
            records,
            [seen(1, 3, false, "\"a\",b", &["a", "b"]), seen(2, 9, false, "\u{feff}c", &["\u{feff}c"])]
        );
    }

    #[test]
    fn malformed_quoting_keeps_the_raw_field_and_the_next_record() {
        assert_eq!(
            read_all("a\"b,c\n\"x\"y,z\n\"p\"\r,q\nok\n"),
            [
                seen(1, 0, true, "a\"b,c", &["a\"b", "c"]),
                seen(2, 6, true, "\"x\"y,z", &["\"x\"y", "z"]),
                seen(3, 13, true, "\"p\"\r,q", &["\"p\"\r", "q"]),
                seen(4, 20, false, "ok", &["ok"]),
            ]
        );
        // An unterminated quote runs to the end of the source.
        assert_eq!(
            read_all("a\n\"b,c\nd\n"),
            [seen(1, 0, false, "a", &["a"]), seen(2, 2, true, "\"b,c\nd\n", &["\"b,c\nd\n"])]
        );
    }

    #[test]
    fn a_record_longer_than_the_limit_fails() {
        let input = format!("a\nb\n\"{}\"\n", "x".repeat(100));
        let mut reader = RecordReader::new(input.as_bytes(), 8, 64);
        assert_eq!(reader.next_record().unwrap().unwrap().raw, b"a");
        assert_eq!(reader.next_record().unwrap().unwrap().raw, b"b");
        assert!(matches!(reader.next_record(), Err(ReadError::TooLarge { line: 3 })));
        // The same record fits when the limit allows it.
        let mut reader = RecordReader::new(input.as_bytes(), 8, 128);
        assert_eq!(reader.next_record().unwrap().unwrap().raw, b"a");
        assert_eq!(reader.next_record().unwrap().unwrap().raw, b"b");
        assert_eq!(reader.next_record().unwrap().unwrap().field(0), "x".repeat(100).as_bytes());
        assert!(reader.next_record().unwrap().is_none());
    }

    #[test]
    fn unescape_doubled_quotes() {
        let unescaped = |text: &str| {
            let mut out = Vec::new();
            unescape(text.as_bytes(), &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(unescaped(r#"a""b"#), r#"a"b"#);
        assert_eq!(unescaped(r#""""""#), r#"""#.repeat(2));
        assert_eq!(unescaped("plain"), "plain");
    }
}
