//! §19 conformance scenarios about loading, templates, symlinks, includes,
//! `when_*` and substitution, each on a tree built in a temporary directory.
//! Scenario numbers are those of `shared/spec/hcron-1.5.md` §19.

use crate::util::{TreeBuilder, early, fires, full, listing};

#[test]
fn s01_plain_schedule() {
    let tree = TreeBuilder::new().file("hello", full("when_minute=0,30\n"));
    assert_eq!(fires(&tree.load(), "/hello", "2020-01-01T00:00", "2020-01-01T01:00"), ["2020-01-01 00:00", "2020-01-01 00:30"]);
}

#[test]
fn s02_to_s05_missing_fields_and_bad_definition() {
    let tree = TreeBuilder::new()
        .file("partial", "host=h1\ncommand=x\n")
        .file("nodow", full("").replace("when_dow=*\n", ""))
        .file("empty", "")
        .file("comments", "# only\n# comments\n")
        .file("noeq", full("this line has no equals sign\n"));
    assert_eq!(
        listing(&tree.load()),
        [
            "rejected:partial:not fully specified, missing field (as_user):/comments",
            "rejected:partial:not fully specified, missing field (as_user):/empty",
            "rejected:partial:not fully specified, missing field (as_user):/partial",
            "rejected:partial:not fully specified, missing field (when_dow):/nodow",
            "rejected:unknown:bad definition:/noeq",
        ]
    );
}

#[test]
fn s06_to_s10_and_s14_when_rejections_and_quirks() {
    let tree = TreeBuilder::new()
        .file("month_name", full("when_month=jan\n"))
        .file("dow7", full("when_dow=7\n"))
        .file("empty_minute", full("when_minute=\n"))
        .file("star_first", full("when_minute=*,abc\n"))
        .file("star_last", full("when_minute=abc,*\n"))
        .file("reversed", full("when_minute=50-10\n"))
        .file("negative_step", full("when_minute=0-59/-5\n"))
        .file("zero_step", full("when_minute=*/0\n"))
        .file("unknown_field", full("when_foo=1\n"))
        .file("upper_case", full("WHEN_MINUTE=5\n"));
    let loaded = tree.load();
    assert_eq!(
        listing(&loaded),
        [
            "accepted:normal:passed:/negative_step",
            "accepted:normal:passed:/reversed",
            "accepted:normal:passed:/star_first",
            "accepted:normal:passed:/upper_case",
            "rejected:unknown:bad when_* setting:/dow7",
            "rejected:unknown:bad when_* setting:/empty_minute",
            "rejected:unknown:bad when_* setting:/month_name",
            "rejected:unknown:bad when_* setting:/star_last",
            "rejected:unknown:bad when_* setting:/unknown_field",
            "rejected:unknown:bad when_* setting:/zero_step",
        ]
    );
    assert_eq!(fires(&loaded, "/star_first", "2020-01-01T00:00", "2020-01-01T00:03").len(), 3);
    assert!(fires(&loaded, "/reversed", "2020-01-01T00:00", "2020-01-01T02:00").is_empty());
    assert!(fires(&loaded, "/negative_step", "2020-01-01T00:00", "2020-01-01T02:00").is_empty());
}

#[test]
fn s11_lenient_numbers() {
    let tree = TreeBuilder::new()
        .file("spaces", full("when_minute= 5 , 10\nwhen_hour=0\n"))
        .file("plus", full("when_minute=+5\nwhen_hour=0\n"))
        .file("zeros", full("when_minute=00\nwhen_hour=0\n"));
    let loaded = tree.load();
    let hour = |e| fires(&loaded, e, "2020-01-01T00:00", "2020-01-01T01:00");
    assert_eq!(hour("/spaces"), ["2020-01-01 00:05", "2020-01-01 00:10"]);
    assert_eq!(hour("/plus"), ["2020-01-01 00:05"]);
    assert_eq!(hour("/zeros"), ["2020-01-01 00:00"]);
}

