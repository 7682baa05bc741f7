//! S3 POST Object forms (browser uploads), signed with SigV4.
//!
//! The form carries a base64 JSON *policy* whose conditions bind the bucket, the exact key, the
//! content type and a `content-length-range`, plus the algorithm, credential scope and date the
//! signature was made with; `x-amz-signature` is the hex HMAC-SHA256 of the base64 policy under
//! the SigV4 signing key of that date and region. S3 refuses a form whose fields do not satisfy
//! every condition, a field no condition names, a file outside the range, or an expired policy.
//! See AWS's "Browser-Based Uploads Using POST (AWS Signature Version 4)"; the unit tests check
//! the signing against the worked example AWS publishes there.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use time::OffsetDateTime;

use super::S3Store;
use crate::rules::{check_content_type, check_ttl};
use crate::{BlobKey, PresignedPost, StorageError};

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm S3 accepts for SigV4 POST policies.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service part of the credential scope.
const SERVICE: &str = "s3";

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The hex signature of `policy_base64`: HMAC-SHA256 under the SigV4 signing key derived from
/// `secret` for `date` (`YYYYMMDD`), `region` and `s3`.
fn sign_policy(secret: &str, date: &str, region: &str, policy_base64: &str) -> String {
    let date_key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let region_key = hmac(&date_key, region.as_bytes());
    let service_key = hmac(&region_key, SERVICE.as_bytes());
    let signing_key = hmac(&service_key, b"aws4_request");
    hex::encode(hmac(&signing_key, policy_base64.as_bytes()))
}

/// `YYYYMMDD` and `YYYYMMDDTHHMMSSZ` of `at` (UTC), as SigV4 writes them.
fn sigv4_dates(at: OffsetDateTime) -> (String, String) {
    let date = format!("{:04}{:02}{:02}", at.year(), u8::from(at.month()), at.day());
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        at.hour(),
        at.minute(),
        at.second()
    );
    (date, stamp)
}

/// The policy's `expiration`: ISO 8601 with milliseconds, as in AWS's examples.
fn iso8601(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

impl S3Store {
    /// See [`crate::BlobStore::presign_post`].
    pub(super) fn post_form(
        &self,
        key: &BlobKey,
        content_type: &str,
        max_size: u64,
        ttl: Duration,
    ) -> Result<PresignedPost, StorageError> {
        check_content_type(content_type)?;
        check_ttl(ttl)?;
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("0 is valid");
        let expires_at = now + ttl;
        let (date, stamp) = sigv4_dates(now);
        let region = self.bucket.region();
        let credential = format!(
            "{}/{date}/{region}/{SERVICE}/aws4_request",
            self.credentials.key()
        );
        let policy = json!({
            "expiration": iso8601(expires_at),
            "conditions": [
                { "bucket": self.bucket.name() },
                ["eq", "$key", key.as_str()],
                ["content-length-range", 0, max_size],
                ["eq", "$Content-Type", content_type],
                { "x-amz-algorithm": ALGORITHM },
                { "x-amz-credential": credential },
                { "x-amz-date": stamp },
            ],
        });
        let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let signature = sign_policy(self.credentials.secret(), &date, region, &policy);
        let fields = [
            ("key", key.as_str().to_owned()),
            ("Content-Type", content_type.to_owned()),
            ("x-amz-algorithm", ALGORITHM.to_owned()),
            ("x-amz-credential", credential),
            ("x-amz-date", stamp),
            ("policy", policy),
            ("x-amz-signature", signature),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        Ok(PresignedPost {
            url: self.bucket.base_url().to_string(),
            fields,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;
    use serde_json::Value;

    use super::*;
    use crate::BlobStore as _;

    /// The worked example of AWS's "Example: Browser-Based Upload using HTTP POST (Using AWS
    /// Signature Version 4)": its example secret, its policy exactly as published in base64,
    /// and the signature it gives.
    const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const AWS_POLICY_BASE64: &str = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
    const AWS_SIGNATURE: &str = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e";

    #[test]
    fn signing_matches_the_aws_worked_example() {
        assert_eq!(
            sign_policy(AWS_SECRET, "20151229", "us-east-1", AWS_POLICY_BASE64),
            AWS_SIGNATURE
        );
        // Any other date, region or policy gives another signature.
        assert_ne!(
            sign_policy(AWS_SECRET, "20151230", "us-east-1", AWS_POLICY_BASE64),
            AWS_SIGNATURE
        );
        assert_ne!(
            sign_policy(AWS_SECRET, "20151229", "eu-west-1", AWS_POLICY_BASE64),
            AWS_SIGNATURE
        );
    }

    #[test]
    fn dates_are_written_as_sigv4_and_the_policy_want() {
        let at = OffsetDateTime::from_unix_timestamp(1_451_347_200).unwrap(); // 2015-12-29 00:00
        assert_eq!(
            sigv4_dates(at),
            ("20151229".to_owned(), "20151229T000000Z".to_owned())
        );
        let noon = OffsetDateTime::from_unix_timestamp(1_451_476_800).unwrap();
        assert_eq!(iso8601(noon), "2015-12-30T12:00:00.000Z");
    }

    fn field<'a>(post: &'a PresignedPost, name: &str) -> &'a str {
        post.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no field {name}"))
    }

    #[test]
    fn the_form_binds_key_type_size_and_scope() {
        let store = S3Store::from_url(
            "s3://media?endpoint=http://127.0.0.1:9000&region=eu-west-3",
            "AKID".into(),
            SecretString::from(AWS_SECRET),
            reqwest::Client::new(),
        )
        .unwrap();
        let key = BlobKey::parse("originals/prj_1/ast_2").unwrap();
        let post = store
            .presign_post(&key, "video/mp4", 42, Duration::from_secs(600))
            .unwrap();
        assert_eq!(post.url, "http://127.0.0.1:9000/media/");
        let names: Vec<&str> = post.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "key",
                "Content-Type",
                "x-amz-algorithm",
                "x-amz-credential",
                "x-amz-date",
                "policy",
                "x-amz-signature"
            ]
        );
        assert_eq!(field(&post, "key"), "originals/prj_1/ast_2");
        let stamp = field(&post, "x-amz-date");
        let date = &stamp[..8];
        assert_eq!(
            field(&post, "x-amz-credential"),
            format!("AKID/{date}/eu-west-3/s3/aws4_request")
        );

        let policy_b64 = field(&post, "policy");
        let policy: Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(policy_b64)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(policy["expiration"], iso8601(post.expires_at));
        assert_eq!(
            policy["conditions"],
            json!([
                {"bucket": "media"},
                ["eq", "$key", "originals/prj_1/ast_2"],
                ["content-length-range", 0, 42],
                ["eq", "$Content-Type", "video/mp4"],
                {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
                {"x-amz-credential": format!("AKID/{date}/eu-west-3/s3/aws4_request")},
                {"x-amz-date": stamp},
            ])
        );
        assert_eq!(
            field(&post, "x-amz-signature"),
            sign_policy(AWS_SECRET, date, "eu-west-3", policy_b64)
        );
        assert!(
            store
                .presign_post(&key, "video/mp4\n", 42, Duration::from_secs(600))
                .is_err()
        );
        assert!(
            store
                .presign_post(&key, "video/mp4", 42, Duration::from_secs(8 * 86_400))
                .is_err()
        );
    }
}
