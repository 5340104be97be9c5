//! The one crate that talks to the kernel with `unsafe` or raw file
//! descriptors: splice(2), pipes, socket options, fd inheritance.
