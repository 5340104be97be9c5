//! The timers of RFC 5798 §6.1 (Skew_Time, Master_Down_Interval, the
//! advert cadence) and the loss estimate that widens a backup's
//! Master_Down_Interval on a lossy link.

use std::time::{Duration, Instant};

use super::{FLAP_BUDGET, Instance, LOSS_EWMA_WEIGHT, LOSS_MIN_SAMPLES, MAX_LOSS_ALLOWANCE};
use crate::packet::Version;

impl Instance {
    pub(super) fn interval(&self, cs: u16) -> Duration {
        Duration::from_millis(u64::from(cs) * 10)
    }

    /// Skew_Time: v2 `(256 - Priority) / 256` seconds; v3
    /// `((256 - Priority) * Master_Adver_Interval) / 256`.
    pub fn skew(&self) -> Duration {
        let weight = 256 - u64::from(self.priority);
        match self.cfg.version {
            Version::V2 => Duration::from_micros(weight * 1_000_000 / 256),
            Version::V3 => {
                Duration::from_micros(weight * u64::from(self.master_interval_cs) * 10_000 / 256)
            }
        }
    }

    /// When the advert after the one due now goes out: on the cadence
    /// (due + interval), so a timer that fired late does not push every
    /// later advert back too — a backup would read the drift as loss —
    /// unless that moment is already past.
    pub(super) fn next_advert(&self, now: Instant) -> Instant {
        let interval = self.interval(self.cfg.interval_cs);
        match self.adver_due {
            Some(due) if due + interval > now => due + interval,
            _ => now + interval,
        }
    }

    /// `state = "master"`: one advert interval to hear a better master
    /// (plus Skew_Time, so two such routers still stagger), then take
    /// over, instead of the full Master_Down_Interval.
    pub(super) fn start_as_master_wait(&self) -> Duration {
        self.interval(self.master_interval_cs) + self.skew()
    }

    /// Master_Down_Interval: `3 * Master_Adver_Interval + Skew_Time`,
    /// plus [`loss_allowance`](Self::loss_allowance) intervals when the
    /// master's adverts have been seen to go missing.
    pub fn master_down_interval(&self) -> Duration {
        let interval = self.interval(self.effective_interval_cs());
        interval * (3 + self.loss_allowance()) + self.skew()
    }

    pub(super) fn effective_interval_cs(&self) -> u16 {
        match self.cfg.version {
            Version::V2 => self.cfg.interval_cs,
            Version::V3 => self.master_interval_cs,
        }
    }

    /// The master's advert loss rate as seen from here, in millionths.
    pub fn observed_loss_ppm(&self) -> u64 {
        // m missed per received advert means a loss rate of m / (1 + m).
        self.missed_ppm * 1_000_000 / (1_000_000 + self.missed_ppm)
    }

    /// Extra advert intervals a backup waits before declaring the master
    /// down, given the loss it has observed (0 on a clean link, so the
    /// RFC timer and its failover time are unchanged there).
    ///
    /// With independent loss `p`, the RFC's three intervals take a live
    /// master for dead once per `1 / p^3` adverts: at 5 % loss and 100 ms
    /// adverts that is several spurious failovers an hour, each moving
    /// the addresses twice. We wait for as many missed adverts `n` as
    /// make `p^n` times the adverts per hour below [`FLAP_BUDGET`], so a
    /// lossy link costs some failover time instead of flapping (at 5 %
    /// loss: 3 more intervals; at one lost advert in 256: none). Only the
    /// receiver's timer changes, so peers see standard VRRP.
    pub fn loss_allowance(&self) -> u32 {
        let p = self.observed_loss_ppm() as f64 / 1e6;
        if p <= 0.0 || self.loss_samples < LOSS_MIN_SAMPLES {
            return 0;
        }
        let interval = self.interval(self.effective_interval_cs()).as_secs_f64();
        let adverts_per_hour = 3600.0 / interval.max(0.01);
        let needed = (FLAP_BUDGET / adverts_per_hour).ln() / p.min(0.5).ln();
        let needed = needed.ceil() as i64 - 3;
        needed.clamp(0, i64::from(MAX_LOSS_ALLOWANCE)) as u32
    }

    /// Updates the loss estimate from the gap since the master's previous
    /// advert.
    pub(super) fn observe_master_advert(&mut self, now: Instant) {
        if let Some(last) = self.last_master_rx {
            let interval = self
                .interval(self.effective_interval_cs())
                .as_micros()
                .max(1);
            let gap = now.saturating_duration_since(last).as_micros();
            // Adverts that should have arrived in between. A gap counts
            // as one lost advert from 1.75 intervals on, so scheduling
            // jitter of up to 75 % of an interval is not taken for loss.
            let missed = ((gap + interval / 4) / interval).saturating_sub(1).min(10) as u64;
            let sample = missed * 1_000_000;
            // A plain mean over the first adverts, so the estimate is
            // useful at once, then a moving average.
            self.loss_samples = (self.loss_samples + 1).min(LOSS_EWMA_WEIGHT);
            let w = self.loss_samples;
            self.missed_ppm = self.missed_ppm - self.missed_ppm / w + sample / w;
        }
        self.last_master_rx = Some(now);
    }
}
