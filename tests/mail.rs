//! Notifications through a real SMTP server on loopback (Debian's aiosmtpd,
//! which writes each message it accepts to `<dir>/new/` with `X-MailFrom`
//! and `X-RcptTo` headers), and through the mailbox directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::daemon_util::{RunningDaemon, eventually};

/// An aiosmtpd writing into a Maildir.
pub struct SmtpSink {
    child: Child,
    dir: PathBuf,
}

impl SmtpSink {
    /// A sink on 127.0.0.1:`port` writing into `dir`.
    pub fn start(port: u16, dir: &Path) -> SmtpSink {
        SmtpSink::with_handler(port, dir, "aiosmtpd.handlers.Mailbox")
    }

    /// A sink that defers recipients starting with `later` and closes the session on those starting
    /// with `busy` (`tests/fixtures/deferring_smtp.py`).
    fn deferring(port: u16, dir: &Path) -> SmtpSink {
        SmtpSink::with_handler(port, dir, "deferring_smtp.DeferringMailbox")
    }

    fn with_handler(port: u16, dir: &Path, handler: &str) -> SmtpSink {
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", handler])
            .arg(dir)
            .env("PYTHONPATH", Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd (python3-aiosmtpd)");
        assert!(
            eventually(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()),
            "aiosmtpd did not listen"
        );
        SmtpSink { child, dir: dir.to_owned() }
    }

    /// Every message received, as text, in the order received (the Maildir
    /// file names of Python's `mailbox` count messages after `Q`).
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("new")) else { return Vec::new() };
        let counter = |name: &str| -> u64 { name.split('Q').nth(1).and_then(|n| n.split('.').next()?.parse().ok()).unwrap_or(u64::MAX) };
        let mut files: Vec<(u64, PathBuf)> =
            entries.filter_map(Result::ok).map(|e| (counter(&e.file_name().to_string_lossy()), e.path())).collect();
        files.sort();
        files.iter().filter_map(|(_, path)| std::fs::read_to_string(path).ok()).collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A standalone daemon's directories and its SMTP configuration.
struct MailSetup {
    dir: tempfile::TempDir,
    port: u16,
}

impl MailSetup {
    fn new(transport: &str) -> MailSetup {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "mail_transport = \"{transport}\"\nsmtp_server = \"127.0.0.1\"\nsmtp_port = {port}\nmail_retry_initial = 1\nmail_retry_max = 1\nserver_name = \"testserver\"\n"
        );
        std::fs::write(dir.path().join("hcron.toml"), config).unwrap();
        std::fs::create_dir_all(dir.path().join("events")).unwrap();
        MailSetup { dir, port }
    }

    /// Replaces the retry settings with `retry` (`mail_retry_initial` and `mail_retry_max` lines).
    fn configure(&self, retry: &str) {
        let config = self.dir.path().join("hcron.toml");
        let written = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, written.replace("mail_retry_initial = 1\nmail_retry_max = 1\n", retry)).unwrap();
    }

    fn event(&self, name: &str, content: &str) {
        let path = self.dir.path().join("events").join(name.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn start(&self) -> RunningDaemon {
        let config = self.dir.path().join("hcron.toml");
        RunningDaemon::standalone(&self.dir.path().join("events"), &self.dir.path().join("state"), &["--config", config.to_str().unwrap()])
    }

    fn sink(&self) -> SmtpSink {
        SmtpSink::start(self.port, &self.dir.path().join("received"))
    }

    fn spooled(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("state/spool"))
            .map_or(0, |d| d.filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "json")).count())
    }
}

/// An on-demand event on this machine that mails `to`.
pub fn mailer(to: &str, message: &str) -> String {
    format!("as_user=\nhost=localhost\ncommand=true\nnotify_email={to}\nnotify_message={message}\n")
}

fn user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap().unwrap().name
}

