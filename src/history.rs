//! The job history: every job, from queueing to its end, in SQLite.
//!
//! Writes go through a [`HistoryWriter`] thread that batches them in
//! transactions, so the daemon's tasks never wait on the disk; queries open
//! their own read connection (WAL lets both work at once).
//!
//! The same database is the single node's ledger: `slots` holds one row
//! per (user, event, minute) a clock job was queued for, under a unique
//! key, and `watermark` the last minute planned. A minute's claim writes
//! its slots, its jobs' records and the watermark in one transaction, so a
//! crash leaves either all of them or none: the minute is then either
//! settled at the next start (its jobs are queued or running in the
//! history) or planned again, never both.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Connection, OptionalExtension, params};

use crate::outcome::JobResult;

/// One job as recorded: the protocol's view of a job, all text, until the
/// history's records are typed (states and results as enums).
pub type JobRecord = crate::control::JobView;

/// A change to the history.
#[derive(Debug, Clone)]
pub enum Change {
    /// A job was queued.
    Queued(Box<JobRecord>),
    /// A job was activated.
    Started { id: String, at: String },
    /// A job ended.
    Finished {
        id: String,
        at: String,
        host: Option<String>,
        rv: Option<i32>,
        result: JobResult,
        next: String,
        exit_status: Option<i32>,
        stdout: Option<String>,
        stderr: Option<String>,
    },
}

impl Change {
    /// The end of a job that ran nothing (dropped, lost, not loaded): its
    /// `result` at `at`, and the events it chained.
    pub fn ended(id: String, at: String, result: JobResult, next: String) -> Change {
        Change::Finished { id, at, host: None, rv: None, result, next, exit_status: None, stdout: None, stderr: None }
    }
}

/// What reading or writing the history can meet.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite's own.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The file's schema is not one this build knows (a newer build made it).
    #[error(
        "the job history has schema version {found}, which this hcron-scheduler (schema version {known}) does not know: run the hcron-scheduler that made it"
    )]
    Version {
        /// The version the file says.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
}

/// A history operation's result.
pub type Result<T> = std::result::Result<T, Error>;

/// The schema version this build makes, reads and writes.
pub const SCHEMA_VERSION: i64 = 1;

/// The steps between versions: step `n` takes a history of version `n` to
/// `n + 1`, all of them in one transaction at the first open. Version 0
/// is a new file, or one made before versions were kept (whose tables the
/// first step's `IF NOT EXISTS` leaves as they are).
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [SCHEMA_1];

/// Version 1: the jobs, the ledger's slots and its watermark.
const SCHEMA_1: &str = "
    CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, grp TEXT NOT NULL, parent TEXT NOT NULL, user TEXT NOT NULL, event TEXT NOT NULL,
        trigger TEXT NOT NULL, chain TEXT NOT NULL, scheduled TEXT NOT NULL, queued TEXT NOT NULL,
        started TEXT, finished TEXT, host TEXT, rv INTEGER, result TEXT NOT NULL, next TEXT NOT NULL,
        exit_status INTEGER, stdout TEXT, stderr TEXT
    );
    CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user, scheduled);
    CREATE TABLE IF NOT EXISTS slots (
        user TEXT NOT NULL, event TEXT NOT NULL, minute TEXT NOT NULL, job TEXT NOT NULL,
        PRIMARY KEY (user, event, minute)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS watermark (id INTEGER PRIMARY KEY CHECK (id = 1), minute TEXT NOT NULL);
";

/// A minute as the ledger writes it: local civil time, `YYYY-MM-DD HH:MM`
/// (fixed width, so text order is time order).
pub fn ledger_minute(minute: &jiff::civil::DateTime) -> String {
    minute.strftime("%Y-%m-%d %H:%M").to_string()
}

/// The minute [`ledger_minute`] wrote.
pub fn parse_ledger_minute(text: &str) -> Option<jiff::civil::DateTime> {
    jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", text).ok()
}

/// Opens (creating if needed) the history at `path`, migrated to
/// [`SCHEMA_VERSION`]; an error for a version this build does not know.
pub fn open(path: &Path) -> Result<Connection> {
    let mut connection = Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    migrate(&mut connection)?;
    Ok(connection)
}

/// Brings the history to [`SCHEMA_VERSION`] in one transaction (taken for
/// writing at once, so that two opening together migrate once).
fn migrate(connection: &mut Connection) -> Result<()> {
    let version = |connection: &Connection| connection.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0));
    if version(connection)? == SCHEMA_VERSION {
        return Ok(());
    }
    let transaction = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found = version(&transaction)?;
    let steps = usize::try_from(found).ok().and_then(|from| MIGRATIONS.get(from..));
    let Some(steps) = steps else { return Err(Error::Version { found, known: SCHEMA_VERSION }) };
    for step in steps {
        transaction.execute_batch(step)?;
    }
    transaction.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    transaction.commit()?;
    Ok(())
}

