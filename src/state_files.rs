//! The daemon's own directories and files, with the modes they must have
//! whatever the umask: its state is root's alone (0700 directories, 0600
//! files), except where users must reach in (the control socket's
//! directory, the ssh control directories).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Creates `dir` and its missing parents, each created one with `mode`
/// (the umask does not apply); existing ones are left as they are.
pub fn create_dirs(dir: &Path, mode: u32) -> io::Result<()> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err()).collect();
    for created in missing.into_iter().rev() {
        match std::fs::create_dir(created) {
            Ok(()) => std::fs::set_permissions(created, std::fs::Permissions::from_mode(mode))?,
            // Made meanwhile by someone else: not ours to change.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Takes every permission but the owner's from the file or directory at
/// `path`, if there is one (a link is left alone: nothing is changed
/// through it). State written by an older version, or under another umask,
/// becomes private on start-up.
pub fn make_private(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if !metadata.file_type().is_symlink() => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(metadata.permissions().mode() & 0o700))
        }
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_directories_get_the_mode_and_existing_ones_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let deep = dir.path().join("a/b/c");
        create_dirs(&deep, 0o711).unwrap();
        assert_eq!([mode(&dir.path().join("a")), mode(&dir.path().join("a/b")), mode(&deep)], [0o711; 3]);
        assert_eq!(mode(dir.path()), 0o755, "an existing parent keeps its mode");
        create_dirs(&deep, 0o700).unwrap();
        assert_eq!(mode(&deep), 0o711, "an existing directory keeps its mode");
    }

    #[test]
    fn state_is_made_private_and_links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("history.sqlite");
        std::fs::write(&file, "").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        make_private(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        let other = dir.path().join("other");
        std::fs::write(&other, "").unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&other, dir.path().join("link")).unwrap();
        make_private(&dir.path().join("link")).unwrap();
        assert_eq!(mode(&other), 0o644);
        make_private(&dir.path().join("missing")).unwrap();
        assert!(make_private(&file.join("below-a-file")).is_err(), "only a missing path is fine");
    }

    #[test]
    fn a_relative_path_is_created_and_a_path_below_a_file_is_an_error() {
        // Tests run in the package's directory: a relative path below target/.
        let relative = std::path::PathBuf::from(format!("target/state-files-test-{}", std::process::id()));
        create_dirs(&relative.join("a"), 0o700).unwrap();
        assert_eq!(mode(&relative.join("a")), 0o700);
        std::fs::remove_dir_all(&relative).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "").unwrap();
        assert!(create_dirs(&dir.path().join("file/sub"), 0o700).is_err());
    }
}
