//! The NOTIFICATION message (RFC 4271 §4.5), its codes, and the shutdown
//! communication of RFC 9003 (which obsoletes RFC 8203).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! With Cease / Administrative Shutdown or Administrative Reset, the
//! data may be a shutdown communication (RFC 9003 §2):
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code 6  |    Subcode    |    Length     |     ...       \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! \                                                               \
//! /                 ... Shutdown Communication ...                /
//! \                                                               \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;

/// Error codes (RFC 4271 §4.5, RFC 7313).
pub mod code {
    pub const HEADER: u8 = 1;
    pub const OPEN: u8 = 2;
    pub const UPDATE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH: u8 = 7;
}

/// Error subcodes, grouped by the code they belong to.
pub mod subcode {
    // Message Header Error
    pub const NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_LENGTH: u8 = 2;
    pub const BAD_TYPE: u8 = 3;
    // OPEN Message Error
    pub const UNSUPPORTED_VERSION: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_ID: u8 = 3;
    pub const UNSUPPORTED_OPT_PARAM: u8 = 4;
    pub const UNACCEPTABLE_HOLD: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    // UPDATE Message Error
    pub const MALFORMED_ATTR_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN: u8 = 2;
    pub const MISSING_WELL_KNOWN: u8 = 3;
    pub const ATTR_FLAGS: u8 = 4;
    pub const ATTR_LENGTH: u8 = 5;
    pub const INVALID_ORIGIN: u8 = 6;
    pub const INVALID_NEXT_HOP: u8 = 8;
    pub const OPTIONAL_ATTR: u8 = 9;
    pub const INVALID_NETWORK: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;
    // Finite State Machine Error (RFC 6608)
    pub const FSM_UNEXPECTED_IN_OPEN_SENT: u8 = 1;
    pub const FSM_UNEXPECTED_IN_OPEN_CONFIRM: u8 = 2;
    pub const FSM_UNEXPECTED_IN_ESTABLISHED: u8 = 3;
    // Cease (RFC 4486)
    pub const ADMIN_SHUTDOWN: u8 = 2;
    pub const ADMIN_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const COLLISION_RESOLUTION: u8 = 7;
    /// RFC 9384: the session was closed because BFD declared the peer down.
    pub const BFD_DOWN: u8 = 10;
}

/// Longest shutdown communication (RFC 9003 §2: the length octet allows
/// up to 255 bytes of UTF-8).
pub const SHUTDOWN_MESSAGE_MAX: usize = 255;

/// A NOTIFICATION message: the error that closes the session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Self {
        Self {
            code,
            subcode,
            data,
        }
    }

    /// Cease / Administrative Shutdown with `message` as the shutdown
    /// communication, cut at a character boundary to 255 bytes. An empty
    /// message sends no data at all, which every peer understands.
    pub fn admin_shutdown(message: &str) -> Self {
        let mut end = message.len().min(SHUTDOWN_MESSAGE_MAX);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = &message.as_bytes()[..end];
        let mut data = Vec::with_capacity(1 + text.len());
        if !text.is_empty() {
            // `end` is at most 255.
            data.push(u8::try_from(text.len()).unwrap_or(u8::MAX));
            data.extend_from_slice(text);
        }
        Self::new(code::CEASE, subcode::ADMIN_SHUTDOWN, data)
    }

    /// The shutdown communication of a Cease / Administrative Shutdown or
    /// Reset: `Some` when the data is a length octet followed by that
    /// much valid UTF-8 (RFC 9003 §2; anything else is ignored, §4).
    pub fn shutdown_message(&self) -> Option<&str> {
        let cease_with_text = self.code == code::CEASE
            && matches!(self.subcode, subcode::ADMIN_SHUTDOWN | subcode::ADMIN_RESET);
        let (&len, text) = self.data.split_first().filter(|_| cease_with_text)?;
        if usize::from(len) != text.len() || text.is_empty() {
            return None;
        }
        std::str::from_utf8(text).ok()
    }

    /// The RFC's names for code and subcode.
    pub fn names(&self) -> (&'static str, &'static str) {
        names(self.code, self.subcode)
    }
}

/// "Cease / Administrative Shutdown: \"maintenance\"", for logs and status.
impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, s) = self.names();
        write!(f, "{c} / {s} ({}, {})", self.code, self.subcode)?;
        if let Some(text) = self.shutdown_message() {
            write!(f, ": {text:?}")?;
        }
        Ok(())
    }
}

/// Names of an error code and subcode as the RFCs spell them.
pub fn names(c: u8, s: u8) -> (&'static str, &'static str) {
    let code_name = match c {
        code::HEADER => "Message Header Error",
        code::OPEN => "OPEN Message Error",
        code::UPDATE => "UPDATE Message Error",
        code::HOLD_TIMER_EXPIRED => "Hold Timer Expired",
        code::FSM => "Finite State Machine Error",
        code::CEASE => "Cease",
        code::ROUTE_REFRESH => "ROUTE-REFRESH Message Error",
        _ => "Unknown Error",
    };
    let sub = match (c, s) {
        (_, 0) => "Unspecific",
        (code::HEADER, 1) => "Connection Not Synchronized",
        (code::HEADER, 2) => "Bad Message Length",
        (code::HEADER, 3) => "Bad Message Type",
        (code::OPEN, 1) => "Unsupported Version Number",
        (code::OPEN, 2) => "Bad Peer AS",
        (code::OPEN, 3) => "Bad BGP Identifier",
        (code::OPEN, 4) => "Unsupported Optional Parameter",
        (code::OPEN, 6) => "Unacceptable Hold Time",
        (code::OPEN, 7) => "Unsupported Capability",
        (code::OPEN, 11) => "Role Mismatch",
        (code::UPDATE, 1) => "Malformed Attribute List",
        (code::UPDATE, 2) => "Unrecognized Well-known Attribute",
        (code::UPDATE, 3) => "Missing Well-known Attribute",
        (code::UPDATE, 4) => "Attribute Flags Error",
        (code::UPDATE, 5) => "Attribute Length Error",
        (code::UPDATE, 6) => "Invalid ORIGIN Attribute",
        (code::UPDATE, 8) => "Invalid NEXT_HOP Attribute",
        (code::UPDATE, 9) => "Optional Attribute Error",
        (code::UPDATE, 10) => "Invalid Network Field",
        (code::UPDATE, 11) => "Malformed AS_PATH",
        (code::FSM, 1) => "Receive Unexpected Message in OpenSent State",
        (code::FSM, 2) => "Receive Unexpected Message in OpenConfirm State",
        (code::FSM, 3) => "Receive Unexpected Message in Established State",
        (code::CEASE, 1) => "Maximum Number of Prefixes Reached",
        (code::CEASE, 2) => "Administrative Shutdown",
        (code::CEASE, 3) => "Peer De-configured",
        (code::CEASE, 4) => "Administrative Reset",
        (code::CEASE, 5) => "Connection Rejected",
        (code::CEASE, 6) => "Other Configuration Change",
        (code::CEASE, 7) => "Connection Collision Resolution",
        (code::CEASE, 8) => "Out of Resources",
        (code::CEASE, 9) => "Hard Reset",
        (code::CEASE, 10) => "BFD Down",
        (code::ROUTE_REFRESH, 1) => "Invalid Message Length",
        _ => "Unknown Subcode",
    };
    (code_name, sub)
}
