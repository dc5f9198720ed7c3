//! `hcron activate`: an on-demand job of one of the caller's events,
//! queued under the caller's queue limit (spec §13).

use std::sync::Arc;

use crate::clock::Clock;
use crate::daemon::Daemon;
use crate::daemon::runner::limits;
use crate::engine::queue::Limits;
use crate::engine::{Job, TriggerName};

impl Daemon {
    /// Queues an on-demand activation of `event` for `user` (§13; an
    /// unknown or rejected event, or one past the user's queue limit, is an
    /// error for the caller).
    pub(super) async fn activate(&self, user: &str, event: &str) -> Result<String, String> {
        self.queue.ready().await?;
        let (job, limits) = self.activation(user, event)?;
        let id = job.id.to_string();
        let logged = |job: &Job| self.lock().engine.log_queued(job, &mut *self.log.journal());
        self.queue.activate(job, limits, logged).await?;
        self.slots.touch();
        self.wake.notify_one();
        Ok(id)
    }

    /// The job of an on-demand activation, its trigger logged.
    fn activation(&self, user: &str, event: &str) -> Result<(Job, Limits), String> {
        if self.slots.stopping() {
            return Err("the scheduler is stopping: nothing new is queued".into());
        }
        let Some(events) = self.users.get(user) else {
            return Err(format!("no events are loaded for user ({user})"));
        };
        let mut state = self.lock();
        let state = &mut *state;
        let Some(found) = events.tree.get(event) else {
            return Err(format!("no event ({event}) in the events of user ({user})"));
        };
        if found.definition().is_none() {
            return Err(format!("event ({event}) is rejected ({}) and cannot be activated", found.reason()));
        }
        let (owner, tree, name) = (events.owner.clone(), events.tree.clone(), found.name().clone());
        let origin: Arc<str> = format!("{user}@{}", self.setup.server_name).into();
        let trigger = state.engine.entry("trigger", user).field("triggername", "ondemand").field("triggerorigin", &origin);
        self.log.entry(trigger);
        let now = state.engine.clock().now();
        Ok((state.engine.root_job(&owner, &tree, name, TriggerName::OnDemand, origin, now), limits(&state.config)))
    }
}
