//! What the user sees: `progress` draws the bars on stderr (and is the only
//! writer to stderr while they are up), `report` prints each result on stdout
//! and the summary at the end.

pub mod progress;
pub mod report;
