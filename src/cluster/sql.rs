//! The cluster's tables and the statements that keep its invariants (see
//! ARCHITECTURE.md, "the ledger" and "fencing"). Every time in them is the
//! database's `now()`.

/// The schema version this build makes, reads and writes.
pub const SCHEMA_VERSION: i32 = 2;

/// The table that says the database's schema version.
pub const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS hcron_schema (id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL)";

/// The version the database says (none: new, or made before versions were kept).
pub const VERSION: &str = "SELECT version FROM hcron_schema WHERE id = 1";

/// Sets the version to $1.
pub const SET_VERSION: &str = "
    INSERT INTO hcron_schema VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = excluded.version";

/// The steps between versions: step `n` takes a database of version `n`
/// to `n + 1`, all of them in one transaction under [`SCHEMA_LOCK`], so
/// that nodes starting together migrate once. Version 0 is a new database,
/// or one made before versions were kept (whose tables the first step's
/// `IF NOT EXISTS` leaves as they are).
pub const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [SCHEMA_1, SCHEMA_2];

/// Version 1: nodes, leadership, the ledger, jobs, hosts, mail, reloads.
const SCHEMA_1: &str = "
    CREATE TABLE IF NOT EXISTS hcron_nodes (
        id text PRIMARY KEY,
        name text NOT NULL,
        number integer NOT NULL,
        started timestamptz NOT NULL DEFAULT now(),
        beat timestamptz NOT NULL DEFAULT now(),
        timeout_ms bigint NOT NULL,
        running integer NOT NULL DEFAULT 0,
        dead timestamptz
    );
    CREATE UNIQUE INDEX IF NOT EXISTS hcron_nodes_number ON hcron_nodes (number) WHERE dead IS NULL;
    ALTER TABLE hcron_nodes ADD COLUMN IF NOT EXISTS zone text;
    CREATE TABLE IF NOT EXISTS hcron_leader (
        id integer PRIMARY KEY CHECK (id = 1),
        holder text,
        epoch bigint NOT NULL,
        expires timestamptz NOT NULL
    );
    INSERT INTO hcron_leader VALUES (1, NULL, 0, '-infinity') ON CONFLICT DO NOTHING;
    CREATE TABLE IF NOT EXISTS hcron_watermark (
        id integer PRIMARY KEY CHECK (id = 1),
        minute text NOT NULL,
        epoch bigint NOT NULL
    );
    CREATE TABLE IF NOT EXISTS hcron_slots (
        owner text NOT NULL, event text NOT NULL, minute text NOT NULL,
        job text NOT NULL, epoch bigint NOT NULL, node text NOT NULL,
        PRIMARY KEY (owner, event, minute)
    );
    CREATE TABLE IF NOT EXISTS hcron_jobs (
        id text PRIMARY KEY, grp text NOT NULL, parent text NOT NULL, owner text NOT NULL, event text NOT NULL,
        trigger text NOT NULL, chain text NOT NULL, scheduled text NOT NULL, queued text NOT NULL,
        started text, finished text, host text, rv integer, result text NOT NULL, next text NOT NULL,
        exit_status integer, stdout text, stderr text,
        node text, seq bigserial NOT NULL
    );
    CREATE INDEX IF NOT EXISTS hcron_jobs_queue ON hcron_jobs (seq) WHERE result = 'queued';
    CREATE INDEX IF NOT EXISTS hcron_jobs_running ON hcron_jobs (node) WHERE result = 'running';
    CREATE INDEX IF NOT EXISTS hcron_jobs_by_owner ON hcron_jobs (owner, scheduled);
    CREATE TABLE IF NOT EXISTS hcron_hosts (
        host text PRIMARY KEY,
        offline_until timestamptz,
        probe_node text,
        probe_until timestamptz
    );
    CREATE TABLE IF NOT EXISTS hcron_mail (
        id bigserial PRIMARY KEY,
        message text NOT NULL,
        next_attempt bigint NOT NULL DEFAULT 0,
        node text,
        failed boolean NOT NULL DEFAULT false
    );
    CREATE TABLE IF NOT EXISTS hcron_reloads (
        seq bigserial PRIMARY KEY,
        node text NOT NULL,
        owner text NOT NULL,
        asked timestamptz NOT NULL DEFAULT now()
    );
";

