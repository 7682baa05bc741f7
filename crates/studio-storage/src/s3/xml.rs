//! The little XML the S3 backend reads and writes.
//!
//! Why not rusty-s3's parsers: its `ListPartsResponse` requires an `ETag` per part, which
//! `s3s-fs` does not send, and its parsers require the S3 namespace, which some compatible
//! servers omit. The responses we read are flat and never nest an element in one of the same
//! name, so locating elements by tag is enough. Its `CompleteMultipartUpload::body` numbers parts
//! 1..=n itself, so it cannot name parts 1, 3, 4: we write that body ourselves too.

use crate::CompletedPart;

/// The inner text of each `<tag>…</tag>` element (or empty for `<tag/>`), in order.
pub(super) fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end_of_open) = after.find('>') else {
            break;
        };
        // `<tagX…>` is another element: only `>`, `/` or whitespace may follow the name.
        match after.as_bytes().first() {
            Some(b'>' | b'/') => {}
            Some(b) if b.is_ascii_whitespace() => {}
            _ => {
                rest = after;
                continue;
            }
        }
        if after[..end_of_open].ends_with('/') {
            found.push("");
            rest = &after[end_of_open + 1..];
            continue;
        }
        let body = &after[end_of_open + 1..];
        let Some(len) = body.find(&close) else {
            break;
        };
        found.push(&body[..len]);
        rest = &body[len + close.len()..];
    }
    found
}

/// The unescaped text of the first `<tag>` element.
pub(super) fn text(xml: &str, tag: &str) -> Option<String> {
    elements(xml, tag).first().map(|t| unescape(t.trim()))
}

/// Whether the document's root element is `<tag>` (after any declaration).
pub(super) fn root_is(xml: &str, tag: &str) -> bool {
    let mut rest = xml.trim_start();
    if rest.starts_with("<?") {
        rest = rest.find("?>").map_or("", |i| rest[i + 2..].trim_start());
    }
    rest.strip_prefix('<')
        .and_then(|r| r.strip_prefix(tag))
        .is_some_and(|r| r.starts_with(['>', ' ', '/', '\t', '\r', '\n']))
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let c = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e => e
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| e.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The body of CompleteMultipartUpload, with quoted etags as AWS documents them.
pub(super) fn complete_body(parts: &[CompletedPart]) -> String {
    let mut body = String::from(
        r#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
    );
    for part in parts {
        let etag = crate::rules::normalize_etag(&part.etag);
        body.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>",
            part.part_number,
            escape(etag)
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket>
<IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker>
<Part><PartNumber>1</PartNumber><ETag>&quot;aa&quot;</ETag><Size>5</Size></Part>
<Part>
  <PartNumber>2</PartNumber><LastModified>x</LastModified><Size>7</Size>
</Part><PartNumberMarker/></ListPartsResult>"#;

    #[test]
    fn reads_parts_with_and_without_etags() {
        assert!(root_is(LIST, "ListPartsResult"));
        assert!(!root_is(LIST, "Error"));
        let parts = elements(LIST, "Part");
        assert_eq!(parts.len(), 2);
        assert_eq!(text(parts[0], "ETag").as_deref(), Some("\"aa\""));
        assert_eq!(text(parts[1], "ETag"), None);
        assert_eq!(text(parts[1], "Size").as_deref(), Some("7"));
        assert_eq!(text(LIST, "IsTruncated").as_deref(), Some("true"));
        assert_eq!(text(LIST, "PartNumberMarker").as_deref(), Some(""));
    }

    #[test]
    fn reads_errors() {
        let xml =
            "<Error><Code>NoSuchUpload</Code><Message>a &lt;b&gt; &#x41;&#66;</Message></Error>";
        assert!(root_is(xml, "Error"));
        assert_eq!(text(xml, "Code").as_deref(), Some("NoSuchUpload"));
        assert_eq!(text(xml, "Message").as_deref(), Some("a <b> AB"));
    }

    #[test]
    fn writes_the_completion_body() {
        let parts = [
            CompletedPart {
                part_number: 1,
                etag: "\"a\"".into(),
            },
            CompletedPart {
                part_number: 3,
                etag: "b<".into(),
            },
        ];
        assert!(complete_body(&parts).contains(
            "<Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part><Part><PartNumber>3</PartNumber><ETag>\"b&lt;\"</ETag></Part>"
        ));
    }
}
