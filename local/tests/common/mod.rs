//! What the `seams` command's tests share: the checkout it runs in and a running `seams up`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub fn start(data_dir: &Path, port: u16) -> Server {
        Self::start_with(data_dir, &["up", "--port", &port.to_string()])
    }

    /// `seams --data-dir DATA_DIR ARGUMENTS…`, which must print its address first.
    pub fn start_with(data_dir: &Path, arguments: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_seams"))
            .current_dir(workspace())
            .arg("--data-dir")
            .arg(data_dir)
            .args(arguments)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("seams up starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let base = first.split_whitespace().find(|w| w.starts_with("http://")).expect("the address").to_owned();
        Server { child, base }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Ctrl-C, as a user stops it; it must exit cleanly.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "seams up exits cleanly on Ctrl-C: {status}");
    }
}

/// A server a test neither stopped nor killed (it returned, or failed) must not outlive it:
/// dropping a `Child` leaves the process running, on a data directory about to be deleted.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
