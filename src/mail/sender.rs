//! Delivering the spool: one task, one transport, one SMTP connection
//! reused for as long as messages keep coming, TCP_NODELAY set on it
//! (lettre 0.11.23 leaves Nagle on, which costs about 40 ms a message).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSendmailTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Notify;

use super::{Outgoing, Spool};

/// How messages leave.
#[derive(Debug, Clone)]
pub enum Transport {
    /// An SMTP server (the envelope is the message's).
    Smtp(Smtp),
    /// The local sendmail program.
    Sendmail(PathBuf),
    /// A Maildir-style directory: one file per message in `new/`.
    Mailbox(PathBuf),
}

/// An SMTP server and how to talk to it.
#[derive(Clone)]
pub struct Smtp {
    /// Host name or address.
    pub server: String,
    /// Port.
    pub port: u16,
    /// Upgrade with STARTTLS; never send in clear when set.
    pub starttls: bool,
    /// An extra PEM certificate to trust.
    pub ca_file: Option<PathBuf>,
    /// User name and password to authenticate with.
    pub credentials: Option<(String, String)>,
    /// The longest wait for the server at each step.
    pub timeout: Duration,
}

impl Default for Smtp {
    /// Port 25, in clear, no login, the configuration's default timeout.
    fn default() -> Smtp {
        let config = crate::config::Config::default();
        Smtp {
            server: String::new(),
            port: config.smtp_port,
            starttls: false,
            ca_file: None,
            credentials: None,
            timeout: Duration::from_secs(config.smtp_timeout),
        }
    }
}

impl std::fmt::Debug for Smtp {
    /// Never prints the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = self.credentials.as_ref().map(|(user, _)| user);
        f.debug_struct("Smtp")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("starttls", &self.starttls)
            .field("timeout", &self.timeout)
            .field("user", &user)
            .finish()
    }
}

/// What the sender delivers with; the daemon sends new settings on SIGHUP.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// How messages leave.
    pub transport: Transport,
    /// The wait after a message's first transient failure, doubled at each further one.
    pub retry_initial: Duration,
    /// The longest wait between two attempts.
    pub retry_max: Duration,
}

/// Why a delivery failed.
struct Failure {
    /// Whom the failure concerns, which decides what waits.
    kind: FailureKind,
    detail: String,
}

/// Whom a failed delivery concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    /// The server refused this message for good (5xx): it goes to `failed/`.
    Permanent,
    /// The server deferred this message (4xx to its envelope or data): it
    /// waits on its own, the others go on.
    Deferred,
    /// The server cannot be reached or spoken to (or the transport failed):
    /// the whole spool waits, and starts again from its oldest message.
    Unavailable,
}

/// What the sender reports, for the activity log: (level, text).
pub type Report = Box<dyn Fn(&str, &str) + Send + Sync>;

/// The wait after the `n`th consecutive transient failure (n >= 1):
/// `initial` doubled per further failure, at most `max`.
fn back_off(initial: Duration, max: Duration, n: u32) -> Duration {
    initial.saturating_mul(1 << (n.clamp(1, 21) - 1)).min(max)
}

/// Failures to reach the mail server in a row, and until when the spool waits.
#[derive(Debug, Default)]
struct ServerDown {
    failures: u32,
    until: i64,
}

/// Where the sender finds messages.
#[derive(Debug, Clone)]
pub enum Store {
    /// This node's spool directory.
    Local(Spool),
    /// (A cluster.) The cluster's database, which any node delivers from;
    /// the node's spool directory is only where messages wait, a moment,
    /// to be moved there (a local write first, so that no job waits on the
    /// database either).
    Shared(Spool, Arc<crate::cluster::Cluster>),
}

