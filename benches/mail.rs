//! Notifications to a local SMTP sink (Debian's aiosmtpd on loopback).
//!
//! `cargo bench --bench mail`. Target (issue 6): 1,000 notifications at
//! at least 200 messages/s. For comparison, the same sink fed by lettre's
//! own SMTP transport, whose sockets keep Nagle's algorithm on.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hcron::engine::Message;
use hcron::mail::{MailSettings, Smtp, Spool, Transport, compose, run_sender};
use lettre::AsyncTransport;

const MESSAGES: usize = 1000;
const LETTRE_MESSAGES: usize = 100;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let received = dir.path().join("received");
    let mut sink = Command::new("/usr/bin/python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&received)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aiosmtpd (apt-get install python3-aiosmtpd)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let count = || std::fs::read_dir(received.join("new")).map_or(0, |d| d.count());
    let message = |n: usize| Message {
        from: "hcron@sched.example.com".into(),
        to: format!("ops{}@example.com", n % 10),
        subject: format!("hcron (s): \"/job/{n}\" executed at alice@h1"),
        body: "Failed event (/simple)\nsecond line".into(),
        event: format!("/job/{n}"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    let spool = Spool::new(&dir.path().join("spool"));
    for n in 0..MESSAGES {
        spool.put(&compose(&message(n), None).unwrap()).unwrap();
    }
    let started = Instant::now();
    let transport = Transport::Smtp(Smtp { server: "127.0.0.1".into(), port, ..Smtp::default() });
    let settings = MailSettings { transport, retry_initial: Duration::from_secs(1), retry_max: Duration::from_secs(1) };
    let (_settings, receiver) = tokio::sync::watch::channel(settings);
    let sender = runtime.spawn(run_sender(hcron::mail::Store::Local(spool), receiver, Arc::default(), Box::new(|_, _| {})));
    while count() < MESSAGES {
        assert!(started.elapsed() < Duration::from_secs(120), "only {} delivered", count());
        std::thread::sleep(Duration::from_millis(5));
    }
    let ours = MESSAGES as f64 / started.elapsed().as_secs_f64();
    sender.abort();

    let lettre = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1").port(port).build();
    let before = count();
    let started = Instant::now();
    runtime.block_on(async {
        for n in 0..LETTRE_MESSAGES {
            let outgoing = compose(&message(n), None).unwrap();
            let envelope =
                lettre::address::Envelope::new(Some(outgoing.from.parse().unwrap()), vec![outgoing.to.parse().unwrap()]).unwrap();
            lettre.send_raw(&envelope, outgoing.raw.as_bytes()).await.unwrap();
        }
    });
    let theirs = LETTRE_MESSAGES as f64 / started.elapsed().as_secs_f64();
    assert_eq!(count() - before, LETTRE_MESSAGES);
    println!(
        "{MESSAGES} notifications through the spool over one connection with TCP_NODELAY: {ours:.0} messages/s; lettre's own transport (Nagle on): {theirs:.1} messages/s"
    );
    let _ = sink.kill();
    let _ = sink.wait();
}
