//! A tree full of hostile entries still loads every good event, and
//! `hcron check` names each bad file.

use crate::util::{TreeBuilder, full, listing};

fn hostile_tree() -> TreeBuilder {
    let deep = (1..=50).map(|n| format!("d{n}")).collect::<Vec<_>>().join("/");
    let random: Vec<u8> = (0u32..4096).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    TreeBuilder::new()
        .file("good/one", full("when_minute=1\n"))
        .file("random", random)
        .file("huge", vec![b'x'; 10 << 20])
        .fifo("fifo")
        .link("loop_a", "loop_b")
        .link("loop_b", "loop_a")
        .link("shadow", "/etc/shadow")
        .link("shadow_relative", "../../../../../../../../etc/shadow")
        .file(&format!("{deep}/leaf"), full("when_minute=2\n"))
        .link("good/two", "one")
}

#[test]
fn every_good_event_still_loads() {
    let loaded = hostile_tree().load();
    let deep = (1..=50).map(|n| format!("d{n}")).collect::<Vec<_>>().join("/");
    assert_eq!(
        listing(&loaded),
        [
            format!("accepted:normal:passed:/{deep}/leaf"),
            "accepted:normal:passed:/good/one".into(),
            "accepted:normal:passed:/good/two".into(),
            "rejected:unknown:cannot load file:/huge".into(),
            "rejected:unknown:cannot load file:/random".into(),
        ]
    );
}

#[test]
fn check_names_each_bad_file() {
    let tree = hostile_tree();
    let (out, err, code) = tree.hcron(&["check"]);
    assert_eq!(code, 1, "{out}{err}");
    let root = tree.root().display().to_string();
    let expect = [
        format!("{root}/huge: error: cannot load file: 10485760 bytes, more than max_event_file_size (65536)"),
        format!("{root}/random: error: cannot load file: not valid UTF-8"),
        format!("{root}/fifo: error: a FIFO, not a regular file; skipped without opening it"),
        format!("{root}/loop_a: error: symlink dropped: more than max_symlinks (8) links to follow (a loop?)"),
        format!("{root}/loop_b: error: symlink dropped: more than max_symlinks (8) links to follow (a loop?)"),
        format!("{root}/shadow: error: symlink dropped: link to an absolute path (/etc/shadow): links must stay inside events/"),
        format!("{root}/shadow_relative: error: symlink dropped: link climbs above events/"),
    ];
    for line in expect {
        assert!(out.lines().any(|l| l.starts_with(&line)), "missing {line:?} in:\n{out}");
    }
    assert!(out.ends_with("5 events: 3 accepted, 0 templates, 2 rejected; 7 errors, 0 warnings\n"), "{out}");
}
