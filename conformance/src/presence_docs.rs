//! Presence documents as the checks judge them: parsed (roxmltree), held
//! to the rules of their RFC, and compared for meaning, never searched as
//! text. PIDF (RFC 3863 §4), the RLMI root of a resource list's
//! notification (RFC 4662 §5) and the multipart/related body that carries
//! both (RFC 2387, RFC 2046 §5.1).

use roxmltree::{Document, Node};
use std::collections::HashSet;

const PIDF_NS: &str = "urn:ietf:params:xml:ns:pidf";
const RLMI_NS: &str = "urn:ietf:params:xml:ns:rlmi";
/// Bigger than any presence body a check sends: what arrives is hostile.
const MAX_DOC: usize = 64 * 1024;
/// Presence documents nest a handful of levels; [`canon`] recurses, so a
/// deeper one is refused before it is read.
const MAX_DEPTH: usize = 32;

/// A PIDF document, reduced to what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pidf {
    entity: String,
    tuples: Vec<Tuple>,
    /// `xml:lang` and text of each presence-level note.
    notes: Vec<String>,
    /// Elements of other namespaces (RPID persons, devices), canonical.
    extensions: Vec<String>,
}

/// One `<tuple>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tuple {
    id: String,
    basic: Option<String>,
    /// Status extensions (RPID and the like), canonical.
    status_extensions: Vec<String>,
    contact: Option<String>,
    priority: Option<String>,
    notes: Vec<String>,
    timestamp: Option<String>,
    extensions: Vec<String>,
}

