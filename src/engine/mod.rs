//! Running jobs: one job from request to published file, and the pool of
//! worker threads that runs a batch of them.
//!
//! `job` holds the data (jobs, outcomes, reports, errors); `transport` is a
//! worker's side of the network, with `redirect` (each hop checked),
//! `auth` (which credentials a request carries), `proxy` (which way each
//! connection goes) and `tls` (trust and certificate errors); `fetch` streams one body into a part, which
//! `part` owns and `publish` names; `split` shares one big file among
//! workers; `pool` runs the workers; `activity` is the board the display
//! reads. Nothing in here prints.

pub mod activity;
pub mod auth;
pub mod fetch;
pub mod hosts;
pub mod job;
pub mod outdir;
pub mod part;
pub mod pool;
pub mod proxy;
pub mod publish;
pub mod ranges;
pub mod redirect;
pub mod resume;
pub mod split;
pub mod throttle;
pub mod tls;
pub mod transport;