/// Version 2: owners' turns and counts (the queue's fairness and limits,
/// counted from the jobs queued now), and when a job's event was first
/// unknown to a node that took it.
const SCHEMA_2: &str = "
    CREATE TABLE hcron_queues (
        owner text PRIMARY KEY,
        queued integer NOT NULL DEFAULT 0,
        served bigint NOT NULL DEFAULT 0
    );
    INSERT INTO hcron_queues (owner, queued) SELECT owner, count(*) FROM hcron_jobs WHERE result = 'queued' GROUP BY owner;
    CREATE INDEX hcron_jobs_turns ON hcron_jobs (owner, seq) WHERE result = 'queued';
    ALTER TABLE hcron_jobs ADD COLUMN unknown_since timestamptz;
";

/// The advisory lock key of the schema's migration.
pub const SCHEMA_LOCK: i64 = 0x6863_726f_6e00;

/// A new node: $1 id, $2 name, $3 timeout in ms, $4 time zone; the lowest
/// number no live node holds (the unique index turns a race into an error
/// to retry).
pub const REGISTER: &str = "
    INSERT INTO hcron_nodes (id, name, number, timeout_ms, zone)
    SELECT $1, $2, min(n), $3, $4 FROM generate_series(0, 63) AS n
    WHERE n NOT IN (SELECT number FROM hcron_nodes WHERE dead IS NULL)
    HAVING min(n) IS NOT NULL
    RETURNING number";

/// Live nodes other than $1 whose time zone is not $2: name and zone.
pub const OTHER_ZONES: &str =
    "SELECT name, coalesce(zone, '?') FROM hcron_nodes WHERE dead IS NULL AND id <> $1 AND zone IS DISTINCT FROM $2";

/// The largest job id (hexadecimal without leading zeros: longer is larger).
pub const LAST_ID: &str = "SELECT id FROM hcron_jobs ORDER BY length(id) DESC, id DESC LIMIT 1";

/// A beat: $1 id, $2 running jobs. No row: the node was declared dead.
pub const BEAT: &str = "UPDATE hcron_nodes SET beat = now(), running = $2 WHERE id = $1 AND dead IS NULL";

/// Takes or renews the leadership: $1 id, $2 lease in ms. A holder whose
/// lease has not run out keeps its epoch; anyone else (or a holder whose
/// lease ran out: it may have been paused) gets the next epoch. Only a live
/// node leads. Returns the epoch held.
pub const LEAD: &str = "
    UPDATE hcron_leader SET
        epoch = CASE WHEN holder = $1 AND expires > now() THEN epoch ELSE epoch + 1 END,
        holder = $1,
        expires = now() + $2 * interval '1 millisecond'
    WHERE id = 1 AND (holder = $1 OR holder IS NULL OR expires <= now())
      AND EXISTS (SELECT 1 FROM hcron_nodes WHERE id = $1 AND dead IS NULL)
    RETURNING epoch";

/// The fence of every claim: the row is locked until the claim commits, so
/// a takeover waits for it; no row: $1 does not lead under epoch $2 now.
pub const FENCE: &str = "SELECT 1 FROM hcron_leader WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires > now() FOR UPDATE";

/// The last minute planned.
pub const WATERMARK: &str = "SELECT minute FROM hcron_watermark WHERE id = 1";

/// Claims slots: parallel arrays $1 owners, $2 events, $4 jobs, at minute
/// $3, by epoch $5 and node $6; returns the jobs whose slot was free.
pub const CLAIM_SLOTS: &str = "
    INSERT INTO hcron_slots (owner, event, minute, job, epoch, node)
    SELECT o, e, $3, j, $5, $6 FROM unnest($1::text[], $2::text[], $4::text[]) AS t(o, e, j)
    ON CONFLICT DO NOTHING
    RETURNING job";

/// Moves the watermark to $1 under epoch $2.
pub const ADVANCE: &str = "
    INSERT INTO hcron_watermark VALUES (1, $1, $2)
    ON CONFLICT (id) DO UPDATE SET minute = excluded.minute, epoch = excluded.epoch";

/// Records jobs: parallel arrays of the queued record's columns, then
/// $10 each one's result (`queued`, or why it was dropped) and $11 its end
/// (none while queued).
pub const QUEUE: &str = "
    INSERT INTO hcron_jobs (id, grp, parent, owner, event, trigger, chain, scheduled, queued, result, finished, next)
    SELECT id, grp, parent, owner, event, trigger, chain, scheduled, queued, result, finished, ''
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
        $10::text[], $11::text[])
        AS t(id, grp, parent, owner, event, trigger, chain, scheduled, queued, result, finished)";

/// The advisory lock every queueing holds until it commits, so that the
/// counts the limits are held to are not raced.
pub const QUEUE_LOCK: i64 = 0x6863_726f_6e01;