/// How much history is kept: settled jobs older than `max_age`, and past
/// the newest `max_per_user` of each user, are deleted (`None`: no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Oldest finished job kept.
    pub max_age: Option<std::time::Duration>,
    /// Most jobs kept per user.
    pub max_per_user: Option<usize>,
}

/// How often the writer (a cluster's leader) applies the retention.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The oldest end a `max_age` keeps, written as ends are (local time).
pub fn cutoff(max_age: std::time::Duration) -> String {
    let cutoff = jiff::Zoned::now().checked_sub(jiff::SignedDuration::try_from(max_age).unwrap_or(jiff::SignedDuration::MAX));
    cutoff.map(|z| crate::clock::log_datetime(&z.datetime())).unwrap_or_default()
}

/// Deletes what `retention` does not keep, jobs still queued or running
/// excepted; the number of jobs deleted.
pub fn prune(connection: &Connection, retention: Retention) -> rusqlite::Result<usize> {
    let mut deleted = 0;
    if let Some(age) = retention.max_age {
        deleted += connection.execute("DELETE FROM jobs WHERE finished IS NOT NULL AND finished < ?1", params![cutoff(age)])?;
    }
    // Slots behind the watermark are never claimed again (the planner
    // starts after it); a day of them is kept to be looked at.
    connection.execute(
        "DELETE FROM slots WHERE minute < (SELECT strftime('%Y-%m-%d %H:%M', minute, '-1 day') FROM watermark WHERE id = 1)",
        [],
    )?;
    if let Some(keep) = retention.max_per_user {
        let users: Vec<String> =
            connection.prepare("SELECT DISTINCT user FROM jobs")?.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
        for user in users {
            deleted += connection.execute(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE user = ?1 AND result NOT IN ('queued', 'running')
                 ORDER BY scheduled DESC, length(id) DESC, id DESC LIMIT -1 OFFSET ?2)",
                params![user, keep as i64],
            )?;
        }
    }
    Ok(deleted)
}

/// Applies changes in a background thread.
pub struct HistoryWriter {
    sender: Option<mpsc::Sender<Order>>,
    thread: Option<JoinHandle<()>>,
}

/// What the writer's thread is asked to do.
enum Order {
    Record(Change),
    /// Keep what this keeps from now on, starting with a prune at once.
    Retain(Retention),
    /// Claim a minute's slots (after every change sent before).
    Claim {
        minute: String,
        jobs: Vec<JobRecord>,
        reply: tokio::sync::oneshot::Sender<rusqlite::Result<Claim>>,
    },
}

/// What a minute's claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The minute is the ledger's now: for each job, whether its slot was
    /// free (its record is written, queued) or already taken (nothing written).
    Claimed(Vec<bool>),
    /// The ledger had planned this minute or a later one, the one given:
    /// nothing was written.
    AlreadyPlanned(String),
    /// (A cluster.) The node does not lead under the epoch it claimed
    /// with: nothing was written.
    Fenced,
}

