//! The HS256 signing secret: given, read from a file, or generated once and kept in the data
//! dir (mode 0600) so the embedded default needs no set-up and tokens survive restarts.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::Context as _;
use rand::RngCore as _;
use secrecy::SecretString;

use crate::config::{MIN_JWT_SECRET_BYTES, SecretSource};

/// Random bytes in a generated secret: 256 bits, the strength of HS256 itself.
const GENERATED_SECRET_BYTES: usize = 32;

/// Only the owner may read or write the secret file.
const SECRET_FILE_MODE: u32 = 0o600;

/// Resolves the configured source into the secret itself. Runs on a blocking thread: it does
/// file IO.
pub async fn resolve(source: SecretSource) -> anyhow::Result<SecretString> {
    tokio::task::spawn_blocking(move || match source {
        SecretSource::Inline(secret) => Ok(secret),
        SecretSource::File(path) => read_secret_file(&path),
        SecretSource::Generated(path) => read_or_generate(&path),
    })
    .await
    .context("secret resolution did not finish")?
}

fn read_secret_file(path: &Path) -> anyhow::Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the JWT secret file {}", path.display()))?;
    let secret = text.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(
        secret.len() >= MIN_JWT_SECRET_BYTES,
        "the JWT secret in {} is shorter than {MIN_JWT_SECRET_BYTES} bytes",
        path.display()
    );
    Ok(SecretString::from(secret))
}

fn read_or_generate(path: &Path) -> anyhow::Result<SecretString> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    }
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // `create_new` makes two processes starting at once agree: one writes, the other reads.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(SECRET_FILE_MODE)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a secret");
            Ok(SecretString::from(secret))
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "JWT secret file is readable by others");
            }
            let existing = read_secret_file(path)?;
            Ok(existing)
        }
        Err(err) => Err(err).with_context(|| format!("cannot create {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    fn same(a: &SecretString, b: &SecretString) -> bool {
        a.expose_secret() == b.expose_secret()
    }

    #[tokio::test]
    async fn a_generated_secret_is_kept_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("studio-secret-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("nested/jwt-secret");
        let first = resolve(SecretSource::Generated(path.clone()))
            .await
            .unwrap();
        let second = resolve(SecretSource::Generated(path.clone()))
            .await
            .unwrap();
        assert!(same(&first, &second));
        assert_eq!(first.expose_secret().len(), 2 * GENERATED_SECRET_BYTES);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, SECRET_FILE_MODE);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_short_secret_file_is_refused() {
        let path = std::env::temp_dir().join(format!("studio-short-{}", std::process::id()));
        std::fs::write(&path, "short\n").unwrap();
        let err = resolve(SecretSource::File(path.clone())).await.unwrap_err();
        assert!(err.to_string().contains("shorter"));
        assert!(!err.to_string().contains("short\n"));
        std::fs::remove_file(&path).unwrap();
    }
}
