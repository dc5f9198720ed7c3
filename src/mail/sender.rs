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
    /// The server refused for good (5xx): the message goes to `failed/`.
    permanent: bool,
    detail: String,
}

/// What the sender reports, for the activity log: (level, text).
pub type Report = Box<dyn Fn(&str, &str) + Send + Sync>;

/// Delivers the spool until the task is dropped: every due message in
/// order; a transient failure reschedules it with exponential back-off
/// (`retry_initial` doubled per attempt, at most `retry_max`). New
/// `settings` apply from the next delivery on, over a new connection.
pub async fn run_sender(spool: Spool, mut settings: tokio::sync::watch::Receiver<MailSettings>, wake: Arc<Notify>, report: Report) {
    let mut connection: Option<AsyncSmtpConnection> = None;
    loop {
        let MailSettings { transport, retry_initial, retry_max } = settings.borrow_and_update().clone();
        let now = jiff::Timestamp::now().as_second();
        let mut next_due: Option<i64> = None;
        for (path, mut message) in spool.messages() {
            if message.next_attempt > now {
                earliest(&mut next_due, message.next_attempt);
                continue;
            }
            match deliver(&transport, &mut connection, &message).await {
                Ok(()) => {
                    let _ = std::fs::remove_file(&path);
                    report("info", &format!("email to ({}) for event ({}) delivered", message.to, message.event));
                }
                Err(failure) if failure.permanent => {
                    message.last_error = Some(failure.detail.clone());
                    let kept = spool.fail(&path, &message).map(|p| p.display().to_string()).unwrap_or_else(|e| format!("nowhere ({e})"));
                    report(
                        "error",
                        &format!(
                            "failed to send email ({}) for event ({}) to ({}); kept in {kept}",
                            failure.detail, message.event, message.to
                        ),
                    );
                }
                Err(failure) => {
                    connection = None;
                    message.attempts += 1;
                    let delay = retry_initial.saturating_mul(1 << message.attempts.min(20).saturating_sub(1)).min(retry_max);
                    message.next_attempt = now + delay.as_secs().max(1) as i64;
                    message.last_error = Some(failure.detail.clone());
                    let _ = spool.write(&path, &message);
                    report(
                        "warning",
                        &format!(
                            "failed to send email ({}) for event ({}) to ({}); attempt {}, next in {} s",
                            failure.detail,
                            message.event,
                            message.to,
                            message.attempts,
                            delay.as_secs()
                        ),
                    );
                    // The server is down for the others too: wait like them.
                    earliest(&mut next_due, message.next_attempt);
                    break;
                }
            }
        }
        if let Some(mut open) = connection.take() {
            let _ = tokio::time::timeout(QUIT_TIMEOUT, open.quit()).await;
        }
        let wait =
            next_due.map_or(Duration::from_secs(3600), |due| Duration::from_secs((due - jiff::Timestamp::now().as_second()).max(0) as u64));
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            // Disabled once the daemon's end is gone (it is stopping).
            Ok(()) = settings.changed() => {}
        }
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
                    Err(Failure { permanent: error.is_permanent(), detail: error.to_string() })
                }
                Err(timed_out) => {
                    *connection = None;
                    Err(timed_out)
                }
            }
        }
        Transport::Sendmail(program) => {
            let sendmail = AsyncSendmailTransport::<Tokio1Executor>::new_with_command(program);
            sendmail.send_raw(&envelope, message.raw.as_bytes()).await.map(|_| ()).map_err(|e| transient(e.to_string()))
        }
        Transport::Mailbox(dir) => {
            crate::daemon::Mailbox::new(dir).deliver_raw(&message.raw).map(|_| ()).map_err(|e| transient(e.to_string()))
        }
    }
}

/// Connects with TCP_NODELAY set, speaks SMTP over it, then STARTTLS and
/// AUTH when configured.
async fn connect(smtp: &Smtp) -> Result<AsyncSmtpConnection, Failure> {
    let (server, port) = (smtp.server.as_str(), smtp.port);
    let stream = within(smtp, "connecting", tokio::net::TcpStream::connect((server, port)))
        .await?
        .map_err(|e| transient(format!("cannot connect to {server}:{port}: {e}")))?;
    stream.set_nodelay(true).map_err(|e| transient(e.to_string()))?;
    let hello = ClientId::default();
    let mut connection = within(smtp, "waiting for its greeting", AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello))
        .await?
        .map_err(|e| transient(e.to_string()))?;
    if smtp.starttls {
        if !connection.can_starttls() {
            return Err(transient(format!("{server}:{port} does not offer STARTTLS")));
        }
        let mut tls = TlsParameters::builder(server.to_owned());
        if let Some(path) = &smtp.ca_file {
            let pem = std::fs::read(path).map_err(|e| transient(format!("cannot read {}: {e}", path.display())))?;
            tls = tls.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| transient(e.to_string()))?);
        }
        let tls = tls.build_native().map_err(|e| transient(e.to_string()))?;
        within(smtp, "STARTTLS", connection.starttls(tls, &hello)).await?.map_err(|e| transient(format!("STARTTLS: {e}")))?;
    }
    if let Some((user, password)) = &smtp.credentials {
        let credentials = Credentials::new(user.clone(), password.clone());
        // A refused login is the configuration's fault, not the message's: retried.
        within(smtp, "AUTH", connection.auth(&[Mechanism::Plain, Mechanism::Login], &credentials))
            .await?
            .map_err(|e| transient(format!("AUTH: {e}")))?;
    }
    Ok(connection)
}

/// The longest wait for a server's answer to QUIT, after the mail is sent.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

/// `step` with the server's timeout; a transient failure naming the step when it passes.
async fn within<T>(smtp: &Smtp, step: &str, future: impl std::future::Future<Output = T>) -> Result<T, Failure> {
    tokio::time::timeout(smtp.timeout, future).await.map_err(|_| {
        transient(format!("SMTP server {}:{} did not answer within {} s ({step})", smtp.server, smtp.port, smtp.timeout.as_secs()))
    })
}

fn parse(address: &str) -> Result<lettre::Address, Failure> {
    address.parse().map_err(|e| permanent(format!("bad address ({address}): {e}")))
}

fn permanent(detail: String) -> Failure {
    Failure { permanent: true, detail }
}

fn transient(detail: String) -> Failure {
    Failure { permanent: false, detail }
}
