//! One integration test binary: the real `tget` binary against the loopback
//! server (the `testserver` crate, with its fault keys), in temporary
//! directories. Files by behaviour:

mod support; // the one way to run tget, the server, shared checks

mod batch_control; // per-host limit, rate limit, directory trees, -N, server times, dry run
mod bench; // `tget bench`: tables, exports, plot, scratch files
mod cli; // help, exit codes, usage errors
mod compare; // `--compare`
mod continue_shared; // a shared file survives Ctrl-C and SIGKILL; -c fetches only the rest
mod credentials; // user info, -u, netrc; no password printed
mod cut_bodies; // bodies that end early: cut, reset, unterminated
mod disk_full; // a full disk stops the batch, keeps the part, says why
mod download; // batches arrive byte-exact; inputs; skip and overwrite; request headers
mod errors; // failures are reported and never stop the others; timeouts
mod layout; // the module map: no import circles, docs/design.md matches src/
mod names_and_paths; // file names, Content-Disposition, symlinks
mod output; // stdout, --json, the summary, -q, progress, a closed stdout
mod proxy; // absolute-form, CONNECT, SOCKS5, the environment, no_proxy, a proxy down
mod redirects; // following, limits, schemes, relative Locations, credentials
mod resume; // validators, If-Range, -c and sidecars
mod retries; // what is retried and what is not
mod save_failed; // --save-failed: what did not end ok, as a list to retry
mod scale; // threads beat one, connection reuse, shards
mod signals; // Ctrl-C, SIGTERM, a second Ctrl-C
mod split; // one big file shared by idle workers through ranges
mod terminal; // on a pseudo-terminal: one screen, widths, resizes, the cursor, plain lines
mod tls; // trust stores, --insecure, certificate errors
