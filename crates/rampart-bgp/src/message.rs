//! The message header (RFC 4271 §4.1), framing on the TCP stream, and the
//! dispatch to each message type.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +                                                               +
//! |                           Marker                              |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! KEEPALIVE is the header alone. ROUTE-REFRESH (RFC 2918 §3):
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Res.  | SAFI  |
//! +-------+-------+-------+-------+
//! ```

use crate::error::{DecodeError, EncodeError};
use crate::notification::Notification;
use crate::open::Open;
use crate::reader::Reader;
use crate::update::Update;

/// Length of the header: marker, length, type.
pub const HEADER_LEN: usize = 19;
/// Largest message without RFC 8654 extended messages (not supported).
pub const MAX_MESSAGE_LEN: usize = 4096;

const TYPE_OPEN: u8 = 1;
const TYPE_UPDATE: u8 = 2;
const TYPE_NOTIFICATION: u8 = 3;
const TYPE_KEEPALIVE: u8 = 4;
const TYPE_ROUTE_REFRESH: u8 = 5;

/// What the session negotiated that changes the encoding of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Context {
    /// Both sides sent the 4-octet AS capability (RFC 6793): AS_PATH and
    /// AGGREGATOR carry 4-octet AS numbers.
    pub four_octet_as: bool,
}

/// One BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The message's name as RFC 4271 spells it, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Open(_) => "OPEN",
            Self::Update(_) => "UPDATE",
            Self::Notification(_) => "NOTIFICATION",
            Self::Keepalive => "KEEPALIVE",
            Self::RouteRefresh(_) => "ROUTE-REFRESH",
        }
    }
}

/// A ROUTE-REFRESH request: re-send everything of one address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    pub afi: u16,
    /// The reserved octet; RFC 7313 uses it as a subtype (0 = normal
    /// request, which is all we send).
    pub subtype: u8,
    pub safi: u8,
}

// === framing ===

/// Finds the first message in a TCP byte stream: `Ok(Some(n))` when
/// `buf[..n]` is a whole message, `Ok(None)` when more bytes are needed.
/// The header is checked as soon as it is in (RFC 4271 §6.1), so a peer
/// that is out of step is answered at once rather than after 4 KiB.
pub fn frame(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let (len, _) = check_header(header)?;
    Ok((buf.len() >= len).then_some(len))
}

/// Checks marker, length and type; returns the length and type.
fn check_header(header: &[u8]) -> Result<(usize, u8), DecodeError> {
    let mut r = Reader::new(header, DecodeError::BadLength(0));
    if r.take(16)?.iter().any(|&b| b != 0xff) {
        return Err(DecodeError::NotSynchronized);
    }
    let len = r.u16()?;
    let ty = r.u8()?;
    let min = match ty {
        TYPE_OPEN => 29,
        TYPE_UPDATE => 23,
        TYPE_NOTIFICATION => 21,
        TYPE_KEEPALIVE => 19,
        TYPE_ROUTE_REFRESH => 23,
        t => return Err(DecodeError::BadType(t)),
    };
    let fixed = matches!(ty, TYPE_KEEPALIVE | TYPE_ROUTE_REFRESH);
    let ok = usize::from(len) >= min
        && usize::from(len) <= MAX_MESSAGE_LEN
        && (!fixed || usize::from(len) == min);
    if !ok {
        return Err(DecodeError::BadLength(len));
    }
    Ok((usize::from(len), ty))
}

// === decode ===

/// Decodes one whole message (as delimited by [`frame`]); `buf` must be
/// exactly the message, header included.
pub fn decode(buf: &[u8], ctx: Context) -> Result<Message, DecodeError> {
    let header = buf.get(..HEADER_LEN).ok_or(DecodeError::BadLength(0))?;
    let (len, ty) = check_header(header)?;
    if len != buf.len() {
        return Err(DecodeError::BadLength(u16::try_from(len).unwrap_or(0)));
    }
    let body = &buf[HEADER_LEN..];
    match ty {
        TYPE_OPEN => Open::decode(body).map(Message::Open),
        TYPE_UPDATE => Update::decode(body, ctx).map(Message::Update),
        TYPE_NOTIFICATION => {
            let mut r = Reader::new(body, DecodeError::MalformedNotification);
            let code = r.u8()?;
            let subcode = r.u8()?;
            let data = r.rest().to_vec();
            Ok(Message::Notification(Notification::new(
                code, subcode, data,
            )))
        }
        TYPE_KEEPALIVE => Ok(Message::Keepalive),
        // The header check fixed the length at 23.
        _ => {
            let mut r = Reader::new(body, DecodeError::BadLength(23));
            Ok(Message::RouteRefresh(RouteRefresh {
                afi: r.u16()?,
                subtype: r.u8()?,
                safi: r.u8()?,
            }))
        }
    }
}

// === encode ===

/// Appends `msg` to `out`. Nothing is appended when an error is
/// returned.
pub fn encode(msg: &Message, ctx: Context, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0xff; 16]);
    out.extend_from_slice(&[0, 0]); // length, filled in below
    let body = match msg {
        Message::Open(open) => {
            out.push(TYPE_OPEN);
            open.encode(out)
        }
        Message::Update(update) => {
            out.push(TYPE_UPDATE);
            update.encode(ctx, out)
        }
        Message::Notification(n) => {
            out.push(TYPE_NOTIFICATION);
            out.extend_from_slice(&[n.code, n.subcode]);
            out.extend_from_slice(&n.data);
            Ok(())
        }
        Message::Keepalive => {
            out.push(TYPE_KEEPALIVE);
            Ok(())
        }
        Message::RouteRefresh(rr) => {
            out.push(TYPE_ROUTE_REFRESH);
            out.extend_from_slice(&rr.afi.to_be_bytes());
            out.extend_from_slice(&[rr.subtype, rr.safi]);
            Ok(())
        }
    };
    let len = out.len() - start;
    let result = body.and_then(|()| match u16::try_from(len) {
        Ok(l) if len <= MAX_MESSAGE_LEN => Ok(l),
        _ => Err(EncodeError::TooLong(len)),
    });
    match result {
        Ok(l) => {
            out[start + 16..start + 18].copy_from_slice(&l.to_be_bytes());
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// `msg` as a new buffer.
pub fn to_bytes(msg: &Message, ctx: Context) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode(msg, ctx, &mut out)?;
    Ok(out)
}
