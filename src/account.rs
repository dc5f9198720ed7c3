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
    /// The account named `name`, if any; `None` also when it cannot be looked up.
    pub fn by_name(name: &str) -> Option<Account> {
        Account::find(name).ok().flatten()
    }

    /// The account named `name`: `Ok(None)` when there is none, an error
    /// when the lookup itself failed (out of descriptors, NSS down), so
    /// that a caller can tell a missing user from a lookup to retry.
    pub fn find(name: &str) -> std::io::Result<Option<Account>> {
        User::from_name(name).map_err(std::io::Error::from)?.map(Account::with_groups).transpose()
    }

    /// The account with user id `uid`, if any.
    pub fn by_uid(uid: u32) -> Option<Account> {
        User::from_uid(Uid::from_raw(uid)).ok().flatten().and_then(|user| Account::with_groups(user).ok())
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

impl Account {
    /// The account of `user` with its supplementary groups; an error when
    /// they cannot be looked up (a job must never run with fewer groups
    /// than its owner has, nor a tree be read so).
    fn with_groups(user: User) -> std::io::Result<Account> {
        let name = CString::new(user.name.as_str()).map_err(std::io::Error::other)?;
        let groups = nix::unistd::getgrouplist(&name, user.gid).map_err(std::io::Error::from)?.into_iter().map(Gid::as_raw).collect();
        Ok(Account { name: user.name, uid: user.uid.as_raw(), gid: user.gid.as_raw(), groups, home: user.dir, shell: user.shell })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_by_name_and_uid_with_their_groups_and_none_for_strangers() {
        let root = Account::by_name("root").expect("every system has root");
        assert_eq!((root.uid, root.gid, root.home.as_path()), (0, 0, std::path::Path::new("/root")));
        assert!(root.groups.contains(&0), "the primary group is among the groups: {:?}", root.groups);
        assert_eq!(Account::find("root").unwrap().as_ref(), Some(&root));
        assert_eq!(Account::by_uid(0).as_ref(), Some(&root));
        let nobody = Account::by_name("nobody").expect("Debian has nobody");
        assert_eq!((nobody.uid, nobody.gid), (65534, 65534));
        assert_eq!(Account::by_uid(65534).map(|a| a.name), Some("nobody".to_owned()));
        assert_eq!(Account::find("hcron-no-such-user").unwrap(), None, "a missing user is no error");
        assert_eq!(Account::by_name("hcron-no-such-user"), None);
        assert_eq!(Account::by_uid(4_000_000_000), None);
        let me = Account::current().expect("this process has an account");
        assert_eq!((me.uid, me.gid), (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw()));
    }
}
