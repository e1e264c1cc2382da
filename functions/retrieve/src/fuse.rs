//! Reciprocal rank fusion: a chunk's hybrid score is the weighted sum of `1 / (k + rank)`
//! over the ranked lists it appears in (Cormack et al., 2009). Ranks are 1-based.

use std::collections::HashMap;
use std::hash::Hash;

use seams_contracts::retrieve::{Ranks, RetrievedChunk};

/// How the two lists are fused, and how long each list is before fusion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fusion {
    pub k: f64,
    pub vector_weight: f64,
    pub keyword_weight: f64,
    /// Each list is cut to this many (filtered) chunks before fusing.
    pub candidates: usize,
}

impl Default for Fusion {
    fn default() -> Self {
        Self { k: 60.0, vector_weight: 1.0, keyword_weight: 1.0, candidates: 50 }
    }
}

impl Fusion {
    /// The fused score of a chunk with these ranks.
    pub fn score(&self, ranks: Ranks) -> f64 {
        let part = |weight: f64, rank: Option<u32>| rank.map_or(0.0, |r| weight / (self.k + f64::from(r)));
        part(self.vector_weight, ranks.vector) + part(self.keyword_weight, ranks.keyword)
    }

    /// Fuses two ranked lists (best first) into `(id, ranks, score)`, best first; ties keep
    /// the order of first appearance, vector list first.
    pub fn fuse<Id: Clone + Eq + Hash>(&self, vector: &[Id], keyword: &[Id]) -> Vec<(Id, Ranks, f64)> {
        let mut order: Vec<Id> = Vec::new();
        let mut ranks: HashMap<Id, Ranks> = HashMap::new();
        for (position, id) in vector.iter().enumerate() {
            order.push(id.clone());
            ranks.entry(id.clone()).or_default().vector = Some(rank(position));
        }
        for (position, id) in keyword.iter().enumerate() {
            let entry = ranks.entry(id.clone()).or_insert_with(|| {
                order.push(id.clone());
                Ranks::default()
            });
            entry.keyword = Some(rank(position));
        }
        let mut fused: Vec<(Id, Ranks, f64)> = order
            .into_iter()
            .map(|id| {
                let r = ranks.get(&id).copied().unwrap_or_default();
                (id, r, self.score(r))
            })
            .collect();
        // Stable: equal scores keep first-appearance order.
        fused.sort_by(|a, b| b.2.total_cmp(&a.2));
        fused
    }
}

/// The results of several retrievals (a compound question's sub-questions) as one list: each
/// chunk once (a parent chunk once however many of its children were found), scored by
/// reciprocal rank fusion over the lists it is in, best first, at most `limit`. Equal
/// scores alternate between the lists, so every sub-question's best chunks come early.
pub fn merge_sets(sets: &[Vec<RetrievedChunk>], k: f64, limit: usize) -> Vec<RetrievedChunk> {
    let mut merged: Vec<(RetrievedChunk, f64)> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    let longest = sets.iter().map(Vec::len).max().unwrap_or_default();
    for position in 0..longest {
        for chunk in sets.iter().filter_map(|set| set.get(position)) {
            let contribution = 1.0 / (k + f64::from(rank(position)));
            let key = chunk.parent_chunk_id.as_deref().unwrap_or(&chunk.chunk_id);
            match at.get(key) {
                Some(&index) => merged[index].1 += contribution,
                None => {
                    at.insert(key, merged.len());
                    merged.push((chunk.clone(), contribution));
                }
            }
        }
    }
    // Stable: equal scores keep the round-robin order.
    merged.sort_by(|a, b| b.1.total_cmp(&a.1));
    merged.truncate(limit);
    merged.into_iter().map(|(chunk, score)| RetrievedChunk { score, ..chunk }).collect()
}

fn rank(position: usize) -> u32 {
    u32::try_from(position + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str, parent: Option<&str>) -> RetrievedChunk {
        serde_json::from_value(serde_json::json!({"document_id": "d", "version": 1, "chunk_id": id,
            "parent_chunk_id": parent, "text": id, "score": 0.5, "ranks": {}, "metadata": {},
            "citation": {"source_uri": "s3://b/d"}}))
        .unwrap()
    }

    fn ids(chunks: &[RetrievedChunk]) -> Vec<&str> {
        chunks.iter().map(|c| c.chunk_id.as_str()).collect()
    }

    #[test]
    fn merged_sets_hold_each_chunk_once_and_every_sets_best_first() {
        let refunds = vec![chunk("r1", None), chunk("r2", None), chunk("x", None)];
        let shipping = vec![chunk("s1", None), chunk("x", None), chunk("s2", None)];
        let merged = merge_sets(&[refunds, shipping], 60.0, 10);
        // x is in both lists: 1/63 + 1/62 beats any single first place (1/61).
        assert_eq!(ids(&merged), ["x", "r1", "s1", "r2", "s2"]);
        assert!((merged[0].score - (1.0 / 63.0 + 1.0 / 62.0)).abs() < 1e-12);
        assert_eq!(ids(&merge_sets(&[vec![chunk("a", None)], vec![chunk("b", None)]], 60.0, 1)), ["a"]);
        assert!(merge_sets(&[], 60.0, 5).is_empty());
    }

    #[test]
    fn children_of_one_parent_are_merged_as_the_parent() {
        let merged = merge_sets(&[vec![chunk("p#1", Some("p"))], vec![chunk("p#2", Some("p"))]], 60.0, 10);
        assert_eq!(ids(&merged), ["p#1"], "the parent's text once");
    }

    #[test]
    fn scores_are_the_hand_computed_sums() {
        let fusion = Fusion::default();
        let fused = fusion.fuse(&["a", "b", "c"], &["c", "d", "a"]);
        let by_id: HashMap<&str, (Ranks, f64)> = fused.iter().map(|(id, r, s)| (*id, (*r, *s))).collect();
        // a: 1/61 + 1/63; c: 1/63 + 1/61; b: 1/62; d: 1/62.
        assert!((by_id["a"].1 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-12);
        assert!((by_id["b"].1 - 1.0 / 62.0).abs() < 1e-12);
        assert_eq!(by_id["c"].0, Ranks { vector: Some(3), keyword: Some(1) });
        assert_eq!(by_id["d"].0, Ranks { vector: None, keyword: Some(2) });
        let order: Vec<&str> = fused.iter().map(|(id, _, _)| *id).collect();
        assert_eq!(order, ["a", "c", "b", "d"]);
    }

    #[test]
    fn weights_tilt_the_fusion() {
        let fusion = Fusion { keyword_weight: 3.0, ..Fusion::default() };
        let fused = fusion.fuse(&["a", "b"], &["b", "c"]);
        // b: 1/62 + 3/61 beats c: 3/62 beats a: 1/61.
        let order: Vec<&str> = fused.iter().map(|(id, _, _)| *id).collect();
        assert_eq!(order, ["b", "c", "a"]);
        assert!((fused[1].2 - 3.0 / 62.0).abs() < 1e-12);
    }
}
