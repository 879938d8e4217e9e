//! `kill`: signal the proxy (and a start hook still running), never a
//! process that merely reuses the proxy's PID.

use super::{load, open_root, Globals};
use crate::error::{Error, Result};
use crate::proc;
use crate::state::{self, Lock};

pub fn kill(g: &Globals, id: &str, sig: libc::c_int) -> Result<()> {
    let root = open_root(g, id)?;
    // No lock: the record is replaced atomically, and a start hook holding
    // the lock for its whole run must not make `kill` wait.
    let (_container, rec) = load(&root, id, Lock::None)?;
    if rec.live_status() == state::STOPPED {
        return Err(Error::new(format!(
            "container \"{id}\": container not running"
        )));
    }
    let mut delivered = false;
    if rec.hook_alive() {
        delivered |= proc::signal_group(rec.hook_pid, rec.hook_start, sig);
    }
    delivered |= rec.signal_proxy(sig, None)?;
    if !delivered {
        return Err(Error::new(format!(
            "container \"{id}\": container not running"
        )));
    }
    crate::log::info(&format!(
        "container \"{id}\": sent {}",
        crate::signals::name(sig)
    ));
    Ok(())
}
