//! Pseudo-relevance feedback on the query vector (Rocchio, 1971): before the search that
//! answers, the query moves towards the mean of its first few hits (in hybrid the fused
//! ranking's, the better first guess), which share the
//! query's topic in words the query did not use. Measured on Cranfield with the local model
//! (bench/RESULTS.md); off for embedders whose vectors carry no meaning. Pure.

/// How far the query moves, and towards how many hits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VectorFeedback {
    /// The first hits the query moves towards; 0 turns feedback off.
    pub chunks: usize,
    /// The weight of their mean against the query's own (1).
    pub weight: f32,
}

impl VectorFeedback {
    pub const OFF: Self = Self { chunks: 0, weight: 0.0 };
    /// Three hits at half weight: a common Rocchio setting for dense retrieval.
    pub const DEFAULT: Self = Self { chunks: 3, weight: 0.5 };

    pub fn is_on(&self) -> bool {
        self.chunks > 0 && self.weight > 0.0
    }
}

/// `query + weight × mean(hits)`, normalised (vectors of another length than the query's
/// are ignored). Without hits, the query as it was.
pub fn moved_query(query: &[f32], hits: &[&[f32]], weight: f32) -> Vec<f32> {
    let usable: Vec<&[f32]> = hits.iter().copied().filter(|h| h.len() == query.len()).collect();
    if usable.is_empty() {
        return query.to_vec();
    }
    let share = weight / usable.len() as f32;
    let mut moved = query.to_vec();
    for hit in usable {
        for (value, x) in moved.iter_mut().zip(hit) {
            *value += share * x;
        }
    }
    crate::index::normalised(&moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_moves_towards_the_mean_of_its_hits() {
        let moved = moved_query(&[1.0, 0.0], &[&[0.0, 1.0], &[0.0, 1.0]], 1.0);
        let half = std::f32::consts::FRAC_1_SQRT_2;
        assert!((moved[0] - half).abs() < 1e-6 && (moved[1] - half).abs() < 1e-6, "{moved:?}");
        // Half weight over two hits pointing apart: (1, 0) + 0.25 (0, 1) + 0.25 (0, -1).
        assert_eq!(moved_query(&[1.0, 0.0], &[&[0.0, 1.0], &[0.0, -1.0]], 0.5), [1.0, 0.0]);
    }

    #[test]
    fn without_usable_hits_the_query_stays() {
        assert_eq!(moved_query(&[0.6, 0.8], &[], 0.5), [0.6, 0.8]);
        assert_eq!(moved_query(&[0.6, 0.8], &[&[1.0, 0.0, 0.0]], 0.5), [0.6, 0.8]);
    }
}
