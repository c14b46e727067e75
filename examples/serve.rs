//! Runs the loopback test server (the `testserver` crate, with its fault keys)
//! until Ctrl-C, for trying tget by hand: `cargo run --example serve` then
//! `tget 'http://127.0.0.1:PORT/a.bin?size=1048576&latency=50'`.

fn main() -> std::io::Result<()> {
    let server = testserver::Server::start()?;
    println!("{}", server.url("/"));
    loop {
        std::thread::park();
    }
}
