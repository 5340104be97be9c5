//! One virtual router: the state machine of RFC 5798 §6.4 (and RFC 3768
//! §6.4 for v2), plus the Fault state keepalived adds for failed trackers
//! and a graceful Stopping state.
//!
//! ```text
//!                +------------+  Startup (priority 255)   +--------+
//!                | Initialize |-------------------------->| Master |<--+
//!                +------------+                           +--------+   |
//!                      | Startup                          ^  |  |      |
//!                      v           Master_Down_Timer      |  |  |      |
//!                 +--------+ -----------------------------+  |  |      |
//!                 | Backup | <-------------------------------+  |      |
//!                 +--------+   higher-priority advert           |      |
//!                      ^                                        v      |
//!                      |  tracker recovered  +-------+  tracker failed |
//!                      +---------------------| Fault |<----------------+
//!                                            +-------+
//! ```
//!
//! The instance never reads the clock: every input carries `now`, and
//! [`Instance::poll_timeout`] says when it next wants
//! [`Instance::handle_timeout`]. What it wants done is queued as
//! [`Action`]s for the caller to carry out.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

mod timers;

use crate::checks::{Drop, Stats, Warnings};
use crate::packet::{Addrs, Advert, Auth, ChecksumForm, Version, decode, encode};

/// 224.0.0.18, the IPv4 multicast group of VRRP (RFC 5798 §5.1.1.2).
pub const MULTICAST_V4: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(224, 0, 0, 18));
/// ff02::12, the IPv6 multicast group of VRRP (RFC 5798 §5.1.2.2).
pub const MULTICAST_V6: IpAddr =
    IpAddr::V6(std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12));
/// Priority a router gives when it stops being master (RFC 5798 §5.2.4).
pub const PRIORITY_STOP: u8 = 0;
/// Priority of the router that owns the virtual addresses.
pub const PRIORITY_OWNER: u8 = 255;

/// How long a stopping master keeps its addresses after the new master
/// spoke. The new master adds the addresses and sends gratuitous ARPs
/// right after its first advert, but a client only moves when it has
/// processed one (Linux also ignores a changed address for an entry
/// updated within the last second, `locktime`); releasing at once would
/// leave clients sending to an address nobody holds meanwhile.
pub const RELEASE_LINGER: Duration = Duration::from_secs(1);

/// Least time between two gratuitous ARP bursts sent because a
/// lower-priority router claimed mastership (keepalived's
/// `garp_lower_prio_*`): once is enough to take the clients back, and a
/// peer stuck in that belief must not make us flood the LAN at every
/// advert.
pub const LOWER_PRIO_GARP_EVERY: Duration = Duration::from_secs(1);

/// Expected spurious failovers per hour the loss allowance aims below
/// (one in four days).
pub const FLAP_BUDGET: f64 = 1e-2;
/// At most this many extra intervals: beyond 50 % loss VRRP cannot work
/// anyway, and failover must stay bounded.
const MAX_LOSS_ALLOWANCE: u32 = 7;
/// The loss estimate averages over about this many adverts (25 s at
/// 100 ms): one late advert must not make the backup slower for long.
const LOSS_EWMA_WEIGHT: u64 = 256;
/// Adverts observed before the estimate is trusted at all.
const LOSS_MIN_SAMPLES: u64 = 32;