/// The jobs queued of each owner of $1 (those with a count), their rows
/// locked in a fixed order.
pub const OWNERS_QUEUED: &str = "SELECT owner, queued FROM hcron_queues WHERE owner = ANY($1) ORDER BY owner FOR UPDATE";

/// The jobs queued in all.
pub const QUEUED: &str = "SELECT coalesce(sum(queued), 0)::bigint FROM hcron_queues";

/// Adds $2 jobs queued to each owner of $1.
pub const COUNT_QUEUED: &str = "
    INSERT INTO hcron_queues (owner, queued) SELECT o, n FROM unnest($1::text[], $2::integer[]) AS t(o, n)
    ON CONFLICT (owner) DO UPDATE SET queued = hcron_queues.queued + excluded.queued";

/// Takes up to $2 queued jobs for node $1 (alive), marking them running
/// since $3, in owners' turns as `engine::queue` states them: the owners
/// served least recently (then by name) each give their oldest job, then
/// each its next, up to $2; each owner served is then served last, in the
/// order of its last job taken. Owners and jobs other nodes are taking are
/// skipped.
pub const TAKE: &str = "
    WITH turns AS (
        SELECT owner, served FROM hcron_queues
        WHERE queued > 0 AND EXISTS (SELECT 1 FROM hcron_nodes WHERE id = $1 AND dead IS NULL)
        ORDER BY served, owner LIMIT $2 FOR UPDATE SKIP LOCKED
    ), candidates AS (
        SELECT c.id, t.owner, t.served, c.turn FROM turns t CROSS JOIN LATERAL (
            SELECT q.id, row_number() OVER (ORDER BY q.seq) AS turn FROM (
                SELECT id, seq FROM hcron_jobs WHERE owner = t.owner AND result = 'queued'
                ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED) AS q
        ) AS c
    ), picked AS (
        SELECT id, owner, row_number() OVER (ORDER BY turn, served, owner) AS place
        FROM candidates ORDER BY turn, served, owner LIMIT $2
    ), served AS (
        UPDATE hcron_queues AS q SET queued = q.queued - p.taken,
            served = (SELECT coalesce(max(served), 0) FROM hcron_queues) + p.last
        FROM (SELECT owner, count(*) AS taken, max(place) AS last FROM picked GROUP BY owner) AS p
        WHERE q.owner = p.owner
    )
    UPDATE hcron_jobs AS j SET result = 'running', node = $1, started = $3
    FROM picked WHERE j.id = picked.id
    RETURNING j.id, j.grp, j.parent, j.owner, j.event, j.trigger, j.chain, j.scheduled, j.queued";

/// Gives job $1, taken by node $2, back to the queue for another node (it
/// does not know the job's event yet), unless a node first gave it back
/// more than $3 seconds ago; a row when given back, saying whether this was
/// the first time.
pub const GIVE_BACK: &str = "
    WITH job AS (
        SELECT id, owner, unknown_since IS NULL AS first FROM hcron_jobs
        WHERE id = $1 AND node = $2 AND result = 'running'
          AND (unknown_since IS NULL OR unknown_since > now() - $3 * interval '1 second')
        FOR UPDATE
    ), back AS (
        UPDATE hcron_jobs AS j SET result = 'queued', node = NULL, started = NULL, unknown_since = coalesce(j.unknown_since, now())
        FROM job WHERE j.id = job.id
        RETURNING j.owner
    ), counted AS (
        UPDATE hcron_queues AS q SET queued = q.queued + 1 FROM back WHERE q.owner = back.owner
    )
    SELECT first FROM job";

/// Ends jobs run by node $1: parallel arrays of id, finished, host, rv,
/// result, next, exit status, stdout, stderr; returns the ids ended (a job
/// missing was not this node's to end: it was declared lost meanwhile).
pub const FINISH: &str = "
    UPDATE hcron_jobs AS j SET finished = t.finished, host = t.host, rv = t.rv, result = t.result, next = t.next,
        exit_status = t.exit_status, stdout = t.stdout, stderr = t.stderr
    FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::int[], $9::text[], $10::text[])
        AS t(id, finished, host, rv, result, next, exit_status, stdout, stderr)
    WHERE j.id = t.id AND j.node = $1 AND j.result = 'running'
    RETURNING j.id";

/// Gives the leadership up (a clean stop): the next node takes it at once.
pub const RESIGN: &str = "UPDATE hcron_leader SET expires = '-infinity' WHERE id = 1 AND holder = $1";