fn parse_xml(bytes: &[u8]) -> Result<Document<'_>, String> {
    if bytes.len() > MAX_DOC {
        return Err(format!("{} bytes, over {MAX_DOC}", bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let doc = Document::parse(text).map_err(|e| format!("not well-formed XML: {e}"))?;
    // `ancestors` counts the element itself and the document node.
    let too_deep = doc
        .descendants()
        .any(|n| n.is_element() && n.ancestors().take(MAX_DEPTH + 2).count() > MAX_DEPTH + 1);
    if too_deep {
        return Err(format!("elements nested over {MAX_DEPTH} deep"));
    }
    Ok(doc)
}

fn is(n: &Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == name
}

fn text(n: &Node<'_, '_>) -> String {
    n.text().unwrap_or_default().trim().to_string()
}

/// An element as a string that two equivalent serialisations share:
/// expanded name, sorted attributes, trimmed text, children in order.
fn canon(n: &Node<'_, '_>) -> String {
    let mut attrs: Vec<String> = n
        .attributes()
        .map(|a| {
            format!(
                "{{{}}}{}={:?}",
                a.namespace().unwrap_or(""),
                a.name(),
                a.value()
            )
        })
        .collect();
    attrs.sort();
    let children: Vec<String> = n
        .children()
        .filter(|c| c.is_element())
        .map(|c| canon(&c))
        .collect();
    let own_text: String = n
        .children()
        .filter(|c| c.is_text())
        .map(|c| c.text().unwrap_or_default().trim().to_string())
        .collect();
    format!(
        "{{{}}}{}[{}]({:?}){{{}}}",
        n.tag_name().namespace().unwrap_or(""),
        n.tag_name().name(),
        attrs.join(","),
        own_text,
        children.join(",")
    )
}

fn note(n: &Node<'_, '_>) -> String {
    let lang = n
        .attribute(("http://www.w3.org/XML/1998/namespace", "lang"))
        .unwrap_or("");
    format!("[{lang}] {}", text(n))
}

impl Pidf {
    /// Parses and validates a PIDF document (RFC 3863 §4.1): a `presence`
    /// root with an `entity`, tuples with unique ids, each with one
    /// `status` whose `basic` is `open` or `closed`, contact priorities
    /// between 0 and 1.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Pidf, String> {
        let doc = parse_xml(bytes)?;
        let root = doc.root_element();
        if !is(&root, PIDF_NS, "presence") {
            return Err(format!(
                "the root is {:?} in namespace {:?}, not presence in {PIDF_NS}",
                root.tag_name().name(),
                root.tag_name().namespace().unwrap_or("none")
            ));
        }
        let entity = root
            .attribute("entity")
            .filter(|e| e.contains(':'))
            .ok_or("presence has no entity URI (RFC 3863 §4.1.1)")?
            .to_string();
        let (mut tuples, mut notes, mut extensions) = (Vec::new(), Vec::new(), Vec::new());
        let mut ids = HashSet::new();
        for child in root.children().filter(Node::is_element) {
            if is(&child, PIDF_NS, "tuple") {
                let t = tuple(&child)?;
                if !ids.insert(t.id.clone()) {
                    return Err(format!(
                        "tuple id {:?} is used twice (RFC 3863 §4.1.2)",
                        t.id
                    ));
                }
                tuples.push(t);
            } else if is(&child, PIDF_NS, "note") {
                notes.push(note(&child));
            } else if child.tag_name().namespace() == Some(PIDF_NS) {
                return Err(format!(
                    "presence holds an unknown PIDF element {:?}",
                    child.tag_name().name()
                ));
            } else {
                extensions.push(canon(&child));
            }
        }
        Ok(Pidf {
            entity,
            tuples,
            notes,
            extensions,
        })
    }

    /// What changed from `self` (as sent) to `got` (as it arrived), in
    /// words; empty when the meaning is the same.
    pub(crate) fn differences(&self, got: &Pidf) -> Vec<String> {
        let mut d = Vec::new();
        if self.entity != got.entity {
            d.push(format!(
                "the entity {:?} became {:?}",
                self.entity, got.entity
            ));
        }
        for t in &self.tuples {
            let Some(g) = got.tuples.iter().find(|g| g.id == t.id) else {
                d.push(format!("tuple {:?} is missing", t.id));
                continue;
            };
            let id = &t.id;
            let mut field = |what: &str, a: String, b: String| {
                if a != b {
                    d.push(format!("tuple {id:?}: {what} {a} became {b}"));
                }
            };
            field("basic status", show(&t.basic), show(&g.basic));
            field("contact", show(&t.contact), show(&g.contact));
            field("contact priority", show(&t.priority), show(&g.priority));
            field("timestamp", show(&t.timestamp), show(&g.timestamp));
            field("notes", format!("{:?}", t.notes), format!("{:?}", g.notes));
            field(
                "status extensions",
                format!("{:?}", t.status_extensions),
                format!("{:?}", g.status_extensions),
            );
            field(
                "extensions",
                format!("{:?}", t.extensions),
                format!("{:?}", g.extensions),
            );
        }
        for g in &got.tuples {
            if !self.tuples.iter().any(|t| t.id == g.id) {
                d.push(format!("tuple {:?} appeared", g.id));
            }
        }
        if self.notes != got.notes {
            d.push(format!("the notes {:?} became {:?}", self.notes, got.notes));
        }
        if self.extensions != got.extensions {
            d.push(format!(
                "the person/device elements changed: {} sent, {} arrived",
                self.extensions.len(),
                got.extensions.len()
            ));
        }
        d
    }

    /// "2 tuples (t1 open, t2 closed)".
    pub(crate) fn summary(&self) -> String {
        let t: Vec<String> = self
            .tuples
            .iter()
            .map(|t| format!("{} {}", t.id, t.basic.as_deref().unwrap_or("-")))
            .collect();
        let n = self.tuples.len();
        format!(
            "{n} tuple{} ({})",
            if n == 1 { "" } else { "s" },
            t.join(", ")
        )
    }
}

fn show(v: &Option<String>) -> String {
    match v {
        Some(s) => format!("{s:?}"),
        None => "(none)".into(),
    }
}

fn tuple(n: &Node<'_, '_>) -> Result<Tuple, String> {
    let id = n
        .attribute("id")
        .filter(|i| !i.is_empty())
        .ok_or("a tuple has no id (RFC 3863 §4.1.2)")?
        .to_string();
    let mut t = Tuple {
        id,
        basic: None,
        status_extensions: Vec::new(),
        contact: None,
        priority: None,
        notes: Vec::new(),
        timestamp: None,
        extensions: Vec::new(),
    };
    let mut statuses = 0;
    for c in n.children().filter(Node::is_element) {
        if is(&c, PIDF_NS, "status") {
            statuses += 1;
            for s in c.children().filter(Node::is_element) {
                if is(&s, PIDF_NS, "basic") {
                    let b = text(&s);
                    if b != "open" && b != "closed" {
                        return Err(format!(
                            "tuple {:?}: basic status {b:?} is neither open nor closed (RFC 3863 §4.1.4)",
                            t.id
                        ));
                    }
                    t.basic = Some(b);
                } else {
                    t.status_extensions.push(canon(&s));
                }
            }
        } else if is(&c, PIDF_NS, "contact") {
            if let Some(p) = c.attribute("priority") {
                let ok = p.parse::<f64>().is_ok_and(|v| (0.0..=1.0).contains(&v));
                if !ok {
                    return Err(format!(
                        "tuple {:?}: contact priority {p:?} is not between 0 and 1 (RFC 3863 §4.1.5)",
                        t.id
                    ));
                }
                t.priority = Some(p.to_string());
            }
            t.contact = Some(text(&c));
        } else if is(&c, PIDF_NS, "note") {
            t.notes.push(note(&c));
        } else if is(&c, PIDF_NS, "timestamp") {
            t.timestamp = Some(text(&c));
        } else {
            t.extensions.push(canon(&c));
        }
    }
    if statuses != 1 {
        return Err(format!(
            "tuple {:?} has {statuses} status elements, not one (RFC 3863 §4.1.3)",
            t.id
        ));
    }
    Ok(t)
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) content_type: String,
    pub(crate) content_id: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// A parameter of a Content-Type value, unquoted.
pub(crate) fn content_type_param(content_type: &str, name: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The parts of a multipart body (RFC 2046 §5.1.1): delimited by CRLF
/// `--boundary`, closed by `--boundary--`. At most 64 parts.
pub(crate) fn multipart(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.to_ascii_lowercase().starts_with("multipart/") {
        return Err(format!("the body is {media}, not multipart"));
    }
    let boundary = content_type_param(content_type, "boundary")
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or("the multipart Content-Type has no usable boundary (RFC 2046 §5.1.1)")?;
    let delimiter = format!("--{boundary}");
    // The body starts with a delimiter, or a preamble ending in CRLF before it.
    let mut text = body;
    let first = find(text, delimiter.as_bytes()).ok_or("no part delimiter in the body")?;
    text = &text[first + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if text.starts_with(b"--") {
            return Ok(parts);
        }
        if parts.len() == 64 {
            return Err("over 64 parts".into());
        }
        let rest = skip_line(text).ok_or("a delimiter line is not ended")?;
        let end = find(rest, format!("\r\n{delimiter}").as_bytes())
            .ok_or("the body ends inside a part (no closing delimiter)")?;
        let raw = &rest[..end];
        text = &rest[end + 2 + delimiter.len()..];
        let (head, content) = match find(raw, b"\r\n\r\n") {
            Some(i) => (&raw[..i], &raw[i + 4..]),
            None if raw.starts_with(b"\r\n") => (&raw[..0], &raw[2..]),
            None => return Err("a part has no blank line after its headers".into()),
        };
        let head = String::from_utf8_lossy(head);
        let field = |name: &str| {
            head.split("\r\n").find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        parts.push(Part {
            // RFC 2046 §5.1: a part without one is text/plain.
            content_type: field("Content-Type").unwrap_or_else(|| "text/plain".into()),
            content_id: field("Content-ID"),
            body: content.to_vec(),
        });
    }
}

fn skip_line(b: &[u8]) -> Option<&[u8]> {
    find(b, b"\r\n").map(|i| &b[i + 2..])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The RLMI document of a list notification (RFC 4662 §5), validated:
/// a `list` with `uri`, `version` and `fullState`; each `resource` with a
/// `uri`; each `instance` with an `id` and a `state` of active, pending or
/// terminated, whose `cid` names a part of the body. Its canonical form is
/// what two equivalent serialisations share.
pub(crate) fn rlmi(bytes: &[u8], part_ids: &[&str]) -> Result<String, String> {
    let doc = parse_xml(bytes)?;
    let root = doc.root_element();
    if !is(&root, RLMI_NS, "list") {
        return Err(format!(
            "the root part is {:?}, not an RLMI list in {RLMI_NS}",
            root.tag_name().name()
        ));
    }
    for a in ["uri", "version", "fullState"] {
        if root.attribute(a).is_none() {
            return Err(format!("the RLMI list has no {a} (RFC 4662 §5.2)"));
        }
    }
    for r in root.children().filter(|c| is(c, RLMI_NS, "resource")) {
        let uri = r.attribute("uri").ok_or("an RLMI resource has no uri")?;
        for i in r.children().filter(|c| is(c, RLMI_NS, "instance")) {
            let state = i.attribute("state").unwrap_or("");
            if i.attribute("id").is_none() || !["active", "pending", "terminated"].contains(&state)
            {
                return Err(format!(
                    "resource {uri}: an instance lacks an id or a valid state"
                ));
            }
            if let Some(cid) = i.attribute("cid") {
                if !part_ids.contains(&cid) {
                    return Err(format!(
                        "resource {uri}: instance cid {cid:?} names no part of the body"
                    ));
                }
            }
        }
    }
    Ok(canon(&root))
}

/// A Content-ID without its angle brackets (RFC 2392: `cid` URLs omit them).
pub(crate) fn bare_id(id: &str) -> &str {
    id.trim().trim_start_matches('<').trim_end_matches('>')
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="pres:bob@ssp.example">
  <tuple id="t1"><status><basic>open</basic></status><contact priority="0.8">sip:bob@ssp.example</contact><note xml:lang="en">Ready</note><timestamp>2011-06-01T10:00:00Z</timestamp></tuple>
  <tuple id="t2"><status><basic>closed</basic></status></tuple>
  <dm:person id="p1"><rpid:activities><rpid:busy/></rpid:activities></dm:person>
  <note>Back at five</note>
</presence>"#;

    #[test]
    fn pidf_is_read_for_meaning_and_its_rules_are_held() {
        let p = Pidf::parse(DOC.as_bytes()).unwrap();
        assert_eq!(p.summary(), "2 tuples (t1 open, t2 closed)");
        // Another serialisation of the same document means the same.
        let other = DOC
            .replace(
                "xmlns=\"urn:ietf:params:xml:ns:pidf\"",
                "xmlns:p=\"urn:ietf:params:xml:ns:pidf\"",
            )
            .replace("<tuple", "<p:tuple")
            .replace("</tuple", "</p:tuple")
            .replace("<status", "<p:status")
            .replace("</status", "</p:status")
            .replace("<basic", "<p:basic")
            .replace("</basic", "</p:basic")
            .replace("<contact", "<p:contact")
            .replace("</contact", "</p:contact")
            .replace("<note", "<p:note")
            .replace("</note", "</p:note")
            .replace("<timestamp", "<p:timestamp")
            .replace("</timestamp", "</p:timestamp")
            .replace("<presence", "<p:presence")
            .replace("</presence", "</p:presence")
            .replace("\n  ", "\n");
        assert_eq!(
            p.differences(&Pidf::parse(other.as_bytes()).unwrap()),
            Vec::<String>::new()
        );
        // A status flipped, a tuple lost: named.
        let flipped = DOC.replace("<basic>closed</basic>", "<basic>open</basic>");
        let d = p.differences(&Pidf::parse(flipped.as_bytes()).unwrap());
        assert_eq!(d, ["tuple \"t2\": basic status \"closed\" became \"open\""]);
        let one = DOC.replace(
            r#"<tuple id="t2"><status><basic>closed</basic></status></tuple>"#,
            "",
        );
        assert_eq!(
            p.differences(&Pidf::parse(one.as_bytes()).unwrap()),
            ["tuple \"t2\" is missing"]
        );
        // The rules.
        for (bad, why) in [
            (
                DOC.replace(">closed<", ">Do Not Disturb<"),
                "neither open nor closed",
            ),
            (DOC.replace("id=\"t2\"", "id=\"t1\""), "used twice"),
            (
                DOC.replace("priority=\"0.8\"", "priority=\"7\""),
                "between 0 and 1",
            ),
            (
                DOC.replace(" entity=\"pres:bob@ssp.example\"", ""),
                "no entity",
            ),
            (
                DOC.replace(
                    "urn:ietf:params:xml:ns:pidf\" xmlns:rpid",
                    "urn:x\" xmlns:rpid",
                ),
                "not presence",
            ),
            (DOC[..DOC.len() / 2].to_string(), "not well-formed"),
            (
                DOC.replace("<status><basic>closed</basic></status>", ""),
                "0 status",
            ),
            (
                DOC.replace(
                    "<rpid:busy/>",
                    &format!("{}{}", "<rpid:x>".repeat(3000), "</rpid:x>".repeat(3000)),
                ),
                "nested over 32",
            ),
        ] {
            let e = Pidf::parse(bad.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{why}: {e}");
        }
    }

    #[test]
    fn multipart_bodies_split_into_their_parts_and_hostile_ones_are_refused() {
        let ct =
            "multipart/related;type=\"application/rlmi+xml\";start=\"<r1@x>\";boundary=\"b-1\"";
        let body = b"--b-1\r\nContent-Type: application/rlmi+xml\r\nContent-ID: <r1@x>\r\n\r\n<list/>\r\n--b-1\r\nContent-Type: application/pidf+xml\r\nContent-ID: <p1@x>\r\n\r\n<presence/>\r\n--b-1--\r\n";
        let parts = multipart(ct, body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].content_id.as_deref(), Some("<r1@x>"));
        assert_eq!(parts[1].body, b"<presence/>");
        assert_eq!(content_type_param(ct, "start").as_deref(), Some("<r1@x>"));
        assert_eq!(bare_id("<r1@x>"), "r1@x");
        assert!(multipart("application/rlmi+xml", body).is_err());
        assert!(multipart("multipart/related", body).is_err());
        assert!(multipart(ct, &body[..body.len() - 12]).is_err());
        assert!(multipart(ct, b"").is_err());
        let many: Vec<u8> = b"--b-1\r\n\r\nx\r\n".repeat(100);
        assert!(multipart(ct, &many).is_err());
    }

    #[test]
    fn rlmi_must_name_parts_that_exist() {
        let doc = br#"<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:friends@ssp.example" version="0" fullState="true"><resource uri="sip:bob@ssp.example"><instance id="i1" state="active" cid="p1@x"/></resource></list>"#;
        assert!(rlmi(doc, &["p1@x"]).is_ok());
        assert!(rlmi(doc, &["p2@x"]).unwrap_err().contains("names no part"));
        let bad = String::from_utf8_lossy(doc).replace("state=\"active\"", "state=\"on\"");
        assert!(rlmi(bad.as_bytes(), &["p1@x"]).is_err());
    }
}
