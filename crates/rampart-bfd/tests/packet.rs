//! The codec on byte vectors, every discard rule of RFC 5880 §6.8.6 and
//! RFC 5881 §5 through the endpoint (the daemon's entry point), and
//! properties: nothing panics, and what decodes re-encodes the same.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{B, FAST, Net, Side};
use proptest::prelude::*;
use rampart_bfd::{ControlPacket, DecodeError, Diag, Discard, State, decode, encode};

/// Up, no flags, Detect Mult 3, discriminators 1 and 2, 1 s intervals.
const UP: [u8; 24] = [
    0x20, 0xc0, 0x03, 0x18, // version 1, diag 0 | state Up | mult 3 | length 24
    0x00, 0x00, 0x00, 0x01, // My Discriminator
    0x00, 0x00, 0x00, 0x02, // Your Discriminator
    0x00, 0x0f, 0x42, 0x40, // Desired Min TX 1 000 000 us
    0x00, 0x0f, 0x42, 0x40, // Required Min RX
    0x00, 0x00, 0x00, 0x00, // Required Min Echo RX
];

#[test]
fn decodes_the_rfc_layout() {
    let p = decode(&UP).unwrap();
    assert_eq!(p.state, State::Up);
    assert_eq!(p.diag, Diag::None);
    assert_eq!(
        (p.detect_mult, p.my_discriminator, p.your_discriminator),
        (3, 1, 2)
    );
    assert_eq!(p.desired_min_tx(), Duration::from_secs(1));
    assert_eq!(p.required_min_rx_us, 1_000_000);
    assert!(!p.poll && !p.final_ && !p.demand && !p.control_plane_independent);
    assert_eq!(encode(&p), UP);

    // Diag 3 and AdminDown/Down, P, F, C, D in their bits.
    let mut b = UP;
    b[0] = 0x23;
    b[1] = 0x40 | 0x20 | 0x08 | 0x02; // Down, P, C, D
    let p = decode(&b).unwrap();
    assert_eq!(
        (p.state, p.diag),
        (State::Down, Diag::NeighborSignaledSessionDown)
    );
    assert!(p.poll && !p.final_ && p.control_plane_independent && p.demand);
    assert_eq!(encode(&p), b);
    b[0] = 0x3f; // a reserved diagnostic is kept, not refused
    b[1] = 0x10; // AdminDown, F
    let p = decode(&b).unwrap();
    assert_eq!(
        (p.state, p.diag, p.final_),
        (State::AdminDown, Diag::Reserved(31), true)
    );
    // Bytes after Length (an IP padding, say) are not the packet's.
    let mut long = UP.to_vec();
    long.extend_from_slice(&[0xff; 8]);
    assert_eq!(decode(&long).unwrap(), decode(&UP).unwrap());
}