/// What an instance needs to know; filled from the config by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// For logs and notify hooks.
    pub name: String,
    /// The interface the instance runs on; packets are demultiplexed on it.
    pub interface: String,
    pub vrid: u8,
    pub version: Version,
    /// Configured priority, 1..=255; trackers move the effective one.
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2: a multiple of 100).
    pub interval_cs: u16,
    pub preempt: bool,
    /// After startup, or after first seeing a lower-priority master, wait
    /// this long before preempting it (keepalived's `preempt_delay`).
    pub preempt_delay: Duration,
    /// The config's `state = "master"` (keepalived's `state MASTER`): take
    /// over after one advert interval plus Skew_Time when no better master
    /// is heard, instead of the full Master_Down_Interval (keepalived
    /// 2.2.7 waits the full interval, 3.6 s at 1 s adverts; the node meant
    /// to be master need not).
    pub start_as_master: bool,
    /// v2 authentication; v3 must use [`Auth::None`].
    pub auth: Auth,
    /// The virtual addresses listed in adverts.
    pub vips: Addrs,
    /// Our primary address on the interface (or `unicast_src`): the
    /// source of adverts and the tie-breaker between equal priorities.
    pub src: IpAddr,
    /// Unicast peers; empty means multicast.
    pub unicast_peers: Vec<IpAddr>,
    /// Lowest TTL / hop limit accepted on unicast adverts (multicast
    /// requires 255).
    pub unicast_min_ttl: u8,
    /// v3 over IPv4: the checksum form we send.
    pub checksum: ChecksumForm,
    /// A second burst of gratuitous ARPs this long after becoming master
    /// (keepalived's `garp_master_delay`); zero disables it.
    pub garp_delay: Duration,
    /// Periodic gratuitous ARPs while master; zero disables them.
    pub garp_refresh: Duration,
}

/// The state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Initialize,
    Backup,
    Master,
    /// A tracker with weight 0 failed: the instance neither claims nor
    /// contests mastership.
    Fault,
    /// Graceful stop in progress: priority 0 sent, addresses still held
    /// until a new master is heard or the bound expires.
    Stopping,
    Stopped,
}

impl State {
    /// Lower-case name, as notify hooks and logs use it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialize => "init",
            Self::Backup => "backup",
            Self::Master => "master",
            Self::Fault => "fault",
            Self::Stopping => "stopping",
            Self::Stopped => "stop",
        }
    }
}

/// What the caller must do for an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `payload` (a VRRP message) to `dst` with IP protocol 112.
    Transmit { dst: IpAddr, payload: Vec<u8> },
    /// Put the virtual addresses on the interfaces.
    AddAddresses,
    /// Take them off.
    RemoveAddresses,
    /// Announce the addresses: gratuitous ARP / unsolicited NA.
    SendGarp,
    StateChanged {
        from: State,
        to: State,
        priority: u8,
    },
    /// A dropped packet or an odd one worth a log line (rate-limited).
    Warn { reason: Drop, detail: String },
}

/// The tracked health of the node as the instance sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Effective priority 1..=255.
    Value(u8),
    /// A weight-0 tracker failed.
    Fault,
}

/// Events of the state machine, named as in RFC 5798 §6.4.
#[derive(Debug, Clone, Copy)]
enum Event<'a> {
    Startup,
    Shutdown,
    /// An advert that passed every receive check.
    Advert {
        adv: &'a Advert,
        src: IpAddr,
    },
    MasterDownTimer,
    AdverTimer,
    /// A reload changed the settings (not the identity: interface, VRID,
    /// version and family stay); `old` is what they were.
    Reconfigure {
        old: &'a InstanceConfig,
    },
    Fault,
    FaultCleared,
    /// The sync group decided its members become master / backup.
    GroupMaster,
    GroupBackup,
}

impl Event<'_> {
    /// Why a transition this event caused happened.
    fn describe(&self) -> &'static str {
        match self {
            Event::Startup => "started",
            Event::Shutdown => "stopped or resigned",
            Event::Advert { .. } => "an advert",
            Event::MasterDownTimer => "no advert from a master within the master-down interval",
            Event::AdverTimer => "advert timer",
            Event::Reconfigure { .. } => "reload",
            Event::Fault => "a tracker or the interface failed",
            Event::FaultCleared => "trackers and interface good again",
            Event::GroupMaster => "its sync group became master",
            Event::GroupBackup => "its sync group became backup",
        }
    }
}