impl HistoryWriter {
    /// Starts the writer on the database at `path`, keeping what
    /// `retention` keeps (applied at start and hourly).
    pub fn start(path: &Path, retention: Retention) -> Result<HistoryWriter> {
        let mut connection = open(path)?;
        let (sender, receiver) = mpsc::channel::<Order>();
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || {
                let mut retention = retention;
                let mut pruned: Option<std::time::Instant> = None;
                loop {
                    if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                        if let Err(error) = prune(&connection, retention) {
                            eprintln!("hcron-scheduler: cannot prune the job history: {error}");
                        }
                        pruned = Some(std::time::Instant::now());
                    }
                    let first = match receiver.recv_timeout(PRUNE_EVERY) {
                        Ok(first) => first,
                        Err(mpsc::RecvTimeoutError::Timeout) => continue,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    };
                    let mut batch = Vec::new();
                    for order in std::iter::once(first).chain(receiver.try_iter()) {
                        match order {
                            Order::Record(change) => batch.push(change),
                            Order::Retain(new) => {
                                retention = new;
                                pruned = None;
                            }
                            Order::Claim { minute, jobs, reply } => {
                                write(&mut connection, std::mem::take(&mut batch));
                                let _ = reply.send(claim(&mut connection, &minute, &jobs));
                            }
                        }
                    }
                    write(&mut connection, batch);
                }
            })
            .expect("spawn the history thread");
        Ok(HistoryWriter { sender: Some(sender), thread: Some(thread) })
    }

    /// Records a change (never blocks).
    pub fn record(&self, change: Change) {
        self.order(Order::Record(change));
    }

    /// Claims `minute`'s slots (a [`ledger_minute`]) for the clock jobs
    /// `jobs`, recording those whose slot was free as queued, and makes it
    /// the last minute planned; the answer comes once it is committed.
    pub fn claim(&self, minute: String, jobs: Vec<JobRecord>) -> tokio::sync::oneshot::Receiver<rusqlite::Result<Claim>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.order(Order::Claim { minute, jobs, reply });
        answer
    }

    /// Keeps what `retention` keeps from now on (a reloaded
    /// configuration), pruning at once.
    pub fn retain(&self, retention: Retention) {
        self.order(Order::Retain(retention));
    }

    fn order(&self, order: Order) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(order);
        }
    }

    /// Writes everything recorded so far and stops the thread.
    pub fn close(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for HistoryWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// Applies `batch`, reporting a failure (the records are lost, the daemon goes on).
fn write(connection: &mut Connection, batch: Vec<Change>) {
    if batch.is_empty() {
        return;
    }
    if let Err(error) = apply(connection, &batch) {
        eprintln!("hcron-scheduler: cannot write the job history: {error}");
    }
}

/// One minute's claim, in one transaction (see the module's comment).
fn claim(connection: &mut Connection, minute: &str, jobs: &[JobRecord]) -> rusqlite::Result<Claim> {
    let transaction = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let last: Option<String> = transaction.query_row("SELECT minute FROM watermark WHERE id = 1", [], |row| row.get(0)).optional()?;
    if let Some(last) = last.filter(|last| last.as_str() >= minute) {
        return Ok(Claim::AlreadyPlanned(last));
    }
    let mut claimed = Vec::with_capacity(jobs.len());
    {
        let mut slot = transaction.prepare_cached("INSERT OR IGNORE INTO slots VALUES (?1, ?2, ?3, ?4)")?;
        for job in jobs {
            let free = slot.execute(params![job.user, job.event, minute, job.id])? == 1;
            if free {
                insert(&transaction, job)?;
            }
            claimed.push(free);
        }
    }
    transaction.execute("INSERT INTO watermark VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET minute = excluded.minute", params![minute])?;
    transaction.commit()?;
    Ok(Claim::Claimed(claimed))
}

/// Writes a new job's record. Never over another job's record: ids are
/// unique for the life of the history, so a clash is a bug to report, not
/// to hide.
fn insert(transaction: &rusqlite::Transaction<'_>, r: &JobRecord) -> rusqlite::Result<()> {
    let inserted = transaction.execute(
        "INSERT INTO jobs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        params![
            r.id,
            r.group,
            r.parent,
            r.user,
            r.event,
            r.trigger,
            r.chain,
            r.scheduled,
            r.queued,
            r.started,
            r.finished,
            r.host,
            r.rv,
            r.result,
            r.next,
            r.exit_status,
            r.stdout,
            r.stderr
        ],
    );
    match inserted {
        Err(rusqlite::Error::SqliteFailure(error, _)) if error.code == rusqlite::ErrorCode::ConstraintViolation => {
            eprintln!("hcron-scheduler: job {} is already in the history; the new record is not written", r.id);
            Ok(())
        }
        other => other.map(drop),
    }
}

