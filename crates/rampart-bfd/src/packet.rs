//! The BFD Control packet on the wire (RFC 5880 §4.1), carried in UDP to
//! port 3784 (RFC 5881 §4):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Your Discriminator                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Desired Min TX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Required Min RX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! followed, when the A bit is set, by an authentication section
//! (`Auth Type`, `Auth Len`, data), which this implementation does not
//! use and therefore refuses (§6.8.6: a packet with A set is discarded
//! when no authentication is in use).
//!
//! The mandatory section has a fixed layout, so it is read as one
//! 24-byte array at constant offsets: after the single length check there
//! is nothing left to run short of, and no byte cursor is needed (the
//! workspace already has three; see STYLE.md).

use std::time::Duration;

pub use crate::error::DecodeError;

/// The protocol version this codec speaks (RFC 5880 §4.1).
pub const VERSION: u8 = 1;
/// The mandatory section; the only length we send.
pub const HEADER_LEN: usize = 24;
/// The smallest Length with the A bit set: the mandatory section plus
/// Auth Type and Auth Len (§6.8.6).
const AUTH_HEADER_LEN: usize = HEADER_LEN + 2;

/// Destination port of single-hop control packets (RFC 5881 §4).
pub const CONTROL_PORT: u16 = 3784;
/// The source port of a session's packets is one of these, the same for
/// all of them (RFC 5881 §4).
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
/// TTL / hop limit of every packet sent, and the only one accepted: it
/// proves the sender is on the link (RFC 5881 §5, GTSM).
pub const TTL: u8 = 255;

// Bits of the second byte.
const POLL: u8 = 0x20;
const FINAL: u8 = 0x10;
const CONTROL_PLANE_INDEPENDENT: u8 = 0x08;
const AUTH_PRESENT: u8 = 0x04;
const DEMAND: u8 = 0x02;
const MULTIPOINT: u8 = 0x01;

/// Session states (RFC 5880 §4.1, §6.2), in their wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    /// The two-bit field; every value names a state.
    fn from_bits(bits: u8) -> State {
        match bits & 0b11 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// RFC 5880's name, as BIRD's `show bfd sessions` prints it too.
    pub fn as_str(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

/// Why the sender's session last changed state (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diag {
    /// 0
    None,
    /// 1: no packet for a Detection Time (§6.8.4).
    ControlDetectionTimeExpired,
    /// 2
    EchoFunctionFailed,
    /// 3: the peer said Down or AdminDown.
    NeighborSignaledSessionDown,
    /// 4
    ForwardingPlaneReset,
    /// 5
    PathDown,
    /// 6
    ConcatenatedPathDown,
    /// 7: taken down by management (§6.8.16).
    AdministrativelyDown,
    /// 8
    ReverseConcatenatedPathDown,
    /// 9..=31, reserved: kept as received, never sent by us.
    Reserved(u8),
}

impl Diag {
    /// The five-bit field.
    fn from_code(code: u8) -> Diag {
        match code & 0x1f {
            0 => Diag::None,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            other => Diag::Reserved(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(code) => code & 0x1f,
        }
    }

    /// RFC 5880's wording, for logs and status.
    pub fn text(self) -> &'static str {
        match self {
            Diag::None => "No Diagnostic",
            Diag::ControlDetectionTimeExpired => "Control Detection Time Expired",
            Diag::EchoFunctionFailed => "Echo Function Failed",
            Diag::NeighborSignaledSessionDown => "Neighbor Signaled Session Down",
            Diag::ForwardingPlaneReset => "Forwarding Plane Reset",
            Diag::PathDown => "Path Down",
            Diag::ConcatenatedPathDown => "Concatenated Path Down",
            Diag::AdministrativelyDown => "Administratively Down",
            Diag::ReverseConcatenatedPathDown => "Reverse Concatenated Path Down",
            Diag::Reserved(_) => "Reserved",
        }
    }
}

/// One Control packet: the mandatory section, checked by [`decode`]
/// against every rule of §6.8.6 that needs no session.
///
/// Intervals are in microseconds, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlPacket {
    pub diag: Diag,
    pub state: State,
    /// P: the sender asks for a packet with F set (a Poll Sequence, §6.5).
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    /// D: the sender wants Demand mode (§6.6).
    pub demand: bool,
    /// Never zero once decoded.
    pub detect_mult: u8,
    /// Never zero once decoded.
    pub my_discriminator: u32,
    /// Zero only while the sender's state is Down or AdminDown.
    pub your_discriminator: u32,
    pub desired_min_tx_us: u32,
    pub required_min_rx_us: u32,
    /// Zero: the sender takes no Echo packets (we never send any).
    pub required_min_echo_rx_us: u32,
}