/// One virtual router.
#[derive(Debug)]
pub struct Instance {
    cfg: InstanceConfig,
    state: State,
    /// Effective priority (the configured one moved by trackers).
    priority: u8,
    fault: bool,
    /// Master_Adver_Interval: v3 learns it from the master's adverts.
    master_interval_cs: u16,
    adver_at: Option<Instant>,
    /// While the Adver_Timer event is handled: when it was due.
    adver_due: Option<Instant>,
    master_down_at: Option<Instant>,
    /// Earliest moment preemption of a lower-priority master is allowed.
    preempt_at: Option<Instant>,
    garp_at: Option<Instant>,
    /// Last burst sent because a lower-priority master was heard.
    lower_prio_garp: Option<Instant>,
    /// Last advert sent at once to answer a lower-priority master.
    lower_prio_answer: Option<Instant>,
    stop_deadline: Option<Instant>,
    /// Member of a sync group: a Master_Down expiry only asks the group.
    grouped: bool,
    wants_master: bool,
    started_at: Option<Instant>,
    /// When the current master's last advert arrived (Backup only).
    last_master_rx: Option<Instant>,
    /// Mean number of the master's adverts missed per advert received,
    /// in millionths (an exponential moving average).
    missed_ppm: u64,
    loss_samples: u64,
    actions: VecDeque<Action>,
    stats: Stats,
    warnings: Warnings,
    scratch: Vec<u8>,
}

impl Instance {
    /// A new instance in Initialize; call [`start`](Self::start).
    pub fn new(cfg: InstanceConfig) -> Self {
        Instance {
            priority: cfg.priority,
            master_interval_cs: cfg.interval_cs,
            cfg,
            state: State::Initialize,
            fault: false,
            adver_at: None,
            adver_due: None,
            master_down_at: None,
            preempt_at: None,
            garp_at: None,
            lower_prio_garp: None,
            lower_prio_answer: None,
            stop_deadline: None,
            grouped: false,
            wants_master: false,
            started_at: None,
            last_master_rx: None,
            missed_ppm: 0,
            loss_samples: 0,
            actions: VecDeque::new(),
            stats: Stats::default(),
            warnings: Warnings::default(),
            scratch: Vec::with_capacity(64),
        }
    }

    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The effective priority advertised.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Master_Adver_Interval in centiseconds.
    pub fn master_interval_cs(&self) -> u16 {
        self.master_interval_cs
    }

    pub(crate) fn set_grouped(&mut self, grouped: bool) {
        self.grouped = grouped;
        if !grouped {
            self.wants_master = false;
        }
    }

    pub(crate) fn wants_master(&self) -> bool {
        self.wants_master || self.state == State::Master
    }

    /// Startup event.
    pub fn start(&mut self, now: Instant) {
        self.started_at = Some(now);
        self.handle(now, Event::Startup);
    }

    /// Startup in the state the previous program of this node left the
    /// instance in (`rampart upgrade`: a new binary takes over in place).
    /// A master sends its advert at once and keeps its addresses (already
    /// on the interface; no gratuitous ARP: nobody's cache changed); a
    /// backup waits a full Master_Down_Interval. Neither is a state change
    /// to report: to the peers and to notify hooks nothing happened. Any
    /// other state, or a tracker in Fault, starts as at Startup.
    pub fn resume(&mut self, now: Instant, state: State) {
        if self.state != State::Initialize || self.fault {
            return self.start(now);
        }
        self.started_at = Some(now);
        match state {
            State::Master => {
                self.wants_master = false;
                self.send_advert(now, self.priority);
                // Idempotent for the driver; the audit would add them too.
                self.actions.push_back(Action::AddAddresses);
                self.adver_at = Some(now + self.interval(self.cfg.interval_cs));
                self.garp_at =
                    (!self.cfg.garp_refresh.is_zero()).then(|| now + self.cfg.garp_refresh);
                self.state = State::Master;
            }
            State::Backup => {
                self.master_down_at = Some(now + self.master_down_interval());
                self.state = State::Backup;
            }
            // Resigned by the operator: stays out until resumed.
            State::Stopped => self.state = State::Stopped,
            _ => self.start(now),
        }
    }

    /// Startup again after a stop (`rampart vrrp resume` after `resign`):
    /// as at start, through Initialize. Nothing if not stopped.
    pub fn restart(&mut self, now: Instant) {
        if self.state == State::Stopped {
            self.stop_deadline = None;
            self.state = State::Initialize;
            self.start(now);
        }
    }

