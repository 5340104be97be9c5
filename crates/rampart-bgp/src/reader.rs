//! A cursor over received bytes: running short is an error, never a panic.
//!
//! Each reader carries the error that running short means where it is
//! used (a short OPEN is an OPEN error, a short attribute an attribute
//! length error), so the parsers can use `?` and still answer with the
//! NOTIFICATION the RFC asks for.

use crate::error::DecodeError;

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    short: DecodeError,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], short: DecodeError) -> Self {
        Self { buf, pos: 0, short }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.short.clone())?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.short.clone())?;
        self.pos = end;
        Ok(bytes)
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        rest
    }

    /// How many bytes are left.
    pub(crate) fn rest_len(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        self.array::<1>().map(|[b]| b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array::<2>().map(u16::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array::<4>().map(u32::from_be_bytes)
    }
}
