//! What the peer has been told (the Adj-RIB-Out) against what the caller
//! wants announced, and the UPDATEs that take one to the other.
//!
//! Changes are sent as differences only: a route whose attributes did not
//! change is never re-sent, and nothing here resets the session. Routes
//! with identical attributes share an UPDATE, packed up to the 4096-byte
//! message limit.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::attr::{Attribute, MpUnreach};
use crate::message::{Context, HEADER_LEN, MAX_MESSAGE_LEN};
use crate::nlri::{Family, prefix_len_on_wire};
use crate::route::{ExportCtx, PathAttrs, Route};
use crate::update::Update;

/// Withdrawn length, attribute length.
const UPDATE_FIXED: usize = 4;
/// The MP attribute's own overhead at most: flags, type, 2-octet length,
/// AFI, SAFI, next hop length, two IPv6 next hops, reserved.
const MP_OVERHEAD: usize = 4 + 3 + 1 + 32 + 1;

#[derive(Debug, Default)]
pub(crate) struct Export {
    /// Keyed by the truncated prefix; the last route given for a prefix
    /// wins.
    desired: BTreeMap<IpNet, Route>,
    /// What the peer was sent and not withdrawn since.
    sent: BTreeMap<IpNet, PathAttrs>,
}

impl Export {
    pub(crate) fn set(&mut self, routes: Vec<Route>) {
        self.desired = routes
            .into_iter()
            .map(|mut r| {
                r.prefix = r.prefix.trunc();
                (r.prefix, r)
            })
            .collect();
    }

    pub(crate) fn desired_len(&self) -> usize {
        self.desired.len()
    }

    pub(crate) fn exported_len(&self) -> usize {
        self.sent.len()
    }

    /// The session went down: the peer forgot everything.
    pub(crate) fn reset(&mut self) {
        self.sent.clear();
    }

    /// The UPDATEs that bring the peer from `sent` to `desired` for the
    /// negotiated `families`; `sent` is updated as if they were sent.
    pub(crate) fn sync(&mut self, ctx: &ExportCtx, families: &[Family]) -> Vec<Update> {
        let mut target: BTreeMap<IpNet, PathAttrs> = BTreeMap::new();
        for (prefix, route) in &self.desired {
            if !families.contains(&route.family()) {
                continue;
            }
            if let Some(attrs) = PathAttrs::resolve(route, ctx) {
                target.insert(*prefix, attrs);
            }
        }
        let withdrawn: Vec<IpNet> = self
            .sent
            .keys()
            .filter(|p| !target.contains_key(p))
            .copied()
            .collect();
        let mut announce: BTreeMap<PathAttrs, Vec<IpNet>> = BTreeMap::new();
        for (prefix, attrs) in &target {
            if self.sent.get(prefix) != Some(attrs) {
                announce.entry(attrs.clone()).or_default().push(*prefix);
            }
        }
        self.sent = target;
        let mut out = withdrawals(&withdrawn);
        out.extend(announcements(ctx, announce));
        out
    }

    /// The next hop the peer has `prefix` with, if it has it from us.
    pub(crate) fn sent_next_hop(&self, prefix: &IpNet) -> Option<std::net::IpAddr> {
        self.sent.get(&prefix.trunc()).map(|a| a.next_hop)
    }

    /// The prefixes the peer has from us (for a handover).
    pub(crate) fn sent_prefixes(&self) -> Vec<IpNet> {
        self.sent.keys().copied().collect()
    }

    /// A session taken over from another process, whose peer has
    /// `had` with attributes this process does not know: every desired
    /// route is announced (the same attributes again change nothing at
    /// the peer) and what it had and is no longer desired is withdrawn.
    pub(crate) fn take_over(
        &mut self,
        had: &[IpNet],
        ctx: &ExportCtx,
        families: &[Family],
    ) -> Vec<Update> {
        self.sent.clear();
        let mut out = self.sync(ctx, families);
        let gone: Vec<IpNet> = had
            .iter()
            .filter(|p| !self.sent.contains_key(p))
            .copied()
            .collect();
        // Withdrawals first, as `sync` orders them.
        let mut all = withdrawals(&gone);
        all.append(&mut out);
        all
    }

