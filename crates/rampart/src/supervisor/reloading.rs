//! Reloads: a new config is read, checked and started in a new worker;
//! once that worker is ready it serves (and BGP and the gateway follow),
//! and if it never is, everything is put back. Requests during a reload
//! queue one more.

use super::*;

impl Supervisor {
    /// The reloaded worker serves: the previous one drains, what only the
    /// old config needed goes, and BGP and the gateway follow the new one
    /// (not before: until now the old config was the one serving).
    pub(super) async fn commit(&mut self, p: Pending) {
        if let Some(old) = self.worker.replace(p.worker) {
            retire(old, &self.draining);
        }
        // Old-only sockets are dropped here; a draining worker holds its
        // own copies.
        drop(p.previous);
        if let Some(change) = p.vrrp {
            match &self.vrrp {
                Some(v) => v.reconfigure(change),
                None => tracing::error!("the VRRP driver is gone: [vrrp] changes not applied"),
            }
        }
        self.reload_bgp().await;
        let mut summary = p.summary;
        summary.not_applied.extend(self.reload_gateway().await);
        summary.not_applied.extend(self.reload_nat().await);
        self.reload_admin_http();
        self.admins.set_file(self.cfg.global.state_file.as_deref());
        self.systemd.ready();
        conclude(p.waiters, ReloadOutcome::Reloaded(summary));
    }

    /// `[admin]` added, changed or removed: the listener follows. If the
    /// new one cannot listen, the previous one is started again.
    fn reload_admin_http(&mut self) {
        let old = self.admin_http.as_ref().map(|s| s.cfg.clone());
        // `peer` and `follow` are read per command (crate::peer): a change
        // of only those leaves the listener be.
        let serves = |a: &rampart_config::AdminHttp| (a.listen, a.token.clone());
        if old.as_ref().map(serves) == self.cfg.admin.as_ref().map(serves) {
            if let (Some(s), Some(new)) = (&mut self.admin_http, &self.cfg.admin) {
                s.cfg = new.clone();
            }
            return;
        }
        let Some(requests) = self.requests.clone() else {
            return;
        };
        // Closed first: the new one may listen on the same port.
        drop(self.admin_http.take());
        let Some(new) = self.cfg.admin.clone() else {
            tracing::info!("[admin] listener stopped");
            return;
        };
        match crate::web::start(&new, requests.clone()) {
            Ok(s) => self.admin_http = Some(s),
            Err(e) => {
                tracing::error!("{e:#}; keeping the previous [admin] listener");
                self.admin_http = old.and_then(|o| crate::web::start(&o, requests).ok());
            }
        }
    }

    /// The reloaded worker never got ready: the previous config is put
    /// back whole (what a later worker restart runs, what the next reload
    /// is compared with), so "unchanged" is true.
    pub(super) fn roll_back(&mut self, p: Pending, why: String) {
        let prev = p.previous;
        self.cfg = prev.cfg;
        self.text = prev.text;
        self.threads = prev.threads;
        self.sockets = prev.sockets;
        self.health.sync(&self.cfg);
        self.publish_proxy_health();
        self.systemd.ready();
        conclude(p.waiters, ReloadOutcome::failed(why));
    }

    /// SIGHUP (`waiter` None) or `rampart reload`: a reload now, or one
    /// more after the one under way (many requests meanwhile make one).
    pub(super) async fn request_reload(&mut self, waiter: Option<Waiter>) {
        if self.pending.is_some() {
            tracing::info!(
                "reload requested during a reload: the file is read again once it is done"
            );
            self.queued.get_or_insert_with(Vec::new).extend(waiter);
            return;
        }
        self.begin_reload(waiter.into_iter().collect()).await;
    }

    /// Starts a reload for `waiters`: they are answered now if it fails,
    /// else when its worker is ready (or fails to be).
    pub(super) async fn begin_reload(&mut self, waiters: Vec<Waiter>) {
        self.systemd.reloading();
        match self.reload().await {
            Ok(()) => match self.pending.as_mut() {
                Some(p) => p.waiters = waiters,
                None => {
                    self.systemd.ready();
                    conclude(waiters, ReloadOutcome::failed("no new worker"));
                }
            },
            Err(errors) => {
                self.systemd.ready();
                conclude(waiters, ReloadOutcome::Failed { errors });
            }
        }
    }