/// A clean stop's end of a node.
pub const DEPART: &str = "UPDATE hcron_nodes SET dead = now() WHERE id = $1 AND dead IS NULL";

/// Declares dead every other node whose last beat is older than its own
/// timeout; returns their names.
pub const BURY: &str = "
    UPDATE hcron_nodes SET dead = now()
    WHERE dead IS NULL AND id <> $1 AND beat + timeout_ms * interval '1 millisecond' < now()
    RETURNING name";

/// Ends as lost, at $1, every job still running on a node that is not
/// alive (declared dead, stopped with jobs running, or gone from the table
/// since); returns them with the result and whether each is itself a job
/// run again after a loss (`history::settling`; $2 is `outcome::LOST_LIKE`).
/// The result is $3, the node's name, $4: the text `outcome` writes for
/// that loss (`lost_with_node`), put together here for each node.
pub const LOSE: &str = "
    UPDATE hcron_jobs AS j
    SET result = $3 || coalesce((SELECT n.name FROM hcron_nodes n WHERE n.id = j.node), j.node) || $4,
        finished = $1
    WHERE j.result = 'running' AND NOT EXISTS (SELECT 1 FROM hcron_nodes n WHERE n.id = j.node AND n.dead IS NULL)
    RETURNING j.id, j.grp, j.parent, j.owner, j.event, j.trigger, j.chain, j.scheduled, j.queued, j.result,
        EXISTS (SELECT 1 FROM hcron_jobs p WHERE p.id = j.parent AND p.id <> j.id AND p.event = j.event
            AND p.trigger = j.trigger AND p.result LIKE $2)";

/// The jobs of owner $1, optionally of one event ($2) and since a time
/// ($3), oldest first, with every column of a record.
pub const HISTORY: &str = "
    SELECT id, grp, parent, owner, event, trigger, chain, scheduled, queued, started, finished, host, rv, result, next,
        exit_status, stdout, stderr, coalesce((SELECT n.name FROM hcron_nodes n WHERE n.id = j.node), j.node)
    FROM hcron_jobs j
    WHERE owner = $1 AND ($2::text IS NULL OR event = $2) AND ($3::text IS NULL OR scheduled >= $3)
    ORDER BY scheduled, seq";

