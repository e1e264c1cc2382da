//! A function binary with bad configuration stops at init with one line naming the variables.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `binary` with only `env` set and asserts it exits 1 within seconds, printing one
/// line that names every variable in `named`.
pub fn assert_refuses_to_start(binary: &str, env: &[(&str, &str)], named: &[&str]) {
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("{binary} kept running with bad configuration");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(1), "{binary}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line, got: {stderr}");
    for name in named {
        assert!(stderr.contains(name), "{name} not named in: {stderr}");
    }
}
