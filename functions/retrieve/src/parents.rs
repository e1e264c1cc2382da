//! Hierarchical chunking's results: children are matched, their parent is returned. Pure.

use std::collections::HashSet;

use crate::index::Hit;

/// How far a search is widened (times the passages wanted) to find enough distinct parents.
pub const MAX_WIDENING: usize = 16;

/// Each hit whose chunk has a parent becomes that parent, once, at the rank of its best
/// child: the parent's text, the child's id, score and ranks. Hits without a parent pass
/// unchanged; the order is kept.
pub fn collapse(hits: impl IntoIterator<Item = Hit>) -> Vec<Hit> {
    let mut seen = HashSet::new();
    hits.into_iter()
        .filter_map(|mut hit| {
            if let Some(parent) = &hit.chunk.parent {
                if !seen.insert(parent.chunk_id.clone()) {
                    return None;
                }
                hit.chunk.text = parent.text.clone();
            }
            Some(hit)
        })
        .collect()
}

/// The next search depth when `fetched` hits made only `distinct` of the `wanted` passages:
/// as many more as the children per parent seen so far suggest, a quarter over, and at
/// least twice as deep.
pub fn wider(fetched: usize, distinct: usize, wanted: usize) -> usize {
    let per_passage = fetched.div_ceil(distinct.max(1));
    (wanted * per_passage + wanted * per_passage / 4).max(fetched * 2).min(wanted * MAX_WIDENING)
}

#[cfg(test)]
mod tests {
    use seams_contracts::process::ParentChunk;
    use seams_contracts::retrieve::{Citation, Ranks};

    use super::*;
    use crate::index::IndexedChunk;

    fn hit(chunk_id: &str, parent: Option<&str>, score: f64) -> Hit {
        Hit {
            document_id: "handbook".into(),
            version: 1,
            chunk: IndexedChunk {
                chunk_id: chunk_id.into(),
                ordinal: 0,
                text: format!("child {chunk_id}"),
                citation: Citation { source_uri: None, title: None, heading_path: Vec::new(), page: None },
                metadata: Default::default(),
                embedding: Vec::new(),
                parent: parent.map(|id| ParentChunk { chunk_id: id.into(), text: format!("parent {id}") }),
            },
            score,
            ranks: Ranks::default(),
        }
    }

    #[test]
    fn widening_follows_the_children_per_parent_seen() {
        assert_eq!(wider(100, 85, 100), 250, "at least twice as deep");
        assert_eq!(wider(100, 20, 100), 625, "five children per parent seen: 500 and a quarter");
        assert_eq!(wider(100, 0, 100), 1600, "none passed: as deep as allowed");
        assert_eq!(wider(2, 1, 2), 5);
    }

    #[test]
    fn a_parent_comes_back_once_with_its_best_child() {
        let hits = vec![
            hit("h:1:3", Some("h:1:p0"), 0.9),
            hit("flat:1:0", None, 0.8),
            hit("h:1:1", Some("h:1:p0"), 0.7),
            hit("h:1:7", Some("h:1:p1"), 0.6),
        ];
        let passages = collapse(hits);
        let shown: Vec<(&str, &str, f64)> =
            passages.iter().map(|h| (h.chunk.chunk_id.as_str(), h.chunk.text.as_str(), h.score)).collect();
        assert_eq!(
            shown,
            [("h:1:3", "parent h:1:p0", 0.9), ("flat:1:0", "child flat:1:0", 0.8), ("h:1:7", "parent h:1:p1", 0.6)]
        );
    }
}
