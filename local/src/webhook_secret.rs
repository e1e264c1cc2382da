//! The local runner's webhook key: without `SEAMS_WEBHOOK_SIGNING_SECRET`, webhooks are
//! still signed, with a key made on first start and kept in the data directory (readable by
//! its owner only) so receivers can verify across restarts.

use std::io::Write;
use std::path::{Path, PathBuf};

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("webhook-secret")
}

/// The kept key, made first if there is none.
pub fn kept_or_new(data_dir: &Path) -> Result<String, String> {
    let path = path(data_dir);
    let shown = path.display();
    match std::fs::read_to_string(&path) {
        Ok(secret) if !secret.trim().is_empty() => return Ok(secret.trim().to_owned()),
        Ok(_) => return Err(format!("{shown} is empty: delete it to have a new key made")),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(format!("cannot read {shown}: {e}")),
        Err(_) => {}
    }
    std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let secret = output::signing::new_secret();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => file.write_all(secret.as_bytes()).map_err(|e| format!("cannot write {shown}: {e}"))?,
        // Another runner on the same directory made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return kept_or_new(data_dir),
        Err(e) => return Err(format!("cannot create {shown}: {e}")),
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_kept_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = kept_or_new(dir.path()).unwrap();
        assert!(first.starts_with("whsec_"), "{first}");
        assert_eq!(kept_or_new(dir.path()).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(path(dir.path()), "").unwrap();
        assert!(kept_or_new(dir.path()).unwrap_err().contains("is empty"));
    }
}
