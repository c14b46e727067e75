//! One integration test binary: the real `tget` binary against the built-in
//! loopback server (the `testserver` crate), in temporary directories.

mod support;

mod bench;
mod cli;
mod download;
mod errors;
mod faults;
mod scale;
mod split;
