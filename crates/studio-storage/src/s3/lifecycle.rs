//! The bucket's lifecycle configuration on S3: `GET` and `PUT /?lifecycle`, and
//! [`S3Store::apply_lifecycle`], which puts studio's rules while keeping an operator's own.
//!
//! rusty-s3 has no action for this sub-resource, so the calls are presigned with its generic
//! signer (`rusty_s3::signing::sign`) over the bucket URL with the `lifecycle` query parameter.
//! A PUT replaces the whole configuration, and S3 requires a `Content-MD5` (or checksum) header
//! on it: both the MD5 and the type are signed.

use std::time::Duration;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use reqwest::Method;

use super::S3Store;
use super::transport::{Call, read_xml};
use super::xml;
use crate::StorageError;
use crate::lifecycle::{LifecycleRule, LifecycleRules, RuleFilter, lifecycle_xml};

/// The query parameter naming the sub-resource.
const LIFECYCLE_PARAM: &str = "lifecycle";
/// Signatures of these calls are used at once.
const SIGN_TTL: Duration = Duration::from_secs(5 * 60);
/// The error S3 answers a GET with when the bucket has no lifecycle configuration.
const NO_CONFIGURATION: &str = "NoSuchLifecycleConfiguration";

/// What [`S3Store::apply_lifecycle`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleApplied {
    /// The bucket already had exactly studio's rules: nothing was sent.
    Unchanged,
    /// The configuration was put and read back equal; `kept` rules not studio's were kept.
    Updated { kept: usize },
}

/// A rule read from the store, with its `<Rule>` element as it was read.
#[derive(Debug, Clone)]
pub struct ReadRule {
    pub rule: LifecycleRule,
    pub raw: String,
}

impl S3Store {
    /// The bucket's lifecycle configuration document, or `None` when it has none.
    pub async fn get_lifecycle_xml(&self) -> Result<Option<String>, StorageError> {
        let call = self.lifecycle_call(Method::GET, Vec::new());
        let response = match call.send(&self.http).await? {
            Ok(response) => response,
            Err(f) if f.is(NO_CONFIGURATION) => return Ok(None),
            Err(f) => return Err(f.into_error("GetBucketLifecycleConfiguration")),
        };
        match read_xml(response, "GetBucketLifecycleConfiguration").await? {
            Ok(body) => Ok(Some(body)),
            Err(f) if f.is(NO_CONFIGURATION) => Ok(None),
            Err(f) => Err(f.into_error("GetBucketLifecycleConfiguration")),
        }
    }

    /// The bucket's lifecycle rules (empty when it has no configuration).
    pub async fn get_lifecycle(&self) -> Result<Vec<ReadRule>, StorageError> {
        let Some(body) = self.get_lifecycle_xml().await? else {
            return Ok(Vec::new());
        };
        if !xml::root_is(&body, "LifecycleConfiguration") {
            return Err(StorageError::Protocol(
                "GetBucketLifecycleConfiguration: answer is not a LifecycleConfiguration".into(),
            ));
        }
        Ok(parse_rules(&body))
    }

    /// Replaces the bucket's lifecycle configuration with `document`.
    pub async fn put_lifecycle_xml(&self, document: &str) -> Result<(), StorageError> {
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(document));
        let headers = vec![
            ("content-md5".to_owned(), md5),
            ("content-type".to_owned(), "application/xml".to_owned()),
        ];
        let call = self
            .lifecycle_call(Method::PUT, headers)
            .body(document.to_owned());
        match call.send(&self.http).await? {
            Ok(_) => Ok(()),
            Err(f) => Err(f.into_error("PutBucketLifecycleConfiguration")),
        }
    }

    /// Makes studio's rules in the bucket equal `rules`, keeping every rule whose ID is not
    /// studio's as it was; a bucket that already matches is left untouched (so applying twice
    /// sends one PUT). The result is read back and compared.
    pub async fn apply_lifecycle(
        &self,
        rules: &LifecycleRules,
    ) -> Result<LifecycleApplied, StorageError> {
        let wanted = sorted(rules.rules());
        let current = self.get_lifecycle().await?;
        let (ours, theirs): (Vec<_>, Vec<_>) =
            current.into_iter().partition(|r| r.rule.is_studio_rule());
        if sorted(ours.into_iter().map(|r| r.rule).collect()) == wanted {
            return Ok(LifecycleApplied::Unchanged);
        }
        let kept: Vec<&str> = theirs.iter().map(|r| r.raw.as_str()).collect();
        self.put_lifecycle_xml(&lifecycle_xml(&rules.rules(), &kept))
            .await?;
        let read_back: Vec<LifecycleRule> = self
            .get_lifecycle()
            .await?
            .into_iter()
            .map(|r| r.rule)
            .filter(LifecycleRule::is_studio_rule)
            .collect();
        if sorted(read_back) != wanted {
            return Err(StorageError::Protocol(
                "PutBucketLifecycleConfiguration: the store kept other rules than it was sent"
                    .into(),
            ));
        }
        Ok(LifecycleApplied::Updated { kept: kept.len() })
    }

    /// A call on `/{bucket}?lifecycle`, `headers` signed.
    fn lifecycle_call(&self, method: Method, mut headers: Vec<(String, String)>) -> Call {
        // The signer wants headers sorted by (lowercase) name.
        headers.sort();
        let signer_method = if method == Method::PUT {
            rusty_s3::Method::Put
        } else {
            rusty_s3::Method::Get
        };
        let url = rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            signer_method,
            self.bucket.base_url().clone(),
            self.credentials.key(),
            self.credentials.secret(),
            self.credentials.token(),
            self.bucket.region(),
            SIGN_TTL.as_secs(),
            std::iter::once((LIFECYCLE_PARAM, "")),
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        );
        Call {
            method,
            url,
            headers,
            body: None,
        }
    }
}

