//! The bucket lifecycle configuration studio asks of an S3-compatible store
//! (`PutBucketLifecycleConfiguration`), generated from settings as a pure function so it can be
//! printed, reviewed and tested without a store.
//!
//! Up to three rules, each with a fixed `ID` starting with [`RULE_ID_PREFIX`] so studio can tell
//! its own rules from ones an operator added by hand (applying keeps those):
//! - [`RULE_EXPIRE_TMP`]: objects under the temporary prefix expire after N days;
//! - [`RULE_ABORT_MULTIPART`]: multipart uploads still open N days after they began are
//!   aborted, bucket-wide (S3 refuses this action in a rule filtered by tag, and an upload
//!   abandoned anywhere costs the same);
//! - [`RULE_COLD_TRANSITION`] (optional): objects tagged `key=value` move to a colder storage
//!   class N days after creation. Lifecycle days count from creation, not from the last read:
//!   studio's own inactivity job decides what to tag or move.

use std::fmt::Write as _;

/// Every rule studio owns has an ID starting with this.
pub const RULE_ID_PREFIX: &str = "studio-";
/// The rule expiring temporary objects.
pub const RULE_EXPIRE_TMP: &str = "studio-expire-tmp";
/// The rule aborting incomplete multipart uploads.
pub const RULE_ABORT_MULTIPART: &str = "studio-abort-incomplete-multipart";
/// The rule moving objects tagged cold to a colder storage class.
pub const RULE_COLD_TRANSITION: &str = "studio-cold-transition";

/// The S3 XML namespace of the configuration document.
const S3_XML_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// What studio wants the bucket's lifecycle to do, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRules {
    /// Key prefix of temporary objects, e.g. `tmp/`.
    pub tmp_prefix: String,
    /// Days after creation when temporary objects expire.
    pub tmp_expiry_days: u32,
    /// Days after initiation when incomplete multipart uploads are aborted.
    pub abort_multipart_days: u32,
    /// The optional transition of objects tagged cold.
    pub cold: Option<ColdTransition>,
}

/// Objects carrying the tag `tag_key=tag_value` move to `storage_class` after `days`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdTransition {
    pub tag_key: String,
    pub tag_value: String,
    pub days: u32,
    /// An S3 storage class such as `GLACIER_IR`, `STANDARD_IA` or `DEEP_ARCHIVE`.
    pub storage_class: String,
}

/// Which objects a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleFilter {
    /// Keys starting with this (empty: the whole bucket).
    Prefix(String),
    /// Objects carrying this tag.
    Tag { key: String, value: String },
    /// A filter studio does not write (`And`, object sizes…), as it was read.
    Other,
}

/// One enabled lifecycle rule, in the subset of the schema studio writes and compares.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LifecycleRule {
    pub id: String,
    pub filter: RuleFilter,
    /// `Status` is `Enabled`.
    pub enabled: bool,
    /// `Expiration/Days`.
    pub expiration_days: Option<u32>,
    /// `AbortIncompleteMultipartUpload/DaysAfterInitiation`.
    pub abort_multipart_days: Option<u32>,
    /// `Transition/Days` and `Transition/StorageClass`.
    pub transition: Option<(u32, String)>,
}

impl LifecycleRule {
    /// Whether the rule is one of studio's own (by its ID).
    pub fn is_studio_rule(&self) -> bool {
        self.id.starts_with(RULE_ID_PREFIX)
    }
}

impl LifecycleRules {
    /// The rules, in the order they are written.
    pub fn rules(&self) -> Vec<LifecycleRule> {
        let mut rules = vec![
            LifecycleRule {
                id: RULE_EXPIRE_TMP.to_owned(),
                filter: RuleFilter::Prefix(self.tmp_prefix.clone()),
                enabled: true,
                expiration_days: Some(self.tmp_expiry_days),
                abort_multipart_days: None,
                transition: None,
            },
            LifecycleRule {
                id: RULE_ABORT_MULTIPART.to_owned(),
                filter: RuleFilter::Prefix(String::new()),
                enabled: true,
                expiration_days: None,
                abort_multipart_days: Some(self.abort_multipart_days),
                transition: None,
            },
        ];
        if let Some(cold) = &self.cold {
            rules.push(LifecycleRule {
                id: RULE_COLD_TRANSITION.to_owned(),
                filter: RuleFilter::Tag {
                    key: cold.tag_key.clone(),
                    value: cold.tag_value.clone(),
                },
                enabled: true,
                expiration_days: None,
                abort_multipart_days: None,
                transition: Some((cold.days, cold.storage_class.clone())),
            });
        }
        rules
    }

    /// The `PutBucketLifecycleConfiguration` body, indented, ending with a newline.
    pub fn to_xml(&self) -> String {
        lifecycle_xml(&self.rules(), &[])
    }
}

