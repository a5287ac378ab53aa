//! A Bulk CSV page split into cells without copying them.
//!
//! Salesforce's CSV is RFC 4180 with one delimiter and LF or CRLF line ends; values may be
//! quoted or bare, and quotes inside quoted values are doubled. The page is validated as UTF-8
//! once; each cell is then a slice of it, except cells with doubled quotes, which are unescaped
//! into a side buffer. Finding the quotes and delimiters with `memchr` (SIMD) rather than
//! stepping a state machine byte by byte is what makes this several times faster than `csv`.

use crate::client::recycle::make_room;
use crate::client::{Error, Result};
use memchr::{memchr, memchr2};

/// Where one cell's text lies: in the page, or (`UNESCAPED` set) in the side buffer.
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

const UNESCAPED: u32 = 1 << 31;

/// Spans address the page and the side buffer with 31 bits.
fn too_big() -> Error {
    Error::config("a Bulk result page over 2 GiB: read with a smaller bulk_page_size")
}

/// The memory a page's cells take, handed from one page to the next.
#[derive(Default)]
pub struct CellRoom {
    unescaped: String,
    spans: Vec<Span>,
}

/// The cells of a page, row by row, and the header row's names.
pub struct Cells<'a> {
    page: &'a str,
    unescaped: String,
    spans: Vec<Span>,
    header: Vec<Span>,
    columns: usize,
    column_bytes: Vec<usize>,
}

