//! Panics caught on purpose. A third-party decoder or reader may panic on
//! hostile input; pixmill catches that and reports it as the item's (or
//! the list's) error, in its own words. Rust's default hook would also
//! print `thread '…' panicked at …` on stderr for a panic that was handled:
//! a message that is not true of the run. Inside [`catch`], it stays quiet;
//! any other panic (a bug) is printed as before.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `work`, catching a panic instead of unwinding further.
pub fn catch<R>(work: impl FnOnce() -> R) -> std::thread::Result<R> {
    let outer = CATCHING.replace(true);
    let result = panic::catch_unwind(AssertUnwindSafe(work));
    CATCHING.set(outer);
    result
}

/// Replaces the panic hook with one that is silent inside [`catch`] and
/// the default one everywhere else. Once per process, before any work.
pub fn install_hook() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !CATCHING.get() {
            default(info);
        }
    }));
}

/// A caught panic's message.
pub fn message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_returns_the_value_or_the_panic_message() {
        assert_eq!(catch(|| 7).ok(), Some(7));
        let caught = catch(|| -> u8 { panic!("bad row group") }).unwrap_err();
        assert_eq!(message(&*caught), "bad row group");
        // The flag is restored: a later panic outside `catch` is not hidden.
        assert!(!CATCHING.get());
    }
}
