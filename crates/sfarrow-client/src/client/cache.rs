//! The token cache a user may ask for: the refresh token and where it works, in a file only the
//! user can read (0600), replaced atomically so a crash never leaves half a file.

use crate::error::{Error, Result};
use std::path::Path;

#[derive(serde::Serialize, serde::Deserialize, Clone, PartialEq, Eq)]
pub struct CachedToken {
    pub login_url: String,
    pub client_id: String,
    pub instance_url: String,
    pub refresh_token: String,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CachedToken({}, {})", self.login_url, self.instance_url)
    }
}

/// The cached token for this app and login host, if the file holds one.
pub fn read(path: &Path, login_url: &str, client_id: &str) -> Option<CachedToken> {
    let text = std::fs::read_to_string(path).ok()?;
    let t: CachedToken = serde_json::from_str(&text).ok()?;
    (t.login_url == login_url && t.client_id == client_id).then_some(t)
}

/// Writes the cache: a new temporary file beside it (a unique name, created exclusively, never
/// through a symlink, readable by the user alone from its first byte), then renamed over it. A
/// stale or planted file at any name cannot lend the token its permissions or its target.
pub fn write(path: &Path, token: &CachedToken) -> Result<()> {
    let text = serde_json::to_string_pretty(token).map_err(|e| Error::config(e.to_string()))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |what: &Path, e: std::io::Error| {
        Error::config(format!(
            "cannot write the token cache {}: {e}",
            what.display()
        ))
    };
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(|e| fail(dir, e))?;
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("sfarrow-token");
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), unique()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let written = opts.open(&tmp).and_then(|mut f| {
        use std::io::Write;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(path, e));
    }
    Ok(())
}

/// A name part no other writer picks: the clock's nanoseconds and a process-wide counter.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_private_and_scoped() {
        let dir = std::env::temp_dir().join(format!("sfarrow-cache-test-{}", std::process::id()));
        let path = dir.join("token.json");
        let t = CachedToken {
            login_url: "https://login.salesforce.com".into(),
            client_id: "abc".into(),
            instance_url: "https://x.my.salesforce.com".into(),
            refresh_token: "5Aep-secret".into(),
        };
        write(&path, &t).unwrap();
        assert_eq!(
            read(&path, "https://login.salesforce.com", "abc"),
            Some(t.clone())
        );
        assert_eq!(read(&path, "https://test.salesforce.com", "abc"), None);
        assert!(!format!("{t:?}").contains("secret"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[cfg(unix)]
    #[test]
    fn stale_and_planted_files_change_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("sfarrow-cache-plant-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token.json");
        // The names an older version used, planted: a world-readable stale file and a symlink.
        let stale = dir.join(".token.json.tmp");
        std::fs::write(&stale, "old").unwrap();
        std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).unwrap();
        let target = dir.join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.join(".token.json.link")).unwrap();
        let t = CachedToken {
            login_url: "l".into(),
            client_id: "c".into(),
            instance_url: "i".into(),
            refresh_token: "5Aep-secret".into(),
        };
        write(&path, &t).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!target.exists(), "the token went through a symlink");
        assert_eq!(std::fs::read_to_string(&stale).unwrap(), "old");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(".token.json.tmp")]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