    /// Shutdown event: a master sends priority 0 and keeps its addresses
    /// until another master is heard or `bound` passes.
    pub fn stop(&mut self, now: Instant, bound: Duration) {
        self.stop_deadline = Some(now + bound);
        self.handle(now, Event::Shutdown);
    }

    /// New tracker verdict. A change of value only changes what we
    /// advertise (and so who wins the next election); Fault is a state.
    pub fn set_priority(&mut self, now: Instant, p: Priority) {
        match p {
            Priority::Fault if !self.fault => {
                self.fault = true;
                self.handle(now, Event::Fault);
            }
            Priority::Fault => {}
            Priority::Value(v) => {
                self.priority = v;
                if self.fault {
                    self.fault = false;
                    self.handle(now, Event::FaultCleared);
                }
            }
        }
    }

    /// A reload changed this instance's settings in place. Nothing moves
    /// at once: RFC 5798 has no event for it, and a state change here is
    /// the flap a reload must not cause. A new priority, advert interval,
    /// address list or authentication goes out with the next advert (the
    /// one already scheduled, so a backup that still expects the old
    /// interval is never left waiting), and an election follows from
    /// what that advert says, as for a tracker's change. The effective
    /// priority keeps the trackers' offset until the caller sets it with
    /// [`set_priority`](Self::set_priority).
    ///
    /// The caller never changes the identity (`interface`, `vrid`,
    /// `version`, the family of `src`): that is another virtual router.
    pub fn reconfigure(&mut self, now: Instant, cfg: InstanceConfig) {
        let offset = i16::from(self.priority) - i16::from(self.cfg.priority);
        let old = std::mem::replace(&mut self.cfg, cfg);
        if !self.fault {
            let p = (i16::from(self.cfg.priority) + offset).clamp(1, 254);
            self.priority = if self.cfg.priority == PRIORITY_OWNER {
                PRIORITY_OWNER
            } else {
                p as u8
            };
        }
        self.handle(now, Event::Reconfigure { old: &old });
    }

    pub(crate) fn group_master(&mut self, now: Instant) {
        self.handle(now, Event::GroupMaster);
    }

    pub(crate) fn group_backup(&mut self, now: Instant) {
        self.handle(now, Event::GroupBackup);
    }

    pub(crate) fn group_fault(&mut self, now: Instant) {
        self.handle(now, Event::Fault);
    }

    pub(crate) fn group_fault_cleared(&mut self, now: Instant) {
        if !self.fault {
            self.handle(now, Event::FaultCleared);
        }
    }

    /// Whether a tracker of this instance itself (not its group) failed.
    pub fn own_fault(&self) -> bool {
        self.fault
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.adver_at,
            self.master_down_at,
            self.garp_at,
            self.stop_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stop_deadline.is_some_and(|t| t <= now) {
            self.stop_deadline = None;
            if self.state == State::Stopping {
                self.finish_stop();
            }
        }
        if let Some(due) = self.adver_at.filter(|t| *t <= now) {
            self.adver_at = None;
            self.adver_due = Some(due);
            self.handle(now, Event::AdverTimer);
            self.adver_due = None;
        }
        if self.master_down_at.is_some_and(|t| t <= now) {
            self.master_down_at = None;
            self.handle(now, Event::MasterDownTimer);
        }
        if self.garp_at.is_some_and(|t| t <= now) {
            self.garp_at = None;
            if self.state == State::Master {
                self.actions.push_back(Action::SendGarp);
                if !self.cfg.garp_refresh.is_zero() {
                    self.garp_at = Some(now + self.cfg.garp_refresh);
                }
            }
        }
    }

    /// The next action to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// A received IP packet with protocol 112 addressed to this instance's
    /// interface: runs the receive checks, then the state machine.
    pub fn handle_packet(&mut self, now: Instant, src: IpAddr, dst: IpAddr, ttl: u8, buf: &[u8]) {
        match decode(buf, src, dst) {
            Ok((adv, form)) => self.handle_advert(now, src, dst, ttl, &adv, form),
            Err(e) => self.malformed(now, src, &e),
        }
    }