#[test]
fn a_notification_over_smtp_has_every_header() {
    let setup = MailSetup::new("smtp");
    setup.event("job", &mailer("ops@example.com, dev@example.com", "line1\\nline2 été"));
    let sink = setup.sink();
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["activate", "/job"]).2, 0);
    assert!(eventually(Duration::from_secs(10), || sink.messages().len() == 2), "{}", daemon.log_text());
    let messages = sink.messages();
    let ops = messages.iter().find(|m| m.contains("X-RcptTo: ops@example.com")).expect("one per recipient");
    let (user, fqdn) = (user(), crate::util::fqdn());
    for header in [
        format!("X-MailFrom: {user}@{fqdn}"),
        format!("From: {user}@{fqdn}"),
        "To: ops@example.com".to_owned(),
        format!("Subject: hcron (testserver): \"/job\" executed at {user}@localhost"),
        "MIME-Version: 1.0".to_owned(),
        "Content-Type: text/plain; charset=utf-8".to_owned(),
        "Date: ".to_owned(),
        "Message-ID: <".to_owned(),
    ] {
        assert!(ops.contains(&header), "{header:?} missing in:\n{ops}");
    }
    assert!(ops.contains("line1\nline2 ") || ops.contains("line1\r\nline2 "), "{ops}");
    assert!(daemon.log_text().contains("email to (ops@example.com) for event (/job) delivered"));
    assert!(daemon.stop().success());
}

#[test]
fn mail_from_applies_from_the_first_start() {
    let setup = MailSetup::new("smtp");
    let config = setup.dir.path().join("hcron.toml");
    let written = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, written + "mail_from = \"first@example.com\"\n").unwrap();
    setup.event("job", &mailer("ops@example.com", "from the start"));
    let sink = setup.sink();
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["activate", "/job"]).2, 0);
    assert!(eventually(Duration::from_secs(10), || sink.messages().len() == 1), "{}", daemon.log_text());
    let message = &sink.messages()[0];
    assert!(message.contains("X-MailFrom: first@example.com") && message.contains("From: first@example.com"), "{message}");
    assert!(daemon.stop().success());
}

#[test]
fn the_failover_guide_delivers_what_it_shows() {
    let setup = MailSetup::new("smtp");
    // The guide's events; the failing ones are run on demand (when_year keeps
    // the clock away), and their host refuses connections.
    let failing = |failover: &str| {
        format!(
            "as_user=\nhost=127.0.0.14\ncommand=/bin/true\nnotify_email=\nnotify_message=\nwhen_year=2000\nwhen_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\ntemplate_name=\nfailover_event={failover}\n"
        )
    };
    let failover = |to: &str, name: &str| {
        format!(
            "as_user=  \nhost=localhost  \ncommand=/bin/true  \nnotify_email={to}  \nnotify_message=Failed event ($HCRON_EVENT_CHAIN[0])  \nwhen_month=*  \nwhen_day=*  \nwhen_hour=*  \nwhen_minute=*  \nwhen_dow=*  \ntemplate_name={name}  \nfailover_event=\n"
        )
    };
    setup.event("simple", &failing("failover_simple"));
    setup.event("failover_simple", &failover("simple@example.com", "failover_simple"));
    setup.event("common_user", &failing("/failover/common"));
    setup.event("failover/common", &failover("common@example.com", "common"));
    setup.event("targeted", &failing("/failover/bob@abc.xyz"));
    setup.event("failover/email_target_template", &failover("$HCRON_EVENT_NAME[-1]", "email_target_template"));
    std::os::unix::fs::symlink("email_target_template", setup.dir.path().join("events/failover/bob@abc.xyz")).unwrap();
    let sink = setup.sink();
    let daemon = setup.start();
    for event in ["/simple", "/common_user", "/targeted"] {
        assert_eq!(daemon.hcron(&["activate", event]).2, 0);
    }
    let chained = |sink: &SmtpSink| sink.messages().into_iter().filter(|m| !m.contains("Failed event (/failover/")).collect::<Vec<_>>();
    assert!(eventually(Duration::from_secs(15), || chained(&sink).len() == 3), "{}", daemon.log_text());
    let mut got: Vec<(String, String)> = chained(&sink)
        .iter()
        .map(|m| {
            let to = m.lines().find_map(|l| l.strip_prefix("X-RcptTo: ")).unwrap().to_owned();
            let body = m.split("\n\n").nth(1).unwrap_or_default().trim().to_owned();
            (to, body)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("bob@abc.xyz".to_owned(), "Failed event (/targeted)".to_owned()),
            ("common@example.com".to_owned(), "Failed event (/common_user)".to_owned()),
            ("simple@example.com".to_owned(), "Failed event (/simple)".to_owned()),
        ]
    );
    assert!(daemon.stop().success());
}

