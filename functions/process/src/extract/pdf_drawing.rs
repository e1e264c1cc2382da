//! How deep a PDF's XObjects draw one another, checked before pdf-extract draws them.
//! pdf-extract draws an XObject a content stream names (`/X1 Do`) by recursing into it, with
//! no bound: a 777-byte PDF whose form draws itself overflowed the stack, which aborts the
//! process (no panic to catch), and `seams up` with it. The walk here follows pdf-extract's
//! rules (the XObject's own `/Resources`, else those it was drawn with) without recursing.

use std::collections::HashMap;

use pdf_extract::{Dictionary, Document, Object, ObjectId};

/// XObjects drawn inside one another, at most. Real documents nest forms a few deep.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Drawing {
    #[error("an XObject draws itself")]
    Loop,
    #[error("its XObjects draw one another more than {MAX_DEPTH} deep")]
    TooDeep,
}

/// One drawing: an XObject, and the resources its names resolve in (compared by identity).
#[derive(Debug, Clone, Copy)]
struct Drawn<'a> {
    xobject: ObjectId,
    resources: &'a Dictionary,
}

impl PartialEq for Drawn<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.xobject == other.xobject && std::ptr::eq(self.resources, other.resources)
    }
}

impl Eq for Drawn<'_> {}

impl std::hash::Hash for Drawn<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.xobject.hash(state);
        std::ptr::hash(self.resources, state);
    }
}

/// Refuses a document whose pages draw XObjects in a loop or deeper than [`MAX_DEPTH`].
pub fn check(document: &Document) -> Result<(), Drawing> {
    let empty = Dictionary::new();
    // The depth of each drawing explored; `None` while it is being explored (a loop if met).
    let mut depths: HashMap<Drawn, Option<usize>> = HashMap::new();
    for page in document.page_iter() {
        let Ok(page_dictionary) = document.get_dictionary(page) else { continue };
        let resources = inherited_resources(document, page_dictionary).unwrap_or(&empty);
        if resources.get(b"XObject").is_err() {
            continue;
        }
        let content = document.get_page_content(page).unwrap_or_default();
        for drawn in drawn_by(document, &content, resources) {
            depth(document, drawn, &mut depths)?;
        }
    }
    Ok(())
}

/// How many XObjects deep `top` draws, itself included, walked with a stack of its own.
fn depth<'a>(
    document: &'a Document,
    top: Drawn<'a>,
    depths: &mut HashMap<Drawn<'a>, Option<usize>>,
) -> Result<usize, Drawing> {
    if let Some(known) = depths.get(&top) {
        return known.ok_or(Drawing::Loop);
    }
    depths.insert(top, None);
    // Each drawing on the path, what it draws, and how many of those are done.
    let mut path: Vec<(Drawn, Vec<Drawn>, usize)> = vec![(top, children(document, top), 0)];
    while let Some((drawing, drawn, done)) = path.last_mut() {
        let Some(&child) = drawn.get(*done) else {
            let below = drawn.iter().filter_map(|child| depths.get(child).copied().flatten()).max();
            depths.insert(*drawing, Some(1 + below.unwrap_or(0)));
            path.pop();
            continue;
        };
        *done += 1;
        match depths.get(&child) {
            Some(None) => return Err(Drawing::Loop),
            Some(Some(_)) => {}
            None if path.len() >= MAX_DEPTH => return Err(Drawing::TooDeep),
            None => {
                depths.insert(child, None);
                let grandchildren = children(document, child);
                path.push((child, grandchildren, 0));
            }
        }
    }
    let depth = depths.get(&top).copied().flatten().unwrap_or(0);
    if depth > MAX_DEPTH {
        return Err(Drawing::TooDeep);
    }
    Ok(depth)
}

/// The drawings `drawing`'s content makes, in the resources pdf-extract would resolve them in.
fn children<'a>(document: &'a Document, drawing: Drawn<'a>) -> Vec<Drawn<'a>> {
    let Ok(stream) = document.get_object(drawing.xobject).and_then(Object::as_stream) else { return Vec::new() };
    let own = stream.dict.get(b"Resources").ok().and_then(|r| deref(document, r).as_dict().ok());
    let content = if stream.filters().is_ok() {
        stream.decompressed_content().unwrap_or_else(|_| stream.content.clone())
    } else {
        stream.content.clone()
    };
    drawn_by(document, &content, own.unwrap_or(drawing.resources))
}

/// The XObjects `content` draws (`/Name Do`), looked up in `resources`. Content is decoded
/// only where the resources name XObjects, so most text pages cost a lookup.
fn drawn_by<'a>(document: &'a Document, content: &[u8], resources: &'a Dictionary) -> Vec<Drawn<'a>> {
    let Some(xobjects) = resources.get(b"XObject").ok().and_then(|x| deref(document, x).as_dict().ok()) else {
        return Vec::new();
    };
    let Ok(content) = pdf_extract::content::Content::decode(content) else { return Vec::new() };
    content
        .operations
        .iter()
        .filter(|operation| operation.operator == "Do")
        .filter_map(|operation| operation.operands.first()?.as_name().ok())
        .filter_map(|name| xobjects.get(name).ok()?.as_reference().ok())
        .map(|xobject| Drawn { xobject, resources })
        .collect()
}

/// `object`, or what it refers to.
fn deref<'a>(document: &'a Document, object: &'a Object) -> &'a Object {
    object.as_reference().ok().and_then(|id| document.get_object(id).ok()).unwrap_or(object)
}

/// The page's `/Resources`, or the nearest ancestor's (the page tree has no loop: checked
/// before).
fn inherited_resources<'a>(document: &'a Document, mut node: &'a Dictionary) -> Option<&'a Dictionary> {
    loop {
        if let Some(resources) = node.get(b"Resources").ok().and_then(|r| deref(document, r).as_dict().ok()) {
            return Some(resources);
        }
        node = node.get(b"Parent").ok()?.as_reference().ok().and_then(|id| document.get_dictionary(id).ok())?;
    }
}

#[cfg(test)]
mod tests;
