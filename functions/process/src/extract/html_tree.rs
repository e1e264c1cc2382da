//! Bounds a parsed HTML tree before htmd converts it. htmd recurses once per element level,
//! so a page of 10,000 nested `<div>`s overflowed the stack and aborted the process. And some
//! elements multiply what htmd does with each level they nest: a table without rows is walked
//! twice (its caption, then again as plain content), so tables nested in captions cost
//! 2^depth (a 5.6 KB page found by the fuzzer took 48 s, `fuzz/regressions/extract/`); every
//! line inside a quote is prefixed once per quote around it, so 250 nested quotes over a
//! 1.6 MB page took 60 s and 2.1 GB. Real pages stay far inside these bounds.

use std::rc::Rc;

use html5ever::tendril::StrTendril;
use markup5ever_rcdom::{Handle, Node, NodeData};

/// Element levels kept; anything deeper becomes its text. htmd converted 400 levels on a 2 MiB
/// thread stack in a debug build; real pages nest a few dozen.
pub const MAX_DEPTH: usize = 256;

/// Elements whose nesting multiplies htmd's work or output, and how many of each kind may be
/// around one of them; one nested deeper is replaced by its contents.
pub const MAX_NESTING: [(&[&str], usize); 3] = [(&["table"], 2), (&["blockquote"], 4), (&["ul", "ol", "li"], 16)];

/// Which of [`MAX_NESTING`]'s kinds `node` is.
fn nesting_kind(node: &Node) -> Option<usize> {
    let tag = tag(node)?;
    MAX_NESTING.iter().position(|(tags, _)| tags.contains(&tag))
}

/// Rewrites `document` in place so no element is deeper than [`MAX_DEPTH`] and none of
/// [`MAX_NESTING`]'s kinds has more of its kind around it than allowed. Iterative: the tree
/// may be deep.
pub fn bound(document: &Handle, skipped_tags: &[&str]) {
    let mut pending = vec![(Rc::clone(document), 0_usize, [0_usize; MAX_NESTING.len()])];
    while let Some((node, depth, around)) = pending.pop() {
        if depth >= MAX_DEPTH {
            replace_children_with_text(&node, skipped_tags);
            continue;
        }
        let mut index = 0;
        loop {
            let Some(child) = node.children.borrow().get(index).cloned() else { break };
            let kind = nesting_kind(&child);
            if kind.is_some_and(|kind| around[kind] >= MAX_NESTING[kind].1) {
                // The element's children take its place and are looked at again from `index`.
                let grandchildren = std::mem::take(&mut *child.children.borrow_mut());
                for grandchild in &grandchildren {
                    grandchild.parent.set(Some(Rc::downgrade(&node)));
                }
                node.children.borrow_mut().splice(index..=index, grandchildren);
                continue;
            }
            let mut inside = around;
            if let Some(kind) = kind {
                inside[kind] += 1;
            }
            pending.push((child, depth + 1, inside));
            index += 1;
        }
    }
}

fn tag(node: &Node) -> Option<&str> {
    match &node.data {
        NodeData::Element { name, .. } => Some(&name.local),
        _ => None,
    }
}

/// `node`'s descendants' text, in document order, as its only child.
fn replace_children_with_text(node: &Handle, skipped_tags: &[&str]) {
    let mut text = String::new();
    let mut pending: Vec<Handle> = node.children.borrow().iter().rev().cloned().collect();
    while let Some(descendant) = pending.pop() {
        match &descendant.data {
            NodeData::Text { contents } => text.push_str(&contents.borrow()),
            NodeData::Element { name, .. } if skipped_tags.contains(&&*name.local) => {}
            _ => pending.extend(descendant.children.borrow().iter().rev().cloned()),
        }
    }
    let text_node = Node::new(NodeData::Text { contents: StrTendril::from(text).into() });
    text_node.parent.set(Some(Rc::downgrade(node)));
    *node.children.borrow_mut() = vec![text_node];
}

#[cfg(test)]
mod tests {
    use super::*;
    use html5ever::tendril::TendrilSink;

    fn parse(html: &str) -> Handle {
        html5ever::parse_document(markup5ever_rcdom::RcDom::default(), Default::default()).one(html).document
    }

    /// The deepest element level, and the most of each of [`MAX_NESTING`]'s kinds on one path.
    fn depth_and_nesting(document: &Handle) -> (usize, [usize; MAX_NESTING.len()]) {
        let (mut deepest, mut most) = (0, [0; MAX_NESTING.len()]);
        let mut pending = vec![(Rc::clone(document), 0, [0; MAX_NESTING.len()])];
        while let Some((node, depth, mut around)) = pending.pop() {
            if let Some(kind) = nesting_kind(&node) {
                around[kind] += 1;
            }
            deepest = deepest.max(depth);
            most.iter_mut().zip(around).for_each(|(most, here)| *most = (*most).max(here));
            pending.extend(node.children.borrow().iter().map(|child| (Rc::clone(child), depth + 1, around)));
        }
        (deepest, most)
    }

    fn text_of(document: &Handle) -> String {
        let mut text = String::new();
        replace_children_with_text(document, &[]);
        if let Some(NodeData::Text { contents }) = document.children.borrow().first().map(|n| &n.data) {
            text.push_str(&contents.borrow());
        }
        text
    }

    #[test]
    fn a_deep_tree_is_cut_at_the_bound_and_keeps_its_text() {
        let document = parse(&format!("{}deep words<script>x()</script>", "<div>".repeat(5_000)));
        bound(&document, &["script"]);
        let (deepest, _) = depth_and_nesting(&document);
        assert_eq!(deepest, MAX_DEPTH + 1, "the cut element keeps one text child");
        assert_eq!(text_of(&document), "deep words");
    }

    #[test]
    fn elements_nested_past_their_bound_give_way_to_their_contents() {
        let cases = [
            (0, "<table><caption>", "cell "),
            (1, "<blockquote>", "quoted "),
            (2, "<ul><li>", "item "),
            (2, "<ol><li>", "step "),
        ];
        for (kind, opening, text) in cases {
            let document = parse(&format!("<p>before</p>{}innermost", format!("{opening}{text}").repeat(12)));
            bound(&document, &[]);
            assert_eq!(depth_and_nesting(&document).1[kind], MAX_NESTING[kind].1, "{opening}");
            assert_eq!(text_of(&document), format!("before{}innermost", text.repeat(12)), "{opening}");
        }
    }

    #[test]
    fn an_ordinary_page_is_left_as_it_was() {
        let page = "<html><body><table><tr><td><table><tr><td>inner</td></tr></table></td></tr></table>\
                    <ul><li><b>bold</b> item</li></ul></body></html>";
        let (bounded, untouched) = (parse(page), parse(page));
        bound(&bounded, &[]);
        assert_eq!(depth_and_nesting(&bounded), depth_and_nesting(&untouched));
        assert_eq!(text_of(&bounded), text_of(&untouched));
    }
}