#[test]
fn smtp_down_never_delays_jobs_and_every_message_arrives_once() {
    let setup = MailSetup::new("smtp");
    let ran = |n: u32| setup.dir.path().join(format!("ran{n}"));
    for n in 1..=3 {
        setup.event(
            &format!("job{n}"),
            &mailer("ops@example.com", &format!("message {n}")).replace("command=true", &format!("command=touch {}", ran(n).display())),
        );
    }
    let daemon = setup.start();
    for n in 1..=3 {
        assert_eq!(daemon.hcron(&["activate", &format!("/job{n}")]).2, 0);
    }
    // No server: the jobs run at once and the messages wait in the spool.
    assert!(eventually(Duration::from_secs(3), || (1..=3).all(|n| ran(n).exists())), "jobs were delayed: {}", daemon.log_text());
    assert!(eventually(Duration::from_secs(3), || setup.spooled() == 3));
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains("; attempt 1, next in 1 s")), "{}", daemon.log_text());
    let sink = setup.sink();
    // Once the spool is empty nothing is left to send again.
    assert!(eventually(Duration::from_secs(15), || setup.spooled() == 0 && sink.messages().len() >= 3), "{}", daemon.log_text());
    let mut bodies = bodies(&sink.messages());
    bodies.sort();
    assert_eq!(bodies, ["message 1", "message 2", "message 3"], "each exactly once");
    assert_eq!(setup.spooled(), 0);
    assert!(daemon.stop().success());
}

/// The body's last line of each message.
fn bodies(messages: &[String]) -> Vec<String> {
    messages.iter().map(|m| m.trim_end().rsplit('\n').next().unwrap().to_owned()).collect()
}

