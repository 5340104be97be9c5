//! The VRRP advertisement on the wire, versions 2 and 3.
//!
//! VRRPv2, RFC 3768 §5.1 (IPv4 only; the interval is in seconds, and the
//! message always ends with 8 bytes of authentication data):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Adver Int   |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         IP Address (1)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            .                                  |
//! |                            .                                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         IP Address (n)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (1)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (2)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! VRRPv3, RFC 5798 §5.1 / RFC 9568 §5.1 (IPv4 or IPv6, decided by the
//! IP packet carrying it; the interval is in centiseconds; no
//! authentication):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                       IPvX Address(es)                        |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum;
pub use crate::error::{DecodeError, EncodeError};

/// IP protocol number of VRRP (IPv4 protocol / IPv6 next header).
pub const IPPROTO_VRRP: u8 = 112;

/// The only message type both versions define.
const TYPE_ADVERTISEMENT: u8 = 1;
/// Version/type, VRID, priority, count, then auth type + interval (v2) or
/// reserved + interval (v3), then the checksum.
const HEADER_LEN: usize = 8;
/// Byte offset of the checksum field.
const CHECKSUM_OFFSET: usize = 6;
/// VRRPv2's two words of authentication data.
const AUTH_DATA_LEN: usize = 8;
/// VRRPv3's Max Adver Int is 12 bits wide.
const V3_MAX_INTERVAL_CS: u16 = 0x0fff;
/// VRRPv2's Adver Int is one byte of seconds; we keep centiseconds.
const CS_PER_SECOND: u16 = 100;

const AUTH_NONE: u8 = 0;
const AUTH_SIMPLE: u8 = 1;
const AUTH_AH: u8 = 2;

/// The protocol version of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768: IPv4 only, interval in seconds, optional text password.
    V2,
    /// RFC 5798 / RFC 9568: IPv4 or IPv6, interval in centiseconds.
    V3,
}

/// How a VRRPv3 message over IPv4 is checksummed.
///
/// Only VRRPv3 over IPv4 has a choice; for the other cases the codec uses
/// the one form the RFCs allow and ignores what was asked: VRRPv2 is
/// always [`MessageOnly`](Self::MessageOnly), VRRPv3 over IPv6 always
/// [`PseudoHeader`](Self::PseudoHeader). [`decode`] reports the form that
/// actually verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumForm {
    /// Over the IP pseudo-header and the message (RFC 5798; keepalived's
    /// default).
    PseudoHeader,
    /// Over the message only, as in VRRPv2 (allowed for IPv4 by RFC 9568;
    /// keepalived's `v3_checksum_as_v2`).
    MessageOnly,
}

/// VRRPv2 authentication. VRRPv3 has none: its adverts carry
/// [`Auth::None`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Type 0: the authentication data is zeros on send, ignored on
    /// receipt.
    None,
    /// Type 1: a clear-text password of up to 8 bytes padded with zeros
    /// (keepalived's `auth_type PASS`). Compared by the instance, not here.
    Simple([u8; 8]),
    /// Type 2: IP Authentication Header (keepalived's `auth_type AH`). The
    /// header itself is the IP layer's business; this codec only reports
    /// the type and sends zero authentication data.
    Ah,
}

impl Auth {
    /// A simple text password, padded with zeros; `None` if it is longer
    /// than the 8 bytes the field holds.
    pub fn simple(password: &[u8]) -> Option<Self> {
        let mut data = [0; AUTH_DATA_LEN];
        data.get_mut(..password.len())?.copy_from_slice(password);
        Some(Self::Simple(data))
    }
}

/// The virtual addresses an advert lists; their IP version is that of
/// the packet carrying it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addrs {
    V4(Vec<Ipv4Addr>),
    V6(Vec<Ipv6Addr>),
}

impl Addrs {
    /// Number of addresses.
    pub fn len(&self) -> usize {
        match self {
            Self::V4(a) => a.len(),
            Self::V6(a) => a.len(),
        }
    }

    /// Whether there are no addresses (never true of a decoded advert).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn is_ipv6(&self) -> bool {
        matches!(self, Self::V6(_))
    }
}

/// A VRRP advertisement, either version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advert {
    pub version: Version,
    /// Virtual router ID, 1..=255.
    pub vrid: u8,
    /// 255 for the address owner, 0 for a master giving up, else 1..=254.
    pub priority: u8,
    /// Advertisement interval in centiseconds, for both versions: v2's
    /// seconds times 100 (so a multiple of 100 in 100..=25500), v3's
    /// Max Adver Int (1..=4095).
    pub interval_cs: u16,
    /// Always [`Auth::None`] for v3.
    pub auth: Auth,
    pub addrs: Addrs,
}

