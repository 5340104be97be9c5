//! Named defaults. Each says why it has the value it has; where HAProxy's
//! default is sane we use it so that a migrated configuration behaves the same.

use std::time::Duration;

/// How long a stopping or replaced worker drains: long enough for typical
/// HTTP requests to finish, short enough that a reload is not held hostage
/// by a stuck client (HAProxy has no bound unless `hard-stop-after`).
pub const GRACE: Duration = Duration::from_secs(30);

/// Info shows transitions and one line per connection (like `option tcplog`).
pub const LOG_LEVEL: &str = "info";

/// HAProxy's example configuration uses `timeout connect 5s`: well above
/// one SYN retransmission (1 s) so a single lost SYN does not fail a connect.
pub const TIMEOUT_CONNECT: Duration = Duration::from_secs(5);

/// HAProxy's example `timeout client 50s` / `timeout server 50s`.
pub const TIMEOUT_CLIENT: Duration = Duration::from_secs(50);
pub const TIMEOUT_SERVER: Duration = Duration::from_secs(50);

/// HAProxy uses `timeout connect` when `timeout queue` is unset; a queued
/// client should not wait longer than it would for a slow connect.
pub const TIMEOUT_QUEUE: Duration = TIMEOUT_CONNECT;

/// HAProxy `inter 2s`: detects a dead server within fall × interval = 6 s.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(2);

/// HAProxy bounds a check by `inter` when `timeout check` is unset; half the
/// interval keeps a slow check from overlapping the next one.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// HAProxy `fall 3`: one lost packet does not take a server down.
pub const HEALTH_FALL: u32 = 3;

/// HAProxy `rise 2`: a flapping server must answer twice before it is used.
pub const HEALTH_RISE: u32 = 2;

/// HAProxy's default frontend `maxconn` when the global one is unset is
/// large; 20 000 matches the seed-sized deployment and bounds memory.
pub const FRONTEND_MAXCONN: u32 = 20_000;

/// HAProxy `retries 3`.
pub const RETRIES: u32 = 3;

/// HAProxy's default server weight.
pub const WEIGHT: u32 = 1;

/// HAProxy's maximum server weight.
pub const WEIGHT_MAX: u32 = 256;