/// Delivers the spool until the task is dropped, oldest message first. A
/// server that cannot be reached holds every message back (so that they
/// still leave in order once it answers), waiting with exponential back-off
/// (`retry_initial` doubled per consecutive failure, at most `retry_max`);
/// a message the server defers waits with its own back-off, the others go
/// on. New `settings` apply from the next delivery on, over a new connection.
pub async fn run_sender(store: Store, mut settings: tokio::sync::watch::Receiver<MailSettings>, wake: Arc<Notify>, report: Report) {
    let mut attempt = Attempts { connection: None, server: ServerDown::default() };
    // (Shared.) Attempts whose end the database has not taken yet.
    let mut unrecorded: Vec<(i64, Option<String>, Option<i64>)> = Vec::new();
    loop {
        let current = settings.borrow_and_update().clone();
        let now = jiff::Timestamp::now().as_second();
        let mut next_due: Option<i64> = None;
        match &store {
            Store::Local(spool) => {
                for (path, mut message) in spool.messages() {
                    if attempt.server.until > now {
                        earliest(&mut next_due, attempt.server.until);
                        break;
                    }
                    if message.next_attempt > now {
                        earliest(&mut next_due, message.next_attempt);
                        continue;
                    }
                    match attempt.make(&current, &mut message, now, &report).await {
                        Fate::Delivered => {
                            let _ = std::fs::remove_file(&path);
                        }
                        Fate::Refused(detail) => {
                            let kept =
                                spool.fail(&path, &message).map(|p| p.display().to_string()).unwrap_or_else(|e| format!("nowhere ({e})"));
                            report("error", &refused(&detail, &message, &kept));
                        }
                        Fate::Later(due) => {
                            let _ = spool.write(&path, &message);
                            earliest(&mut next_due, due);
                        }
                    }
                }
            }
            Store::Shared(spool, cluster) => {
                forward(spool, cluster, &report).await;
                // Attempts whose end could not be written come first: the message is
                // this node's until then, so it is neither lost nor sent twice.
                while let Some((id, message, next)) = unrecorded.first() {
                    if cluster.end_mail(*id, message.as_deref(), *next).await.is_err() {
                        break;
                    }
                    unrecorded.remove(0);
                }
                loop {
                    if !unrecorded.is_empty() {
                        earliest(&mut next_due, now + 1);
                        break;
                    }
                    if attempt.server.until > now {
                        earliest(&mut next_due, attempt.server.until);
                        break;
                    }
                    let Ok(Some((id, json))) = cluster.take_mail(now).await else { break };
                    let (json, next) = match serde_json::from_str::<Outgoing>(&json) {
                        Err(error) => {
                            report("error", &format!("mail {id} of the cluster database cannot be read ({error}): kept there as failed"));
                            (Some(json), None)
                        }
                        Ok(mut message) => match attempt.make(&current, &mut message, now, &report).await {
                            Fate::Delivered => (None, None),
                            Fate::Refused(detail) => {
                                report("error", &refused(&detail, &message, "the cluster database, as failed"));
                                (Some(to_json(&message)), None)
                            }
                            Fate::Later(due) => (Some(to_json(&message)), Some(due)),
                        },
                    };
                    if let Err(error) = cluster.end_mail(id, json.as_deref(), next).await {
                        if error.is_news() {
                            report("error", &format!("the cluster database failed: {error} (recording the attempt at mail {id})"));
                        }
                        unrecorded.push((id, json, next));
                    }
                }
                if let Ok(Some(due)) = cluster.next_mail().await {
                    earliest(&mut next_due, due.max(now + 1));
                }
            }
        }
        if let Some(mut open) = attempt.connection.take() {
            let _ = tokio::time::timeout(QUIT_TIMEOUT, open.quit()).await;
        }
        let wait =
            next_due.map_or(Duration::from_secs(3600), |due| Duration::from_secs((due - jiff::Timestamp::now().as_second()).max(0) as u64));
        // Another node's messages, or the database back: looked for again within a minute.
        let wait = if matches!(store, Store::Shared(..)) { wait.min(SHARED_POLL) } else { wait };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            // Disabled once the daemon's end is gone (it is stopping). Another
            // server, perhaps: it is tried at once.
            Ok(()) = settings.changed() => attempt.server = ServerDown::default(),
        }
    }
}

/// How often a cluster node's sender looks for due messages when nothing woke it.
const SHARED_POLL: Duration = Duration::from_secs(5);