fn apply(connection: &mut Connection, batch: &[Change]) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    for change in batch {
        match change {
            Change::Queued(r) => insert(&transaction, r)?,
            Change::Started { id, at } => {
                transaction.execute("UPDATE jobs SET started = ?2, result = 'running' WHERE id = ?1", params![id, at])?;
            }
            Change::Finished { id, at, host, rv, result, next, exit_status, stdout, stderr } => {
                transaction.execute(
                    "UPDATE jobs SET finished = ?2, host = ?3, rv = ?4, result = ?5, next = ?6, exit_status = ?7, stdout = ?8, stderr = ?9 WHERE id = ?1",
                    params![id, at, host, rv, result, next, exit_status, stdout, stderr],
                )?;
            }
        }
    }
    transaction.commit()
}

/// The last minute the ledger at `path` planned (none for a new one).
pub fn watermark(path: &Path) -> Result<Option<String>> {
    Ok(open(path)?.query_row("SELECT minute FROM watermark WHERE id = 1", [], |row| row.get(0)).optional()?)
}

/// The largest job id the history at `path` holds (none for a new history).
pub fn last_id(path: &Path) -> Result<Option<u64>> {
    let connection = open(path)?;
    // Ids are hexadecimal without leading zeros: longer is larger.
    let id: Option<String> =
        connection.query_row("SELECT id FROM jobs ORDER BY length(id) DESC, id DESC LIMIT 1", [], |row| row.get(0)).optional()?;
    Ok(id.and_then(|id| u64::from_str_radix(&id, 16).ok()))
}

/// The columns of a record, in [`JobRecord`]'s order.
const COLUMNS: &str = "id, grp, parent, user, event, trigger, chain, scheduled, queued, started, finished, host, rv, result, next, exit_status, stdout, stderr";

/// The jobs of `user`, optionally of one event and since a time, oldest first.
pub fn query(path: &Path, user: &str, event: Option<&str>, since: Option<&str>) -> Result<Vec<JobRecord>> {
    let connection = open(path)?;
    let mut statement = connection.prepare(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE user = ?1 AND (?2 IS NULL OR event = ?2) AND (?3 IS NULL OR scheduled >= ?3) ORDER BY scheduled, id"
    ))?;
    Ok(statement.query_map(params![user, event, since], record_of_row)?.collect::<rusqlite::Result<_>>()?)
}

/// What a settling at start-up reads, on one connection: the unsettled
/// jobs ([`unsettled`]) and the ids of the running ones that are
/// themselves runs again after their parent was lost (`on_lost=rerun`):
/// each one's parent is another job of the same event and trigger whose
/// result is a lost failure (one query for the whole settling; the cluster
/// asks the same of its database, `cluster/sql.rs`, `LOSE`).
pub fn settling(path: &Path) -> Result<(Vec<JobRecord>, std::collections::HashSet<String>)> {
    let connection = open(path)?;
    let records = unsettled_in(&connection)?;
    let mut statement = connection.prepare(
        "SELECT j.id FROM jobs j WHERE j.result = 'running' AND EXISTS (SELECT 1 FROM jobs p WHERE p.id = j.parent
            AND p.id <> j.id AND p.event = j.event AND p.trigger = j.trigger AND p.result LIKE ?1)",
    )?;
    let reruns = statement.query_map([crate::outcome::LOST_LIKE], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok((records, reruns))
}

