//! Files on object stores (S3 and S3-compatible), for flow destinations: upload a finished local
//! file, list, copy and delete. A flow stages its files under a hidden prefix and copies them
//! into place only when the run succeeded; an object appears only once its upload completes.

use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sfarrow_client::{Error, Result};
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// Upload parts of this size: S3's minimum is 5 MiB.
const PART: usize = 8 * 1024 * 1024;

pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    url: String,
}

fn store_error(what: &str, e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { path, .. } => {
            Error::config(format!("{what}: {path} does not exist"))
        }
        other => Error::transport(format!("{what}: {other}")),
    }
}

impl Bucket {
    /// `s3://bucket` with options such as `endpoint`, `region`, `access_key_id`,
    /// `secret_access_key`, `allow_http` (object_store's names, with or without `aws_`); the
    /// AWS environment variables fill what the options leave out.
    pub fn open(url: &str, options: &[(String, String)]) -> Result<Bucket> {
        let bucket = url
            .strip_prefix("s3://")
            .map(|rest| rest.split('/').next().unwrap_or(""))
            .filter(|b| !b.is_empty())
            .ok_or_else(|| Error::config(format!("expected s3://bucket/prefix, got {url:?}")))?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (key, value) in options {
            let parsed: AmazonS3ConfigKey = key
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| Error::config(format!("unknown S3 storage option {key:?}")))?;
            builder = builder.with_config(parsed, value);
        }
        let store = builder
            .build()
            .map_err(|e| Error::config(format!("cannot open {url}: {e}")))?;
        Ok(Bucket {
            store: Arc::new(store),
            url: format!("s3://{bucket}"),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Uploads a local file to `key` in parts, so memory stays at a part or two.
    pub async fn put_file(&self, local: &std::path::Path, key: &str) -> Result<u64> {
        let what = format!("uploading {} to {}/{key}", local.display(), self.url);
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| Error::config(format!("{what}: {e}")))?;
        let upload = self
            .store
            .put_multipart(&Path::from(key))
            .await
            .map_err(|e| store_error(&what, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buf = vec![0u8; 1024 * 1024];
        let mut total = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| Error::config(format!("{what}: {e}")))?;
            if n == 0 {
                break;
            }
            writer
                .wait_for_capacity(4)
                .await
                .map_err(|e| store_error(&what, e))?;
            writer.write(&buf[..n]);
            total += n as u64;
        }
        writer.finish().await.map_err(|e| store_error(&what, e))?;
        Ok(total)
    }

    /// Keys and sizes under a prefix (all depths).
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let prefix = Path::from(prefix);
        self.store
            .list(Some(&prefix))
            .map_ok(|m| (m.location.to_string(), m.size))
            .try_collect()
            .await
            .map_err(|e| store_error(&format!("listing {}/{prefix}", self.url), e))
    }

    pub async fn copy(&self, from: &str, to: &str) -> Result<()> {
        self.store
            .copy(&Path::from(from), &Path::from(to))
            .await
            .map_err(|e| store_error(&format!("copying {from} to {to}"), e))
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(&format!("deleting {}/{key}", self.url), e)),
        }
    }

    pub async fn get(&self, key: &str) -> Result<bytes::Bytes> {
        let what = format!("reading {}/{key}", self.url);
        self.store
            .get(&Path::from(key))
            .await
            .map_err(|e| store_error(&what, e))?
            .bytes()
            .await
            .map_err(|e| store_error(&what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_options_are_checked() {
        assert!(Bucket::open("gs://x", &[]).is_err());
        assert!(Bucket::open("s3://", &[]).is_err());
        let e = Bucket::open("s3://b", &[("no_such".into(), "1".into())])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("unknown S3 storage option"), "{e}");
        let ok = Bucket::open(
            "s3://b/prefix",
            &[
                ("aws_endpoint".into(), "http://127.0.0.1:9".into()),
                ("aws_region".into(), "us-east-1".into()),
                ("allow_http".into(), "true".into()),
            ],
        );
        assert_eq!(
            ok.map(|b| b.url().to_string()).ok().as_deref(),
            Some("s3://b")
        );
    }
}