#[test]
fn while_the_server_is_down_the_oldest_message_waits_with_a_growing_back_off_and_all_leave_in_order() {
    let setup = MailSetup::new("smtp");
    setup.configure("mail_retry_initial = 1\nmail_retry_max = 4\n");
    for n in 1..=3 {
        setup.event(&format!("job{n}"), &mailer("ops@example.com", &format!("message {n}")));
    }
    let daemon = setup.start();
    let attempts = |event: &str| attempts(&daemon, event, "ops@example.com");
    assert_eq!(daemon.hcron(&["activate", "/job1"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || attempts("/job1").len() == 1), "{}", daemon.log_text());
    let first = std::time::Instant::now();
    // Queued while the server is known to be down: they wait behind the first, untried.
    for n in 2..=3 {
        assert_eq!(daemon.hcron(&["activate", &format!("/job{n}")]).2, 0);
    }
    assert!(eventually(Duration::from_secs(5), || setup.spooled() == 3));
    assert!(eventually(Duration::from_secs(15), || attempts("/job1").len() == 4), "{}", daemon.log_text());
    // 1 + 2 + 4 s of waits, each due at a whole second: at least 4 s in all.
    assert!(first.elapsed() >= Duration::from_secs(4), "the waits were not kept: {:?}", first.elapsed());
    assert_eq!(
        attempts("/job1"),
        ["attempt 1, next in 1 s", "attempt 2, next in 2 s", "attempt 3, next in 4 s", "attempt 4, next in 4 s"],
        "doubled, then capped at mail_retry_max"
    );
    assert!(attempts("/job2").is_empty() && attempts("/job3").is_empty(), "{}", daemon.log_text());
    let sink = setup.sink();
    assert!(eventually(Duration::from_secs(10), || setup.spooled() == 0 && sink.messages().len() == 3), "{}", daemon.log_text());
    assert_eq!(bodies(&sink.messages()), ["message 1", "message 2", "message 3"], "in the order they were queued");
    assert!(daemon.stop().success());
}

/// The `attempt N, next in D s` part of each failure logged for `event` to `to`.
fn attempts(daemon: &RunningDaemon, event: &str, to: &str) -> Vec<String> {
    let log = daemon.log_text();
    let lines = log.lines().filter(|l| l.contains(&format!("for event ({event}) to ({to}); attempt ")));
    lines.map(|l| l.split("; ").last().unwrap().split('|').next().unwrap().to_owned()).collect()
}

#[test]
fn a_message_the_server_defers_waits_on_its_own_back_off_and_the_others_go_on() {
    let setup = MailSetup::new("smtp");
    setup.configure("mail_retry_initial = 1\nmail_retry_max = 8\n");
    for n in 1..=2 {
        setup.event(&format!("later{n}"), &mailer(&format!("later{n}@example.com"), "deferred"));
    }
    setup.event("now", &mailer("now@example.com", "at once"));
    let sink = SmtpSink::deferring(setup.port, &setup.dir.path().join("received"));
    let daemon = setup.start();
    for n in 1..=2 {
        assert_eq!(daemon.hcron(&["activate", &format!("/later{n}")]).2, 0);
    }
    let tried = |n: u32| attempts(&daemon, &format!("/later{n}"), &format!("later{n}@example.com"));
    assert!(eventually(Duration::from_secs(10), || tried(1).len() >= 2 && tried(2).len() >= 2), "{}", daemon.log_text());
    for n in 1..=2 {
        assert_eq!(tried(n)[..2], ["attempt 1, next in 1 s", "attempt 2, next in 2 s"], "each deferred message on its own back-off");
    }
    assert!(daemon.log_text().contains("450"), "{}", daemon.log_text());
    assert_eq!(daemon.hcron(&["activate", "/now"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || sink.messages().len() == 1), "{}", daemon.log_text());
    assert_eq!(bodies(&sink.messages()), ["at once"]);
    assert_eq!(setup.spooled(), 2);
    assert!(daemon.stop().success());
}

#[test]
fn a_server_closing_the_session_holds_the_whole_spool_back() {
    // 421: the server is going away, for every message; the next waits its turn.
    let setup = MailSetup::new("smtp");
    setup.event("busy", &mailer("busy@example.com", "first"));
    setup.event("now", &mailer("now@example.com", "second"));
    let sink = SmtpSink::deferring(setup.port, &setup.dir.path().join("received"));
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["activate", "/busy"]).2, 0);
    // Attempted (a second attempt may come before a loaded machine looks).
    assert!(eventually(Duration::from_secs(5), || !attempts(&daemon, "/busy", "busy@example.com").is_empty()), "{}", daemon.log_text());
    assert_eq!(daemon.hcron(&["activate", "/now"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || setup.spooled() == 2));
    assert!(eventually(Duration::from_secs(10), || attempts(&daemon, "/busy", "busy@example.com").len() >= 3), "{}", daemon.log_text());
    assert!(daemon.log_text().contains("421"), "{}", daemon.log_text());
    assert!(sink.messages().is_empty() && attempts(&daemon, "/now", "now@example.com").is_empty(), "{}", daemon.log_text());
    assert!(daemon.stop().success());
}

#[test]
fn sighup_applies_the_mail_transport_sender_and_back_off() {
    let setup = MailSetup::new("smtp");
    setup.event("job", &mailer("ops@example.com", "before"));
    setup.event("job2", &mailer("ops@example.com", "after"));
    let config = setup.dir.path().join("hcron.toml");
    let written = std::fs::read_to_string(&config).unwrap();
    setup.configure("mail_retry_initial = 3600\nmail_retry_max = 7200\n");
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["activate", "/job"]).2, 0);
    // Nothing listens: the first message waits an hour.
    assert!(eventually(Duration::from_secs(10), || daemon.log_text().contains("; attempt 1, next in 3600 s")), "{}", daemon.log_text());

    // Another server, another sender, and a short back-off.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let reloaded = written
        .replace(&format!("smtp_port = {}", setup.port), &format!("smtp_port = {other}"))
        .replace("mail_retry_max = 1", "mail_retry_max = 2")
        + "mail_from = \"reloaded@example.com\"\n";
    std::fs::write(&config, reloaded).unwrap();
    let sink = SmtpSink::start(other, &setup.dir.path().join("other"));
    daemon.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains("received signal to reload.")), "{}", daemon.log_text());
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().matches("|load-events|").count() >= 2), "{}", daemon.log_text());
    assert_eq!(daemon.hcron(&["activate", "/job2"]).2, 0);
    assert!(eventually(Duration::from_secs(10), || !sink.messages().is_empty()), "{}", daemon.log_text());
    let message = &sink.messages()[0];
    assert!(message.contains("X-MailFrom: reloaded@example.com"), "{message}");
    assert!(message.trim_end().ends_with("after"), "{message}");
    assert_eq!(setup.spooled(), 1, "the first message keeps the wait it was given");

    // The new back-off: a failure now waits a second, not an hour.
    drop(sink);
    setup.event("job3", &mailer("ops@example.com", "third"));
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().matches("|load-events|").count() >= 3), "{}", daemon.log_text());
    assert_eq!(daemon.hcron(&["activate", "/job3"]).2, 0);
    assert!(eventually(Duration::from_secs(10), || daemon.log_text().contains("; attempt 1, next in 1 s")), "{}", daemon.log_text());
    assert!(daemon.stop().success());
}

