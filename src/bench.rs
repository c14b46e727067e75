//! `tget bench`: the same batch at several thread counts.

use anyhow::Result;

use crate::Exit;
use crate::cancel::Cancel;
use crate::config::BenchConfig;

pub fn run(_config: &BenchConfig, _cancel: &Cancel) -> Result<Exit> {
    anyhow::bail!("bench is not built yet")
}