/// BIRD 2.0.12's first packet to a new neighbor (`protocol bfd {
/// neighbor 10.0.0.2; }`), captured with a UDP socket in a namespace:
/// Down, Detect Mult 5 (BIRD's default), the 1 s idle rate, a 10 ms
/// Required Min RX. It came with TTL 255 from port 34269: BIRD takes its
/// source port from Linux's ephemeral range, not RFC 5881's 49152-65535,
/// so the source port must not be checked.
const BIRD_DOWN: [u8; 24] = [
    0x20, 0x40, 0x05, 0x18, 0x32, 0x15, 0x27, 0xca, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x42, 0x40,
    0x00, 0x00, 0x27, 0x10, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn decodes_a_packet_captured_from_bird() {
    let p = decode(&BIRD_DOWN).unwrap();
    assert_eq!(
        (p.state, p.diag, p.detect_mult),
        (State::Down, Diag::None, 5)
    );
    assert_eq!((p.my_discriminator, p.your_discriminator), (0x3215_27ca, 0));
    assert_eq!(p.desired_min_tx(), Duration::from_secs(1));
    assert_eq!(p.required_min_rx(), Duration::from_millis(10));
    assert_eq!(encode(&p), BIRD_DOWN);
    // Selected by its source address, it moves our session to Init.
    let mut e = rampart_bfd::Endpoint::new(3);
    let now = std::time::Instant::now();
    let bird = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    e.set(now, bird, FAST);
    assert_eq!(e.handle_datagram(now, bird, 255, &BIRD_DOWN), Ok(bird));
    assert_eq!(e.status(bird).unwrap().state, State::Init);
    assert_eq!(e.status(bird).unwrap().remote_discriminator, 0x3215_27ca);
}

#[test]
fn every_rule_of_6_8_6_refuses() {
    let with = |f: fn(&mut [u8; 24])| {
        let mut b = UP;
        f(&mut b);
        decode(&b)
    };
    assert_eq!(decode(&UP[..23]), Err(DecodeError::Truncated(23)));
    assert_eq!(with(|b| b[0] = 0x40), Err(DecodeError::BadVersion(2)));
    assert_eq!(with(|b| b[0] = 0x00), Err(DecodeError::BadVersion(0)));
    assert_eq!(
        with(|b| b[3] = 23),
        Err(DecodeError::LengthTooShort {
            length: 23,
            auth: false
        })
    );
    assert_eq!(
        with(|b| b[3] = 25),
        Err(DecodeError::LengthBeyondPayload {
            length: 25,
            payload: 24
        })
    );
    assert_eq!(
        with(|b| b[1] |= 0x04),
        Err(DecodeError::LengthTooShort {
            length: 24,
            auth: true
        })
    );
    let mut auth = UP.to_vec();
    auth.extend_from_slice(&[1, 4, 0, 0]);
    auth[1] |= 0x04;
    auth[3] = 28;
    assert_eq!(decode(&auth), Err(DecodeError::AuthenticationNotInUse));
    assert_eq!(with(|b| b[2] = 0), Err(DecodeError::ZeroDetectMult));
    assert_eq!(with(|b| b[1] |= 0x01), Err(DecodeError::Multipoint));
    assert_eq!(with(|b| b[7] = 0), Err(DecodeError::ZeroMyDiscriminator));
    assert_eq!(
        with(|b| b[11] = 0),
        Err(DecodeError::ZeroYourDiscriminator(State::Up))
    );
    assert_eq!(
        with(|b| {
            b[1] = 0x80; // Init
            b[11] = 0;
        }),
        Err(DecodeError::ZeroYourDiscriminator(State::Init))
    );
    assert_eq!(with(|b| b[1] |= 0x30), Err(DecodeError::PollAndFinal));
    // Your Discriminator 0 is fine while Down or AdminDown.
    assert!(
        with(|b| {
            b[1] = 0x40;
            b[11] = 0;
        })
        .is_ok()
    );
}

#[test]
fn the_endpoint_counts_what_it_discards_and_the_session_never_sees_it() {
    let mut net = Net::new(FAST, FAST);
    net.run_for(Duration::from_secs(2));
    let good = {
        let (_, _, p) = net
            .sent
            .iter()
            .rev()
            .find(|(_, s, p)| *s == Side::B && !p.final_)
            .unwrap();
        encode(p)
    };
    let before = net.status(Side::A);
    let now = net.now;
    let c = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
    let mut feed =
        |from: IpAddr, ttl: u8, bytes: &[u8]| net.a.handle_datagram(now, from, ttl, bytes);

    assert_eq!(feed(B, 254, &good), Err(Discard::Ttl { from: B, ttl: 254 }));
    assert_eq!(feed(B, 1, &good), Err(Discard::Ttl { from: B, ttl: 1 }));
    let mut bad = good;
    bad[2] = 0;
    assert_eq!(
        feed(B, 255, &bad),
        Err(Discard::Malformed {
            from: B,
            error: DecodeError::ZeroDetectMult
        })
    );
    assert!(matches!(
        feed(B, 255, &good[..10]),
        Err(Discard::Malformed { .. })
    ));
    let mut stranger = good;
    stranger[8..12].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    assert_eq!(
        feed(B, 255, &stranger),
        Err(Discard::UnknownDiscriminator {
            from: B,
            discriminator: 0xdead_beef
        })
    );
    assert_eq!(
        feed(c, 255, &good),
        Err(Discard::WrongSource { from: c, peer: B })
    );
    let mut hello = good;
    hello[1] = 0x40; // Down, Your Discriminator 0: selected by address
    hello[8..12].copy_from_slice(&[0; 4]);
    assert_eq!(feed(c, 255, &hello), Err(Discard::UnknownPeer { from: c }));

    let d = net.a.discards();
    assert_eq!(
        (
            d.ttl,
            d.malformed,
            d.unknown_discriminator,
            d.wrong_source,
            d.unknown_peer
        ),
        (2, 2, 1, 1, 1)
    );
    assert_eq!(d.total(), 7);
    assert_eq!(net.a.last_discard(), Some(Discard::UnknownPeer { from: c }));
    let after = net.status(Side::A);
    assert_eq!(after.counters.packets_in, before.counters.packets_in);
    // Those from B's address are B's session's too; C's are not.
    assert_eq!((after.discards.ttl, after.discards.total()), (2, 5));
    assert_eq!(after.state, State::Up);
    // And a good one still goes through.
    assert_eq!(net.a.handle_datagram(now, B, 255, &good), Ok(B));
}

fn any_state() -> impl Strategy<Value = State> {
    prop_oneof![
        Just(State::AdminDown),
        Just(State::Down),
        Just(State::Init),
        Just(State::Up)
    ]
}

prop_compose! {
    fn valid_packet()(
        state in any_state(), diag in 0u8..32, flags in 0u8..3, c: bool, d: bool,
        detect_mult in 1u8.., my in 1u32.., your: u32, tx: u32, rx: u32, echo: u32,
    ) -> ControlPacket {
        let your = if matches!(state, State::Init | State::Up) { your.max(1) } else { your };
        let mut p = decode(&UP).unwrap();
        p.state = state;
        p.diag = decode(&[0x20 | diag, 0x40, 1, 24, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap().diag;
        p.poll = flags == 1;
        p.final_ = flags == 2;
        p.control_plane_independent = c;
        p.demand = d;
        p.detect_mult = detect_mult;
        p.my_discriminator = my;
        p.your_discriminator = your;
        p.desired_min_tx_us = tx;
        p.required_min_rx_us = rx;
        p.required_min_echo_rx_us = echo;
        p
    }
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(p) = decode(&bytes) {
            prop_assert_eq!(decode(&encode(&p)), Ok(p));
        }
    }

    #[test]
    fn valid_packets_round_trip(p in valid_packet()) {
        prop_assert_eq!(decode(&encode(&p)), Ok(p));
    }

    #[test]
    fn flipping_any_bit_decodes_or_refuses(p in valid_packet(), bit in 0usize..192) {
        let mut b = encode(&p);
        b[bit / 8] ^= 1 << (bit % 8);
        let _ = decode(&b);
    }
}