    /// Withdraws everything the peer has.
    pub(crate) fn withdraw_all(&mut self) -> Vec<Update> {
        let all: Vec<IpNet> = self.sent.keys().copied().collect();
        self.sent.clear();
        withdrawals(&all)
    }

    /// Everything the peer has of `family` again (a route refresh).
    pub(crate) fn resend(&self, ctx: &ExportCtx, family: Family) -> Vec<Update> {
        let mut announce: BTreeMap<PathAttrs, Vec<IpNet>> = BTreeMap::new();
        for (prefix, attrs) in &self.sent {
            if Family::of(prefix) == family {
                announce.entry(attrs.clone()).or_default().push(*prefix);
            }
        }
        announcements(ctx, announce)
    }

    /// Desired routes not announced: of a family the session does not
    /// carry, or with no usable next hop.
    pub(crate) fn unexported_len(&self) -> usize {
        self.desired
            .keys()
            .filter(|p| !self.sent.contains_key(p))
            .count()
    }
}

/// Splits `prefixes` into chunks whose encoding fits `budget` bytes.
fn chunks(prefixes: &[IpNet], budget: usize) -> Vec<Vec<IpNet>> {
    let mut out = Vec::new();
    let mut chunk = Vec::new();
    let mut used = 0;
    for p in prefixes {
        let len = prefix_len_on_wire(p);
        if used + len > budget && !chunk.is_empty() {
            out.push(std::mem::take(&mut chunk));
            used = 0;
        }
        chunk.push(*p);
        used += len;
    }
    if !chunk.is_empty() {
        out.push(chunk);
    }
    out
}

fn withdrawals(prefixes: &[IpNet]) -> Vec<Update> {
    let budget = MAX_MESSAGE_LEN - HEADER_LEN - UPDATE_FIXED - MP_OVERHEAD;
    let (v4, v6): (Vec<IpNet>, Vec<IpNet>) = prefixes
        .iter()
        .partition(|p| Family::of(p) == Family::Ipv4Unicast);
    let mut out: Vec<Update> = chunks(&v4, budget)
        .into_iter()
        .map(|withdrawn| Update {
            withdrawn,
            ..Update::default()
        })
        .collect();
    out.extend(chunks(&v6, budget).into_iter().map(|withdrawn| Update {
        attributes: vec![Attribute::MpUnreach(MpUnreach {
            family: Family::Ipv6Unicast,
            withdrawn,
        })],
        ..Update::default()
    }));
    out
}

fn announcements(ctx: &ExportCtx, groups: BTreeMap<PathAttrs, Vec<IpNet>>) -> Vec<Update> {
    let mut out = Vec::new();
    for (attrs, prefixes) in groups {
        let base = attrs.attributes(ctx, None);
        let mut scratch = Vec::new();
        for a in &base {
            // Only our own attributes, which always encode.
            let _ = a.encode(
                Context {
                    four_octet_as: ctx.four_octet_as,
                },
                &mut scratch,
            );
        }
        let budget = (MAX_MESSAGE_LEN - HEADER_LEN - UPDATE_FIXED - MP_OVERHEAD)
            .saturating_sub(scratch.len())
            .max(64);
        for chunk in chunks(&prefixes, budget) {
            // A group shares its next hop, so its prefixes share a family.
            let update = match chunk.first().map(Family::of) {
                Some(Family::Ipv4Unicast) | None => Update {
                    attributes: base.clone(),
                    nlri: chunk,
                    ..Update::default()
                },
                Some(Family::Ipv6Unicast) => Update {
                    attributes: attrs.attributes(ctx, Some(chunk)),
                    ..Update::default()
                },
            };
            out.push(update);
        }
    }
    out
}
