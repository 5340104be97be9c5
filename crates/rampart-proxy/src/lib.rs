//! rampart's L4 data plane: listeners, balancing, forwarding, PROXY protocol,
//! ACLs, connection limits and the health checks that feed server state.

#![forbid(unsafe_code)]

pub mod balance;
pub mod health;
pub mod proxy_protocol;