/// The jobs still `queued` or `running`, oldest first: at start-up, what a
/// previous run left unfinished.
pub fn unsettled(path: &Path) -> Result<Vec<JobRecord>> {
    unsettled_in(&open(path)?)
}

fn unsettled_in(connection: &Connection) -> Result<Vec<JobRecord>> {
    let mut statement =
        connection.prepare(&format!("SELECT {COLUMNS} FROM jobs WHERE result IN ('queued', 'running') ORDER BY queued, id"))?;
    Ok(statement.query_map([], record_of_row)?.collect::<rusqlite::Result<_>>()?)
}

/// A job's result is its text in a `result` column (`outcome`'s, both ways).
impl rusqlite::types::FromSql for JobResult {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<JobResult> {
        value.as_str().map(JobResult::parse)
    }
}

impl rusqlite::ToSql for JobResult {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.to_string()))
    }
}

fn record_of_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        id: row.get(0)?,
        group: row.get(1)?,
        parent: row.get(2)?,
        user: row.get(3)?,
        event: row.get(4)?,
        trigger: row.get(5)?,
        chain: row.get(6)?,
        scheduled: row.get(7)?,
        queued: row.get(8)?,
        started: row.get(9)?,
        finished: row.get(10)?,
        host: row.get(11)?,
        rv: row.get(12)?,
        result: row.get(13)?,
        next: row.get(14)?,
        exit_status: row.get(15)?,
        stdout: row.get(16)?,
        stderr: row.get(17)?,
        // A single node's history names no node.
        node: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of every table, as text, in a fixed order.
    fn rows(connection: &Connection) -> Vec<String> {
        let mut rows = Vec::new();
        for (table, order) in [("jobs", "id"), ("slots", "user, event, minute"), ("watermark", "id")] {
            let mut statement = connection.prepare(&format!("SELECT * FROM {table} ORDER BY {order}")).unwrap();
            let columns = statement.column_count();
            let mut query = statement.query([]).unwrap();
            while let Some(row) = query.next().unwrap() {
                let values: Vec<String> = (0..columns).map(|i| format!("{:?}", row.get_ref(i).unwrap())).collect();
                rows.push(format!("{table}: {}", values.join(", ")));
            }
        }
        rows
    }

    #[test]
    fn a_history_of_the_schema_before_versions_is_migrated_keeping_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(include_str!("../tests/fixtures/schemas/history-0.sql")).unwrap();
        let before = rows(&old);
        assert_eq!(before.len(), 5);
        drop(old);
        let migrated = open(&path).unwrap();
        assert_eq!(migrated.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0)).unwrap(), SCHEMA_VERSION);
        assert_eq!(rows(&migrated), before, "every record as it was");
        assert_eq!(unsettled(&path).unwrap().iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["b1", "a1"]);
        assert_eq!(watermark(&path).unwrap().as_deref(), Some("2030-01-01 10:00"));
    }

    #[test]
    fn a_history_of_a_newer_schema_is_refused_with_its_version_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        drop(open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let error = open(&path).unwrap_err();
        assert!(matches!(error, Error::Version { found: 99, known: SCHEMA_VERSION }), "{error:?}");
        assert!(error.to_string().contains("schema version 99, which this hcron-scheduler (schema version 1) does not know"), "{error}");
        assert!(HistoryWriter::start(&path, Retention::default()).is_err());
        let version = Connection::open(&path).unwrap().query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0)).unwrap();
        assert_eq!(version, 99);
        Connection::open(&path).unwrap().pragma_update(None, "user_version", -1).unwrap();
        assert!(matches!(open(&path).unwrap_err(), Error::Version { found: -1, .. }), "a negative version is not one either");
    }

    fn record(id: &str, user: &str, scheduled: &str) -> JobRecord {
        JobRecord {
            id: id.into(),
            group: id.into(),
            parent: id.into(),
            user: user.into(),
            event: "/e".into(),
            trigger: "clock".into(),
            chain: "/e".into(),
            scheduled: scheduled.into(),
            queued: scheduled.into(),
            result: "queued".into(),
            ..JobRecord::default()
        }
    }

    #[test]
    fn retention_keeps_the_newest_per_user_the_recent_and_the_unfinished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let mut writer = HistoryWriter::start(&path, Retention::default()).unwrap();
        let now = crate::clock::log_datetime(&jiff::Zoned::now().datetime());
        let old = "2000-01-01 00:00:00.000000";
        for (id, user, scheduled, finished, result) in [
            ("a1", "alice", "2020-01-01 00:00:01", Some(old), "success"),
            ("a2", "alice", "2020-01-01 00:00:02", Some(now.as_str()), "success"),
            ("a3", "alice", "2020-01-01 00:00:03", Some(now.as_str()), "success"),
            ("a4", "alice", "2020-01-01 00:00:04", Some(now.as_str()), "failure: x"),
            ("a0", "alice", "2019-01-01 00:00:00", None, "queued"),
            ("b1", "bob", "2020-01-01 00:00:01", Some(now.as_str()), "success"),
        ] {
            writer.record(Change::Queued(Box::new(JobRecord {
                finished: finished.map(str::to_owned),
                result: result.into(),
                ..record(id, user, scheduled)
            })));
        }
        writer.close();
        let connection = open(&path).unwrap();
        let ids = |user| query(&path, user, None, None).unwrap().into_iter().map(|j| j.id).collect::<Vec<_>>();
        assert_eq!(prune(&connection, Retention::default()).unwrap(), 0, "no limits, nothing deleted");
        let retention = Retention { max_age: Some(std::time::Duration::from_secs(86_400)), max_per_user: Some(2) };
        assert_eq!(prune(&connection, retention).unwrap(), 2);
        assert_eq!(ids("alice"), ["a0", "a3", "a4"], "the old one, and past the newest two; never a queued one");
        assert_eq!(ids("bob"), ["b1"]);
    }

    #[test]
    fn a_new_retention_prunes_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let mut writer = HistoryWriter::start(&path, Retention::default()).unwrap();
        let now = crate::clock::log_datetime(&jiff::Zoned::now().datetime());
        for (id, scheduled) in [("a1", "2020-01-01 00:00:01"), ("a2", "2020-01-01 00:00:02"), ("a3", "2020-01-01 00:00:03")] {
            writer.record(Change::Queued(Box::new(JobRecord {
                finished: Some(now.clone()),
                result: "success".into(),
                ..record(id, "alice", scheduled)
            })));
        }
        writer.retain(Retention { max_age: None, max_per_user: Some(1) });
        // Still queued: never pruned.
        writer.record(Change::Queued(Box::new(record("a4", "alice", "2020-01-01 00:00:04"))));
        writer.close();
        let ids: Vec<String> = query(&path, "alice", None, None).unwrap().into_iter().map(|j| j.id).collect();
        assert_eq!(ids, ["a3", "a4"]);
    }

    #[test]
    fn the_unsettled_jobs_are_the_queued_and_running_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let mut writer = HistoryWriter::start(&path, Retention::default()).unwrap();
        for (id, queued, result) in
            [("c", "2020-01-01 00:00:03", "queued"), ("a", "2020-01-01 00:00:01", "running"), ("b", "2020-01-01 00:00:02", "success")]
        {
            writer.record(Change::Queued(Box::new(JobRecord {
                queued: queued.into(),
                result: result.into(),
                ..record(id, "alice", queued)
            })));
        }
        writer.close();
        let ids: Vec<String> = unsettled(&path).unwrap().into_iter().map(|j| format!("{}:{}:{}", j.id, j.user, j.result)).collect();
        assert_eq!(ids, ["a:alice:running", "c:alice:queued"]);
    }

    #[test]
    fn a_record_is_never_replaced_and_the_largest_id_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        assert_eq!(last_id(&path).unwrap(), None);
        let mut writer = HistoryWriter::start(&path, Retention::default()).unwrap();
        writer.record(Change::Queued(Box::new(record("ff", "alice", "2020-01-01 00:00:00"))));
        writer.record(Change::Queued(Box::new(record("100", "alice", "2020-01-01 00:00:01"))));
        writer.close();
        let mut writer = HistoryWriter::start(&path, Retention::default()).unwrap();
        // The same id again, in one batch with another change that must still land.
        writer.record(Change::Queued(Box::new(record("ff", "bob", "2020-01-01 00:00:02"))));
        writer.record(Change::Started { id: "100".into(), at: "2020-01-01 00:00:03".into() });
        writer.close();
        let alice = query(&path, "alice", None, None).unwrap();
        assert_eq!(
            alice.iter().map(|j| (j.id.as_str(), j.result.to_string())).collect::<Vec<_>>(),
            [("ff", "queued".into()), ("100", "running".into())]
        );
        assert!(query(&path, "bob", None, None).unwrap().is_empty());
        assert_eq!(last_id(&path).unwrap(), Some(0x100), "longer ids are larger");
    }

    #[test]
    fn records_follow_a_job_and_stay_with_their_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let mut writer = HistoryWriter::start(&path, Retention::default()).unwrap();
        writer.record(Change::Queued(Box::new(record("a1", "alice", "2020-01-01 00:00:00"))));
        writer.record(Change::Queued(Box::new(record("b1", "bob", "2020-01-01 00:00:00"))));
        writer.record(Change::Started { id: "a1".into(), at: "2020-01-01 00:00:01".into() });
        let finished = Change::Finished {
            id: "a1".into(),
            at: "t".into(),
            host: Some("localhost".into()),
            rv: Some(0),
            result: "success".into(),
            next: "/n".into(),
            exit_status: Some(0),
            stdout: Some("out".into()),
            stderr: Some(String::new()),
        };
        writer.record(finished);
        writer.close();
        let alice = query(&path, "alice", None, None).unwrap();
        assert_eq!(alice.len(), 1);
        assert_eq!((alice[0].rv, alice[0].result.clone(), alice[0].next.as_str()), (Some(0), JobResult::Success, "/n"));
        assert_eq!((alice[0].exit_status, alice[0].stdout.as_deref()), (Some(0), Some("out")));
        assert_eq!(alice[0].started.as_deref(), Some("2020-01-01 00:00:01"));
        assert!(query(&path, "alice", Some("/other"), None).unwrap().is_empty());
        assert!(query(&path, "alice", None, Some("2020-01-02")).unwrap().is_empty());
        assert_eq!(query(&path, "bob", None, None).unwrap()[0].id, "b1");
    }

    #[test]
    fn pruning_waits_for_the_hour_and_dropping_the_writer_writes_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let now = crate::clock::log_datetime(&jiff::Zoned::now().datetime());
        let finished = |id: String| {
            Change::Queued(Box::new(JobRecord {
                finished: Some(now.clone()),
                result: "success".into(),
                ..record(&id, "alice", "2020-01-01 00:00:00")
            }))
        };
        let writer = HistoryWriter::start(&path, Retention { max_age: None, max_per_user: Some(1) }).unwrap();
        for n in 0..300 {
            writer.record(finished(format!("{n:x}")));
        }
        drop(writer);
        assert_eq!(query(&path, "alice", None, None).unwrap().len(), 300, "written by the drop, and not pruned before the hour");
        let mut writer = HistoryWriter::start(&path, Retention { max_age: None, max_per_user: Some(1) }).unwrap();
        writer.close();
        assert_eq!(query(&path, "alice", None, None).unwrap().len(), 1, "pruned at the start");
    }
}