#[test]
fn s12_s13_year_bounds() {
    let tree = TreeBuilder::new()
        .file("y1999", full("when_year=1999\n"))
        .file("y2051", full("when_year=2051\n"))
        .file("y2050", full("when_year=2050\n"))
        .file("any", full(""));
    let loaded = tree.load();
    assert_eq!(
        listing(&loaded),
        [
            "accepted:normal:passed:/any",
            "accepted:normal:passed:/y2050",
            "rejected:unknown:bad when_* setting:/y1999",
            "rejected:unknown:bad when_* setting:/y2051",
        ]
    );
    assert_eq!(fires(&loaded, "/any", "2050-12-31T23:58", "2051-01-01T00:02"), ["2050-12-31 23:58", "2050-12-31 23:59"]);
    assert_eq!(fires(&loaded, "/any", "1999-12-31T23:58", "2000-01-01T00:02"), ["2000-01-01 00:00", "2000-01-01 00:01"]);
}

#[test]
fn s15_to_s18_calendar() {
    let tree = TreeBuilder::new()
        .file("friday13", full("when_minute=0\nwhen_hour=0\nwhen_day=13\nwhen_dow=5\n"))
        .file("sunday", full("when_dow=0\nwhen_hour=0\nwhen_minute=0\n"))
        .file("leap", full("when_month=2\nwhen_day=29\nwhen_hour=0\nwhen_minute=0\n"))
        .file("april31", full("when_month=4\nwhen_day=31\nwhen_hour=0\nwhen_minute=0\n"))
        .file("feb30", full("when_month=2\nwhen_day=30\nwhen_hour=0\nwhen_minute=0\n"))
        .file("day31", full("when_day=31\nwhen_hour=0\nwhen_minute=0\n"))
        .file("step", full("when_day=*/10\nwhen_hour=0\nwhen_minute=0\n"));
    let loaded = tree.load();
    assert_eq!(fires(&loaded, "/friday13", "2020-01-01T00:00", "2021-01-01T00:00"), ["2020-03-13 00:00", "2020-11-13 00:00"]);
    assert_eq!(fires(&loaded, "/sunday", "2020-01-04T00:00", "2020-01-07T00:00"), ["2020-01-05 00:00"]);
    assert_eq!(fires(&loaded, "/leap", "2020-01-01T00:00", "2022-01-01T00:00"), ["2020-02-29 00:00"]);
    assert!(loaded.tree.get("/april31").unwrap().is_accepted());
    assert!(fires(&loaded, "/april31", "2020-01-01T00:00", "2021-01-01T00:00").is_empty());
    assert!(loaded.tree.get("/feb30").unwrap().is_accepted());
    assert!(fires(&loaded, "/feb30", "2020-01-01T00:00", "2024-01-01T00:00").is_empty());
    assert_eq!(fires(&loaded, "/day31", "2020-04-01T00:00", "2020-08-01T00:00"), ["2020-05-31 00:00", "2020-07-31 00:00"]);
    assert_eq!(
        fires(&loaded, "/step", "2020-01-01T00:00", "2020-02-01T00:00"),
        ["2020-01-01 00:00", "2020-01-11 00:00", "2020-01-21 00:00", "2020-01-31 00:00"]
    );
}

#[test]
fn s19_continuation_and_comments() {
    let tree = TreeBuilder::new().file("cont", full("command=echo a \\\n   b\\\n\n# a comment ending in \\\ncmd2=x\\\n# not a comment\n"));
    let loaded = tree.load();
    assert_eq!(early(&loaded, "/cont", "command").as_deref(), Some("echo a    b"));
    assert_eq!(early(&loaded, "/cont", "cmd2").as_deref(), Some("x# not a comment"));
}

#[test]
fn s20_to_s22_spacing_evaluation_overriding() {
    let tree = TreeBuilder::new()
        .file("spacing", "  as_user =  \n host= h1 \ncommand = a=b=c\nnotify_email=\nnotify_message=\nwhen_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n")
        .file("seq", "command=$later\nlater=L\nx=1\nx=$x:2\nx=$x:3\nhost=$x[-1]\n")
        .file("override", "HCRON_EVENT_NAME=/zzz/yyy\nhost=$HCRON_EVENT_NAME[-1]\n");
    let loaded = tree.load();
    assert!(loaded.tree.get("/spacing").unwrap().is_accepted());
    assert_eq!(early(&loaded, "/spacing", "command").as_deref(), Some("a=b=c"));
    assert_eq!(early(&loaded, "/seq", "command").as_deref(), Some("$later"));
    assert_eq!(early(&loaded, "/seq", "host").as_deref(), Some("3"));
    assert_eq!(early(&loaded, "/override", "host").as_deref(), Some("yyy"));
    assert!(loaded.tree.get("/override").is_some());
}

