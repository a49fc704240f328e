//! A server the tests start as a child process (Node.js scripts, a built example): its first
//! stdout line says it is ready, its stderr is kept for the failure message, and it is killed
//! (and reaped) when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct ChildProcess {
    name: &'static str,
    /// What to do when the process cannot be started or is not ready.
    hint: &'static str,
    child: Child,
    /// Held open: the scripts exit when their stdin closes, so they also go when the test
    /// process dies without running destructors.
    _stdin: Option<ChildStdin>,
    log: Arc<Mutex<String>>,
    log_thread: Option<JoinHandle<()>>,
}

impl ChildProcess {
    /// Spawns `command` and returns it with its first stdout line (trimmed), waiting at most
    /// `timeout` for that line; panics with `hint` and the process's log otherwise.
    pub fn start(
        name: &'static str,
        hint: &'static str,
        timeout: Duration,
        command: &mut Command,
    ) -> (ChildProcess, String) {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning the {name} failed: {e}\n{hint}"));
        let log = Arc::new(Mutex::new(String::new()));
        let log_thread = {
            let log = Arc::clone(&log);
            let mut stderr = BufReader::new(child.stderr.take().unwrap());
            std::thread::spawn(move || {
                let mut line = String::new();
                while matches!(stderr.read_line(&mut line), Ok(n) if n > 0) {
                    log.lock().unwrap().push_str(&line);
                    line.clear();
                }
            })
        };
        // The first stdout line is the answer; the rest is drained so the child never blocks.
        let (tx, rx) = mpsc::channel();
        {
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = tx.send(stdout.read_line(&mut line).map(|_| line));
                let _ = std::io::copy(&mut stdout, &mut std::io::sink());
            });
        }
        let stdin = child.stdin.take();
        let mut process =
            ChildProcess { name, hint, child, _stdin: stdin, log, log_thread: Some(log_thread) };
        let line = match rx.recv_timeout(timeout) {
            Ok(Ok(line)) if !line.is_empty() => line,
            Ok(Ok(_)) => process.fail("exited before saying it was ready"),
            Ok(Err(e)) => process.fail(&format!("reading its stdout failed: {e}")),
            Err(_) => process.fail(&format!("was not ready within {timeout:?}")),
        };
        (process, line.trim().to_owned())
    }

    /// Kills the process (it stops answering; its port is closed).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(thread) = self.log_thread.take() {
            let _ = thread.join();
        }
    }

    /// Kills the process and panics with `what` and everything it logged.
    pub fn fail(&mut self, what: &str) -> ! {
        self.stop();
        panic!(
            "the {} {what}\n--- its log ---\n{}\n---------------\n{}",
            self.name,
            self.log.lock().unwrap(),
            self.hint
        );
    }

    /// Everything it has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log.lock().unwrap());
        }
    }
}
