use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use tget::exit::Exit;

fn main() -> ExitCode {
    let cli = tget::cli::Cli::parse();
    let exit = match tget::run(cli) {
        Ok(exit) => exit,
        Err(fatal) if is_broken_pipe(&fatal.error) => Exit::Success,
        Err(fatal) => {
            let _ = writeln!(io::stderr(), "tget: error: {:#}", fatal.error);
            fatal.exit
        }
    };
    if exit == Exit::Interrupted {
        let _ = io::stdout().flush();
        tget::stop::die_by_signal();
    }
    exit.into()
}

/// A reader that went away (`tget ... | head -1`) is not an error worth a word.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