impl ControlPacket {
    pub fn desired_min_tx(&self) -> Duration {
        Duration::from_micros(u64::from(self.desired_min_tx_us))
    }

    pub fn required_min_rx(&self) -> Duration {
        Duration::from_micros(u64::from(self.required_min_rx_us))
    }
}

/// Decodes the UDP payload `buf`; any input at all gives a packet or an
/// error, never a panic.
pub fn decode(buf: &[u8]) -> Result<ControlPacket, DecodeError> {
    let Some(h) = buf.first_chunk::<HEADER_LEN>() else {
        return Err(DecodeError::Truncated(buf.len()));
    };
    let version = h[0] >> 5;
    if version != VERSION {
        return Err(DecodeError::BadVersion(version));
    }
    let flags = h[1];
    let auth = flags & AUTH_PRESENT != 0;
    let length = h[3];
    let min = if auth { AUTH_HEADER_LEN } else { HEADER_LEN };
    if usize::from(length) < min {
        return Err(DecodeError::LengthTooShort { length, auth });
    }
    if usize::from(length) > buf.len() {
        return Err(DecodeError::LengthBeyondPayload {
            length,
            payload: buf.len(),
        });
    }
    let detect_mult = h[2];
    if detect_mult == 0 {
        return Err(DecodeError::ZeroDetectMult);
    }
    if flags & MULTIPOINT != 0 {
        return Err(DecodeError::Multipoint);
    }
    let word = |i: usize| -> u32 {
        // `i` is one of the constants below, all within the array.
        u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]])
    };
    let my_discriminator = word(4);
    if my_discriminator == 0 {
        return Err(DecodeError::ZeroMyDiscriminator);
    }
    let state = State::from_bits(flags >> 6);
    let your_discriminator = word(8);
    if your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
        return Err(DecodeError::ZeroYourDiscriminator(state));
    }
    let (poll, final_) = (flags & POLL != 0, flags & FINAL != 0);
    if poll && final_ {
        return Err(DecodeError::PollAndFinal);
    }
    if auth {
        return Err(DecodeError::AuthenticationNotInUse);
    }
    Ok(ControlPacket {
        diag: Diag::from_code(h[0]),
        state,
        poll,
        final_,
        control_plane_independent: flags & CONTROL_PLANE_INDEPENDENT != 0,
        demand: flags & DEMAND != 0,
        detect_mult,
        my_discriminator,
        your_discriminator,
        desired_min_tx_us: word(12),
        required_min_rx_us: word(16),
        required_min_echo_rx_us: word(20),
    })
}

/// The packet as sent: the mandatory section alone (no authentication),
/// Length 24.
pub fn encode(p: &ControlPacket) -> [u8; HEADER_LEN] {
    let bit = |on: bool, b: u8| if on { b } else { 0 };
    let mut out = [0u8; HEADER_LEN];
    out[0] = VERSION << 5 | p.diag.code();
    out[1] = (p.state as u8) << 6
        | bit(p.poll, POLL)
        | bit(p.final_, FINAL)
        | bit(p.control_plane_independent, CONTROL_PLANE_INDEPENDENT)
        | bit(p.demand, DEMAND);
    out[2] = p.detect_mult;
    out[3] = HEADER_LEN as u8;
    let words = [
        p.my_discriminator,
        p.your_discriminator,
        p.desired_min_tx_us,
        p.required_min_rx_us,
        p.required_min_echo_rx_us,
    ];
    for (chunk, w) in out[4..].chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// A duration as a 32-bit microsecond field, saturating (about 71
/// minutes, far beyond any interval the config accepts).
pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}