    /// A packet from `src` that did not decode: counted and logged here.
    pub(crate) fn malformed(&mut self, now: Instant, src: IpAddr, e: &crate::DecodeError) {
        self.drop_packet(now, Drop::Malformed, || format!("from {src}: {e}"));
    }

    /// An advert on our interface for a VRID no instance of this node runs
    /// (a neighbour's router, or a peer configured with another VRID).
    pub(crate) fn no_instance(&mut self, now: Instant, src: IpAddr, vrid: u8) {
        self.drop_packet(now, Drop::NoInstance, || {
            format!("from {src}: no instance for VRID {vrid}")
        });
    }

    /// Like [`handle_packet`](Self::handle_packet) for an advert the
    /// caller already decoded (to demultiplex on its VRID).
    pub fn handle_advert(
        &mut self,
        now: Instant,
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
        adv: &Advert,
        form: ChecksumForm,
    ) {
        if let Some((reason, detail)) = self.receive_check(src, dst, ttl, adv) {
            self.drop_packet(now, reason, || detail);
            return;
        }
        self.stats.adverts_rx += 1;
        self.stats.last_peer = Some((src, adv.priority));
        if adv.version == Version::V3 && src.is_ipv4() {
            self.stats.peer_checksum = Some(form);
        }
        if adv.priority == PRIORITY_STOP {
            self.stats.priority0_rx += 1;
        }
        if adv.addrs != self.cfg.vips {
            // RFC 5798 §7.1: MAY log; we accept, as keepalived does.
            self.stats.count(Drop::AddressMismatch);
            let detail = format!("from {src}: addresses {:?} differ from ours", adv.addrs);
            self.warn(now, Drop::AddressMismatch, detail);
        }
        self.handle(now, Event::Advert { adv, src });
    }

    /// The receive checks of RFC 5798 §7.1 that need our configuration.
    fn receive_check(
        &self,
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
        adv: &Advert,
    ) -> Option<(Drop, String)> {
        let unicast = !self.cfg.unicast_peers.is_empty();
        let min_ttl = if unicast {
            self.cfg.unicast_min_ttl
        } else {
            255
        };
        if src == self.cfg.src {
            return Some((Drop::OwnPacket, format!("own advert looped back to {dst}")));
        }
        if ttl < min_ttl {
            return Some((Drop::Ttl, format!("from {src}: TTL {ttl} < {min_ttl}")));
        }
        if adv.version != self.cfg.version {
            let detail = format!(
                "from {src}: version {:?}, ours {:?}",
                adv.version, self.cfg.version
            );
            return Some((Drop::Version, detail));
        }
        if adv.vrid != self.cfg.vrid {
            return Some((Drop::Vrid, format!("from {src}: VRID {}", adv.vrid)));
        }
        if unicast && !self.cfg.unicast_peers.contains(&src) {
            return Some((Drop::NotPeer, format!("from {src}: not a unicast peer")));
        }
        if adv.version == Version::V2 {
            if adv.auth != self.cfg.auth {
                // Never log the password itself.
                return Some((Drop::Auth, format!("from {src}: authentication mismatch")));
            }
            if adv.interval_cs != self.cfg.interval_cs {
                let detail = format!(
                    "from {src}: advert interval {} s, ours {} s",
                    adv.interval_cs / 100,
                    self.cfg.interval_cs / 100
                );
                return Some((Drop::Interval, detail));
            }
        }
        None
    }

    fn drop_packet(&mut self, now: Instant, reason: Drop, detail: impl FnOnce() -> String) {
        self.stats.count(reason);
        if self.warnings.allow(now, reason) {
            self.actions.push_back(Action::Warn {
                reason,
                detail: detail(),
            });
        }
    }

    fn warn(&mut self, now: Instant, reason: Drop, detail: String) {
        if self.warnings.allow(now, reason) {
            self.actions.push_back(Action::Warn { reason, detail });
        }
    }

    // === the state machine ===

