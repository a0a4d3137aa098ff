//! A few reusable handles on a database file beside the store (`live.db`,
//! `campaigns.db`): opened (and migrated) once, then lent out one caller at a
//! time, so a request does not open a connection of its own.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Idle handles kept for reuse; more are opened under load and dropped after.
const IDLE: usize = 4;

/// Handles of type `T` on a file in `dir`.
pub struct Handles<T> {
    dir: PathBuf,
    idle: Mutex<Vec<T>>,
}

impl<T> Handles<T> {
    /// Starts with `first` (opened by the caller, which migrates the file).
    pub fn new(dir: &Path, first: T) -> Handles<T> {
        Handles {
            dir: dir.to_owned(),
            idle: Mutex::new(vec![first]),
        }
    }

    /// Runs `f` with a handle of its own: an idle one, or one `open` makes.
    pub fn with<R, E>(
        &self,
        open: impl FnOnce(&Path) -> Result<T, E>,
        f: impl FnOnce(&mut T) -> Result<R, E>,
    ) -> Result<R, E> {
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut handle = match taken {
            Some(h) => h,
            None => open(&self.dir)?,
        };
        let out = f(&mut handle);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE {
            idle.push(handle);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_reused_and_opened_under_load() {
        let opened = std::cell::Cell::new(0);
        let open = |_: &Path| -> Result<u32, ()> {
            opened.set(opened.get() + 1);
            Ok(100 + opened.get())
        };
        let h = Handles::new(Path::new("."), 1u32);
        assert_eq!(h.with(open, |x| Ok(*x)), Ok(1));
        assert_eq!(h.with(open, |x| Ok(*x)), Ok(1));
        assert_eq!(opened.get(), 0);
        // Two at once: the second is opened.
        let inner = h.with(open, |x| {
            let other = h.with(open, |y| Ok(*y))?;
            Ok((*x, other))
        });
        assert_eq!(inner, Ok((1, 101)));
        assert_eq!(opened.get(), 1);
        assert_eq!(h.with(open, |_| Err::<(), _>(())), Err(()));
    }
}
