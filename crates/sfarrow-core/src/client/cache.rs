//! The token cache a user may ask for: the refresh token and where it works, in a file only the
//! user can read (0600), replaced atomically so a crash never leaves half a file.

use super::error::{Error, Result};
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

pub fn write(path: &Path, token: &CachedToken) -> Result<()> {
    let text = serde_json::to_string_pretty(token).map_err(|e| Error::config(e.to_string()))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::config(format!("cannot create {}: {e}", dir.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("sfarrow-token")
    ));
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| {
            Error::config(format!(
                "cannot write the token cache {}: {e}",
                tmp.display()
            ))
        })?;
        f.write_all(text.as_bytes())
            .map_err(|e| Error::config(format!("cannot write the token cache: {e}")))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        Error::config(format!(
            "cannot write the token cache {}: {e}",
            path.display()
        ))
    })
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
}