fn cleanup_tree() -> TreeBuilder {
    TreeBuilder::new()
        .file(
            "cleanup/room/_tmpl",
            full("template_name=_tmpl\nhost=$HCRON_EVENT_NAME[-1]\nwhen_minute=0\ncommand=cleanup --room $HCRON_EVENT_NAME[-2] --n #HCRON_EVENT_NAME[:]\n"),
        )
        .link("cleanup/room/mach1.xyz", "_tmpl")
        .link("cleanup/room/mach2.xyz", "./_tmpl")
        .link("cleanup/room/mach3.xyz", "../room/_tmpl")
        .link("other_top_link", "cleanup/room/_tmpl")
}

#[test]
fn s23_s24_template_and_symlinks() {
    let loaded = cleanup_tree().load();
    assert_eq!(
        listing(&loaded),
        [
            "accepted:normal:passed:/cleanup/room/mach1.xyz",
            "accepted:normal:passed:/cleanup/room/mach2.xyz",
            "accepted:normal:passed:/cleanup/room/mach3.xyz",
            "accepted:normal:passed:/other_top_link",
            "rejected:template:template:/cleanup/room/_tmpl",
        ]
    );
    for n in 1..=3 {
        let name = format!("/cleanup/room/mach{n}.xyz");
        assert_eq!(early(&loaded, &name, "host"), Some(format!("mach{n}.xyz")));
        assert_eq!(early(&loaded, &name, "command").as_deref(), Some("cleanup --room room --n 4"));
        assert_eq!(fires(&loaded, &name, "2020-01-01T00:00", "2020-01-01T02:00"), ["2020-01-01 00:00", "2020-01-01 01:00"]);
    }
    assert_eq!(early(&loaded, "/other_top_link", "host").as_deref(), Some("other_top_link"));
    assert_eq!(early(&loaded, "/other_top_link", "command").as_deref(), Some("cleanup --room  --n 2"));
}

#[test]
fn s25_computed_template_name() {
    let tree = TreeBuilder::new().file("t", full("template_name=$HCRON_EVENT_NAME[-1]\n"));
    assert_eq!(listing(&tree.load()), ["rejected:template:template:/t"]);
}

#[test]
fn s26_dropped_links() {
    let tree = TreeBuilder::new()
        .file("real", full(""))
        .dir("adir")
        .link("absolute", "/etc/passwd")
        .link("escaping", "../../../../etc/passwd")
        .link("missing", "nothing_here")
        .link("loop1", "loop2")
        .link("loop2", "loop1")
        .link("to_dir", "adir");
    let loaded = tree.load();
    assert_eq!(listing(&loaded), ["accepted:normal:passed:/real"]);
    let mut dropped: Vec<&str> = loaded.issues.iter().map(|i| i.path.as_str()).collect();
    dropped.sort();
    assert_eq!(dropped, ["/absolute", "/escaping", "/loop1", "/loop2", "/missing", "/to_dir"]);
}

#[test]
fn s27_link_through_a_directory_link() {
    let tree = TreeBuilder::new().file("dirA/ev1", full("when_minute=7\n")).link("dirlink", "dirA").link("via_dirlink", "dirlink/ev1");
    let loaded = tree.load();
    assert_eq!(listing(&loaded), ["accepted:normal:passed:/dirA/ev1", "accepted:normal:passed:/via_dirlink"]);
    assert_eq!(fires(&loaded, "/via_dirlink", "2020-01-01T00:00", "2020-01-01T00:10"), ["2020-01-01 00:07"]);
}

#[test]
fn s28_symlink_chain_limit() {
    let mut tree = TreeBuilder::new().file("1", full("")).link("chain1", "1").link("2", "chain1");
    for n in 3..=10 {
        tree = tree.link(&n.to_string(), &(n - 1).to_string());
    }
    let loaded = tree.load();
    let mut names: Vec<&str> = loaded.tree.events().iter().map(|e| &**e.name()).collect();
    names.sort();
    assert_eq!(names, ["/1", "/2", "/3", "/4", "/5", "/6", "/7", "/8", "/chain1"]);
}

