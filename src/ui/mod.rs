//! What the user sees: `progress` shows the run on stderr (and is the only
//! writer to stderr, and to a stdout on the same terminal, while bars are
//! up), drawing lines laid out by `layout` through `terminal`'s escape
//! sequences, or printing `plain` lines; `report` prints each result on
//! stdout, `summary` words the end of the run, and `failed` lists what did
//! not end ok (`--save-failed`).

pub mod failed;
pub mod layout;
pub mod plain;
pub mod progress;
pub mod report;
pub mod summary;
pub mod terminal;
pub mod ticker;
