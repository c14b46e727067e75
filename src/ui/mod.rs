//! What the user sees: `progress` draws the bars on stderr (and is the only
//! writer to stderr while they are up), `report` prints each result on stdout
//! and the summary at the end, and `failed` lists what did not end ok
//! (`--save-failed`).

pub mod failed;
pub mod progress;
pub mod report;