#[test]
fn spooled_messages_survive_kill_9_and_arrive_once_after_a_restart() {
    let setup = MailSetup::new("smtp");
    setup.event("a", &mailer("a@example.com", "for a"));
    setup.event("b", &mailer("b@example.com", "for b"));
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["activate", "/a"]).2, 0);
    assert_eq!(daemon.hcron(&["activate", "/b"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || setup.spooled() == 2));
    daemon.signal(libc::SIGKILL);
    drop(daemon);
    let sink = setup.sink();
    let daemon = setup.start();
    // Once the spool is empty nothing is left to send again.
    assert!(eventually(Duration::from_secs(10), || setup.spooled() == 0 && sink.messages().len() >= 2), "{}", daemon.log_text());
    assert_eq!(sink.messages().len(), 2, "exactly once");
    assert!(daemon.stop().success());
}

#[test]
fn the_mailbox_transport_writes_the_same_messages() {
    let setup = MailSetup::new("mailbox");
    setup.event("job", &mailer("ops@example.com", "hello"));
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["activate", "/job"]).2, 0);
    let mailbox = setup.dir.path().join("state/mailbox/new");
    let read = || std::fs::read_dir(&mailbox).ok().and_then(|mut d| d.next()).and_then(|e| std::fs::read_to_string(e.ok()?.path()).ok());
    assert!(eventually(Duration::from_secs(5), || read().is_some()));
    let message = read().unwrap();
    for header in ["To: ops@example.com", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Message-ID: <", "Date: "] {
        assert!(message.contains(header), "{header:?} missing in:\n{message}");
    }
    assert!(message.ends_with("\r\n\r\nhello"), "{message:?}");
    assert!(daemon.stop().success());
}

