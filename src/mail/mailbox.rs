//! The mailbox directory, one of the mail transports: Maildir-style, so
//! that a reader never sees half a message.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A Maildir-style directory: each message is one file in `new/`, written
/// in `tmp/` first and renamed, so a reader never sees half a message.
#[derive(Debug, Clone)]
pub struct Mailbox {
    dir: PathBuf,
}

static DELIVERIES: AtomicU64 = AtomicU64::new(0);

impl Mailbox {
    /// A mailbox at `dir` (created on first delivery).
    pub fn new(dir: &Path) -> Mailbox {
        Mailbox { dir: dir.to_owned() }
    }

    /// Writes a whole message as one file; returns its path.
    pub fn deliver_raw(&self, text: &str) -> io::Result<PathBuf> {
        let (tmp, new) = (self.dir.join("tmp"), self.dir.join("new"));
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(&new)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let name = format!("{}.{}_{}.hcron", now.as_secs(), std::process::id(), DELIVERIES.fetch_add(1, Ordering::Relaxed));
        std::fs::write(tmp.join(&name), text)?;
        std::fs::rename(tmp.join(&name), new.join(&name))?;
        Ok(new.join(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_delivery_is_one_new_file_with_the_whole_message_and_nothing_left_in_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let mailbox = Mailbox::new(&dir.path().join("box"));
        let first = mailbox.deliver_raw("Subject: a\n\nbody\n").unwrap();
        let second = mailbox.deliver_raw("Subject: b\n\n").unwrap();
        assert_ne!(first, second);
        assert_eq!(first.parent().unwrap(), dir.path().join("box/new"));
        assert_eq!(std::fs::read_to_string(&first).unwrap(), "Subject: a\n\nbody\n");
        assert_eq!(std::fs::read_dir(dir.path().join("box/new")).unwrap().count(), 2);
        assert_eq!(std::fs::read_dir(dir.path().join("box/tmp")).unwrap().count(), 0);
    }
}