/// Moves the messages of `spool` to the cluster's database, each removed
/// once the database has it (a crash in between sends it twice, never
/// loses it).
async fn forward(spool: &Spool, cluster: &crate::cluster::Cluster, report: &Report) {
    for (path, message) in spool.messages() {
        if let Err(error) = cluster.spool_mail(&to_json(&message), message.next_attempt).await {
            if error.is_news() {
                report("error", &format!("the cluster database failed: {error}; notifications wait in {}", spool_dir(&path)));
            }
            return;
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// `message` as the cluster's database keeps it.
fn to_json(message: &Outgoing) -> String {
    serde_json::to_string(message).expect("a message of strings and numbers is always JSON")
}

/// The spool directory of a message's file.
fn spool_dir(path: &std::path::Path) -> String {
    path.parent().map_or_else(String::new, |dir| dir.display().to_string())
}

/// The log line of a message refused for good.
fn refused(detail: &str, message: &Outgoing, kept: &str) -> String {
    format!("failed to send email ({detail}) for event ({}) to ({}); kept in {kept}", message.event, message.to)
}

/// What became of one attempt.
enum Fate {
    /// Sent: the message is done.
    Delivered,
    /// Refused for good, with why: kept as failed.
    Refused(String),
    /// To try again at this time (its attempts and last error updated).
    Later(i64),
}

/// The sender's connection and what it knows of the server, across attempts.
struct Attempts {
    connection: Option<AsyncSmtpConnection>,
    server: ServerDown,
}

impl Attempts {
    /// One attempt at `message` at `now`, reported; a transient failure
    /// updates the message (attempts, next attempt, last error) and, when
    /// the server is at fault, the wait of the whole spool.
    async fn make(&mut self, settings: &MailSettings, message: &mut Outgoing, now: i64, report: &Report) -> Fate {
        let failure = match deliver(&settings.transport, &mut self.connection, message).await {
            Ok(()) => {
                self.server.failures = 0;
                report("info", &format!("email to ({}) for event ({}) delivered", message.to, message.event));
                return Fate::Delivered;
            }
            Err(failure) => failure,
        };
        if failure.kind == FailureKind::Permanent {
            message.last_error = Some(failure.detail.clone());
            return Fate::Refused(failure.detail);
        }
        self.connection = None;
        message.attempts += 1;
        // The server's failures count for the whole spool, a deferral for its message.
        let unavailable = failure.kind == FailureKind::Unavailable;
        let failures = if unavailable { self.server.failures + 1 } else { message.attempts };
        let delay = back_off(settings.retry_initial, settings.retry_max, failures);
        let due = now + delay.as_secs().max(1) as i64;
        if unavailable {
            self.server = ServerDown { failures, until: due };
        }
        message.next_attempt = due;
        message.last_error = Some(failure.detail.clone());
        let text = format!(
            "failed to send email ({}) for event ({}) to ({}); attempt {}, next in {} s",
            failure.detail,
            message.event,
            message.to,
            message.attempts,
            delay.as_secs()
        );
        report("warning", &text);
        Fate::Later(due)
    }
}

/// Keeps the earliest of the due times seen.
fn earliest(due: &mut Option<i64>, at: i64) {
    *due = Some(due.map_or(at, |d| d.min(at)));
}

async fn deliver(transport: &Transport, connection: &mut Option<AsyncSmtpConnection>, message: &Outgoing) -> Result<(), Failure> {
    let envelope = Envelope::new(Some(parse(&message.from)?), vec![parse(&message.to)?]).map_err(|e| permanent(e.to_string()))?;
    match transport {
        Transport::Smtp(smtp) => {
            if connection.as_ref().is_none_or(AsyncSmtpConnection::has_broken) {
                *connection = Some(connect(smtp).await?);
            }
            let open = connection.as_mut().expect("just connected");
            match within(smtp, "sending", open.send(&envelope, message.raw.as_bytes())).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => {
                    *connection = None;
                    Err(Failure { kind: kind_of(&error), detail: error.to_string() })
                }
                Err(timed_out) => {
                    *connection = None;
                    Err(timed_out)
                }
            }
        }
        Transport::Sendmail(program) => {
            let sendmail = AsyncSendmailTransport::<Tokio1Executor>::new_with_command(program);
            sendmail.send_raw(&envelope, message.raw.as_bytes()).await.map(|_| ()).map_err(|e| unavailable(e.to_string()))
        }
        Transport::Mailbox(dir) => super::Mailbox::new(dir).deliver_raw(&message.raw).map(|_| ()).map_err(|e| unavailable(e.to_string())),
    }
}

/// Connects with TCP_NODELAY set, speaks SMTP over it, then STARTTLS and
/// AUTH when configured.
async fn connect(smtp: &Smtp) -> Result<AsyncSmtpConnection, Failure> {
    let (server, port) = (smtp.server.as_str(), smtp.port);
    let stream = within(smtp, "connecting", tokio::net::TcpStream::connect((server, port)))
        .await?
        .map_err(|e| unavailable(format!("cannot connect to {server}:{port}: {e}")))?;
    stream.set_nodelay(true).map_err(|e| unavailable(e.to_string()))?;
    let hello = ClientId::default();
    let mut connection = within(smtp, "waiting for its greeting", AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello))
        .await?
        .map_err(|e| unavailable(e.to_string()))?;
    if smtp.starttls {
        if !connection.can_starttls() {
            return Err(unavailable(format!("{server}:{port} does not offer STARTTLS")));
        }
        let mut tls = TlsParameters::builder(server.to_owned());
        if let Some(path) = &smtp.ca_file {
            let pem = std::fs::read(path).map_err(|e| unavailable(format!("cannot read {}: {e}", path.display())))?;
            tls = tls.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| unavailable(e.to_string()))?);
        }
        let tls = tls.build_native().map_err(|e| unavailable(e.to_string()))?;
        within(smtp, "STARTTLS", connection.starttls(tls, &hello)).await?.map_err(|e| unavailable(format!("STARTTLS: {e}")))?;
    }
    if let Some((user, password)) = &smtp.credentials {
        let credentials = Credentials::new(user.clone(), password.clone());
        // A refused login is the configuration's fault, not the message's: retried.
        within(smtp, "AUTH", connection.auth(&[Mechanism::Plain, Mechanism::Login], &credentials))
            .await?
            .map_err(|e| unavailable(format!("AUTH: {e}")))?;
    }
    Ok(connection)
}