    /// Runs the state machine and records a state change with its cause.
    fn handle(&mut self, now: Instant, event: Event<'_>) {
        let from = self.state;
        let cause = match &event {
            Event::Startup => None,
            Event::Advert { adv, src } => Some((*src, adv.priority)),
            _ => None,
        };
        let what = event.describe();
        self.transition(now, event);
        if self.state != from {
            self.stats.transitions += 1;
            let cause = match cause {
                Some((src, 0)) => format!("{src} resigned (priority 0)"),
                Some((src, p)) => format!("advert from {src} with priority {p}"),
                None => what.to_string(),
            };
            self.stats.last_transition = Some(crate::checks::Transition {
                from,
                to: self.state,
                at: now,
                cause,
            });
        }
    }

    /// Every transition is here: one match on (state, event).
    fn transition(&mut self, now: Instant, event: Event<'_>) {
        use Event as E;
        use State as S;
        match (self.state, event) {
            // --- Initialize (RFC 5798 §6.4.1) ---
            (S::Initialize, E::Startup) if self.fault => self.enter_fault(now),
            (S::Initialize, E::Startup) if self.cfg.priority == PRIORITY_OWNER => {
                self.become_master(now)
            }
            (S::Initialize, E::Startup) => {
                self.preempt_at = Some(now + self.cfg.preempt_delay);
                self.enter_backup(now);
                if self.cfg.start_as_master {
                    self.master_down_at = Some(now + self.start_as_master_wait());
                }
            }
            (S::Initialize, E::Shutdown) => self.set_state(S::Stopped),
            (S::Initialize, _) => {}

            // --- Backup (§6.4.2) ---
            (S::Backup, E::Shutdown) => {
                self.clear_timers();
                self.set_state(S::Stopped);
            }
            (S::Backup, E::MasterDownTimer) if self.grouped => {
                // The group decides; keep waiting (keepalived re-arms too).
                self.wants_master = true;
                self.master_down_at = Some(now + self.master_down_interval());
            }
            (S::Backup, E::MasterDownTimer | E::GroupMaster) => self.become_master(now),
            (S::Backup, E::Advert { adv, .. }) if adv.priority == PRIORITY_STOP => {
                // The master is leaving: take over after Skew_Time.
                self.master_down_at = Some(now + self.skew());
            }
            (S::Backup, E::Advert { adv, .. }) => {
                // Equal priority is accepted in Backup (§6.4.2); the
                // address tie-break applies only between two masters.
                let lower = adv.priority < self.priority;
                let preempt_now = lower && self.cfg.preempt && self.may_preempt(now);
                if !lower {
                    self.preempt_at = None;
                }
                if !preempt_now {
                    // Accept this master: (re)learn its interval, re-arm.
                    // The gap since its previous advert is measured in the
                    // interval in force then: a master whose interval was
                    // just shortened (a reload) has lost nothing.
                    self.wants_master = false;
                    self.observe_master_advert(now);
                    if adv.version == Version::V3 {
                        self.master_interval_cs = adv.interval_cs;
                    }
                    self.master_down_at = Some(now + self.master_down_interval());
                }
                // Otherwise discard: Master_Down_Timer will make us master.
            }
            (S::Backup, E::Reconfigure { .. }) => {
                // v3 learns Master_Adver_Interval from the master's adverts
                // (§6.4.2); with no master heard yet, ours is the guess.
                if self.last_master_rx.is_none() {
                    self.master_interval_cs = self.cfg.interval_cs;
                }
            }
            (S::Backup, E::Fault) => self.enter_fault(now),
            (S::Backup, E::AdverTimer | E::GroupBackup | E::FaultCleared | E::Startup) => {}

            // --- Master (§6.4.3) ---
            (S::Master, E::AdverTimer) => {
                self.send_advert(now, self.priority);
                self.adver_at = Some(self.next_advert(now));
            }
            (S::Master, E::Shutdown) => {
                self.send_advert(now, PRIORITY_STOP);
                self.adver_at = Some(now + self.interval(self.cfg.interval_cs));
                self.set_state(S::Stopping);
            }
            (S::Master, E::Advert { adv, .. }) if adv.priority == PRIORITY_STOP => {
                // Another master is leaving: assert ourselves at once.
                self.send_advert(now, self.priority);
                self.adver_at = Some(now + self.interval(self.cfg.interval_cs));
            }
            (S::Master, E::Advert { adv, src }) => {
                if (adv.priority, src) > (self.priority, self.cfg.src) {
                    if adv.version == Version::V3 {
                        self.master_interval_cs = adv.interval_cs;
                    }
                    // One last advert of ours before we step down
                    // (keepalived's `higher_prio_send_advert`): after a
                    // split brain the winner may never have heard us, and
                    // this tells it to take back the clients that followed
                    // our GARPs (it answers with a GARP burst, below).
                    self.send_advert(now, self.priority);
                    self.leave_master(now, false);
                } else {
                    // A lower-priority router thinks it is master (it lost
                    // our adverts): answer now rather than at the next
                    // interval, so the dual-master moment is one RTT
                    // (keepalived's `higher_prio_send_advert`), and take
                    // the clients back: they may have followed its GARPs.
                    // At most one answer per quarter interval: a flood of
                    // spoofed lower adverts must not be reflected 1:1.
                    let quarter = self.interval(self.cfg.interval_cs) / 4;
                    if self.lower_prio_answer.is_none_or(|t| now >= t + quarter) {
                        self.lower_prio_answer = Some(now);
                        self.send_advert(now, self.priority);
                        self.adver_at = Some(now + self.interval(self.cfg.interval_cs));
                    }
                    if self
                        .lower_prio_garp
                        .is_none_or(|t| now >= t + LOWER_PRIO_GARP_EVERY)
                    {
                        self.lower_prio_garp = Some(now);
                        self.actions.push_back(Action::SendGarp);
                    }
                }
            }
            (S::Master, E::Reconfigure { old }) => {
                // The advert already scheduled carries the new priority,
                // interval and addresses; the one after it follows the new
                // interval (`next_advert`).
                self.master_interval_cs = self.cfg.interval_cs;
                // A new refresh period starts now (a burst already due
                // stays; one due with refresh now off fires once more).
                if self.cfg.garp_refresh != old.garp_refresh && !self.cfg.garp_refresh.is_zero() {
                    let next = now + self.cfg.garp_refresh;
                    self.garp_at = Some(self.garp_at.map_or(next, |t| t.min(next)));
                }
            }
            (S::Master, E::GroupBackup) => self.leave_master(now, true),
            (S::Master, E::Fault) => {
                self.send_advert(now, PRIORITY_STOP);
                self.actions.push_back(Action::RemoveAddresses);
                self.enter_fault(now);
            }
            (S::Master, E::MasterDownTimer | E::GroupMaster | E::FaultCleared | E::Startup) => {}

            // --- Fault (keepalived) ---
            (S::Fault, E::FaultCleared) if self.cfg.priority == PRIORITY_OWNER => {
                self.become_master(now)
            }
            (S::Fault, E::FaultCleared) => {
                self.preempt_at = Some(now + self.cfg.preempt_delay);
                self.enter_backup(now);
                // Started in Fault (trackers not yet good) and never heard
                // anyone: `state master` still means "claim promptly".
                if self.cfg.start_as_master && self.stats.adverts_rx == 0 {
                    self.master_down_at = Some(now + self.start_as_master_wait());
                }
            }
            (S::Fault, E::Shutdown) => self.set_state(S::Stopped),
            (S::Fault, E::Reconfigure { .. }) => {
                self.master_interval_cs = self.cfg.interval_cs;
            }
            (S::Fault, _) => {}

            // --- Stopping: priority 0 sent, addresses still ours ---
            (S::Stopping, E::Advert { adv, .. }) if adv.priority != PRIORITY_STOP => {
                // A new master: keep answering for RELEASE_LINGER while
                // its gratuitous ARPs reach the clients, so no client
                // sends to an address nobody holds; adverts stop now.
                self.adver_at = None;
                let release = now + RELEASE_LINGER;
                if self.stop_deadline.is_none_or(|d| d > release) {
                    self.stop_deadline = Some(release);
                }
            }
            (S::Stopping, E::AdverTimer) => {
                // Repeat the priority 0 in case the first one was lost.
                self.send_advert(now, PRIORITY_STOP);
                self.adver_at = Some(now + self.interval(self.cfg.interval_cs));
            }
            (S::Stopping, E::Fault) => self.finish_stop(),
            (S::Stopping, _) => {}
            (S::Stopped, _) => {}
        }
    }

