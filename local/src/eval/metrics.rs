//! Ranking metrics as trec_eval (and so BEIR, through pytrec_eval) computes them: graded
//! gains, a log2 discount, judged documents with a grade above 0 counting as relevant. A
//! query that returned nothing scores 0. Pure.

use std::collections::HashMap;

/// The judged documents of one query and their grades.
pub type Judgements = HashMap<String, u32>;

/// nDCG@k: DCG of the ranking over the DCG of the ideal ranking of the judged documents,
/// with gain = grade and discount `1 / log2(rank + 1)` (rank from 1).
pub fn ndcg_at(ranking: &[String], judged: &Judgements, k: usize) -> f64 {
    let dcg = |grades: &mut dyn Iterator<Item = u32>| -> f64 {
        grades.take(k).enumerate().map(|(i, grade)| f64::from(grade) / ((i as f64) + 2.0).log2()).sum()
    };
    let mut ideal: Vec<u32> = judged.values().copied().filter(|g| *g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let best = dcg(&mut ideal.into_iter());
    if best == 0.0 {
        return 0.0;
    }
    dcg(&mut ranking.iter().map(|id| judged.get(id).copied().unwrap_or(0))) / best
}

/// recall@k: the share of the relevant documents found in the first `k`.
pub fn recall_at(ranking: &[String], judged: &Judgements, k: usize) -> f64 {
    let relevant = judged.values().filter(|g| **g > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranking.iter().take(k).filter(|id| judged.get(*id).is_some_and(|g| *g > 0)).count();
    found as f64 / relevant as f64
}

/// MRR@k: `1 / rank` of the first relevant document in the first `k`, else 0.
pub fn reciprocal_rank_at(ranking: &[String], judged: &Judgements, k: usize) -> f64 {
    ranking
        .iter()
        .take(k)
        .position(|id| judged.get(id).is_some_and(|g| *g > 0))
        .map_or(0.0, |position| 1.0 / (position as f64 + 1.0))
}

/// The value at quantile `q` (0 to 1) of `values`, by nearest rank; 0 when there are none.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranking(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| (*id).to_owned()).collect()
    }

    fn judged(grades: &[(&str, u32)]) -> Judgements {
        grades.iter().map(|(id, g)| ((*id).to_owned(), *g)).collect()
    }

    #[test]
    fn ndcg_uses_graded_gains_and_a_log2_discount() {
        let judged = judged(&[("a", 3), ("b", 2), ("c", 1), ("z", 0)]);
        // DCG = 2/log2(2) + 0/log2(3) + 3/log2(4) = 2 + 1.5 = 3.5
        // IDCG = 3/1 + 2/log2(3) + 1/2 = 3.5 + 1.2618595 = 4.7618595
        let got = ndcg_at(&ranking(&["b", "x", "a"]), &judged, 10);
        assert!((got - 3.5 / (3.5 + 2.0 / 3f64.log2())).abs() < 1e-9, "{got}");
        assert!((ndcg_at(&ranking(&["a", "b", "c"]), &judged, 10) - 1.0).abs() < 1e-12);
        // Cut at k: only "b" counts at k = 1, against an ideal of 3.
        assert!((ndcg_at(&ranking(&["b", "a"]), &judged, 1) - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn recall_and_mrr_count_relevant_documents_only() {
        let judged = judged(&[("a", 1), ("b", 4), ("z", 0)]);
        assert!((recall_at(&ranking(&["z", "b", "q"]), &judged, 10) - 0.5).abs() < 1e-12);
        assert!((recall_at(&ranking(&["z", "b", "a"]), &judged, 2) - 0.5).abs() < 1e-12);
        assert!((reciprocal_rank_at(&ranking(&["z", "q", "a"]), &judged, 10) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(reciprocal_rank_at(&ranking(&["z", "q", "a"]), &judged, 2), 0.0);
    }

    #[test]
    fn a_query_with_no_result_scores_zero() {
        let judged = judged(&[("a", 2)]);
        assert_eq!(ndcg_at(&[], &judged, 10), 0.0);
        assert_eq!(recall_at(&[], &judged, 100), 0.0);
        assert_eq!(reciprocal_rank_at(&[], &judged, 10), 0.0);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 50.0);
        assert_eq!(quantile(&values, 0.99), 99.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