/// The longest wait for a server's answer to QUIT, after the mail is sent.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

/// `step` with the server's timeout; the server unavailable, naming the step, when it passes.
async fn within<T>(smtp: &Smtp, step: &str, future: impl std::future::Future<Output = T>) -> Result<T, Failure> {
    tokio::time::timeout(smtp.timeout, future).await.map_err(|_| {
        unavailable(format!("SMTP server {}:{} did not answer within {} s ({step})", smtp.server, smtp.port, smtp.timeout.as_secs()))
    })
}

fn parse(address: &str) -> Result<lettre::Address, Failure> {
    address.parse().map_err(|e| permanent(format!("bad address ({address}): {e}")))
}

/// Whom a failed SMTP exchange concerns: a 5xx answer the message, a 4xx
/// answer the message too unless it closes the session (421), anything
/// else (the connection broke, an answer that is not SMTP) the server.
fn kind_of(error: &lettre::transport::smtp::Error) -> FailureKind {
    match error.status().map(u16::from) {
        _ if error.is_permanent() => FailureKind::Permanent,
        Some(code) if error.is_transient() && code != 421 => FailureKind::Deferred,
        _ => FailureKind::Unavailable,
    }
}

fn permanent(detail: String) -> Failure {
    Failure { kind: FailureKind::Permanent, detail }
}

/// The server (or the transport) cannot take messages now.
fn unavailable(detail: String) -> Failure {
    Failure { kind: FailureKind::Unavailable, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_kept_by_the_cluster_s_database_reads_back_as_it_was() {
        let message = Outgoing {
            from: "alice@h".into(),
            to: "bob@h".into(),
            event: "/e".into(),
            raw: "Subject: s\n\nbody".into(),
            attempts: 2,
            next_attempt: 1_700_000_000,
            last_error: Some("421 busy".into()),
        };
        assert_eq!(serde_json::from_str::<Outgoing>(&to_json(&message)).unwrap(), message);
    }

    #[test]
    fn smtp_settings_print_their_login_never_their_password() {
        let smtp = Smtp { server: "mail.example".into(), credentials: Some(("robot".into(), "hunter2".into())), ..Smtp::default() };
        let printed = format!("{smtp:?}");
        assert!(printed.contains("\"mail.example\"") && printed.contains("Some(\"robot\")"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    #[test]
    fn the_back_off_doubles_from_the_initial_wait_up_to_the_longest() {
        let (initial, max) = (Duration::from_secs(60), Duration::from_secs(600));
        let waits: Vec<u64> = (1..=6).map(|n| back_off(initial, max, n).as_secs()).collect();
        assert_eq!(waits, [60, 120, 240, 480, 600, 600]);
        assert_eq!(back_off(initial, max, 0), initial, "a first failure however counted");
        assert_eq!(back_off(initial, Duration::MAX, u32::MAX), initial * (1 << 20), "no overflow");
    }
}
