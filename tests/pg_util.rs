//! A real PostgreSQL 15 server for tests: its own cluster made with
//! `initdb` in a temporary directory, listening on 127.0.0.1 only, on a
//! free port, stopped and removed when dropped. Needs root (the server
//! runs as the `postgres` user).

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

/// Where Debian puts PostgreSQL 15's programs.
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running server.
pub struct PgServer {
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl PgServer {
    /// Makes and starts a server (about a second).
    pub fn start() -> PgServer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let postgres = nix::unistd::User::from_name("postgres").unwrap().expect("a postgres user");
        nix::unistd::chown(&data, Some(postgres.uid), Some(postgres.gid)).unwrap();
        run_as_postgres(
            &format!("{BIN}/initdb"),
            &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
        );
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = PgServer { dir, port };
        server.pg_ctl("start");
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `pg_ctl ACTION` on this server (`start` with its options, `stop` fast).
    fn pg_ctl(&self, action: &str) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", self.port, self.data().display());
        let log = self.data().join("server.log");
        let data = self.data();
        let mut args = vec!["-w", "-D", data.to_str().unwrap(), "-l", log.to_str().unwrap()];
        match action {
            "start" => args.extend(["-o", &options, "start"]),
            _ => args.extend(["-m", "fast", action]),
        }
        run_as_postgres(&format!("{BIN}/pg_ctl"), &args);
    }

    /// Stops the server (a database outage), keeping its data.
    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        self.pg_ctl("start");
    }

    /// The URL of database `postgres` as the superuser.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// psql running `sql`, unaligned and tuples only.
    fn psql_command(&self, sql: &str) -> Command {
        let mut command = Command::new(format!("{BIN}/psql"));
        command
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"])
            .args(["-d", "postgres", "-c", sql])
            // Bounded by the server: a statement (or a lock wait) of a minute fails.
            .env("PGCONNECT_TIMEOUT", "10")
            .env("PGOPTIONS", "-c statement_timeout=60000");
        command
    }

    /// Starts psql running `sql` in a session of its own, output discarded.
    pub fn psql_in_background(&self, sql: &str) -> std::process::Child {
        self.psql_command(sql).stdout(std::process::Stdio::null()).spawn().unwrap()
    }

    /// Runs `sql` with psql, returning its unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> String {
        let output = self.psql_command(sql).output().unwrap();
        assert!(output.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl"), "-w", "-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

fn run_as_postgres(program: &str, args: &[&str]) {
    let output = Command::new("runuser").args(["-u", "postgres", "--", program]).args(args).current_dir("/").output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
