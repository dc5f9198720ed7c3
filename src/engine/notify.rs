//! Notification composition (§12): recipients, subject, body. Sending is
//! the mail layer's job; the engine only says what to send.

use super::Settings;
use super::activation::{Activation, shown};
use super::job::Job;
use crate::event::py_strip;

/// Longest subject, in characters.
const MAX_SUBJECT: usize = 1024;

/// One message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `<owner>@<fqdn>`: envelope sender and `From:`.
    pub from: String,
    /// The recipient.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The body.
    pub body: String,
    /// The event it is about.
    pub event: String,
}

impl Message {
    /// The original's wire form: `From`, `To`, `Subject` headers separated
    /// by CRLF, a blank line, the body.
    pub fn text(&self) -> String {
        format!("From: {}\r\nTo: {}\r\nSubject: {}\r\n\r\n{}", self.from, self.to, self.subject, self.body)
    }
}

/// The recipients: `notify_email` split at `,` and stripped (empty entries
/// kept, as the original), and how many there were before the limit.
pub fn recipients(activation: &Activation, limit: usize) -> (Vec<String>, usize) {
    let Some(recipients) = activation.notify_email.as_deref().filter(|r| !r.is_empty()) else {
        return (Vec::new(), 0);
    };
    let all: Vec<String> = recipients.split(',').map(|a| py_strip(a).to_owned()).collect();
    let count = all.len();
    (all.into_iter().take(limit).collect(), count)
}

/// The message for one recipient; `failure` is the reason of a failed job.
pub fn compose(job: &Job, activation: &Activation, settings: &Settings, failure: Option<&str>, to: String) -> Message {
    let subject = if activation.notify_subject.is_empty() {
        let (server, event, login, host) =
            (&settings.server_name, &job.event, activation.shown_login(&job.owner), shown(activation.host.as_deref()));
        match failure {
            None => format!("hcron ({server}): \"{event}\" executed at {login}@{host}"),
            Some(reason) => format!("hcron ({server}): \"{event}\" failed at {login}@{host}: {reason}"),
        }
    } else {
        activation.notify_subject.clone()
    };
    Message {
        from: format!("{}@{}", job.owner, settings.fqdn),
        to,
        subject: subject.chars().take(MAX_SUBJECT).collect(),
        body: activation.notify_message.clone(),
        event: job.event.to_string(),
    }
}
