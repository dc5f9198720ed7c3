//! Notifications on their way out: an engine [`Message`] becomes an RFC
//! 5322 message (with `Date`, `Message-ID`, MIME headers and an encoded
//! subject, decisions 16), is written to a persistent spool before the job
//! is marked done, and a sender task delivers the spool by SMTP, sendmail
//! or into a mailbox directory, retrying with back-off (issue 6).
//!
//! Scheduling never waits on mail: the spool is a local file write; the
//! network belongs to the sender alone.

mod mailbox;
mod sender;
mod spool;

use lettre::message::header::ContentType;
use serde::{Deserialize, Serialize};

use crate::engine::Message;
pub use mailbox::Mailbox;
pub use sender::{MailSettings, Smtp, Store, Transport, run_sender};
pub use spool::Spool;

/// A message in the spool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// Envelope sender.
    pub from: String,
    /// The one recipient.
    pub to: String,
    /// The event it is about (for log lines).
    pub event: String,
    /// The whole message, as sent.
    pub raw: String,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not before this time (seconds since the epoch).
    pub next_attempt: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// Builds the message for `message`; `from` replaces its sender (`mail_from`).
pub fn compose(message: &Message, from: Option<&str>) -> Result<Outgoing, String> {
    let from = from.unwrap_or(&message.from);
    let email = lettre::Message::builder()
        .from(from.parse().map_err(|e| format!("bad sender address ({from}): {e}"))?)
        .to(message.to.parse().map_err(|e| format!("bad recipient address ({}): {e}", message.to))?)
        .subject(&message.subject)
        .message_id(None)
        .header(lettre::message::header::MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .body(message.body.clone())
        .map_err(|e| format!("cannot build the message: {e}"))?;
    Ok(Outgoing {
        from: from.to_owned(),
        to: message.to.clone(),
        event: message.event.clone(),
        raw: String::from_utf8_lossy(&email.formatted()).into_owned(),
        attempts: 0,
        next_attempt: 0,
        last_error: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(to: &str, subject: &str) -> Message {
        Message {
            from: "alice@sched.example.com".into(),
            to: to.into(),
            subject: subject.into(),
            body: "line1\nline2\tTabbed".into(),
            event: "/job".into(),
        }
    }

    #[test]
    fn headers_of_a_notification() {
        let out = compose(&message("ops@example.com", "hcron (s): \"/job\" executed at alice@h1"), None).unwrap();
        for header in [
            "From: alice@sched.example.com\r\n",
            "To: ops@example.com\r\n",
            "MIME-Version: 1.0\r\n",
            "Content-Type: text/plain; charset=utf-8\r\n",
            "Date: ",
            "Message-ID: <",
        ] {
            assert!(out.raw.contains(header), "{header:?} in {}", out.raw);
        }
        assert!(out.raw.contains("Subject: hcron (s): \"/job\" executed at alice@h1\r\n"), "{}", out.raw);
        assert!(out.raw.ends_with("line1\r\nline2\tTabbed"), "{:?}", out.raw);
    }

    #[test]
    fn utf8_subjects_are_encoded_and_mail_from_replaces_the_sender() {
        let out = compose(&message("ops@example.com", "échec à 3h"), Some("hcron@example.com")).unwrap();
        assert!(out.raw.contains("Subject: =?utf-8?"), "{}", out.raw);
        assert!(out.raw.contains("From: hcron@example.com\r\n"));
        assert_eq!(out.from, "hcron@example.com");
    }

    #[test]
    fn bad_addresses_are_refused() {
        assert!(compose(&message("", "s"), None).unwrap_err().starts_with("bad recipient address ()"));
        assert!(compose(&message("two words@x", "s"), None).is_err());
    }
}
