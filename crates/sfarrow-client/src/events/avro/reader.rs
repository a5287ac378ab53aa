//! The binary encoding read back, every length checked against what is left.

use super::schema::Schema;
use std::fmt;

/// A payload that does not decode: what was wrong and the byte offset where it was noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub what: &'static str,
    pub at: usize,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

pub type ReadResult<T> = Result<T, ReadError>;

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Array and map items still allowed. Items of zero-size types (null, empty records) take
    /// no bytes, so without this a few bytes of block counts could ask for 2^63 iterations.
    items: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            items: buf.len().saturating_add(16),
        }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn fail<T>(&self, what: &'static str) -> ReadResult<T> {
        Err(ReadError { what, at: self.pos })
    }

    fn take(&mut self, n: usize) -> ReadResult<&'a [u8]> {
        match self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
        {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => self.fail("the payload ends early"),
        }
    }

    /// A base-128 varint of at most `max` bytes whose last byte is at most `last_max`.
    #[inline]
    fn varint(&mut self, max: usize, last_max: u8) -> ReadResult<u64> {
        let mut v = 0u64;
        for i in 0..max {
            let Some(&b) = self.buf.get(self.pos + i) else {
                return self.fail("the payload ends inside a number");
            };
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i + 1 == max && b > last_max {
                    return self.fail("a number too large for its type");
                }
                self.pos += i + 1;
                return Ok(v);
            }
        }
        self.fail("a number encoded in too many bytes")
    }

    #[inline]
    pub fn long(&mut self) -> ReadResult<i64> {
        let v = self.varint(10, 1)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    #[inline]
    pub fn int(&mut self) -> ReadResult<i32> {
        let v = self.varint(5, 0x0f)? as u32;
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

    pub fn boolean(&mut self) -> ReadResult<bool> {
        match self.take(1)? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => {
                self.pos -= 1;
                self.fail("a boolean that is neither 0 nor 1")
            }
        }
    }

    pub fn float(&mut self) -> ReadResult<f32> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn double(&mut self) -> ReadResult<f64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    fn length(&mut self) -> ReadResult<usize> {
        let n = self.long()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            Ok(_) => self.fail("a length beyond the end of the payload"),
            Err(_) => self.fail("a negative length"),
        }
    }

    #[inline]
    pub fn bytes(&mut self) -> ReadResult<&'a [u8]> {
        let n = self.length()?;
        self.take(n)
    }

    #[inline]
    pub fn str(&mut self) -> ReadResult<&'a str> {
        let at = self.pos;
        let b = self.bytes()?;
        simdutf8::basic::from_utf8(b).map_err(|_| ReadError {
            what: "a string that is not UTF-8",
            at,
        })
    }

    pub fn fixed(&mut self, size: usize) -> ReadResult<&'a [u8]> {
        self.take(size)
    }

    /// A union's branch index, checked against the number of branches.
    #[inline]
    pub fn branch(&mut self, branches: usize) -> ReadResult<usize> {
        let i = self.long()?;
        match usize::try_from(i) {
            Ok(i) if i < branches => Ok(i),
            _ => self.fail("a union branch index out of range"),
        }
    }

    pub fn enum_index(&mut self, symbols: usize) -> ReadResult<usize> {
        let i = self.int()?;
        match usize::try_from(i) {
            Ok(i) if i < symbols => Ok(i),
            _ => self.fail("an enum index out of range"),
        }
    }

    /// The item count of the next array or map block, 0 at the end. A negative count is
    /// followed by the block's byte size, which must lie within the payload.
    pub fn block(&mut self, min_item: usize) -> ReadResult<usize> {
        let n = self.long()?;
        if n < 0 {
            self.length()?;
        }
        self.admit(n.unsigned_abs(), min_item)
    }

    fn admit(&mut self, count: u64, min_item: usize) -> ReadResult<usize> {
        let fits = count <= self.items as u64
            && (count as usize).saturating_mul(min_item) <= self.remaining();
        if !fits {
            return self.fail("a block count larger than the payload can hold");
        }
        self.items -= count as usize;
        Ok(count as usize)
    }

    /// Reads past a value of `schema`, checking it as it goes.
    pub fn skip(&mut self, schema: &Schema) -> ReadResult<()> {
        match schema {
            Schema::Null => Ok(()),
            Schema::Boolean => self.boolean().map(drop),
            Schema::Int => self.int().map(drop),
            Schema::Long => self.long().map(drop),
            Schema::Float => self.take(4).map(drop),
            Schema::Double => self.take(8).map(drop),
            Schema::Bytes | Schema::String => self.bytes().map(drop),
            Schema::Fixed(f) => self.take(f.size).map(drop),
            Schema::Enum(e) => self.enum_index(e.symbols.len()).map(drop),
            Schema::Record(r) => r.fields.iter().try_for_each(|f| self.skip(&f.schema)),
            Schema::Union(branches) => {
                let i = self.branch(branches.len())?;
                branches.get(i).map_or(Ok(()), |b| self.skip(b))
            }
            Schema::Array(items) => self.skip_blocks(items, false),
            Schema::Map(values) => self.skip_blocks(values, true),
        }
    }

    fn skip_blocks(&mut self, item: &Schema, keyed: bool) -> ReadResult<()> {
        let min = item.min_size() + usize::from(keyed);
        loop {
            let n = self.long()?;
            if n == 0 {
                return Ok(());
            }
            if n < 0 {
                // The byte size lets a skipper jump over the block without reading its items.
                let size = self.length()?;
                self.take(size)?;
                continue;
            }
            let count = self.admit(n.unsigned_abs(), min)?;
            for _ in 0..count {
                if keyed {
                    self.bytes()?;
                }
                self.skip(item)?;
            }
        }
    }
}

// The writers: the binary encoding of each primitive, for publishing and for tests.
