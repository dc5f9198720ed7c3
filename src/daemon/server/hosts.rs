//! `hcron info hosts`: every host's health as this daemon knows it.

use std::sync::Mutex;

use crate::control::Response;
use crate::exec::health::Health;

/// The host states of `health`.
pub(super) fn hosts(health: &Mutex<Health>) -> Response {
    Response::Hosts { hosts: health.lock().expect("health lock").states() }
}
