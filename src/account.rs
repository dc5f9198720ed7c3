//! Users as the system knows them: names, ids, groups, home and shell.

use std::ffi::CString;
use std::path::PathBuf;

use nix::unistd::{Gid, Uid, User};

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups, the primary one included (`getgrouplist`).
    pub groups: Vec<u32>,
    /// Home directory.
    pub home: PathBuf,
    /// Login shell.
    pub shell: PathBuf,
}

impl Account {
    /// The account named `name`, if any.
    pub fn by_name(name: &str) -> Option<Account> {
        User::from_name(name).ok().flatten().map(Account::from)
    }

    /// The account with user id `uid`, if any.
    pub fn by_uid(uid: u32) -> Option<Account> {
        User::from_uid(Uid::from_raw(uid)).ok().flatten().map(Account::from)
    }

    /// The account running this process.
    pub fn current() -> Option<Account> {
        Account::by_uid(nix::unistd::getuid().as_raw())
    }
}

/// The calling user's home, as user programs find it: `$HOME` when it is
/// set to an absolute path, else the home of the account running this process.
pub fn caller_home() -> Option<PathBuf> {
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if home.is_absolute() => Some(home),
        _ => Account::current().map(|account| account.home),
    }
}

impl From<User> for Account {
    fn from(user: User) -> Account {
        let groups = CString::new(user.name.as_str())
            .ok()
            .and_then(|name| nix::unistd::getgrouplist(&name, user.gid).ok())
            .map(|groups| groups.into_iter().map(Gid::as_raw).collect())
            .unwrap_or_else(|| vec![user.gid.as_raw()]);
        Account { name: user.name, uid: user.uid.as_raw(), gid: user.gid.as_raw(), groups, home: user.dir, shell: user.shell }
    }
}
