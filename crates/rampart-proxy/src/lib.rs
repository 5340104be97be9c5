//! rampart's L4 data plane: listeners, balancing, forwarding, PROXY protocol,
//! ACLs, connection limits and the health checks that feed server state.

#![forbid(unsafe_code)]

pub mod balance;
mod buffers;
pub mod forward;
pub mod health;
pub mod proxy;
pub mod proxy_protocol;
mod session;
pub mod sessions;
pub mod state;
pub mod stats;

pub use forward::Mode;
pub use proxy::{Proxy, ThreadListeners, spawn_threads};
pub use sessions::{SessionInfo, Sessions};
pub use state::{Admin, BackendRt, Events, NoEvents};
pub use stats::{ProxyStats, Traffic};