/// Every node alive or dead within the hour: name, id, number, seconds
/// since its last beat (by the database's clock), whether it is dead,
/// whether it leads, the leader's epoch, its running jobs, its start.
pub const NODES: &str = "
    SELECT n.name, n.id, n.number, extract(epoch FROM now() - n.beat)::float8, n.dead IS NOT NULL,
        l.holder = n.id AND l.expires > now(), l.epoch,
        (SELECT count(*) FROM hcron_jobs j WHERE j.node = n.id AND j.result = 'running'),
        to_char(n.started AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
    FROM hcron_nodes n CROSS JOIN hcron_leader l
    WHERE n.dead IS NULL OR n.dead > now() - interval '1 hour'
    ORDER BY n.name, n.started";

/// The live nodes' names, the leader's marked.
pub const LIVE_NODES: &str = "
    SELECT n.name || CASE WHEN l.holder = n.id AND l.expires > now() THEN ' (leader)' ELSE '' END
    FROM hcron_nodes n CROSS JOIN hcron_leader l WHERE n.dead IS NULL ORDER BY n.name";

/// A notification for any node to deliver: $1 the message (JSON), $2 its first attempt (Unix seconds).
pub const SPOOL_MAIL: &str = "INSERT INTO hcron_mail (message, next_attempt) VALUES ($1, $2)";

/// Takes the oldest message due at $2 (Unix seconds) for live node $1,
/// skipping those a live node is delivering.
pub const TAKE_MAIL: &str = "
    UPDATE hcron_mail SET node = $1
    WHERE id = (
        SELECT id FROM hcron_mail
        WHERE NOT failed AND next_attempt <= $2
          AND (node IS NULL OR node NOT IN (SELECT id FROM hcron_nodes WHERE dead IS NULL))
        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
      AND EXISTS (SELECT 1 FROM hcron_nodes WHERE id = $1 AND dead IS NULL)
    RETURNING id, message";

/// A delivered message.
pub const MAIL_DELIVERED: &str = "DELETE FROM hcron_mail WHERE id = $1";

/// A message to try again: $2 the message, $3 when; or failed for good ($3 null).
pub const MAIL_LATER: &str =
    "UPDATE hcron_mail SET message = $2, next_attempt = coalesce($3, next_attempt), failed = $3 IS NULL, node = NULL WHERE id = $1";

/// The earliest attempt due, of messages not failed.
pub const NEXT_MAIL: &str = "SELECT min(next_attempt) FROM hcron_mail WHERE NOT failed";

/// The channels a node listens on: queued jobs, and reloads asked of a node.
pub const LISTEN: &str = "LISTEN hcron_jobs; LISTEN hcron_reload";

/// Wakes every node's dispatcher once the transaction commits.
pub const JOBS_QUEUED: &str = "SELECT pg_notify('hcron_jobs', '')";

/// Node $1 asks every node to reload user $2's tree: kept in a table, so
/// that a node that was not listening (starting, reconnecting) finds it
/// when it listens again, and told at once to those that listen.
pub const RELOAD: &str = "
    WITH asked AS (INSERT INTO hcron_reloads (node, owner) VALUES ($1, $2) RETURNING seq)
    SELECT pg_notify('hcron_reload', '') FROM asked";

/// Where a node starts reading reloads: the last one asked more than $1
/// seconds ago (its own lifetime: what was asked before it loaded its
/// trees is in them).
pub const RELOAD_MARK: &str = "SELECT coalesce(max(seq), 0) FROM hcron_reloads WHERE asked < now() - $1 * interval '1 second'";

/// The users whose reload nodes other than $2 asked after $1, each once
/// (in the order first asked), with the last number asked for each.
pub const RELOADS: &str = "SELECT owner, max(seq) FROM hcron_reloads WHERE seq > $1 AND node <> $2 GROUP BY owner ORDER BY min(seq)";

/// Host $1 is offline for $2 seconds from now (a node's failures put it
/// there, or its probe failed).
pub const HOST_OFFLINE: &str = "
    INSERT INTO hcron_hosts (host, offline_until) VALUES ($1, now() + $2 * interval '1 second')
    ON CONFLICT (host) DO UPDATE SET offline_until = excluded.offline_until, probe_node = NULL";

/// Host $1 is back.
pub const HOST_ONLINE: &str = "UPDATE hcron_hosts SET offline_until = NULL, probe_node = NULL WHERE host = $1";

/// Every host's record: its name, and the seconds it stays offline (none: online).
pub const HOSTS: &str = "
    SELECT host, CASE WHEN offline_until > now() THEN extract(epoch FROM offline_until - now())::float8 END,
        offline_until IS NOT NULL
    FROM hcron_hosts";

/// Node $2 takes the probe of host $1 for $3 seconds, unless the host is
/// still offline or another live node probes it; a row when taken.
pub const CLAIM_PROBE: &str = "
    INSERT INTO hcron_hosts (host, probe_node, probe_until) VALUES ($1, $2, now() + $3 * interval '1 second')
    ON CONFLICT (host) DO UPDATE SET probe_node = excluded.probe_node, probe_until = excluded.probe_until
    WHERE (hcron_hosts.offline_until IS NULL OR hcron_hosts.offline_until <= now())
      AND (hcron_hosts.probe_node IS NULL OR hcron_hosts.probe_node = $2 OR hcron_hosts.probe_until < now()
           OR hcron_hosts.probe_node NOT IN (SELECT id FROM hcron_nodes WHERE dead IS NULL))
    RETURNING 1";

/// Deletes ended jobs that ended before $1 (a local time, as `finished` is written).
pub const PRUNE_AGE: &str = "DELETE FROM hcron_jobs WHERE finished IS NOT NULL AND result NOT IN ('queued', 'running') AND finished < $1";

/// Deletes ended jobs past the newest $1 of each user.
pub const PRUNE_COUNT: &str = "
    DELETE FROM hcron_jobs WHERE id IN (
        SELECT id FROM (
            SELECT id, row_number() OVER (PARTITION BY owner ORDER BY scheduled DESC, seq DESC) AS n
            FROM hcron_jobs WHERE result NOT IN ('queued', 'running')) AS ranked
        WHERE n > $1)";

/// Deletes what no fence needs any more: slots more than a day behind the
/// watermark (never claimed again), nodes dead for a day (their jobs were
/// lost long since), reloads asked a day ago (every live node has read
/// them).
pub const PRUNE_FENCES: &str = "
    DELETE FROM hcron_slots WHERE minute < (
        SELECT to_char(to_timestamp(minute, 'YYYY-MM-DD HH24:MI') - interval '1 day', 'YYYY-MM-DD HH24:MI') FROM hcron_watermark WHERE id = 1);
    DELETE FROM hcron_nodes WHERE dead < now() - interval '1 day';
    DELETE FROM hcron_reloads WHERE asked < now() - interval '1 day';
";