#[test]
fn s29_hard_links_are_ordinary_events() {
    // decisions.md, fixed 3.
    let tree = TreeBuilder::new().file("hard1", full("")).hard_link("hard2", "hard1");
    assert_eq!(listing(&tree.load()), ["accepted:normal:passed:/hard1", "accepted:normal:passed:/hard2"]);
}

#[test]
fn s30_s64_s65_ignored_names() {
    let tree = TreeBuilder::new()
        .file(".hidden", full(""))
        .file("backup~", full(""))
        .file(".hiddendir/inner", full(""))
        .file("visible", full(""))
        .link("linktohidden", ".hidden");
    let loaded = tree.load_with(|o| o.ignore = Some(regex::Regex::new(r"^(?:(\..*)|(.*~$))").unwrap()));
    assert_eq!(listing(&loaded), ["accepted:normal:passed:/visible"]);
    assert_eq!(loaded.issues.len(), 1, "the link to an ignored file is dropped");

    let tree =
        TreeBuilder::new().file("oldfoo", full("")).file("y/oldbase", full("")).link("x/link", "../y/oldbase").file("keep", full(""));
    let loaded = tree.load_with(|o| o.ignore = Some(regex::Regex::new("^(?:old)").unwrap()));
    assert_eq!(listing(&loaded), ["accepted:normal:passed:/keep"]);
}

#[test]
fn s31_non_utf8_file_rejects_only_itself() {
    // decisions.md, fixed 1.
    let tree = TreeBuilder::new().file("good", full("")).file("bad", b"as_user=\xff\n");
    assert_eq!(listing(&tree.load()), ["accepted:normal:passed:/good", "rejected:unknown:cannot load file:/bad"]);
}

fn include_tree() -> TreeBuilder {
    TreeBuilder::new()
        .file("inc/common", "host=inc-host\nx=1\n")
        .file("inc/level2", "include ../inc/common\ny=2\n")
        .file("inc/level3", "include /inc/level2\n")
        .file("inc/.hiddeninc", "x=hidden\n")
}

#[test]
fn s32_includes_absolute_and_relative() {
    let tree = include_tree()
        .file("a/b/absinc", full("include /inc/level2\ncommand=echo $x $y $host\n").replace("host=h1\n", ""))
        .file("a/b/relinc", full("include ../../inc/common\n").replace("host=h1\n", ""));
    let loaded = tree.load();
    assert_eq!(early(&loaded, "/a/b/absinc", "command").as_deref(), Some("echo 1 2 inc-host"));
    assert!(loaded.tree.get("/a/b/absinc").unwrap().is_accepted());
    assert_eq!(early(&loaded, "/a/b/relinc", "host").as_deref(), Some("inc-host"));
}

#[test]
fn s33_s34_include_depth_ignored_and_missing() {
    let tree = include_tree()
        .file("deep", full("include /inc/level3\n"))
        .file("hidden", full("include /inc/.hiddeninc\n"))
        .file("missing", full("include /nonexistent\n"));
    let loaded = tree.load_with(|o| o.ignore = Some(regex::Regex::new(r"^(?:(\..*)|(.*~$))").unwrap()));
    for name in ["/deep", "/hidden", "/missing"] {
        assert_eq!(loaded.tree.get(name).unwrap().reason().to_string(), "cannot process include(s)", "{name}");
    }
}

#[test]
fn s35_s36_include_line_forms_and_position() {
    let tree = include_tree()
        .file("tab", full("include\t/inc/common\n").replace("host=h1\n", ""))
        .file("extra", full("include /inc/common extra\n"))
        .file("position", full("host=before\ninclude /inc/common\n").replace("host=h1\n", ""));
    let loaded = tree.load();
    assert_eq!(early(&loaded, "/tab", "host").as_deref(), Some("inc-host"));
    assert_eq!(loaded.tree.get("/extra").unwrap().reason().to_string(), "bad definition");
    assert_eq!(early(&loaded, "/position", "host").as_deref(), Some("inc-host"));
}