/// An aiosmtpd that requires STARTTLS and a login (hcron/secret), and
/// refuses recipients starting with "reject" for good (550).
const STRICT_SERVER: &str = r#"
import signal, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
port, maildir, cert, key = sys.argv[1:5]
class Strict(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"
def login(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"hcron" and auth_data.password == b"secret"
    return AuthResult(success=ok)
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
controller = Controller(Strict(maildir), hostname="127.0.0.1", port=int(port), tls_context=context, require_starttls=True,
                        authenticator=login, auth_require_tls=True, auth_required=True)
controller.start()
signal.sigwait([signal.SIGTERM, signal.SIGINT])
controller.stop()
"#;

#[test]
fn starttls_and_login_and_permanent_refusals() {
    let setup = MailSetup::new("smtp");
    let dir = setup.dir.path();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
        ])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let config = std::fs::read_to_string(dir.join("hcron.toml")).unwrap()
        + &format!(
            "smtp_starttls = true\nsmtp_ca_file = \"{}\"\nsmtp_username = \"hcron\"\nsmtp_password = \"secret\"\n",
            dir.join("cert.pem").display()
        );
    std::fs::write(dir.join("hcron.toml"), config).unwrap();
    let mut server = Command::new("/usr/bin/python3")
        .args(["-c", STRICT_SERVER, &setup.port.to_string()])
        .arg(dir.join("received"))
        .arg(dir.join("cert.pem"))
        .arg(dir.join("key.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", setup.port)).is_ok()));
    setup.event("ok", &mailer("ops@example.com", "over TLS"));
    setup.event("refused", &mailer("reject@example.com", "never delivered"));
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["activate", "/ok"]).2, 0);
    assert_eq!(daemon.hcron(&["activate", "/refused"]).2, 0);
    let received = || std::fs::read_dir(dir.join("received/new")).map_or(0, |d| d.count());
    assert!(eventually(Duration::from_secs(10), || received() == 1), "{} received: {}", daemon.log_text(), received());
    let failed = dir.join("state/spool/failed");
    assert!(eventually(Duration::from_secs(10), || std::fs::read_dir(&failed).is_ok_and(|d| d.count() == 1)), "{}", daemon.log_text());
    let log = daemon.log_text();
    assert!(log.contains("failed to send email (") && log.contains("550") && log.contains("; kept in "), "{log}");
    assert_eq!(setup.spooled(), 0);
    assert!(daemon.stop().success());
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn the_sendmail_transport_hands_messages_to_the_sendmail_program() {
    // /usr/sbin/sendmail is msmtp's (Debian's msmtp-mta): a real sendmail
    // program, configured through the daemon's HOME to relay to the sink.
    let setup = MailSetup::new("sendmail");
    let home = setup.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let rc = home.join(".msmtprc");
    std::fs::write(&rc, format!("account default\nhost 127.0.0.1\nport {}\nauto_from off\n", setup.port)).unwrap();
    std::fs::set_permissions(&rc, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    setup.event("job", &mailer("ops@example.com", "through sendmail"));
    let sink = setup.sink();
    let config = setup.dir.path().join("hcron.toml");
    let daemon = RunningDaemon::standalone_with_env(
        &setup.dir.path().join("events"),
        &setup.dir.path().join("state"),
        &["--config", config.to_str().unwrap()],
        &[("HOME", &home)],
    );
    assert_eq!(daemon.hcron(&["activate", "/job"]).2, 0);
    assert!(eventually(Duration::from_secs(10), || sink.messages().len() == 1), "{}", daemon.log_text());
    let message = &sink.messages()[0];
    assert!(message.contains("X-RcptTo: ops@example.com") && message.contains(&format!("X-MailFrom: {}@", user())), "{message}");
    assert!(
        message.contains("Subject: hcron (testserver): \"/job\" executed at") && message.trim_end().ends_with("through sendmail"),
        "{message}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_silent_smtp_server_fails_the_attempt_in_time_and_the_mail_follows_later() {
    let setup = MailSetup::new("smtp");
    let config = setup.dir.path().join("hcron.toml");
    let text = std::fs::read_to_string(&config).unwrap() + "smtp_timeout = 2\n";
    std::fs::write(&config, text).unwrap();
    setup.event("job", &mailer("ops@example.com", "late but there"));
    // A server that accepts and never says a word.
    let silent = std::net::TcpListener::bind(("127.0.0.1", setup.port)).unwrap();
    silent.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let holder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((stream, _)) = silent.accept() {
                    held.push(stream);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["activate", "/job"]).2, 0);
    let said = "did not answer within 2 s (waiting for its greeting)";
    let logged = eventually(Duration::from_secs(8), || daemon.log_text().contains(said));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    holder.join().unwrap();
    assert!(logged, "{}", daemon.log_text());
    // The server comes back: the message follows.
    let sink = setup.sink();
    assert!(eventually(Duration::from_secs(15), || sink.messages().len() == 1), "{}", daemon.log_text());
    assert!(daemon.stop().success());
}

#[test]
fn without_mail_transport_standalone_fills_the_mailbox_and_root_speaks_smtp() {
    // Standalone: no key at all, and the message is a file in the state's mailbox.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("events")).unwrap();
    std::fs::write(dir.path().join("events/job"), mailer("ops@example.com", "to the mailbox")).unwrap();
    let daemon = RunningDaemon::standalone(&dir.path().join("events"), &dir.path().join("state"), &[]);
    assert_eq!(daemon.hcron(&["activate", "/job"]).2, 0);
    let mailbox = dir.path().join("state/mailbox/new");
    let delivered = || std::fs::read_dir(&mailbox).map_or(0, |d| d.count());
    assert!(eventually(Duration::from_secs(10), || delivered() == 1), "{}", daemon.log_text());
    assert!(daemon.stop().success());

    // As root, with only the server named: SMTP.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let setup = crate::root_util::RootSetup::new(&[], &format!("smtp_server = \"127.0.0.1\"\nsmtp_port = {port}\n"));
    let user = crate::root_util::TestUser::create("m", &setup.homes());
    std::fs::write(setup.dir.path().join("etc/hcron.allow"), format!("{}\n", user.name)).unwrap();
    user.event("job", &mailer("ops@example.com", "over SMTP"));
    let sink = SmtpSink::start(port, &setup.dir.path().join("received"));
    let daemon = setup.start();
    assert_eq!(daemon.hcron_as(user.as_ids(), &["activate", "/job"]).2, 0);
    assert!(eventually(Duration::from_secs(10), || sink.messages().len() == 1), "{}", daemon.log_text());
    assert!(sink.messages()[0].trim_end().ends_with("over SMTP"));
    assert!(daemon.stop().success());
}