impl Advert {
    /// Length of the encoded message in bytes.
    pub fn encoded_len(&self) -> usize {
        let addr_len = if self.addrs.is_ipv6() { 16 } else { 4 };
        let auth_len = match self.version {
            Version::V2 => AUTH_DATA_LEN,
            Version::V3 => 0,
        };
        HEADER_LEN + addr_len * self.addrs.len() + auth_len
    }
}

// === encode ===

/// Appends the VRRP message for `adv`, sent from `src` to `dst`, to `out`.
///
/// `form` matters only for VRRPv3 over IPv4 (see [`ChecksumForm`]).
/// Nothing is appended when an error is returned.
pub fn encode(
    adv: &Advert,
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let ipv6 = packet_is_ipv6(src, dst).ok_or(EncodeError::AddressFamilyMismatch)?;
    if adv.version == Version::V2 && (ipv6 || adv.addrs.is_ipv6()) {
        return Err(EncodeError::V2RequiresIpv4);
    }
    if adv.addrs.is_ipv6() != ipv6 {
        return Err(EncodeError::AddressFamilyMismatch);
    }
    if adv.vrid == 0 {
        return Err(EncodeError::InvalidVrid);
    }
    let count = match u8::try_from(adv.addrs.len()) {
        Ok(0) => return Err(EncodeError::NoAddresses),
        Ok(n) => n,
        Err(_) => return Err(EncodeError::TooManyAddresses(adv.addrs.len())),
    };
    let bad_interval = EncodeError::BadInterval {
        version: adv.version,
        interval_cs: adv.interval_cs,
    };
    // The second header word, whose meaning differs between versions.
    let word2: [u8; 2] = match adv.version {
        Version::V2 => {
            // Whole seconds 1..=255 only: v2 has no finer unit.
            let secs = match u8::try_from(adv.interval_cs / CS_PER_SECOND) {
                Ok(secs @ 1..) if u16::from(secs) * CS_PER_SECOND == adv.interval_cs => secs,
                _ => return Err(bad_interval),
            };
            let auth_type = match adv.auth {
                Auth::None => AUTH_NONE,
                Auth::Simple(_) => AUTH_SIMPLE,
                Auth::Ah => AUTH_AH,
            };
            [auth_type, secs]
        }
        Version::V3 => {
            if adv.auth != Auth::None {
                return Err(EncodeError::AuthInV3);
            }
            if !(1..=V3_MAX_INTERVAL_CS).contains(&adv.interval_cs) {
                return Err(bad_interval);
            }
            // The reserved top 4 bits stay zero.
            adv.interval_cs.to_be_bytes()
        }
    };

    let start = out.len();
    out.reserve(adv.encoded_len());
    let version_nibble = match adv.version {
        Version::V2 => 2,
        Version::V3 => 3,
    };
    out.extend_from_slice(&[
        version_nibble << 4 | TYPE_ADVERTISEMENT,
        adv.vrid,
        adv.priority,
        count,
    ]);
    out.extend_from_slice(&word2);
    out.extend_from_slice(&[0, 0]); // checksum, filled in below
    match &adv.addrs {
        Addrs::V4(addrs) => addrs
            .iter()
            .for_each(|a| out.extend_from_slice(&a.octets())),
        Addrs::V6(addrs) => addrs
            .iter()
            .for_each(|a| out.extend_from_slice(&a.octets())),
    }
    if adv.version == Version::V2 {
        let data = match adv.auth {
            Auth::Simple(password) => password,
            Auth::None | Auth::Ah => [0; AUTH_DATA_LEN],
        };
        out.extend_from_slice(&data);
    }

    let msg = &out[start..];
    let mut acc = checksum::add(0, msg);
    if uses_pseudo_header(adv.version, ipv6, form) {
        // The length is at most 8 + 255 * 16, so this cannot fail.
        acc = checksum::add_pseudo_header(acc, src, dst, msg.len())
            .ok_or(EncodeError::AddressFamilyMismatch)?;
    }
    let sum = !checksum::fold(acc);
    out[start + CHECKSUM_OFFSET..start + CHECKSUM_OFFSET + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

// === decode ===

/// Decodes the VRRP message `buf` (the IP payload) of a packet sent from
/// `src` to `dst`, and reports which checksum form verified.
///
/// The IP version of `src`/`dst` decides the length of each advertised
/// address, as on the wire. For VRRPv3 over IPv4 either checksum form is
/// accepted, the pseudo-header form tried first (when the pseudo-header
/// happens to sum to zero both forms give identical bytes, and
/// `PseudoHeader` is reported). The checks that need the
/// instance (TTL 255, our VRID, password, interval equal to ours for v2)
/// are the caller's.
pub fn decode(buf: &[u8], src: IpAddr, dst: IpAddr) -> Result<(Advert, ChecksumForm), DecodeError> {
    let ipv6 = packet_is_ipv6(src, dst).ok_or(DecodeError::AddressFamilyMismatch)?;
    let mut r = Reader::new(buf);

    // Structure first: which layout, and does the length agree with it?
    let version_type = r.u8()?;
    let version = match version_type >> 4 {
        2 => Version::V2,
        3 => Version::V3,
        v => return Err(DecodeError::BadVersion(v)),
    };
    match version_type & 0x0f {
        TYPE_ADVERTISEMENT => {}
        t => return Err(DecodeError::BadType(t)),
    }
    if version == Version::V2 && ipv6 {
        return Err(DecodeError::V2OverIpv6);
    }
    let vrid = r.u8()?;
    let priority = r.u8()?;
    let count = r.u8()?;
    let word2 = r.array::<2>()?;
    let _checksum = r.u16()?;
    if count == 0 {
        return Err(DecodeError::NoAddresses);
    }
    let addr_len = if ipv6 { 16 } else { 4 };
    let auth_len = match version {
        Version::V2 => AUTH_DATA_LEN,
        Version::V3 => 0,
    };
    let expected = HEADER_LEN + addr_len * usize::from(count) + auth_len;
    if buf.len() != expected {
        return Err(DecodeError::CountMismatch {
            count,
            expected,
            actual: buf.len(),
        });
    }

    // Then integrity, then field values.
    let form = verify_checksum(buf, version, ipv6, src, dst)?;
    if vrid == 0 {
        return Err(DecodeError::InvalidVrid);
    }
    let (interval_cs, auth_type) = match version {
        Version::V2 => (u16::from(word2[1]) * CS_PER_SECOND, Some(word2[0])),
        // The reserved bits are ignored on receipt (RFC 5798 §5.2.3).
        Version::V3 => (u16::from_be_bytes(word2) & V3_MAX_INTERVAL_CS, None),
    };
    if interval_cs == 0 {
        return Err(DecodeError::BadInterval);
    }
    let addrs = if ipv6 {
        Addrs::V6(
            (0..count)
                .map(|_| r.array::<16>().map(Ipv6Addr::from))
                .collect::<Result<_, _>>()?,
        )
    } else {
        Addrs::V4(
            (0..count)
                .map(|_| r.array::<4>().map(Ipv4Addr::from))
                .collect::<Result<_, _>>()?,
        )
    };
    let auth = match auth_type {
        None => Auth::None,
        Some(t) => {
            let data = r.array::<AUTH_DATA_LEN>()?;
            match t {
                AUTH_NONE => Auth::None,
                AUTH_SIMPLE => Auth::Simple(data),
                AUTH_AH => Auth::Ah,
                other => return Err(DecodeError::BadAuthType(other)),
            }
        }
    };

    let advert = Advert {
        version,
        vrid,
        priority,
        interval_cs,
        auth,
        addrs,
    };
    Ok((advert, form))
}

/// Checks the checksum of a whole message: summed with its checksum
/// field, a correct message (plus pseudo-header) folds to 0xffff.
fn verify_checksum(
    buf: &[u8],
    version: Version,
    ipv6: bool,
    src: IpAddr,
    dst: IpAddr,
) -> Result<ChecksumForm, DecodeError> {
    let msg = checksum::add(0, buf);
    let with_pseudo = || checksum::add_pseudo_header(msg, src, dst, buf.len()).map(checksum::fold);
    let candidates: &[ChecksumForm] = match (version, ipv6) {
        (Version::V2, _) => &[ChecksumForm::MessageOnly],
        (Version::V3, true) => &[ChecksumForm::PseudoHeader],
        (Version::V3, false) => &[ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly],
    };
    candidates
        .iter()
        .copied()
        .find(|form| {
            let sum = match form {
                ChecksumForm::PseudoHeader => with_pseudo(),
                ChecksumForm::MessageOnly => Some(checksum::fold(msg)),
            };
            sum == Some(0xffff)
        })
        .ok_or(DecodeError::BadChecksum)
}

// === helpers ===

/// Whether a packet from `src` to `dst` is IPv6; `None` if they disagree.
fn packet_is_ipv6(src: IpAddr, dst: IpAddr) -> Option<bool> {
    match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => Some(false),
        (IpAddr::V6(_), IpAddr::V6(_)) => Some(true),
        _ => None,
    }
}

/// The checksum form actually used for `version` over the IP version.
fn uses_pseudo_header(version: Version, ipv6: bool, requested: ChecksumForm) -> bool {
    match (version, ipv6) {
        (Version::V2, _) => false,
        (Version::V3, true) => true,
        (Version::V3, false) => requested == ChecksumForm::PseudoHeader,
    }
}

/// A cursor over received bytes; running short is an error, never a
/// panic.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let truncated = DecodeError::Truncated {
            need: self.pos.saturating_add(n),
            have: self.buf.len(),
        };
        let end = self.pos.checked_add(n).ok_or(truncated.clone())?;
        let bytes = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.array::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array::<2>().map(u16::from_be_bytes)
    }
}
