//! The `gateway` example as a child process: started with a given environment on a free
//! loopback port, asked over plain HTTP/1.1, killed when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::example::example_binary;

/// A running gateway; killed when dropped if it is still running.
pub struct Gateway {
    pub child: Child,
    pub addr: String,
}

impl Gateway {
    pub fn start(env: &[(&str, &str)]) -> Gateway {
        let mut child = Command::new(example_binary("gateway"))
            .env_clear()
            .env("BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the gateway starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let mut stderr = String::new();
            child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            panic!("the gateway did not start: {line:?} {stderr}");
        };
        // Its log goes on being read, so a gateway that logs much never blocks on a full pipe.
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Gateway { addr: addr.to_owned(), child }
    }

    /// Sends one GET with `headers`; returns status, headers and body.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers)
    }

    /// Sends one HTTP/1.1 request of any method with `headers`; returns status, headers and
    /// body.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .filter_map(|line| line.split_once(": "))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect();
        Reply { status, headers, body: body.to_owned() }
    }

    pub fn me(&self, token: &str) -> Reply {
        self.get("/me", &[("Authorization", &format!("Bearer {token}"))])
    }
}

/// Starts the gateway with `env` (and `BIND`), expects it to stop at once with exit code 2
/// naming `expected`, never showing the secret `hunter2` some cases carry; returns its stderr.
pub fn assert_misconfigured(env: &[(&str, &str)], expected: &str) -> String {
    let output = Command::new(example_binary("gateway"))
        .env_clear()
        .env("BIND", "127.0.0.1:0")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{env:?}: {stderr}");
    assert!(stderr.contains(expected), "{env:?} should mention {expected}: {stderr}");
    assert!(!stderr.contains("hunter2"), "{env:?}: the secret is shown: {stderr}");
    stderr
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}
