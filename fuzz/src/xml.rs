//! XML request bodies: `gateway/src/xml.rs`.
//!
//! Structured input builds an element tree (names from XML's name
//! characters, text of any Unicode: markup characters, carriage returns
//! and control characters included), renders it with the gateway's writer
//! and parses it back: the same tree, text exactly as it was. Raw input is
//! parsed and nothing panics; what parses is never larger than the
//! document (no entity expansion, the nesting bound holds).

use arbitrary::Unstructured;
use blobgate::xml::{parse, Element, XmlWriter};

use crate::support;

const NAME_START: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";
const NAME_REST: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789-.";

fn name(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let mut n = String::from(char::from(*u.choose(NAME_START)?));
    n.push_str(&support::string_from(u, NAME_REST, 8)?);
    Ok(n)
}

/// Text XML 1.0 can carry: its Char production, without NUL.
fn text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(support::unicode_upto(u, 16)?
        .chars()
        .filter(|&c| matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF))
        .collect())
}

fn tree(u: &mut Unstructured<'_>, depth: usize) -> arbitrary::Result<Element> {
    let mut el = Element {
        name: name(u)?,
        ..Element::default()
    };
    if depth < 8 && u.arbitrary()? {
        for _ in 0..u.int_in_range(1..=4)? {
            el.children.push(tree(u, depth + 1)?);
        }
    } else {
        el.text = text(u)?;
    }
    Ok(el)
}

fn render(w: &mut XmlWriter, el: &Element) {
    if el.children.is_empty() {
        w.elem(&el.name, &el.text);
    } else {
        w.open(&el.name);
        for child in &el.children {
            render(w, child);
        }
        w.close(&el.name);
    }
}

fn size(el: &Element) -> usize {
    el.name.len() + el.text.len() + el.children.iter().map(size).sum::<usize>()
}

pub fn run(data: &[u8]) {
    if data.first().is_some_and(|b| b & 1 == 1) {
        if let Ok(root) = parse(&data[1..]) {
            assert!(
                size(&root) <= data.len(),
                "the parsed tree is larger than its document"
            );
        }
        return;
    }
    let mut u = Unstructured::new(data.get(1..).unwrap_or_default());
    let Ok(root) = tree(&mut u, 0) else {
        return;
    };
    let mut w = XmlWriter::new();
    let children_only = root.children.is_empty();
    if children_only {
        w.elem(&root.name, &root.text);
    } else {
        w.open_root(&root.name);
        for child in &root.children {
            render(&mut w, child);
        }
        w.close(&root.name);
    }
    let doc = w.finish();
    let parsed = parse(doc.as_bytes())
        .unwrap_or_else(|e| panic!("the writer's document did not parse: {e:?}\n{doc}"));
    assert_eq!(parsed, root, "round trip changed the tree:\n{doc}");
}