    // === transitions' building blocks ===

    fn become_master(&mut self, now: Instant) {
        self.wants_master = false;
        self.master_down_at = None;
        self.send_advert(now, self.priority);
        self.actions.push_back(Action::AddAddresses);
        self.actions.push_back(Action::SendGarp);
        self.adver_at = Some(now + self.interval(self.cfg.interval_cs));
        self.garp_at = [self.cfg.garp_delay, self.cfg.garp_refresh]
            .into_iter()
            .filter(|d| !d.is_zero())
            .min()
            .map(|d| now + d);
        self.stats.became_master += 1;
        self.set_state(State::Master);
    }

    /// Master → Backup. `announce`: tell the peers with priority 0, used
    /// when the sync group (not a better master) moves us, so the peer's
    /// matching instance takes over in Skew_Time instead of three intervals.
    fn leave_master(&mut self, now: Instant, announce: bool) {
        if announce {
            self.send_advert(now, PRIORITY_STOP);
        }
        self.actions.push_back(Action::RemoveAddresses);
        self.enter_backup(now);
    }

    fn enter_backup(&mut self, now: Instant) {
        self.clear_timers();
        self.master_down_at = Some(now + self.master_down_interval());
        self.set_state(State::Backup);
    }

    fn enter_fault(&mut self, _now: Instant) {
        self.clear_timers();
        self.set_state(State::Fault);
    }