#[test]
fn s50_max_events_per_user_is_enforced() {
    // decisions.md, fixed 2: past the limit, events are rejected and not scheduled.
    // The larger tree is loaded on several threads: the limit falls in a later one's share.
    for (size, limit) in [(9, 3), (80, 55)] {
        let mut tree = TreeBuilder::new();
        for n in 1..=size {
            tree = tree.file(&format!("e{n:02}"), full(""));
        }
        let loaded = tree.load_with(|o| o.max_events = limit);
        let events = loaded.tree.events();
        assert!(events[..limit].iter().all(|e| e.is_accepted()), "{size}");
        for event in &events[limit..] {
            assert_eq!(event.reason().to_string(), "maximum events reached", "{size}: {}", event.name());
            assert!(event.schedule().is_none());
        }
    }
}

#[test]
fn s51_s52_computed_schedule() {
    let tree = TreeBuilder::new()
        .file("sched/15", full("when_minute=$HCRON_EVENT_NAME[-1]\nwhen_hour=0\n"))
        .file("late", full("when_minute=$HCRON_SCHEDULE_DATETIME[4]\n"));
    let loaded = tree.load();
    assert_eq!(fires(&loaded, "/sched/15", "2020-01-01T00:00", "2020-01-01T01:00"), ["2020-01-01 00:15"]);
    assert_eq!(loaded.tree.get("/late").unwrap().reason().to_string(), "bad when_* setting");
}

#[test]
fn s63_includes_of_a_symlinked_event_resolve_from_the_link() {
    let tree = TreeBuilder::new()
        .file("y/oldbase", full("include inc/h\n").replace("host=h1\n", ""))
        .link("x/link", "../y/oldbase")
        .file("x/inc/h", "host=from_x_inc\n")
        .file("y/inc/h", "host=from_y_inc\n");
    let loaded = tree.load();
    assert_eq!(early(&loaded, "/y/oldbase", "host").as_deref(), Some("from_y_inc"));
    assert_eq!(early(&loaded, "/x/link", "host").as_deref(), Some("from_x_inc"));
}

#[test]
fn tree_order_is_files_depth_first_then_links() {
    // §2.2 item 7: the order events of one minute are queued in.
    let tree = TreeBuilder::new().file("b", full("")).file("a/z", full("")).link("a/link", "z").file("c", full("")).link("0link", "c");
    let loaded = tree.load();
    let names: Vec<&str> = loaded.tree.events().iter().map(|e| &**e.name()).collect();
    assert_eq!(names, ["/a/z", "/b", "/c", "/0link", "/a/link"]);
}

#[test]
fn a_wide_and_deep_tree_loads_in_tree_order_with_its_issues_in_walk_order() {
    // Enough directories at each level, and files in each, for the walk and
    // the loading to be shared between threads.
    let mut tree = TreeBuilder::new();
    for d in (0..40).rev() {
        tree = tree.file(&format!("d{d:02}/e"), full("")).file(&format!("d{d:02}/sub/f"), full("")).link(&format!("d{d:02}/l"), "e");
        tree = tree.file(&format!("d{d:02}/sub/deeper/g"), full("")).link(&format!("d{d:02}/sub/bad"), "/abs");
    }
    let fifo = tree.root().join("d07/sub/fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // The order as an independent walk sees it: depth first, sorted by name.
    fn walk(dir: &std::path::Path, prefix: &str, files: &mut Vec<String>, links: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = format!("{prefix}/{}", entry.file_name().to_str().unwrap());
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(&entry.path(), &name, files, links);
            } else if kind.is_symlink() {
                links.push(name);
            } else if kind.is_file() {
                files.push(name);
            }
        }
    }
    let (mut files, mut links) = (Vec::new(), Vec::new());
    walk(&tree.root(), "", &mut files, &mut links);
    let loaded = tree.load();
    let names: Vec<&str> = loaded.tree.events().iter().map(|e| &**e.name()).collect();
    let good_links: Vec<&String> = links.iter().filter(|l| !l.ends_with("/bad")).collect();
    let want: Vec<&str> = files.iter().chain(good_links).map(String::as_str).collect();
    assert_eq!(names, want);
    assert_eq!(names.len(), 40 * 4);
    let issues: Vec<&str> = loaded.issues.iter().map(|i| i.path.as_str()).collect();
    let mut want_issues = vec!["/d07/sub/fifo"];
    want_issues.extend(links.iter().filter(|l| l.ends_with("/bad")).map(String::as_str));
    assert_eq!(issues, want_issues, "the FIFO as the walk met it, then the links as tried in order");
    assert_eq!(loaded.directories, 1 + 40 * 3);

    // A directory that cannot be read, among readable siblings at its level
    // and the one below: skipped in its place, the others intact.
    for dir in ["d05", "d09/sub"] {
        std::fs::set_permissions(tree.root().join(dir), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    }
    let checked = hcron::tree::CheckedFs { uid: nix::unistd::getuid().as_raw(), gid: nix::unistd::getgid().as_raw() };
    let loaded = hcron::tree::load(&checked, &tree.root(), &crate::util::options()).unwrap();
    let names: Vec<&str> = loaded.tree.events().iter().map(|e| &**e.name()).collect();
    let skipped = |name: &&str| name.starts_with("/d05/") || name.starts_with("/d09/sub/");
    let want: Vec<&str> = want.iter().copied().filter(|n| !skipped(n)).collect();
    assert_eq!(names, want);
    let refused: Vec<&str> =
        loaded.issues.iter().filter(|i| i.message.starts_with("cannot read the directory")).map(|i| i.path.as_str()).collect();
    assert_eq!(refused, ["/d05", "/d09/sub"]);
    assert_eq!(loaded.directories, 1 + 40 * 3 - 3 - 2);
}