impl<'a> Cells<'a> {
    /// Splits `page` (header row first), in `room` (an earlier page's, emptied first). A row
    /// whose cell count differs from the header's, a quote left open or bytes after a closing
    /// quote mean the page is cut short or malformed.
    pub fn parse(page: &'a [u8], delimiter: u8, room: CellRoom) -> Result<Cells<'a>> {
        let page = simdutf8::basic::from_utf8(page)
            .map_err(|_| Error::protocol("the Bulk result page is not valid UTF-8"))?;
        if page.len() >= UNESCAPED as usize {
            return Err(too_big());
        }
        let CellRoom {
            mut unescaped,
            mut spans,
        } = room;
        unescaped.clear();
        spans.clear();
        let mut cells = Cells {
            page,
            unescaped,
            spans,
            header: Vec::new(),
            columns: 0,
            column_bytes: Vec::new(),
        };
        let bytes = page.as_bytes();
        let mut pos = 0;
        let mut row = Vec::new();
        let mut first = true;
        while pos < bytes.len() {
            row.clear();
            pos = cells.read_row(bytes, pos, delimiter, &mut row)?;
            if first {
                first = false;
                cells.columns = row.len();
                cells.column_bytes = vec![0; row.len()];
                cells.header = std::mem::take(&mut row);
                // No more rows than line ends: size once, not by doubling.
                let lines = memchr::memchr_iter(b'\n', &bytes[pos..]).count() + 1;
                make_room(&mut cells.spans, lines.saturating_mul(cells.columns));
            } else if row.len() != cells.columns {
                // With one column an empty line is a record whose value is null, not a gap.
                return Err(Error::transport(format!(
                    "the Bulk result page is malformed or cut short: a row has {} values, the header {}",
                    row.len(),
                    cells.columns
                )));
            } else {
                for (total, span) in cells.column_bytes.iter_mut().zip(&row) {
                    *total += span.len as usize;
                }
                cells.spans.extend_from_slice(&row);
            }
        }
        Ok(cells)
    }

    /// Reads one row starting at `pos`; returns where the next row starts.
    fn read_row(
        &mut self,
        bytes: &[u8],
        mut pos: usize,
        delimiter: u8,
        row: &mut Vec<Span>,
    ) -> Result<usize> {
        loop {
            let (span, end) = if bytes.get(pos) == Some(&b'"') {
                self.quoted(bytes, pos + 1)?
            } else {
                let end = memchr2(delimiter, b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
                let text_end =
                    if bytes.get(end) == Some(&b'\n') && end > pos && bytes[end - 1] == b'\r' {
                        end - 1
                    } else {
                        end
                    };
                (
                    Span {
                        start: pos as u32,
                        len: (text_end - pos) as u32,
                    },
                    text_end,
                )
            };
            row.push(span);
            match bytes.get(end) {
                None => return Ok(end),
                Some(b) if *b == delimiter => pos = end + 1,
                Some(b'\n') => return Ok(end + 1),
                Some(b'\r') if bytes.get(end + 1) == Some(&b'\n') => return Ok(end + 2),
                Some(_) => {
                    return Err(Error::transport(
                        "the Bulk result page is malformed: text after a closing quote",
                    ))
                }
            }
        }
    }

    /// A quoted cell whose text starts at `start`; returns it and the position after its
    /// closing quote.
    fn quoted(&mut self, bytes: &[u8], start: usize) -> Result<(Span, usize)> {
        let open = || Error::transport("the Bulk result page is cut short inside a quoted value");
        let close = memchr(b'"', &bytes[start..]).ok_or_else(open)? + start;
        if bytes.get(close + 1) != Some(&b'"') {
            return Ok((
                Span {
                    start: start as u32,
                    len: (close - start) as u32,
                },
                close + 1,
            ));
        }
        // Doubled quotes: copy the pieces between them.
        let from = self.unescaped.len();
        let mut piece = start;
        let mut close = close;
        loop {
            if bytes.get(close + 1) == Some(&b'"') {
                // Cut after the first of the two quotes: both cuts fall on ASCII, so each piece
                // is whole UTF-8.
                self.unescaped.push_str(&self.page[piece..=close]);
                piece = close + 2;
                close = memchr(b'"', &bytes[piece..]).ok_or_else(open)? + piece;
            } else {
                self.unescaped.push_str(&self.page[piece..close]);
                let len = self.unescaped.len() - from;
                if self.unescaped.len() >= UNESCAPED as usize {
                    return Err(too_big());
                }
                return Ok((
                    Span {
                        start: from as u32 | UNESCAPED,
                        len: len as u32,
                    },
                    close + 1,
                ));
            }
        }
    }

    fn text(&self, s: Span) -> &str {
        let start = (s.start & !UNESCAPED) as usize;
        let source = if s.start & UNESCAPED != 0 {
            &self.unescaped
        } else {
            self.page
        };
        &source[start..start + s.len as usize]
    }

    pub fn rows(&self) -> usize {
        self.spans.len().checked_div(self.columns).unwrap_or(0)
    }

    pub fn header(&self) -> impl Iterator<Item = &str> {
        self.header.iter().map(|s| self.text(*s))
    }

    /// The cell at `row`, `column`. Read the page in blocks of rows, a column at a time within
    /// a block: whole columns at once would stream the page through the cache once per column.
    pub fn get(&self, row: usize, column: usize) -> &str {
        self.text(self.spans[row * self.columns + column])
    }

    /// Reads `rows`' text and cells from memory in one sweep before they are read a column at a
    /// time: in address order the hardware prefetches them, while a column's cells, a row apart,
    /// each wait for memory.
    pub fn warm(&self, rows: std::ops::Range<usize>) {
        let spans = &self.spans[rows.start * self.columns..rows.end * self.columns];
        let in_page = |s: &Span| (s.start & UNESCAPED == 0).then_some(s.start as usize);
        let first = spans.iter().find_map(in_page);
        let last = spans
            .iter()
            .rev()
            .find_map(|s| in_page(s).map(|start| start + s.len as usize));
        let text = match (first, last) {
            (Some(a), Some(b)) => self.page.as_bytes().get(a..b).unwrap_or_default(),
            _ => &[],
        };
        const LINE: usize = 64;
        let mut touched = 0u8;
        for b in text.iter().step_by(LINE) {
            touched ^= *b;
        }
        for s in spans.iter().step_by(LINE / size_of::<Span>()) {
            touched ^= s.len as u8;
        }
        std::hint::black_box(touched);
    }

    /// The room the cells took, for the next page.
    pub fn into_room(self) -> CellRoom {
        CellRoom {
            unescaped: self.unescaped,
            spans: self.spans,
        }
    }

    /// Bytes of text in column `column`: what its string builder needs.
    pub fn column_bytes(&self, column: usize) -> usize {
        self.column_bytes[column]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(page: &str) -> Vec<Vec<String>> {
        let c = Cells::parse(page.as_bytes(), b',', CellRoom::default()).unwrap();
        let mut out = vec![c.header().map(String::from).collect::<Vec<_>>()];
        for r in 0..c.rows() {
            out.push((0..c.columns).map(|i| c.get(r, i).to_string()).collect());
        }
        out
    }

    #[test]
    fn quoted_bare_and_empty_cells() {
        let t = table("\"Id\",\"Name\",N\n\"1\",\"a, \"\"b\"\"\",\n2,,\"\"\n");
        assert_eq!(t[0], ["Id", "Name", "N"]);
        assert_eq!(t[1], ["1", "a, \"b\"", ""]);
        assert_eq!(t[2], ["2", "", ""]);
    }

    #[test]
    fn newlines_inside_quotes_and_crlf_rows() {
        let t = table("A,B\r\n\"x\r\ny\",\"é\"\"\"\r\n\"\"\"\",z");
        assert_eq!(t[1], ["x\r\ny", "é\""]);
        assert_eq!(t[2], ["\"", "z"]);
    }

    #[test]
    fn an_empty_line_is_a_null_in_a_one_column_page() {
        assert_eq!(
            table("\"Description\"\n\"a\"\n\n\"b\"\n"),
            [["Description"], ["a"], [""], ["b"]]
        );
    }

    #[test]
    fn cut_short_pages_are_errors() {
        for page in [
            "A,B\n\"1\",\"2\n",
            "A,B\n1,2\n3\n",
            "A,B\n\"1\"x,2\n",
            "A,B\n1,2,3\n",
        ] {
            assert!(
                Cells::parse(page.as_bytes(), b',', CellRoom::default()).is_err(),
                "{page:?}"
            );
        }
    }

    #[test]
    fn other_delimiters_and_invalid_utf8() {
        assert_eq!(table("A|B\n1|\"x|y\"\n")[1], ["1|\"x|y\""]);
        let c = Cells::parse(b"A|B\n1|\"x|y\"\n", b'|', CellRoom::default()).unwrap();
        assert_eq!((c.get(0, 1), c.column_bytes(1)), ("x|y", 3));
        assert!(Cells::parse(b"A\n\xff\n", b',', CellRoom::default()).is_err());
    }
}