/// A `<LifecycleConfiguration>` document holding `rules`, then `verbatim` rules (whole
/// `<Rule>…</Rule>` elements kept as read from the store, e.g. an operator's own rules).
pub fn lifecycle_xml(rules: &[LifecycleRule], verbatim: &[&str]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(xml, "<LifecycleConfiguration xmlns=\"{S3_XML_NS}\">");
    for rule in rules {
        write_rule(&mut xml, rule);
    }
    for rule in verbatim {
        let _ = writeln!(xml, "  {}", rule.trim());
    }
    xml.push_str("</LifecycleConfiguration>\n");
    xml
}

fn write_rule(xml: &mut String, rule: &LifecycleRule) {
    xml.push_str("  <Rule>\n");
    let _ = writeln!(xml, "    <ID>{}</ID>", escape(&rule.id));
    match &rule.filter {
        RuleFilter::Prefix(prefix) => {
            let _ = writeln!(
                xml,
                "    <Filter><Prefix>{}</Prefix></Filter>",
                escape(prefix)
            );
        }
        RuleFilter::Tag { key, value } => {
            let _ = writeln!(
                xml,
                "    <Filter><Tag><Key>{}</Key><Value>{}</Value></Tag></Filter>",
                escape(key),
                escape(value)
            );
        }
        // Never generated from settings; an empty filter (the whole bucket) is the safe reading.
        RuleFilter::Other => xml.push_str("    <Filter></Filter>\n"),
    }
    let status = if rule.enabled { "Enabled" } else { "Disabled" };
    let _ = writeln!(xml, "    <Status>{status}</Status>");
    if let Some(days) = rule.expiration_days {
        let _ = writeln!(xml, "    <Expiration><Days>{days}</Days></Expiration>");
    }
    if let Some((days, class)) = &rule.transition {
        let _ = writeln!(
            xml,
            "    <Transition><Days>{days}</Days><StorageClass>{}</StorageClass></Transition>",
            escape(class)
        );
    }
    if let Some(days) = rule.abort_multipart_days {
        let _ = writeln!(
            xml,
            "    <AbortIncompleteMultipartUpload><DaysAfterInitiation>{days}\
             </DaysAfterInitiation></AbortIncompleteMultipartUpload>"
        );
    }
    xml.push_str("  </Rule>\n");
}

/// Text content and attribute escaping (all five predefined entities).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> LifecycleRules {
        LifecycleRules {
            tmp_prefix: "tmp/".into(),
            tmp_expiry_days: 1,
            abort_multipart_days: 2,
            cold: None,
        }
    }

    #[test]
    fn golden_without_cold_transition() {
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Rule>
    <ID>studio-expire-tmp</ID>
    <Filter><Prefix>tmp/</Prefix></Filter>
    <Status>Enabled</Status>
    <Expiration><Days>1</Days></Expiration>
  </Rule>
  <Rule>
    <ID>studio-abort-incomplete-multipart</ID>
    <Filter><Prefix></Prefix></Filter>
    <Status>Enabled</Status>
    <AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload>
  </Rule>
</LifecycleConfiguration>
"#;
        assert_eq!(rules().to_xml(), expected);
    }

    #[test]
    fn golden_with_cold_transition() {
        let mut rules = rules();
        rules.cold = Some(ColdTransition {
            tag_key: "studio-tier".into(),
            tag_value: "cold".into(),
            days: 30,
            storage_class: "GLACIER_IR".into(),
        });
        let xml = rules.to_xml();
        let expected_cold = "  <Rule>
    <ID>studio-cold-transition</ID>
    <Filter><Tag><Key>studio-tier</Key><Value>cold</Value></Tag></Filter>
    <Status>Enabled</Status>
    <Transition><Days>30</Days><StorageClass>GLACIER_IR</StorageClass></Transition>
  </Rule>
</LifecycleConfiguration>
";
        assert!(xml.ends_with(expected_cold), "{xml}");
        assert_eq!(xml.matches("<Rule>").count(), 3);
    }

    #[test]
    fn text_is_escaped() {
        let mut rules = rules();
        rules.tmp_prefix = "a&b<c>/\"q'/".into();
        rules.cold = Some(ColdTransition {
            tag_key: "k<&>".into(),
            tag_value: "v\"'".into(),
            days: 0,
            storage_class: "DEEP_ARCHIVE".into(),
        });
        let xml = rules.to_xml();
        assert!(
            xml.contains("<Prefix>a&amp;b&lt;c&gt;/&quot;q&apos;/</Prefix>"),
            "{xml}"
        );
        assert!(
            xml.contains("<Key>k&lt;&amp;&gt;</Key><Value>v&quot;&apos;</Value>"),
            "{xml}"
        );
    }

    #[test]
    fn verbatim_rules_follow_studios_own() {
        let foreign = "<Rule><ID>mine</ID><Filter><Prefix>logs/</Prefix></Filter>\
                       <Status>Enabled</Status><Expiration><Days>9</Days></Expiration></Rule>";
        let xml = lifecycle_xml(&rules().rules(), &[foreign]);
        assert!(
            xml.ends_with(&format!("  {foreign}\n</LifecycleConfiguration>\n")),
            "{xml}"
        );
        assert!(rules().rules().iter().all(LifecycleRule::is_studio_rule));
    }
}
