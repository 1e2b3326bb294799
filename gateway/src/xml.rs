//! XML bodies: a small writer for S3 response documents and a size-capped
//! reader for request documents.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use quick_xml::events::Event;

use crate::error::S3Error;
use crate::storage::ByteStream;

pub const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Builds an XML document element by element, escaping text.
pub struct XmlWriter {
    out: String,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlWriter {
    pub fn new() -> Self {
        XmlWriter {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        }
    }

    /// Open the root element with the S3 namespace.
    pub fn open_root(&mut self, name: &str) {
        self.open_root_ns(name, S3_NS);
    }

    /// Open the root element with the namespace `ns` (another API's).
    pub fn open_root_ns(&mut self, name: &str, ns: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(" xmlns=\"");
        self.out.push_str(ns);
        self.out.push_str("\">");
    }

    pub fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Open an element with attributes (names and values written as given;
    /// values escaped).
    pub fn open_with_attrs(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (attr, value) in attrs {
            self.out.push(' ');
            self.out.push_str(attr);
            self.out.push_str("=\"");
            self.text(value);
            self.out.push('"');
        }
        self.out.push('>');
    }

    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    pub fn elem(&mut self, name: &str, text: &str) {
        self.open(name);
        self.text(text);
        self.close(name);
    }

    /// Escaped text. Besides the markup characters, carriage returns and
    /// other control characters become character references (as S3 writes
    /// them), so a parser does not fold them away.
    pub fn text(&mut self, text: &str) {
        for c in text.chars() {
            match c {
                '<' => self.out.push_str("&lt;"),
                '>' => self.out.push_str("&gt;"),
                '&' => self.out.push_str("&amp;"),
                '"' => self.out.push_str("&quot;"),
                '\'' => self.out.push_str("&apos;"),
                '\t' | '\n' => self.out.push(c),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    self.out.push_str(&format!("&#{};", c as u32));
                }
                c => self.out.push(c),
            }
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Largest XML request body accepted (DeleteObjects with 1000 long keys fits).
pub const MAX_XML_BODY: usize = 2 * 1024 * 1024;

/// Read a whole (small) XML request body, refusing more than `MAX_XML_BODY`.
pub async fn read_body_capped(mut body: ByteStream) -> Result<Bytes, S3Error> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if buf.len() + chunk.len() > MAX_XML_BODY {
            return Err(S3Error::malformed_xml());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A parsed XML element tree, enough for the small documents S3 requests carry.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// First child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parse a document into its root element; any syntax error is MalformedXML.
pub fn parse(doc: &[u8]) -> Result<Element, S3Error> {
    // Text is kept as sent: an object key may begin or end with spaces.
    // Readers of numbers and flags trim what they read.
    let mut reader = quick_xml::Reader::from_reader(doc);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|_| S3Error::malformed_xml())?;
        match event {
            Event::Start(start) => {
                if root.is_some() || stack.len() > 32 {
                    return Err(S3Error::malformed_xml());
                }
                stack.push(Element {
                    name: local_name(start.local_name().as_ref())?,
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                let el = Element {
                    name: local_name(start.local_name().as_ref())?,
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(S3Error::malformed_xml()),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(S3Error::malformed_xml)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(text) => {
                let t = text.unescape().map_err(|_| S3Error::malformed_xml())?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&t),
                    // Whitespace around the root element.
                    None if t.trim().is_empty() => {}
                    None => return Err(S3Error::malformed_xml()),
                }
            }
            Event::CData(data) => {
                let t = std::str::from_utf8(&data).map_err(|_| S3Error::malformed_xml())?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(t),
                    None => return Err(S3Error::malformed_xml()),
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    root.ok_or_else(S3Error::malformed_xml)
}

fn local_name(raw: &[u8]) -> Result<String, S3Error> {
    std::str::from_utf8(raw)
        .map(str::to_owned)
        .map_err(|_| S3Error::malformed_xml())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaced_document() {
        let doc = br#"<?xml version="1.0"?><CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "CreateBucketConfiguration");
        assert_eq!(root.child("LocationConstraint").unwrap().text, "eu-west-1");
    }

    #[test]
    fn keeps_spaces_in_text() {
        let doc = b"<?xml version=\"1.0\"?>\n<Delete>\n  <Object><Key> lead</Key></Object>\n  <Object><Key>trail </Key></Object>\n</Delete>\n";
        let root = parse(doc).unwrap();
        let keys: Vec<&str> = root
            .children_named("Object")
            .map(|o| o.child("Key").unwrap().text.as_str())
            .collect();
        assert_eq!(keys, [" lead", "trail "]);
    }

    #[test]
    fn rejects_garbage_and_unbalanced() {
        for doc in [
            &b"not xml <"[..],
            b"<a><b></a>",
            b"<a></a><b></b>",
            b"",
            b"text",
        ] {
            assert!(parse(doc).is_err(), "{:?}", std::str::from_utf8(doc));
        }
    }

    #[test]
    fn writer_escapes() {
        let mut w = XmlWriter::new();
        w.open_root("R");
        w.elem("Key", "a<b&c\"\r\n\u{1}");
        w.close("R");
        assert!(w.finish().ends_with(
            "<R xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Key>a&lt;b&amp;c&quot;&#13;\n&#1;</Key></R>"
        ));
    }
}