    /// Applies the file if it is valid and starts its worker (then
    /// `pending`); keeps everything otherwise and returns every error.
    async fn reload(&mut self) -> Result<(), Vec<String>> {
        tracing::info!(file = %self.path.display(), "reload requested");
        // Size limit and UTF-8 as at start: `rampart_config::read_file`.
        let origin = self.path.display().to_string();
        let (cfg, text) = rampart_config::read_file(&self.path)
            .and_then(|text| Ok((rampart_config::parse(&origin, &text)?, text)))
            .map_err(|errors| vec![errors.render()])?;
        // IP_FREEBIND binds any address: a typo would move the service
        // away in silence.
        let scope = crate::hostcheck::Scope::Reload { running: &self.cfg };
        crate::hostcheck::check(&origin, &text, &cfg, scope)
            .map_err(|errors| vec![errors.render()])?;
        // Refused as a whole, before anything changes, if [vrrp] cannot
        // follow in place; applied at commit, like BGP and the gateway.
        let vrrp = self.vrrp_reload(&cfg).map_err(|e| vec![e])?;
        let vrrp_counts = vrrp.as_ref().map(|r| r.change.counts());
        let old_cfg = std::mem::replace(&mut self.cfg, cfg);
        let old_threads = std::mem::replace(&mut self.threads, thread_count(&self.cfg));
        let sockets = match self.open_sockets() {
            Ok(s) => s,
            Err(e) => {
                self.cfg = old_cfg;
                self.threads = old_threads;
                return Err(vec![format!("{e:#}")]);
            }
        };
        // Keep the old sockets too until the new worker is ready: the
        // old worker may need a restart meanwhile.
        let old_sockets = std::mem::replace(&mut self.sockets, sockets);
        let old_text = std::mem::replace(&mut self.text, text);
        self.health.sync(&self.cfg);
        match self.spawn_worker(false).await {
            Ok(worker) => {
                self.pending = Some(Pending {
                    worker,
                    deadline: Instant::now() + READY_TIMEOUT,
                    summary: ReloadSummary::new(&old_cfg, &self.cfg).with_vrrp(vrrp_counts),
                    vrrp,
                    waiters: Vec::new(),
                    previous: Previous {
                        cfg: old_cfg,
                        text: old_text,
                        threads: old_threads,
                        sockets: old_sockets,
                    },
                });
                Ok(())
            }
            Err(e) => {
                self.cfg = old_cfg;
                self.threads = old_threads;
                self.sockets = old_sockets;
                self.text = old_text;
                self.health.sync(&self.cfg);
                Err(vec![format!("cannot start the new worker: {e:#}")])
            }
        }
    }

    /// Brings BGP in line with the config just applied: reconfigured in
    /// place, started if the reload added the first neighbor, stopped
    /// gracefully (in the background) if it removed the last.
    async fn reload_bgp(&mut self) {
        // A driver still stopping from an earlier reload finishes first: its
        // sessions and port-179 listeners must be gone before new ones.
        if self.bgp.is_none()
            && self.cfg.bgp.is_enabled()
            && let Some(stopping) = self.bgp_stopping.take()
        {
            let _ = stopping.await;
        }
        match (self.bgp.take(), self.cfg.bgp.is_enabled()) {
            (Some(b), true) => {
                b.reconfigure(&self.cfg);
                self.bgp = Some(b);
            }
            (Some(b), false) => {
                tracing::info!("BGP removed from the configuration: stopping it");
                self.bgp_stopping = Some(tokio::spawn(b.stop()));
            }
            (None, true) => {
                let masters = match &self.vrrp {
                    Some(v) => v.masters(),
                    None => tokio::sync::watch::channel(Default::default()).1,
                };
                match crate::bgp::start(
                    &self.cfg,
                    self.proxy.subscribe(),
                    masters,
                    Vec::new(),
                    self.admins.disabled_neighbors(),
                    self.node_drain.is_some(),
                ) {
                    Ok(b) => self.bgp = b,
                    Err(e) => tracing::error!("BGP could not start after the reload: {e:#}"),
                }
            }
            (None, false) => {}
        }
    }

    /// Brings forwarding and NAT in line with the config just applied. If
    /// nft refuses the new rules, the previous ones stay (one transaction):
    /// what was refused, for the reload's answer.
    async fn reload_gateway(&mut self) -> Option<String> {
        if !self.cfg.gateway.is_enabled() {
            if let Some(g) = self.gateway.take() {
                tracing::info!(
                    "[gateway] removed from the configuration: NAT off, forwarding as found"
                );
                g.stop().await;
            }
            return None;
        }
        let result = match self.gateway.as_mut() {
            Some(g) => g.apply(&self.cfg.gateway).await,
            None => crate::gateway::start(&self.cfg.gateway, &self.runtime_dir, false)
                .await
                .map(|g| self.gateway = g),
        };
        let e = result.err()?;
        tracing::error!("[gateway] after the reload: {e:#}");
        Some(format!("[gateway]: {e:#}"))
    }
}

/// Logs a reload's outcome (as SIGHUP always did) and answers the clients
/// that asked for it.
pub(super) fn conclude(waiters: Vec<Waiter>, outcome: ReloadOutcome) {
    match &outcome {
        ReloadOutcome::Reloaded(summary) if !summary.not_applied.is_empty() => {
            tracing::error!("{summary}");
        }
        ReloadOutcome::Reloaded(summary) => tracing::info!("{summary}"),
        ReloadOutcome::Failed { errors } => {
            for line in errors.iter().flat_map(|e| e.lines()) {
                tracing::error!("{line}");
            }
            tracing::error!("reload failed, keeping the running config");
        }
    }
    for w in waiters {
        let _ = w.send(outcome.clone());
    }
}

impl Supervisor {
    /// The `[vrrp]` part of a reload to `new`: `None` when it changes
    /// nothing (the driver is not touched), the change set with the new
    /// plan otherwise, or why it cannot be applied in place.
    fn vrrp_reload(&self, new: &Config) -> Result<Option<vrrp::Reconfigure>, String> {
        let change =
            vrrp::diff::diff(&self.cfg, new).map_err(|e| format!("reload refused: {e}"))?;
        if change.is_empty() {
            return Ok(None);
        }
        if self.vrrp.is_none() {
            // The driver needs root, raw sockets and a thread of its own:
            // a node that started without instances has none to give them.
            return Err("reload refused: this node started without VRRP instances; \
                        adding the first one needs a restart"
                .into());
        }
        let plan = vrrp::build::Plan::new(new)
            .and_then(|plan| plan.check_interfaces().map(|()| plan))
            .map_err(|e| format!("reload refused: {e:#}"))?;
        Ok(Some(vrrp::Reconfigure { plan, change }))
    }
}
