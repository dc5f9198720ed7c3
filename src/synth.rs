//! Synthetic event trees of any size, for benchmarks and load tests.
//!
//! Shape (per directory of 100 events): one template `_tmpl`, 10 symlinks to
//! it, 89 regular events; 2 of those include a shared file and 2 chain to a
//! sibling with `next_event`. Every accepted event fires once a day.

use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;

/// Events per directory.
pub const PER_DIR: usize = 100;
const LINKS_PER_DIR: usize = 10;

/// Writes a tree of about `events` events (rounded up to whole
/// directories, plus the shared include file) into `root`.
pub fn generate(root: &Path, events: usize) -> io::Result<()> {
    std::fs::create_dir_all(root.join("common"))?;
    std::fs::write(root.join("common/site"), "template_name=site\nas_user=\nnotify_email=ops@example.com\nnotify_message=done\n")?;
    for d in 0..events.div_ceil(PER_DIR) {
        let dir = root.join(format!("d{d:05}"));
        std::fs::create_dir(&dir)?;
        std::fs::write(dir.join("_tmpl"), template(d))?;
        for l in 0..LINKS_PER_DIR {
            symlink("_tmpl", dir.join(format!("host{l:02}.example.com")))?;
        }
        for e in 0..PER_DIR - 1 - LINKS_PER_DIR {
            std::fs::write(dir.join(format!("e{e:02}")), event(d, e))?;
        }
    }
    Ok(())
}

fn template(d: usize) -> String {
    format!(
        "# per-host template: the link's name is the host\n\
         template_name=_tmpl\n\
         as_user=\n\
         host=$HCRON_EVENT_NAME[-1]\n\
         command=/usr/local/bin/cleanup --room $HCRON_EVENT_NAME[-2] --host $HCRON_EVENT_NAME[-1]\n\
         notify_email=\n\
         notify_message=\n\
         when_month=*\n\
         when_day=*\n\
         when_hour={}\n\
         when_minute={}\n\
         when_dow=*\n",
        d % 24,
        (d * 7) % 60
    )
}

fn event(d: usize, e: usize) -> String {
    let n = d * PER_DIR + e;
    let mut text = String::from("# a daily job\ndescription=synthetic event\n");
    if e < 2 {
        text += "include /common/site\n";
    } else {
        text += "as_user=\nnotify_email=\nnotify_message=\n";
    }
    text += &format!(
        "host=node{:03}.example.com\n\
         command=/usr/local/bin/job --id $HCRON_EVENT_NAME[-1] \\\n    --dir $HCRON_EVENT_NAME[-2] --n {n}\n\
         when_month=*\nwhen_day=*\nwhen_hour={}\nwhen_minute={}\nwhen_dow=*\n",
        n % 500,
        n % 24,
        (n / 24) % 60
    );
    if (2..4).contains(&e) {
        text += &format!("next_event=e{:02}\n", e + 10);
    }
    text
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::tree::{LocalFs, load};

    #[test]
    fn the_shape_is_as_documented() {
        let dir = tempfile::tempdir().unwrap();
        super::generate(dir.path(), 200).unwrap();
        let config = Config::default();
        let mut options = config.tree_options(config.load_context());
        options.max_events = 1000;
        let loaded = load(&LocalFs, dir.path(), &options).unwrap();
        let events = loaded.tree.events();
        assert_eq!(events.len(), 201, "two directories of 100 and the include file");
        let accepted = events.iter().filter(|e| e.is_accepted()).count();
        assert_eq!(accepted, 2 * 99, "all but the templates");
        assert!(loaded.issues.is_empty());
    }

    #[test]
    fn each_directory_has_two_includes_two_chains_and_distinct_ids() {
        let dir = tempfile::tempdir().unwrap();
        super::generate(dir.path(), 300).unwrap();
        let mut ids = Vec::new();
        for d in 0..3 {
            let (mut includes, mut chains) = (0, 0);
            for e in 0..89 {
                let text = std::fs::read_to_string(dir.path().join(format!("d{d:05}/e{e:02}"))).unwrap();
                includes += usize::from(text.contains("\ninclude /common/site\n"));
                chains += usize::from(text.contains("\nnext_event="));
                ids.push(text.split("--n ").nth(1).unwrap().lines().next().unwrap().parse::<usize>().unwrap());
            }
            assert_eq!((includes, chains), (2, 2), "directory {d}");
        }
        let expected: Vec<usize> = (0..3).flat_map(|d| (0..89).map(move |e| d * 100 + e)).collect();
        assert_eq!(ids, expected, "each event's own number");
    }
}