    fn finish_stop(&mut self) {
        self.clear_timers();
        self.actions.push_back(Action::RemoveAddresses);
        self.set_state(State::Stopped);
    }

    fn clear_timers(&mut self) {
        self.last_master_rx = None;
        self.adver_at = None;
        self.master_down_at = None;
        self.garp_at = None;
        self.wants_master = false;
    }

    fn set_state(&mut self, to: State) {
        let from = std::mem::replace(&mut self.state, to);
        if from != to {
            self.actions.push_back(Action::StateChanged {
                from,
                to,
                priority: self.priority,
            });
        }
    }

    /// keepalived's preempt_delay: preempting a lower-priority master
    /// waits until the delay has passed since startup and since we first
    /// saw that master (the clock restarts whenever a better master was
    /// accepted in between).
    fn may_preempt(&mut self, now: Instant) -> bool {
        let at = *self.preempt_at.get_or_insert(now + self.cfg.preempt_delay);
        now >= at
    }

    fn send_advert(&mut self, now: Instant, priority: u8) {
        let adv = Advert {
            version: self.cfg.version,
            vrid: self.cfg.vrid,
            priority,
            interval_cs: self.cfg.interval_cs,
            auth: self.cfg.auth,
            addrs: self.cfg.vips.clone(),
        };
        let dsts: Vec<IpAddr> = if self.cfg.unicast_peers.is_empty() {
            vec![if self.cfg.src.is_ipv4() {
                MULTICAST_V4
            } else {
                MULTICAST_V6
            }]
        } else {
            self.cfg.unicast_peers.clone()
        };
        for dst in dsts {
            self.scratch.clear();
            match encode(
                &adv,
                self.cfg.src,
                dst,
                self.cfg.checksum,
                &mut self.scratch,
            ) {
                Ok(()) => {
                    self.stats.adverts_tx += 1;
                    if priority == PRIORITY_STOP {
                        self.stats.priority0_tx += 1;
                    }
                    self.actions.push_back(Action::Transmit {
                        dst,
                        payload: self.scratch.clone(),
                    });
                }
                // The config is validated, so this is a broken invariant;
                // report it rather than panic in the control plane.
                Err(e) => self.warn(now, Drop::Malformed, format!("cannot encode advert: {e}")),
            }
        }
    }
}