fn sorted(mut rules: Vec<LifecycleRule>) -> Vec<LifecycleRule> {
    rules.sort();
    rules
}

/// The rules of a `LifecycleConfiguration` document, in the subset studio writes.
pub fn parse_rules(document: &str) -> Vec<ReadRule> {
    xml::elements(document, "Rule")
        .into_iter()
        .map(|inner| ReadRule {
            rule: parse_rule(inner),
            raw: format!("<Rule>{inner}</Rule>"),
        })
        .collect()
}

fn parse_rule(rule: &str) -> LifecycleRule {
    let days = |element: &str, tag: &str| {
        xml::elements(rule, element)
            .first()
            .and_then(|e| xml::text(e, tag))
            .and_then(|d| d.parse().ok())
    };
    let transition = xml::elements(rule, "Transition").first().and_then(|t| {
        let days = xml::text(t, "Days")?.parse().ok()?;
        Some((days, xml::text(t, "StorageClass")?))
    });
    LifecycleRule {
        id: xml::text(rule, "ID").unwrap_or_default(),
        filter: parse_filter(rule),
        enabled: xml::text(rule, "Status").as_deref() == Some("Enabled"),
        expiration_days: days("Expiration", "Days"),
        abort_multipart_days: days("AbortIncompleteMultipartUpload", "DaysAfterInitiation"),
        transition,
    }
}

/// `<Filter>` (or the deprecated rule-level `<Prefix>`); no filter means the whole bucket.
fn parse_filter(rule: &str) -> RuleFilter {
    let Some(filter) = xml::elements(rule, "Filter").first().copied() else {
        return RuleFilter::Prefix(xml::text(rule, "Prefix").unwrap_or_default());
    };
    let other = ["And", "ObjectSizeGreaterThan", "ObjectSizeLessThan"];
    if other
        .iter()
        .any(|tag| !xml::elements(filter, tag).is_empty())
    {
        return RuleFilter::Other;
    }
    if let Some(tag) = xml::elements(filter, "Tag").first() {
        return RuleFilter::Tag {
            key: xml::text(tag, "Key").unwrap_or_default(),
            value: xml::text(tag, "Value").unwrap_or_default(),
        };
    }
    RuleFilter::Prefix(xml::text(filter, "Prefix").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::ColdTransition;

    fn rules() -> LifecycleRules {
        LifecycleRules {
            tmp_prefix: "tmp/&x".into(),
            tmp_expiry_days: 3,
            abort_multipart_days: 4,
            cold: Some(ColdTransition {
                tag_key: "studio-tier".into(),
                tag_value: "cold".into(),
                days: 30,
                storage_class: "STANDARD_IA".into(),
            }),
        }
    }

    #[test]
    fn what_is_written_reads_back_equal() {
        let read: Vec<_> = parse_rules(&rules().to_xml())
            .into_iter()
            .map(|r| r.rule)
            .collect();
        assert_eq!(read, rules().rules());
    }

    #[test]
    fn reads_what_stores_answer() {
        // AWS-style answer: no namespace prefix issues, an empty prefix as `<Prefix/>`, the
        // deprecated rule-level prefix, an `And` filter and a noncurrent-version action.
        let answer = r#"<?xml version="1.0" encoding="UTF-8"?>
<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Rule><ID>studio-abort-incomplete-multipart</ID><Filter><Prefix/></Filter><Status>Enabled</Status>
<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>
<Rule><ID>old</ID><Prefix>logs/</Prefix><Status>Disabled</Status>
<NoncurrentVersionExpiration><NoncurrentDays>5</NoncurrentDays></NoncurrentVersionExpiration></Rule>
<Rule><ID>both</ID><Filter><And><Prefix>a/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>
<Status>Enabled</Status><Expiration><Days>7</Days></Expiration></Rule>
</LifecycleConfiguration>"#;
        let read = parse_rules(answer);
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].rule.filter, RuleFilter::Prefix(String::new()));
        assert_eq!(read[0].rule.abort_multipart_days, Some(2));
        assert!(read[0].rule.is_studio_rule());
        let old = &read[1].rule;
        assert_eq!(old.filter, RuleFilter::Prefix("logs/".into()));
        assert!(!old.enabled && old.expiration_days.is_none());
        assert_eq!(read[2].rule.filter, RuleFilter::Other);
        assert_eq!(read[2].rule.expiration_days, Some(7));
        assert!(read[2].raw.starts_with("<Rule><ID>both</ID>"));
        assert!(read[2].raw.ends_with("</Rule>"));
    }
}