#[test]
fn oversized_file_cannot_be_loaded() {
    let tree = TreeBuilder::new().file("big", full(&format!("pad={}\n", "x".repeat(1000)))).file("small", full(""));
    let loaded = tree.load_with(|o| o.max_file_size = 1000);
    assert_eq!(listing(&loaded), ["accepted:normal:passed:/small", "rejected:unknown:cannot load file:/big"]);
}

#[test]
fn a_rewrite_in_the_tick_of_the_last_read_is_seen_by_the_next_reload() {
    // Same inode, same size, and (the kernel's clock being coarse) most
    // often the same times as the version the first load read.
    let tree = TreeBuilder::new().file("a", full("command=old\n"));
    let options = crate::util::options();
    let first = hcron::tree::load(&hcron::tree::LocalFs, &tree.root(), &options).unwrap();
    std::fs::write(tree.root().join("a"), full("command=new\n")).unwrap();
    let second = hcron::tree::reload(&hcron::tree::LocalFs, &tree.root(), &options, &first.files).unwrap();
    assert_eq!(early(&second, "/a", "command").as_deref(), Some("new"));
}

#[test]
fn a_reload_reads_only_what_changed() {
    let tree = TreeBuilder::new().file("a", full("")).file("b", full("")).file("tmpl", full("template_name=tmpl\n")).link("l", "tmpl");
    // A file changed in the last moments before a load is read again by the
    // next one (its stamp cannot be trusted yet): these are let age first.
    let changed = std::fs::metadata(tree.root().join("tmpl")).unwrap().modified().unwrap();
    if let Ok(age) = changed.elapsed() {
        std::thread::sleep(std::time::Duration::from_millis(100).saturating_sub(age));
    }
    let options = crate::util::options();
    let first = hcron::tree::load(&hcron::tree::LocalFs, &tree.root(), &options).unwrap();
    // Another size: a changed stamp whatever the clock's resolution.
    std::fs::write(tree.root().join("b"), "no equals\n").unwrap();
    let second = hcron::tree::reload(&hcron::tree::LocalFs, &tree.root(), &options, &first.files).unwrap();
    let file = |loaded: &hcron::tree::Loaded, name: &str| loaded.tree.get(name).unwrap().definition().map(|d| d.parts()[0].file.clone());
    assert!(std::sync::Arc::ptr_eq(&file(&first, "/a").unwrap(), &file(&second, "/a").unwrap()), "unchanged: not read again");
    assert!(std::sync::Arc::ptr_eq(&file(&first, "/l").unwrap(), &file(&second, "/l").unwrap()));
    assert_eq!(second.tree.get("/b").unwrap().reason().to_string(), "bad definition", "changed: read again");
}
