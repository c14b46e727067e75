//! How a run ends, as the shell sees it: every exit code tget uses, defined
//! once, with the text `--help` shows for them.

use std::process::ExitCode;

/// The end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every job succeeded or was skipped.
    Success,
    /// At least one job failed; the others still ran.
    SomeFailed,
    /// A bad flag, an unreadable list, a bad header: nothing was downloaded.
    Usage,
    /// The run could not start or go on for a reason that is not the
    /// input's: an export file or a `--save-failed` list that cannot be
    /// written, a built-in server that does not start.
    CannotProceed,
    /// Ctrl-C (or SIGTERM, SIGHUP) stopped the run; the process then dies by
    /// that signal, so a calling shell loop stops too.
    Interrupted,
}

/// `--help`'s account of the codes, in the order of precedence a batch with
/// mixed results follows: interrupted over failed over ok.
pub const HELP: &str = "\
Exit codes:
  0    every job succeeded or was skipped (file already present)
  1    at least one job failed, a bad URL or list line included (the
       others were still downloaded)
  2    usage or input error, before any request (bad flag, unreadable list
       file, bad header, an output directory, --save-failed file or bench
       export directory that cannot be used)
  3    the run could not proceed (an export file could not be written, the
       --save-failed list could not be written in full, the built-in
       server did not start)
  130  interrupted: tget cleans up, then dies by the signal it got, so a
       shell shows 130 for Ctrl-C (SIGINT) and 143 for SIGTERM";

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::SomeFailed => 1,
            Exit::Usage => 2,
            Exit::CannotProceed => 3,
            // What a shell reports for death by SIGINT; used only if
            // re-raising the signal did not end the process.
            Exit::Interrupted => 130,
        }
    }

    /// The worse of two ends: a batch that was interrupted and had failures
    /// exits as interrupted.
    pub fn worst(self, other: Exit) -> Exit {
        let rank = |exit: Exit| match exit {
            Exit::Success => 0,
            Exit::SomeFailed => 1,
            Exit::CannotProceed => 2,
            Exit::Usage => 3,
            Exit::Interrupted => 4,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// A run that could not start or go on: what to print, and how to exit.
#[derive(Debug)]
pub struct Fatal {
    pub exit: Exit,
    pub error: anyhow::Error,
}

/// Tags an error with the exit code it stands for.
pub trait OrExit<T> {
    fn or_exit(self, exit: Exit) -> Result<T, Fatal>;
}

impl<T, E: Into<anyhow::Error>> OrExit<T> for Result<T, E> {
    fn or_exit(self, exit: Exit) -> Result<T, Fatal> {
        self.map_err(|error| Fatal {
            exit,
            error: error.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_beats_failed_beats_ok() {
        use Exit::*;
        assert_eq!(Success.worst(SomeFailed), SomeFailed);
        assert_eq!(SomeFailed.worst(Success), SomeFailed);
        assert_eq!(SomeFailed.worst(Interrupted), Interrupted);
        assert_eq!(Interrupted.worst(SomeFailed), Interrupted);
        assert_eq!(Success.worst(Success), Success);
    }

    #[test]
    fn every_code_is_in_the_help() {
        use Exit::*;
        for exit in [Success, SomeFailed, Usage, CannotProceed, Interrupted] {
            let code = format!("\n  {:<4} ", exit.code());
            assert!(
                HELP.contains(&code),
                "{exit:?} ({code:?}) is not in the help"
            );
        }
    }
}
