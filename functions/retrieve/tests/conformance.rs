//! One conformance suite, run against every `SearchIndex`: the embedded SQLite file, the
//! same index kept as a base and segments in S3 (moto), and PostgreSQL + pgvector. A failure names
//! the behaviour and the backend.

use crate::support;

use std::collections::BTreeSet;
use std::sync::Arc;

use retrieve::fuse::Fusion;
use retrieve::index::{Hit, IndexError, IndexedDocument, SearchIndex, SearchQuery, Upserted};
use retrieve::segments::SegmentedIndex;
use seams_contracts::process::{EmbeddingModel, ParentChunk};
use seams_contracts::retrieve::SearchMode;
use seams_platform::object_store::S3ObjectStore;
use seams_tests::stack::Moto;
use serde_json::json;
use support::{at, document, ids, query};

mod suite {
    use super::*;

    pub async fn keyword_ranking_follows_term_statistics(index: Arc<dyn SearchIndex>) {
        let docs = [
            ("often", "refund refund refund: every refund request is answered"),
            ("once", "a refund request is answered within two weeks"),
            ("both", "the refund policy covers every request"),
            ("neither", "shipping times depend on the carrier"),
        ];
        for (id, text) in docs {
            index.upsert(&document(id, 1, at(0), &[text], json!({}))).await.unwrap();
        }
        // More occurrences of the term rank higher; a chunk without it is not a keyword hit.
        assert_eq!(ids(index.as_ref(), &query("refund", SearchMode::Keyword, 10, None)).await[0], "often");
        let hits = ids(index.as_ref(), &query("refund", SearchMode::Keyword, 10, None)).await;
        assert_eq!(hits.len(), 3, "{hits:?}");
        assert!(!hits.contains(&"neither".to_owned()));
        // Matching more of the query's words ranks higher.
        let hits = ids(index.as_ref(), &query("policy covers", SearchMode::Keyword, 10, None)).await;
        assert_eq!(hits, ["both"]);
        let scored = index.search(&query("refund", SearchMode::Keyword, 10, None)).await.unwrap();
        assert!(scored.windows(2).all(|w| w[0].score >= w[1].score), "scores descend");
        assert!(scored
            .iter()
            .enumerate()
            .all(|(i, h)| h.ranks.keyword == Some(i as u32 + 1) && h.ranks.vector.is_none()));
    }

    /// BM25's statistics (document frequencies, lengths, corpus size) follow every
    /// replacement and deletion: the scores after a history of writes are the scores of the
    /// same content written once.
    pub async fn keyword_scores_depend_only_on_what_is_indexed(index: Arc<dyn SearchIndex>) {
        let history = [
            ("a", 1, vec!["refund refund policy for gift cards", "gift cards never expire"]),
            ("b", 1, vec!["shipping policy and refund windows"]),
            ("c", 1, vec!["warehouse hours and refund desk"]),
            ("a", 2, vec!["refund policy for gift cards"]),
        ];
        for (id, version, texts) in &history {
            let texts: Vec<&str> = texts.iter().map(|t| &**t).collect();
            index.upsert(&document(id, *version, at(i64::from(*version)), &texts, json!({}))).await.unwrap();
        }
        index.delete("c", at(9)).await.unwrap();
        let questions = ["refund policy", "gift cards", "shipping", "warehouse"];
        let scores = |hits: Vec<retrieve::index::Hit>| -> Vec<(String, String)> {
            hits.into_iter().map(|h| (h.document_id, format!("{:.9}", h.score))).collect()
        };
        let mut after_history = Vec::new();
        for text in questions {
            after_history.push(scores(index.search(&query(text, SearchMode::Keyword, 10, None)).await.unwrap()));
        }
        // The same final content, written once after everything was deleted.
        index.delete("a", at(10)).await.unwrap();
        index.delete("b", at(10)).await.unwrap();
        index.upsert(&document("b", 2, at(11), &["shipping policy and refund windows"], json!({}))).await.unwrap();
        index.upsert(&document("a", 3, at(11), &["refund policy for gift cards"], json!({}))).await.unwrap();
        for (text, expected) in questions.into_iter().zip(after_history) {
            let written_once = scores(index.search(&query(text, SearchMode::Keyword, 10, None)).await.unwrap());
            assert_eq!(written_once, expected, "{text:?}");
        }
        assert!(ids(index.as_ref(), &query("warehouse", SearchMode::Keyword, 5, None)).await.is_empty());
    }

    pub async fn vector_ranking_is_cosine_similarity(index: Arc<dyn SearchIndex>) {
        let texts = [
            ("refunds", "refunds for digital products are issued within fourteen days"),
            ("shipping", "parcels ship from the warehouse every weekday morning"),
            ("security", "report a security incident to the on-call engineer"),
        ];
        for (id, text) in texts {
            index.upsert(&document(id, 1, at(0), &[text], json!({}))).await.unwrap();
        }
        let question = "how many days until a refund for digital products";
        let hits = index.search(&query(question, SearchMode::Vector, 3, None)).await.unwrap();
        assert_eq!(hits[0].document_id, "refunds");
        let q = retrieve::index::normalised(&support::vector(question));
        for hit in &hits {
            let d = retrieve::index::normalised(&support::vector(&hit.chunk.text));
            let cosine: f32 = q.iter().zip(&d).map(|(a, b)| a * b).sum();
            assert!((hit.score - f64::from(cosine)).abs() < 1e-4, "{} vs {cosine}", hit.score);
        }
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }

    pub async fn hybrid_scores_are_reciprocal_rank_fusion(index: Arc<dyn SearchIndex>) {
        let texts = [
            "refund policy for digital products",
            "refunds are issued within fourteen days",
            "digital downloads cannot be returned once opened",
            "the policy on physical products differs",
            "shipping is free above fifty euros",
            "product keys are emailed after payment",
        ];
        for (i, text) in texts.iter().enumerate() {
            index.upsert(&document(&format!("d{i}"), 1, at(0), &[text], json!({}))).await.unwrap();
        }
        let text = "refund digital product policy";
        let chunk_ids =
            |hits: Vec<retrieve::index::Hit>| hits.into_iter().map(|h| h.chunk.chunk_id).collect::<Vec<_>>();
        let vector = chunk_ids(index.search(&query(text, SearchMode::Vector, 50, None)).await.unwrap());
        let keyword = chunk_ids(index.search(&query(text, SearchMode::Keyword, 50, None)).await.unwrap());
        let expected = Fusion::default().fuse(&vector, &keyword);
        let hybrid = index.search(&query(text, SearchMode::Hybrid, 4, None)).await.unwrap();
        assert_eq!(hybrid.len(), 4);
        for (hit, (chunk_id, ranks, score)) in hybrid.iter().zip(&expected) {
            assert_eq!(&hit.chunk.chunk_id, chunk_id);
            assert_eq!(hit.ranks, *ranks);
            let by_hand = ranks.vector.map_or(0.0, |r| 1.0 / (60.0 + f64::from(r)))
                + ranks.keyword.map_or(0.0, |r| 1.0 / (60.0 + f64::from(r)));
            assert!((hit.score - by_hand).abs() < 1e-12 && (score - by_hand).abs() < 1e-12);
        }
    }

    pub async fn every_filter_operator_selects_what_it_names(index: Arc<dyn SearchIndex>) {
        let docs = [
            (
                "policy-2024",
                json!({"category": "policy", "year": 2024, "team": "finance", "tags": ["refund", "digital goods"]}),
            ),
            ("policy-2019", json!({"category": "policy", "year": 2019, "team": "legal", "tags": ["privacy"]})),
            ("faq", json!({"category": "faq", "year": 2025.5, "team": "support"})),
            ("bare", json!({})),
        ];
        for (id, attributes) in docs {
            index.upsert(&document(id, 1, at(0), &[&format!("notes about {id}")], attributes)).await.unwrap();
        }
        let cases = [
            (json!({"category": "policy"}), vec!["policy-2019", "policy-2024"]),
            (json!({"equals": {"key": "year", "value": 2024}}), vec!["policy-2024"]),
            (json!({"notEquals": {"key": "category", "value": "policy"}}), vec!["bare", "faq"]),
            (json!({"greaterThan": {"key": "year", "value": 2024}}), vec!["faq"]),
            (json!({"greaterThanOrEquals": {"key": "year", "value": 2024}}), vec!["faq", "policy-2024"]),
            (json!({"lessThan": {"key": "year", "value": 2024}}), vec!["policy-2019"]),
            (json!({"lessThanOrEquals": {"key": "year", "value": 2024}}), vec!["policy-2019", "policy-2024"]),
            (json!({"in": {"key": "team", "value": ["legal", "support"]}}), vec!["faq", "policy-2019"]),
            (json!({"notIn": {"key": "team", "value": ["legal", "support"]}}), vec!["bare", "policy-2024"]),
            (json!({"startsWith": {"key": "team", "value": "fin"}}), vec!["policy-2024"]),
            (json!({"listContains": {"key": "tags", "value": "privacy"}}), vec!["policy-2019"]),
            (json!({"stringContains": {"key": "tags", "value": "digital"}}), vec!["policy-2024"]),
            (json!({"stringContains": {"key": "team", "value": "egа"}}), vec![]),
            (json!({"stringContains": {"key": "team", "value": "upp"}}), vec!["faq"]),
            (
                json!({"andAll": [{"equals": {"key": "category", "value": "policy"}}, {"lessThan": {"key": "year", "value": 2020}}]}),
                vec!["policy-2019"],
            ),
            (
                json!({"orAll": [{"equals": {"key": "category", "value": "faq"}}, {"listContains": {"key": "tags", "value": "refund"}}]}),
                vec!["faq", "policy-2024"],
            ),
        ];
        for (filter, expected) in cases {
            for mode in [SearchMode::Vector, SearchMode::Keyword, SearchMode::Hybrid] {
                let found: BTreeSet<String> =
                    ids(index.as_ref(), &query("notes about", mode, 10, Some(filter.clone())))
                        .await
                        .into_iter()
                        .collect();
                let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
                assert_eq!(found, expected, "{filter} in {mode:?}");
            }
        }
    }

    pub async fn filters_apply_before_the_top_k_cut(index: Arc<dyn SearchIndex>) {
        for i in 0..40 {
            let (category, text) = if i % 10 == 0 {
                ("archive", format!("unrelated archived memo number {i} about parking"))
            } else {
                ("policy", format!("refund policy for digital products, clause {i}"))
            };
            index
                .upsert(&document(&format!("doc{i:02}"), 1, at(0), &[&text], json!({"category": category})))
                .await
                .unwrap();
        }
        for mode in [SearchMode::Vector, SearchMode::Keyword, SearchMode::Hybrid] {
            let filter = json!({"category": "archive"});
            let found = ids(index.as_ref(), &query("refund policy digital products memo", mode, 4, Some(filter))).await;
            assert_eq!(found.len(), 4, "{mode:?}: {found:?}");
            assert!(found.iter().all(|id| ["doc00", "doc10", "doc20", "doc30"].contains(&id.as_str())), "{found:?}");
        }
    }

    pub async fn a_new_version_replaces_the_old_chunks(index: Arc<dyn SearchIndex>) {
        let v1 = document("handbook", 1, at(0), &["the old rule about alpaca leave", "second old chunk"], json!({}));
        let v2 = document("handbook", 2, at(5), &["the new rule about badger leave"], json!({}));
        assert_eq!(index.upsert(&v1).await.unwrap(), Upserted::Replaced);
        assert_eq!(index.upsert(&v2).await.unwrap(), Upserted::Replaced);
        assert!(ids(index.as_ref(), &query("alpaca", SearchMode::Keyword, 5, None)).await.is_empty());
        let hits = index.search(&query("badger leave rule", SearchMode::Hybrid, 5, None)).await.unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!((hits[0].version, hits[0].chunk.chunk_id.as_str()), (2, "handbook:2:0"));
        // A late redelivery of version 1 changes nothing.
        assert_eq!(index.upsert(&v1).await.unwrap(), Upserted::Stale);
        assert!(ids(index.as_ref(), &query("alpaca", SearchMode::Keyword, 5, None)).await.is_empty());
    }

    pub async fn deletion_removes_a_document_for_good(index: Arc<dyn SearchIndex>) {
        let v1 = document("memo", 1, at(0), &["quarterly walrus report"], json!({}));
        index.upsert(&v1).await.unwrap();
        index.upsert(&document("other", 1, at(0), &["walrus sightings"], json!({}))).await.unwrap();
        index.delete("memo", at(10)).await.unwrap();
        index.delete("memo", at(10)).await.unwrap();
        assert_eq!(ids(index.as_ref(), &query("walrus", SearchMode::Hybrid, 5, None)).await, ["other"]);
        // The processing that was under way when the document was deleted does not revive it...
        assert_eq!(index.upsert(&v1).await.unwrap(), Upserted::Stale);
        assert_eq!(ids(index.as_ref(), &query("walrus", SearchMode::Keyword, 5, None)).await, ["other"]);
        // ...but ingesting it again afterwards does.
        let again = document("memo", 1, at(20), &["quarterly walrus report"], json!({}));
        assert_eq!(index.upsert(&again).await.unwrap(), Upserted::Replaced);
        assert_eq!(ids(index.as_ref(), &query("quarterly walrus", SearchMode::Keyword, 5, None)).await[0], "memo");
    }

    pub async fn reindexing_is_idempotent(index: Arc<dyn SearchIndex>) {
        let doc = document(
            "faq",
            3,
            at(0),
            &["how to reset a password", "how to change an email", "how to close an account"],
            json!({}),
        );
        for _ in 0..3 {
            assert_eq!(index.upsert(&doc).await.unwrap(), Upserted::Replaced);
        }
        let hits = index.search(&query("how to", SearchMode::Hybrid, 20, None)).await.unwrap();
        let chunk_ids: BTreeSet<&str> = hits.iter().map(|h| h.chunk.chunk_id.as_str()).collect();
        assert_eq!((hits.len(), chunk_ids.len()), (3, 3));
    }

    pub async fn hits_carry_their_citation_and_metadata(index: Arc<dyn SearchIndex>) {
        let doc = document(
            "guide",
            2,
            at(0),
            &["intro to otters", "otter diets in winter"],
            json!({"team": "zoo", "year": 2025}),
        );
        index.upsert(&doc).await.unwrap();
        let hits = index.search(&query("otter diets winter", SearchMode::Hybrid, 1, None)).await.unwrap();
        let hit = &hits[0];
        let expected = &doc.chunks[1];
        assert_eq!((hit.document_id.as_str(), hit.version), ("guide", 2));
        assert_eq!(hit.chunk.citation, expected.citation);
        assert_eq!(hit.chunk.metadata, expected.metadata);
        assert_eq!(hit.chunk.ordinal, 1);
        let unit = retrieve::index::normalised(&expected.embedding);
        assert!(hit.chunk.embedding.iter().zip(&unit).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    /// Hierarchical chunking: children matched, filtered and removed with their parents.
    pub async fn children_bring_their_parent_and_go_with_their_document(index: Arc<dyn SearchIndex>) {
        let tree = |parent_text: &str| {
            let mut doc = document(
                "tree",
                1,
                at(0),
                &["otters eat fish", "otters sleep afloat", "beavers build dams"],
                json!({}),
            );
            for (chunk, parent) in doc.chunks.iter_mut().zip(["tree:1:p0", "tree:1:p0", "tree:1:p1"]) {
                chunk.parent = Some(ParentChunk { chunk_id: parent.into(), text: format!("{parent_text} {parent}") });
                chunk.metadata.insert("parent_chunk_id".into(), parent.into());
            }
            doc
        };
        index.upsert(&tree("first")).await.unwrap();
        index.upsert(&document("flat", 1, at(0), &["otters in a flat document"], json!({}))).await.unwrap();
        let hits = index.search(&query("otters", SearchMode::Hybrid, 10, None)).await.unwrap();
        let parent_of = |id: &str| hits.iter().find(|h| h.chunk.chunk_id == id).and_then(|h| h.chunk.parent.clone());
        assert_eq!(
            parent_of("tree:1:0"),
            Some(ParentChunk { chunk_id: "tree:1:p0".into(), text: "first tree:1:p0".into() })
        );
        assert_eq!(parent_of("flat:1:0"), None);
        assert_eq!(hits.iter().find(|h| h.chunk.chunk_id == "tree:1:0").unwrap().chunk.text, "otters eat fish");

        let by_parent = query("otters beavers", SearchMode::Hybrid, 10, Some(json!({"parent_chunk_id": "tree:1:p1"})));
        let found: Vec<String> =
            index.search(&by_parent).await.unwrap().into_iter().map(|h| h.chunk.chunk_id).collect();
        assert_eq!(found, ["tree:1:2"]);

        // Reindexed, the document's parents are replaced with it, not kept from before.
        index.upsert(&tree("second")).await.unwrap();
        let hits = index.search(&query("beavers dams", SearchMode::Keyword, 1, None)).await.unwrap();
        assert_eq!(hits[0].chunk.parent.as_ref().map(|p| p.text.as_str()), Some("second tree:1:p1"));
        index.delete("tree", at(5)).await.unwrap();
        assert_eq!(ids(index.as_ref(), &query("otters beavers", SearchMode::Hybrid, 10, None)).await, ["flat"]);
    }

    pub async fn a_record_of_another_model_is_refused(index: Arc<dyn SearchIndex>) {
        let mut doc = document("alien", 1, at(0), &["made by another model"], json!({}));
        doc.embedding = EmbeddingModel { model: "amazon.titan-embed-text-v2:0".into(), dims: 1024 };
        doc.chunks[0].embedding = vec![0.1; 1024];
        assert!(matches!(index.upsert(&doc).await, Err(IndexError::ModelMismatch { .. })));
        assert!(ids(index.as_ref(), &query("another model", SearchMode::Keyword, 5, None)).await.is_empty());
    }
}

async fn segmented_index() -> Arc<dyn SearchIndex> {
    let moto = Moto::connect().await;
    let store = Arc::new(S3ObjectStore::new(moto.s3(), moto.create_bucket().await));
    // Under target/tmp, which `cargo clean` empties: the index outlives this function.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(seams_tests::unique("segments"));
    Arc::new(SegmentedIndex::open(store, dir, support::model(), std::time::Duration::ZERO).await.unwrap())
}

macro_rules! search_index_conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $case() { let (index, _dir) = super::support::sqlite_index(); super::suite::$case(index).await } )* }
        mod sqlite_segments_on_s3 { $( #[tokio::test] async fn $case() { super::suite::$case(super::segmented_index().await).await } )* }
        mod postgres { $( #[tokio::test] async fn $case() { super::suite::$case(super::support::postgres_index().await).await } )* }
    };
}

search_index_conformance!(
    keyword_ranking_follows_term_statistics,
    keyword_scores_depend_only_on_what_is_indexed,
    vector_ranking_is_cosine_similarity,
    hybrid_scores_are_reciprocal_rank_fusion,
    every_filter_operator_selects_what_it_names,
    filters_apply_before_the_top_k_cut,
    a_new_version_replaces_the_old_chunks,
    deletion_removes_a_document_for_good,
    reindexing_is_idempotent,
    hits_carry_their_citation_and_metadata,
    a_record_of_another_model_is_refused,
    children_bring_their_parent_and_go_with_their_document,
);

/// PostgreSQL ranks keywords by Lucene's BM25 (k1 1.2, b 0.75) from the statistics the
/// indexer keeps; the figures are computed by hand from the formula.
#[tokio::test]
async fn postgres_keyword_scores_are_lucene_bm25() {
    let index = support::postgres_index().await;
    // Lexemes (english): d1 refund ×2, polici (3); d2 ship, polici (2); d3 warehous, hour (2).
    for (id, text) in [("d1", "refund refund policy"), ("d2", "shipping policy"), ("d3", "warehouse hours")] {
        index.upsert(&document(id, 1, at(0), &[text], json!({}))).await.unwrap();
    }
    // N 3, avgdl 7/3. idf(refund) = ln(1 + 2.5/1.5), idf(polici) = ln(1 + 1.5/2.5).
    // d1: idf(refund)·2·2.2/(2 + 1.2·(0.25 + 0.75·3/(7/3))) + idf(polici)·1·2.2/(1 + 1.2·(…)).
    let hits = index.search(&query("refund policy", SearchMode::Keyword, 10, None)).await.unwrap();
    let scores: Vec<(&str, f64)> = hits.iter().map(|h| (h.document_id.as_str(), h.score)).collect();
    assert_eq!(scores.len(), 2, "OR semantics: a chunk with either word matches, d3 with neither does not: {scores:?}");
    assert_eq!(scores[0].0, "d1");
    assert!((scores[0].1 - 1.669_145_343).abs() < 1e-6, "{scores:?}");
    assert!((scores[1].1 - 0.499_176_268).abs() < 1e-6, "{scores:?}");
}

/// Keyword candidates come from the rarest words, under a budget of postings; whether that
/// list is provably complete or every match is scored instead, the ranking is BM25's over
/// every match: the same as with a budget that takes every word.
#[tokio::test]
async fn postgres_keyword_top_k_from_rare_words_ranks_as_scoring_every_match() {
    use retrieve::postgres::{Connection, PostgresIndex, PostgresSettings};
    let every_word = support::postgres_index().await;
    // policy: every chunk; shipping: every other; returns: 6; refund: 3; warranty: 1.
    for i in 0..40 {
        let mut words = vec!["policy"; 1 + i % 3];
        words.extend(vec!["shipping"; if i % 2 == 0 { 1 + i % 4 } else { 0 }]);
        words.extend(if i % 13 == 1 { vec!["refund"; 1 + i % 2] } else { vec![] });
        // A long chunk with the rarest word, and short ones with a word just over the budget.
        words.extend(if i == 7 { vec!["warranty", "filler", "filler", "filler", "filler", "filler"] } else { vec![] });
        words.extend(if i % 7 == 3 { vec!["returns"; if i == 3 { 3 } else { 1 }] } else { vec![] });
        words.extend(vec!["filler"; i % 5]);
        let text = words.join(" ");
        every_word.upsert(&document(&format!("d{i:02}"), 1, at(0), &[&text], json!({}))).await.unwrap();
    }
    let settings = PostgresSettings {
        connection: Connection::Fixed(seams_tests::stack::database_url().parse().unwrap()),
        schema: every_word.schema().to_owned(),
        ca_file: None,
    };
    let rare_only = PostgresIndex::new(settings, support::model()).unwrap().with_rare_postings(5);
    for text in [
        "refund policy",
        "refund shipping",
        "warranty shipping policy",
        "shipping policy",
        "refund warranty",
        "warranty returns",
    ] {
        for top_k in [1, 2, 3, 10] {
            for mode in [SearchMode::Keyword, SearchMode::Hybrid] {
                assert_ranks_alike(&rare_only, every_word.as_ref(), &query(text, mode, top_k, None)).await;
            }
        }
    }
}

/// Chunks of equal BM25 scores rank by chunk id on every keyword path: a chunk's words are
/// summed in one order. Summed as each plan's join gave them, the rare words' path and scoring
/// every match differed in the last bit for a tie and ranked it either way: on the bench's
/// corpus at 3,000 chunks, for one of these twenty filtered queries.
#[tokio::test]
async fn postgres_ties_rank_alike_on_every_keyword_path() {
    let (rare_words, with_budget) = bench_corpus_in_postgres(u64::MAX).await;
    let every_match = with_budget(i64::MAX);
    let mut words = crate::corpus::Words(0xC0FFEE);
    for _ in 0..20 {
        let asked = query(&words.text(6), SearchMode::Keyword, 10, Some(json!({"category": "policy"})));
        assert_ranks_alike(rare_words.as_ref(), &every_match, &asked).await;
    }
}

/// Keyword candidates narrowed to the chunks whose words' bounds can reach θ rank as scoring
/// every match, on the bench's corpus at 3,000 chunks with the rare words' budget scaled to
/// it (5,000 postings at 100k, the default with a filter). Words in more than half the
/// chunks, and those past the eight of largest bounds, are left out of the sets and counted
/// as if every chunk held them; counted as held by none, the sets lose chunks that reach the
/// top only with their help.
#[tokio::test]
async fn postgres_keyword_candidates_whose_bounds_reach_theta_rank_as_every_match() {
    let (_, with_budget) = bench_corpus_in_postgres(u64::MAX).await;
    let (narrowed, every_match) = (with_budget(150), with_budget(i64::MAX));
    let mut words = crate::corpus::Words(0xC0FFEE);
    for asked in 0..40 {
        // Every fourth query has more words than the sets spell out.
        let text = words.text(if asked % 4 == 3 { 12 } else { 6 });
        for (mode, filter) in [
            (SearchMode::Keyword, None),
            (SearchMode::Hybrid, None),
            (SearchMode::Keyword, Some(json!({"category": "policy"}))),
        ] {
            assert_ranks_alike(&narrowed, &every_match, &query(&text, mode, 10, filter)).await;
        }
    }
}

/// Hybrid as lists ranked at once, on connections of their own and fused in retrieve,
/// answers as the one statement does: the same chunks in the same order with the same scores,
/// with and without a filter, at several depths. So it does over a vector index in parts,
/// where each part's lists are merged first (decision 46): its first search, not knowing the
/// parts yet, ranks the two lists whole; the others one statement per part. A schema with
/// nothing indexed yet answers nothing.
#[tokio::test]
async fn postgres_hybrid_lists_at_once_rank_as_one_statement() {
    use seams_embeddings::Embedder;
    // HNSW, and IVFFlat in two parts of one list each (a search probes it: exact).
    for ivfflat_min_chunks in [u64::MAX, 1_000] {
        let (loaded, with_budget) = bench_corpus_in_postgres(ivfflat_min_chunks).await;
        let in_parts = ivfflat_min_chunks < 3_000;
        let parts = part_indexes(loaded.schema()).await;
        assert_eq!(parts.len(), if in_parts { 3 } else { 0 }, "part 0's vector index keeps its name: {parts:?}");
        let (one_statement, at_once) =
            (with_budget(150), with_budget(150).with_hybrid_lists_at_once(retrieve::postgres::ListsAtOnce::Always));
        let mut words = crate::corpus::Words(0xC0FFEE);
        for asked in 0..20 {
            let text = words.text(6);
            let filter = (asked % 2 == 1).then(|| json!({"category": "policy"}));
            for top_k in [1, 3, 10] {
                let asked = query(&text, SearchMode::Hybrid, top_k, filter.clone());
                assert_ranks_alike(&at_once, &one_statement, &asked).await;
            }
        }
    }
    let settings = retrieve::postgres::PostgresSettings {
        connection: retrieve::postgres::Connection::Fixed(seams_tests::stack::database_url().parse().unwrap()),
        schema: format!("seams_empty_{}", std::process::id()),
        ca_file: None,
    };
    let empty = retrieve::postgres::PostgresIndex::new(
        settings,
        seams_embeddings::hashing::HashingEmbedder::default().model().clone(),
    )
    .unwrap()
    .with_hybrid_lists_at_once(retrieve::postgres::ListsAtOnce::Always);
    assert!(empty.search(&query("w1 w2", SearchMode::Hybrid, 10, None)).await.unwrap().is_empty());
}

/// With no second connection to be had (here a role allowed one), hybrid lists at once fall
/// back to one statement: the same answer, not an error.
#[tokio::test]
async fn postgres_hybrid_lists_at_once_without_a_second_connection_answer_as_one_statement() {
    use retrieve::postgres::{Connection, PostgresIndex, PostgresSettings};
    use seams_embeddings::Embedder;
    let (loaded, with_budget) = bench_corpus_in_postgres(u64::MAX).await;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let (schema, role) = (loaded.schema().to_owned(), format!("seams_one_connection_{}_{nanos}", std::process::id()));
    let admin = seams_tests::stack::database_client().await;
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN CONNECTION LIMIT 1;
             GRANT USAGE ON SCHEMA {schema} TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role};"
        ))
        .await
        .unwrap();
    let mut url: tokio_postgres::Config = seams_tests::stack::database_url().parse().unwrap();
    url.user(&role);
    let settings = PostgresSettings { connection: Connection::Fixed(url), schema, ca_file: None };
    let model = seams_embeddings::hashing::HashingEmbedder::default().model().clone();
    let at_once = PostgresIndex::new(settings, model)
        .unwrap()
        .with_rare_postings(150)
        .with_hybrid_lists_at_once(retrieve::postgres::ListsAtOnce::Always);
    let mut words = crate::corpus::Words(0xC0FFEE);
    for _ in 0..3 {
        assert_ranks_alike(&at_once, &with_budget(150), &query(&words.text(6), SearchMode::Hybrid, 10, None)).await;
    }
    drop(at_once); // its connection, before the role goes
    admin.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role};")).await.unwrap();
}

/// Hybrid lists at once while idle (`SEAMS_POSTGRES_HYBRID_AT_ONCE=true`) rank as one
/// statement, on one connection, while another query of the database role runs, and at once,
/// on a second connection, once a search has seen nothing else running (decision 47). The
/// role is the test's own, so other tests' queries do not count.
#[tokio::test]
async fn postgres_hybrid_lists_at_once_while_idle_wait_for_the_role_to_be_idle() {
    use retrieve::postgres::{Connection, ListsAtOnce, PostgresIndex, PostgresSettings};
    use seams_embeddings::Embedder;
    let (loaded, with_budget) = bench_corpus_in_postgres(u64::MAX).await;
    let name = seams_tests::unique("at_once_idle").replace('-', "_");
    let (schema, role) = (loaded.schema().to_owned(), format!("seams_{name}"));
    let admin = seams_tests::stack::database_client().await;
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN;
             GRANT USAGE ON SCHEMA {schema} TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role};"
        ))
        .await
        .unwrap();
    let mut url: tokio_postgres::Config = seams_tests::stack::database_url().parse().unwrap();
    url.user(&role).application_name(&name);
    let settings = PostgresSettings { connection: Connection::Fixed(url.clone()), schema, ca_file: None };
    let model = seams_embeddings::hashing::HashingEmbedder::default().model().clone();
    let at_once = PostgresIndex::new(settings, model)
        .unwrap()
        .with_rare_postings(150)
        .with_hybrid_lists_at_once(ListsAtOnce::WhileIdle);
    let connections = || async {
        let row = admin.query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&name]).await;
        row.unwrap().get::<_, i64>(0)
    };
    let mut words = crate::corpus::Words(0xC0FFEE);
    let mut search = || query(&words.text(6), SearchMode::Hybrid, 10, None);

    let (sleeper, sleeper_connection) = url.application_name("sleeper").connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(sleeper_connection);
    let sleeping = tokio::spawn(async move { sleeper.batch_execute("SELECT pg_sleep(3)").await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for _ in 0..2 {
        assert_ranks_alike(&at_once, &with_budget(150), &search()).await;
        assert_eq!(at_once.others_running(), Some(1), "the sleeper runs");
        assert_eq!(connections().await, 1, "one statement, on one connection, while the sleeper runs");
    }
    let one_statement = with_budget(150);
    one_statement.search(&search()).await.unwrap();
    assert_eq!(one_statement.others_running(), None, "only lists at once while idle count the others");
    sleeping.await.unwrap().unwrap();
    assert_ranks_alike(&at_once, &with_budget(150), &search()).await;
    assert_eq!(at_once.others_running(), Some(0), "the sleeper has woken");
    assert_eq!(connections().await, 1, "the search before saw the sleeper");
    assert_ranks_alike(&at_once, &with_budget(150), &search()).await;
    assert_eq!(connections().await, 2, "at once, on a second connection");
    assert_eq!(at_once.others_running(), Some(0), "the lists' own statements are not counted");
    drop(at_once); // its connections, before the role goes
    admin.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role};")).await.unwrap();
}

/// The bench's corpus at 3,000 chunks, bulk-loaded into a fresh schema (IVFFlat in parts from
/// `ivfflat_min_chunks` on, else HNSW): the index that loaded it, and that schema searched with
/// a rare words' budget of its own (`i64::MAX`: every word is rare, so every match is scored).
async fn bench_corpus_in_postgres(
    ivfflat_min_chunks: u64,
) -> (Arc<retrieve::postgres::PostgresIndex>, impl Fn(i64) -> retrieve::postgres::PostgresIndex) {
    use retrieve::postgres::{Connection, PostgresIndex, PostgresSettings};
    use seams_embeddings::{hashing::HashingEmbedder, Embedder};
    let embedder = HashingEmbedder::default();
    let loaded =
        support::postgres_index_configured(&seams_tests::stack::database_url(), embedder.model().clone(), |index| {
            index.with_ivfflat_min_chunks(ivfflat_min_chunks)
        })
        .await;
    loaded.bulk_load(&crate::corpus::corpus(3_000, &embedder)).await.unwrap();
    let settings = PostgresSettings {
        connection: Connection::Fixed(seams_tests::stack::database_url().parse().unwrap()),
        schema: loaded.schema().to_owned(),
        ca_file: None,
    };
    let with_budget = move |budget| {
        PostgresIndex::new(settings.clone(), embedder.model().clone()).unwrap().with_rare_postings(budget)
    };
    (loaded, with_budget)
}

/// The indexes only a schema whose vector index is in parts has (decision 46), by name.
async fn part_indexes(schema: &str) -> Vec<String> {
    let rows = seams_tests::stack::database_client()
        .await
        .query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname ~ '^chunks_(embedding_half|tsv)_idx_[0-9]+$'
             ORDER BY indexname",
            &[&schema],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get::<_, String>(0)).collect()
}

/// `index` answers `asked` as `reference` does: the same chunks in the same order, with scores
/// within 1e-9.
async fn assert_ranks_alike(index: &dyn SearchIndex, reference: &dyn SearchIndex, asked: &SearchQuery) {
    let ranked = |hits: Vec<Hit>| hits.into_iter().map(|hit| (hit.chunk.chunk_id, hit.score)).collect::<Vec<_>>();
    let got = ranked(index.search(asked).await.unwrap());
    let expected = ranked(reference.search(asked).await.unwrap());
    let context = format!("{:?} {:?} top {}: {got:?} against {expected:?}", asked.text, asked.mode, asked.top_k);
    let ids = |ranked: &[(String, f64)]| ranked.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&got), ids(&expected), "{context}");
    assert!(got.iter().zip(&expected).all(|(a, b)| (a.1 - b.1).abs() < 1e-9), "{context}");
}

/// Each text as document `d{i}` in a fresh schema: the index that wrote them (with the
/// default budget, every word of so few chunks is rare), and that schema searched with a rare
/// words' budget of its own.
async fn texts_in_postgres(
    texts: &[&str],
) -> (Arc<retrieve::postgres::PostgresIndex>, impl Fn(i64) -> retrieve::postgres::PostgresIndex) {
    use retrieve::postgres::{Connection, PostgresIndex, PostgresSettings};
    let every_word = support::postgres_index().await;
    for (i, text) in texts.iter().enumerate() {
        every_word.upsert(&document(&format!("d{i}"), 1, at(0), &[text], json!({}))).await.unwrap();
    }
    let settings = PostgresSettings {
        connection: Connection::Fixed(seams_tests::stack::database_url().parse().unwrap()),
        schema: every_word.schema().to_owned(),
        ca_file: None,
    };
    let with_budget =
        move |budget| PostgresIndex::new(settings.clone(), support::model()).unwrap().with_rare_postings(budget);
    (every_word, with_budget)
}

/// When even the rarest word is over the budget, θ comes from the chunks holding the two
/// rarest words together. Those are not all the chunks holding the rarest word, so they never
/// answer alone: here a chunk holding alpha six times, and no beta, outscores every chunk
/// holding both, and only alpha can reach θ.
#[tokio::test]
async fn postgres_keyword_threshold_from_two_common_words_still_finds_a_chunk_holding_one() {
    let mut texts = vec!["alpha alpha alpha alpha alpha alpha filler filler"];
    texts.extend(["alpha beta filler filler filler filler filler filler"; 2]);
    texts.extend(["beta filler filler filler filler filler filler filler"; 4]);
    texts.extend(["filler filler filler filler filler filler filler filler"; 3]);
    let (every_word, with_budget) = texts_in_postgres(&texts).await;
    let over_budget = with_budget(1);
    let top = query("alpha beta", SearchMode::Keyword, 1, None);
    assert_eq!(ids(every_word.as_ref(), &top).await, ["d0"], "BM25's best");
    assert_eq!(ids(&over_budget, &top).await, ["d0"]);
}

/// Words in more than half the chunks are not spelled out in the sets whose bounds reach θ:
/// they are counted as held by every chunk. When their bounds alone reach θ, a chunk holding
/// none of the spelled words can still win, and is scored: here ledger, in three chunks of
/// five, five times in a short one that outscores the one chunk holding memo.
#[tokio::test]
async fn postgres_keyword_a_chunk_holding_only_unspelled_words_is_scored_when_they_reach_theta() {
    let long = format!("memo ledger {}", ["filler"; 198].join(" "));
    let texts = [long.as_str(), "ledger ledger ledger ledger ledger", "ledger filler", "filler", "filler"];
    let (every_word, with_budget) = texts_in_postgres(&texts).await;
    let top = query("memo ledger", SearchMode::Keyword, 1, None);
    assert_eq!(ids(every_word.as_ref(), &top).await, ["d1"], "BM25's best");
    assert_ranks_alike(&with_budget(1), every_word.as_ref(), &top).await;
}

/// MaxScore's word bounds follow the chunks. A chunk rewritten to hold a word six times (its
/// document frequency unchanged) reaches the top though the rare word's list lacks it, also
/// in a schema without the bounds (searched with the loose bound) and after migration 4
/// computes them from the chunks. A bound left at the word's old count would return the rare
/// word's chunk instead.
#[tokio::test]
async fn postgres_keyword_bounds_follow_rewritten_chunks_and_migrations() {
    let mut texts = vec!["omega filler filler filler filler filler filler filler filler"];
    texts.extend(["alpha filler filler filler"; 3]);
    texts.extend(["filler filler filler filler"; 4]);
    let (every_word, with_budget) = texts_in_postgres(&texts).await;
    // Only omega is rare: alpha's chunks are found only if alpha's bound says they may win.
    let rare_only = with_budget(1);
    let top = query("omega alpha", SearchMode::Keyword, 1, None);
    assert_eq!(ids(&rare_only, &top).await, ["d0"]);

    every_word.upsert(&document("d1", 2, at(1), &["alpha alpha alpha alpha alpha alpha"], json!({}))).await.unwrap();
    assert_eq!(ids(every_word.as_ref(), &top).await, ["d1"]);
    assert_eq!(ids(&rare_only, &top).await, ["d1"], "after the rewrite");

    let client = seams_tests::stack::database_client().await;
    let schema = every_word.schema();
    client
        .batch_execute(&format!(
            "ALTER TABLE {schema}.terms DROP COLUMN max_tf, DROP COLUMN min_length;
             DELETE FROM {schema}.migrations WHERE version >= 4;"
        ))
        .await
        .unwrap();
    // As a query function deployed before the indexer has migrated sees it.
    assert_eq!(ids(&rare_only, &top).await, ["d1"], "before migration 4");
    every_word.migrate().await.unwrap();
    assert_eq!(ids(&rare_only, &top).await, ["d1"], "after migration 4");
    let bounds = client
        .query_one(&format!("SELECT max_tf, min_length FROM {schema}.terms WHERE lexeme = 'alpha'"), &[])
        .await
        .unwrap();
    assert_eq!((bounds.get::<_, i32>(0), bounds.get::<_, i32>(1)), (6, 4));
}

/// A bulk load (COPY, statistics counted once, indexes built after) leaves the index as
/// upserting the same documents one at a time does: the same hits with the same scores in
/// every mode, filtered or not, whether it built HNSW (a small load) or IVFFlat (from
/// `IVFFLAT_MIN_CHUNKS` on, here lowered; decision 40). It skips what `upsert` would refuse,
/// keeps a document's newest version, and the index takes single writes afterwards. It
/// refuses a non-empty index.
#[tokio::test]
async fn postgres_bulk_load_indexes_as_upserting_one_at_a_time() {
    let upserted = support::postgres_index().await;
    let loaded = support::postgres_index().await;
    let url = seams_tests::stack::database_url();
    let loaded_ivfflat =
        support::postgres_index_configured(&url, support::model(), |index| index.with_ivfflat_min_chunks(36)).await;
    let topics = ["refund policy window", "shipping times policy", "warehouse hours", "digital refund rules"];
    let mut documents: Vec<IndexedDocument> = (0..12)
        .map(|i| {
            let texts: Vec<String> = (0..3).map(|c| format!("{} note {i} part {c}", topics[(i + c) % 4])).collect();
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let kind = if i % 3 == 0 { "policy" } else { "notes" };
            document(&format!("d{i:02}"), 1, at(i as i64), &texts, json!({"kind": kind}))
        })
        .collect();
    // Hierarchical chunks: d00's children share one parent, stored once.
    for chunk in &mut documents[0].chunks {
        chunk.parent = Some(ParentChunk { chunk_id: "d00:1:p0".into(), text: "the whole refund section".into() });
    }
    // An older version given first, and a document deleted after it was processed.
    documents.insert(0, document("d05", 0, at(0), &["an outdated refund draft"], json!({"kind": "notes"})));
    documents.push(document("gone", 1, at(1), &["refund policy that was withdrawn"], json!({})));
    for index in [&loaded, &loaded_ivfflat] {
        index.delete("gone", at(2)).await.unwrap();
    }
    for document in &documents {
        upserted.upsert(document).await.unwrap();
    }
    upserted.delete("gone", at(2)).await.unwrap();
    assert_eq!(loaded.bulk_load(&documents).await.unwrap(), 36);
    assert_eq!(loaded_ivfflat.bulk_load(&documents).await.unwrap(), 36);
    let client = seams_tests::stack::database_client().await;
    for (index, method) in [(&loaded, "USING hnsw"), (&loaded_ivfflat, "USING ivfflat")] {
        let definition: String = client
            .query_one(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'chunks_embedding_half_idx'",
                &[&index.schema()],
            )
            .await
            .unwrap()
            .get(0);
        assert!(definition.contains(method), "{definition}");
    }

    let same = |label: String, got: Vec<retrieve::index::Hit>, expected: Vec<retrieve::index::Hit>| {
        let ranked = |hits: &[retrieve::index::Hit]| -> Vec<(String, f64)> {
            let parent = |hit: &retrieve::index::Hit| hit.chunk.parent.as_ref().map(|p| p.text.clone());
            hits.iter().map(|hit| (format!("{} {:?}", hit.chunk.chunk_id, parent(hit)), hit.score)).collect()
        };
        let (got, expected) = (ranked(&got), ranked(&expected));
        assert_eq!(got.len(), expected.len(), "{label}: {got:?} against {expected:?}");
        for ((id, score), (expected_id, expected_score)) in got.iter().zip(&expected) {
            assert_eq!(id, expected_id, "{label}: {got:?} against {expected:?}");
            assert!((score - expected_score).abs() < 1e-9, "{label}: {got:?} against {expected:?}");
        }
    };
    let compare = || async {
        for text in ["refund policy", "warehouse hours note 7", "digital rules", "withdrawn draft"] {
            for mode in [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid] {
                for filter in [None, Some(json!({"kind": "policy"}))] {
                    let asked = query(text, mode, 10, filter.clone());
                    let expected = upserted.search(&asked).await.unwrap();
                    for (index, built) in [(&loaded, "hnsw"), (&loaded_ivfflat, "ivfflat")] {
                        let label = format!("{built}: {text:?} {mode:?} {filter:?}");
                        same(label, index.search(&asked).await.unwrap(), expected.clone());
                    }
                }
            }
        }
    };
    compare().await;
    let withdrawn = query("withdrawn outdated", SearchMode::Keyword, 10, None);
    assert!(ids(loaded.as_ref(), &withdrawn).await.is_empty(), "the deleted and the outdated are not loaded");

    // Single writes go on from the loaded statistics.
    let extra = document("d99", 1, at(50), &["refund policy addendum"], json!({"kind": "policy"}));
    for index in [&upserted, &loaded, &loaded_ivfflat] {
        index.upsert(&extra).await.unwrap();
        index.delete("d03", at(60)).await.unwrap();
    }
    compare().await;

    let refused = loaded.bulk_load(&documents).await;
    assert!(matches!(refused, Err(IndexError::Invalid(_))), "{refused:?}");

    // IVFFlat comes in parts (decision 46). Emptied, the schema takes another bulk load, which
    // builds the parts' indexes again (it would fail on those of the first); back to HNSW by
    // `seams upgrade-index`, no part's index is left. A search that last saw two parts still
    // finds every chunk, as one statement does.
    use retrieve::postgres::{Connection, PostgresIndex, PostgresSettings};
    let schema = loaded_ivfflat.schema().to_owned();
    let parts = ["chunks_embedding_half_idx_1", "chunks_tsv_idx_0", "chunks_tsv_idx_1"];
    assert_eq!(part_indexes(&schema).await, parts);
    let on_schema = || {
        let connection = Connection::Fixed(url.parse().unwrap());
        PostgresIndex::new(PostgresSettings { connection, schema: schema.clone(), ca_file: None }, support::model())
            .unwrap()
    };
    let (at_once, whole) =
        (on_schema().with_hybrid_lists_at_once(retrieve::postgres::ListsAtOnce::Always), on_schema());
    let asked = query("refund policy", SearchMode::Hybrid, 10, None);
    for _ in 0..2 {
        same("at once, in parts".into(), at_once.search(&asked).await.unwrap(), upserted.search(&asked).await.unwrap());
    }
    for document in documents.iter().chain([&extra]) {
        loaded_ivfflat.delete(&document.document_id, at(70)).await.unwrap();
    }
    let reloaded: Vec<IndexedDocument> = topics
        .iter()
        .enumerate()
        .map(|(i, topic)| document(&format!("r{i}"), 1, at(80), &[topic], json!({})))
        .collect();
    assert_eq!(on_schema().with_ivfflat_min_chunks(4).bulk_load(&reloaded).await.unwrap(), 4);
    assert_eq!(part_indexes(&schema).await, parts);
    same("at once, reloaded".into(), at_once.search(&asked).await.unwrap(), whole.search(&asked).await.unwrap());
    client.batch_execute(&format!("DROP INDEX {schema}.chunks_embedding_half_idx")).await.unwrap();
    assert!(whole.upgrade_vector_index().await.unwrap());
    let left = part_indexes(&schema).await;
    assert!(left.is_empty(), "{left:?}");
    same("at once, parts gone".into(), at_once.search(&asked).await.unwrap(), whole.search(&asked).await.unwrap());
    assert_eq!(at_once.search(&asked).await.unwrap().len(), 4, "the vector list holds every chunk");
}

/// A connection idle long enough for the server to have closed it (the Aurora option closes
/// idle sessions, so that a frozen Lambda instance does not keep the cluster from pausing) is
/// replaced before a request uses it; one in use is kept.
#[tokio::test(start_paused = true)]
async fn postgres_replaces_a_connection_left_idle() {
    let url = seams_tests::stack::database_url();
    let name = seams_tests::unique("idle").replace('-', "_");
    let separator = if url.contains('?') { '&' } else { '?' };
    let index = support::postgres_index_at(&format!("{url}{separator}application_name={name}")).await;
    let client = seams_tests::stack::database_client().await;
    let backends = || async {
        let rows = client.query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", &[&name]).await;
        rows.unwrap().iter().map(|row| row.get::<_, i32>(0)).collect::<Vec<_>>()
    };
    let refund = query("refund", SearchMode::Keyword, 3, None);
    let search = || index.search(&refund);

    search().await.unwrap();
    let first = backends().await;
    assert_eq!(first.len(), 1, "{first:?}");
    tokio::time::advance(std::time::Duration::from_secs(40)).await;
    search().await.unwrap();
    assert_eq!(backends().await, first, "a connection used 40 s ago is kept");

    tokio::time::advance(std::time::Duration::from_secs(51)).await;
    search().await.unwrap();
    let after = backends().await;
    assert!(
        after.iter().any(|pid| !first.contains(pid)),
        "idle 51 s, the connection is replaced: {first:?} then {after:?}"
    );
}

/// A write the database refuses says why, in the server's words, where the client alone would
/// say "db error": the cause an operator reads in the logs and the dead-letter queue.
#[tokio::test]
async fn postgres_refusals_name_their_cause() {
    let index = support::postgres_index().await;
    let client = seams_tests::stack::database_client().await;
    let schema = index.schema();
    index.upsert(&document("d0", 1, at(0), &["refund policy"], json!({}))).await.unwrap();
    client
        .batch_execute(&format!(
            "ALTER TABLE {schema}.chunks ADD CONSTRAINT no_secrets CHECK (text NOT LIKE '%secret%')"
        ))
        .await
        .unwrap();
    let refused = index.upsert(&document("d1", 1, at(0), &["the secret plan"], json!({}))).await.unwrap_err();
    let message = refused.to_string();
    assert!(message.contains("23514") && message.contains("violates check constraint \"no_secrets\""), "{message}");
    assert!(!message.contains("the secret plan"), "no row values: {message}");
}

/// Migration 2 adds BM25's statistics to an index built before it, from the chunks it holds
/// (and migration 3, parents, keeps them).
#[tokio::test]
async fn postgres_statistics_are_built_for_an_existing_index() {
    let index = support::postgres_index().await;
    for (id, text) in [("d1", "refund refund policy"), ("d2", "shipping policy"), ("d3", "warehouse hours")] {
        index.upsert(&document(id, 1, at(0), &[text], json!({}))).await.unwrap();
    }
    let before = index.search(&query("refund policy", SearchMode::Keyword, 10, None)).await.unwrap();
    // Back to the schema as migration 1 left it, chunks kept.
    let client = seams_tests::stack::database_client().await;
    let schema = index.schema();
    client
        .batch_execute(&format!(
            "DROP TABLE {schema}.terms, {schema}.corpus, {schema}.parents;
             ALTER TABLE {schema}.chunks DROP COLUMN length, DROP COLUMN parent_id;
             DROP FUNCTION {schema}.lexeme_count; DELETE FROM {schema}.migrations WHERE version >= 2;"
        ))
        .await
        .unwrap();
    index.migrate().await.unwrap();
    let after = index.search(&query("refund policy", SearchMode::Keyword, 10, None)).await.unwrap();
    assert_eq!(after, before);
}

/// Migration 5 replaces the vector index of a small existing schema with the denser one over
/// half precision; a schema over 5,000 chunks keeps its index until `upgrade_vector_index`
/// (the indexer's timeout could not hold the build). Vector and hybrid searches answer the
/// same, with exact scores, on either index: before the migration, after it, and after the
/// upgrade.
#[tokio::test]
async fn postgres_migration_5_replaces_the_vector_index_of_a_small_schema_and_the_upgrade_a_big_one() {
    let index = support::postgres_index().await;
    let texts = ["refund policy for gift cards", "shipping times by carrier", "warehouse opening hours", "refund desk"];
    for (i, text) in texts.iter().enumerate() {
        index.upsert(&document(&format!("d{i}"), 1, at(0), &[text], json!({}))).await.unwrap();
    }
    let searches =
        [query("refund policy", SearchMode::Vector, 3, None), query("refund hours", SearchMode::Hybrid, 3, None)];
    let mut expected = Vec::new();
    for search in &searches {
        expected.push(index.search(search).await.unwrap());
    }
    let exact = retrieve::index::normalised(&support::vector("refund policy for gift cards"));
    let cosine: f32 = exact.iter().zip(searches[0].vector.as_deref().unwrap()).map(|(a, b)| a * b).sum();
    assert_eq!(expected[0][0].document_id, "d0");
    assert!((expected[0][0].score - f64::from(cosine)).abs() < 1e-6, "the exact distance, not half precision's");
    async fn answers_as_expected(index: &dyn SearchIndex, searches: &[SearchQuery], expected: &[Vec<Hit>], when: &str) {
        for (search, expected) in searches.iter().zip(expected) {
            assert_eq!(&index.search(search).await.unwrap(), expected, "{when}");
        }
    }
    async fn vector_indexes(client: &tokio_postgres::Client, schema: &str) -> Vec<(String, String)> {
        let rows = client
            .query(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE 'chunks_embedding%'",
                &[&schema],
            )
            .await
            .unwrap();
        rows.iter().map(|row| (row.get::<_, String>(0), row.get::<_, String>(1))).collect()
    }

    let client = seams_tests::stack::database_client().await;
    let schema = index.schema();
    let half = |indexes: &[(String, String)]| {
        indexes.len() == 1
            && indexes[0].0 == "chunks_embedding_half_idx"
            && indexes[0].1.contains("halfvec_cosine_ops")
            && indexes[0].1.contains("m='32'")
    };
    // Back to the index migration 1 made before decision 37.
    let old_index =
        format!("CREATE INDEX chunks_embedding_idx ON {schema}.chunks USING hnsw (embedding vector_cosine_ops);");
    let roll_back =
        format!("DROP INDEX {schema}.chunks_embedding_half_idx; DELETE FROM {schema}.migrations WHERE version >= 5;");
    client.batch_execute(&format!("{roll_back} {old_index}")).await.unwrap();
    assert!(!half(&vector_indexes(&client, schema).await));
    answers_as_expected(index.as_ref(), &searches, &expected, "before migration 5").await;
    index.migrate().await.unwrap();
    assert!(half(&vector_indexes(&client, schema).await), "{:?}", vector_indexes(&client, schema).await);
    answers_as_expected(index.as_ref(), &searches, &expected, "after migration 5").await;
    assert!(!index.upgrade_vector_index().await.unwrap(), "nothing left to upgrade");

    // Over 10,000 chunks of random vectors, far from the query (and without document rows).
    // The old index is built after the rows: it builds faster than it grows row by row.
    client.batch_execute(&roll_back).await.unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO {schema}.chunks (chunk_id, document_id, version, ordinal, text, citation, metadata, embedding, length)
             SELECT 'filler:' || n, 'filler', 1, n, 'zzz', '{{}}', '{{}}',
                    ARRAY(SELECT random() - 0.5 + n * 0 FROM generate_series(1, vector_dims(c.embedding)))::vector, 1
             FROM generate_series(1, 5000) n, {schema}.chunks c WHERE c.document_id = 'd2'; {old_index}"
        ))
        .await
        .unwrap();
    index.migrate().await.unwrap();
    let kept = vector_indexes(&client, schema).await;
    assert_eq!(
        kept.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
        ["chunks_embedding_idx"],
        "a big table keeps its index"
    );
    let vector_hits = index.search(&searches[0]).await.unwrap();
    assert_eq!(vector_hits[0].document_id, "d0");
    assert_eq!(vector_hits[0].score, expected[0][0].score);
    // The upgrade's build is the same at any size; the fillers go first to keep this test fast.
    client.batch_execute(&format!("DELETE FROM {schema}.chunks WHERE document_id = 'filler'")).await.unwrap();
    client.batch_execute(&format!("VACUUM {schema}.chunks")).await.unwrap();
    assert!(index.upgrade_vector_index().await.unwrap());
    assert!(half(&vector_indexes(&client, schema).await));
    answers_as_expected(index.as_ref(), &searches, &expected, "after the upgrade").await;
}

/// Two vectors that half precision orders the other way round from the exact distance: the
/// index's order brings a few more candidates than asked for, and the exact distance decides
/// the cut (decision 37). Taking only as many as asked would answer the farther one.
#[tokio::test]
async fn postgres_ranks_by_the_exact_distance_where_half_precision_reverses_two_vectors() {
    let model = EmbeddingModel { model: "tiny-3".into(), dims: 3 };
    let index = support::postgres_index_of(&seams_tests::stack::database_url(), model.clone()).await;
    let schema = index.schema();
    // Unit vectors found by a search over random pairs. Cosine distance to the first axis:
    // exact, 0.233358 (nearer) and 0.233498 (farther); in half precision, 0.233471 and 0.233333.
    let vectors =
        [("nearer", [0.766_642_4, 0.640_427_35, 0.045_959_387]), ("farther", [0.766_501_8, 0.329_927_86, 0.551_019_6])];
    for (id, vector) in vectors {
        index.upsert(&support::document_with_vector(id, &model, vector.to_vec())).await.unwrap();
    }
    let mut search = query("anything", SearchMode::Vector, 1, None);
    search.vector = Some(vec![1.0, 0.0, 0.0]);
    assert_eq!(ids(index.as_ref(), &search).await, ["nearer"]);

    // The premise: half precision's distance puts the farther one first. (`+ 0` keeps the
    // planner off the index, which stores the vectors normalised, so that its order is not
    // the one this checks: with two rows it chose either, and the premise failed at random.)
    let client = seams_tests::stack::database_client().await;
    let first: String = client
        .query_one(
            &format!(
                "SELECT document_id FROM {schema}.chunks
                 ORDER BY (embedding::halfvec(3) <=> '[1,0,0]'::vector::halfvec(3)) + 0 LIMIT 1"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(first, "farther");
}

/// On an IVFFlat index (a big bulk load's, decision 40) a search probes 40% of the lists
/// (`SEAMS_IVFFLAT_PROBES_PERCENT`'s default), not pgvector's default of one. Nine lists
/// learned from nine points (twenty copies each, on a circle 40° apart); then a chunk at 19°
/// joins the 0° list, and a query at 21° has the 40° list nearest. One probe answers from the
/// 40° list; 40% of them (four) find the chunk at 19°.
#[tokio::test]
async fn postgres_searches_probe_40_percent_of_an_ivfflat_indexs_lists() {
    let model = EmbeddingModel { model: "tiny-3".into(), dims: 3 };
    let index = support::postgres_index_of(&seams_tests::stack::database_url(), model.clone()).await;
    let schema = index.schema();
    let at_angle = |degrees: f32| vec![degrees.to_radians().cos(), degrees.to_radians().sin(), 0.0];
    let clustered: Vec<IndexedDocument> = (0..9)
        .flat_map(|list| (0..20).map(move |copy| (list, copy)))
        .map(|(list, copy)| {
            support::document_with_vector(&format!("list{list}-{copy:02}"), &model, at_angle(list as f32 * 40.0))
        })
        .collect();
    assert_eq!(index.bulk_load(&clustered).await.unwrap(), 180);
    let client = seams_tests::stack::database_client().await;
    client
        .batch_execute(&format!(
            "DROP INDEX {schema}.chunks_embedding_half_idx;
             CREATE INDEX chunks_embedding_half_idx ON {schema}.chunks
                 USING ivfflat ((embedding::halfvec(3)) halfvec_cosine_ops) WITH (lists = 9);"
        ))
        .await
        .unwrap();
    index.upsert(&support::document_with_vector("near", &model, at_angle(19.0))).await.unwrap();
    let query_vector = at_angle(21.0);

    // The premise: with pgvector's default of one probe, the index's own order misses it.
    let literal = query_vector.iter().map(f32::to_string).collect::<Vec<_>>().join(",");
    client.batch_execute("SET enable_seqscan = off; SET ivfflat.probes = 1").await.unwrap();
    let one_probe: String = client
        .query_one(
            &format!(
                "SELECT document_id FROM {schema}.chunks
                 ORDER BY embedding::halfvec(3) <=> '[{literal}]'::vector::halfvec(3) LIMIT 1"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(one_probe.starts_with("list1-"), "{one_probe}");

    let mut search = query("anything", SearchMode::Vector, 1, None);
    search.vector = Some(query_vector);
    assert_eq!(ids(index.as_ref(), &search).await, ["near"]);

    // The share is a setting: at 1% of nine lists a search probes one, and misses it too.
    use retrieve::postgres::{Connection, PostgresIndex, PostgresSettings};
    let connection = Connection::Fixed(seams_tests::stack::database_url().parse().unwrap());
    let settings = PostgresSettings { connection, schema: schema.into(), ca_file: None };
    let narrow = PostgresIndex::new(settings, model).unwrap().with_ivfflat_probes_percent(1);
    let found = ids(&narrow, &search).await;
    assert!(found.len() == 1 && found[0].starts_with("list1-"), "{found:?}");
}

/// A model of more than 2,000 dimensions (HNSW's most over `vector`; 3,072 is OpenAI's
/// text-embedding-3-large) gets a schema with a vector index, and its searches use it.
#[tokio::test]
async fn postgres_indexes_vectors_of_3072_dimensions() {
    let model = EmbeddingModel { model: "wide-3072".into(), dims: 3072 };
    let index = support::postgres_index_of(&seams_tests::stack::database_url(), model.clone()).await;
    let schema = index.schema();
    let axis = |at: usize| (0..3072).map(|i| if i == at { 1.0 } else { 0.0 }).collect::<Vec<f32>>();
    for (id, dimension) in [("first", 0), ("last", 3071)] {
        index.upsert(&support::document_with_vector(id, &model, axis(dimension))).await.unwrap();
    }
    let mut search = query("anything", SearchMode::Vector, 1, None);
    search.vector = Some(axis(3071));
    assert_eq!(ids(index.as_ref(), &search).await, ["last"]);
    let client = seams_tests::stack::database_client().await;
    let indexes = client
        .query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE 'chunks_embedding%'",
            &[&schema],
        )
        .await
        .unwrap();
    assert_eq!(indexes.len(), 1);
}

/// An embedded index built before stop words were left out (full text in FTS5, kept by
/// triggers) is rebuilt when opened: its keyword scores become a fresh index's.
#[tokio::test]
async fn an_embedded_index_of_the_old_layout_is_rebuilt_on_open() {
    use retrieve::sqlite::SqliteIndex;
    let texts = [
        ("a", "the refund of the fee is the rule"),
        ("b", "a refund policy"),
        ("c", "shipping is slow"),
        ("d", "parcels leave the warehouse daily"),
        ("e", "gift cards never expire"),
        ("f", "support answers within a day"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.sqlite");
    let (fresh, _fresh_dir) = support::sqlite_index();
    {
        let index = SqliteIndex::open(&path, support::model()).unwrap();
        for (id, text) in texts {
            index.upsert(&document(id, 1, at(0), &[text], json!({}))).await.unwrap();
            fresh.upsert(&document(id, 1, at(0), &[text], json!({}))).await.unwrap();
        }
    }
    // Back to the first layout: the whole text indexed, triggers keeping it.
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "DELETE FROM meta WHERE key = 'keywords';
         CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
             INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
         END;
         CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
             INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
         END;
         INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild');",
    )
    .unwrap();
    let old_score: f64 = old
        .query_row("SELECT -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH 'refund' AND rowid = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    drop(old);

    let reopened = SqliteIndex::open(&path, support::model()).unwrap();
    let scores = |hits: Vec<retrieve::index::Hit>| -> Vec<(String, f64)> {
        hits.into_iter().map(|h| (h.document_id, (h.score * 1e9).round() / 1e9)).collect()
    };
    let migrated = scores(reopened.search(&query("refund", SearchMode::Keyword, 5, None)).await.unwrap());
    let expected = scores(fresh.search(&query("refund", SearchMode::Keyword, 5, None)).await.unwrap());
    assert_eq!(migrated, expected);
    assert!(
        (migrated.iter().find(|(id, _)| id == "a").unwrap().1 - old_score).abs() > 1e-6,
        "the stop words counted before"
    );
    // Writes after the rebuild keep the index consistent: the old triggers are gone.
    reopened.delete("a", at(5)).await.unwrap();
    assert_eq!(ids(&reopened, &query("refund", SearchMode::Keyword, 5, None)).await, ["b"]);
}

/// An embedded index made before hierarchical chunking (no `parent_id` column) gains the
/// column on open and keeps its chunks.
#[tokio::test]
async fn an_embedded_index_without_parents_gains_them_on_open() {
    use retrieve::sqlite::SqliteIndex;
    let (_, dir) = support::sqlite_index();
    let path = dir.path().join("index.sqlite");
    SqliteIndex::open(&path, support::model())
        .unwrap()
        .upsert(&document("old", 1, at(0), &["walrus census"], json!({})))
        .await
        .unwrap();
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch("ALTER TABLE chunks DROP COLUMN parent_id; DROP TABLE parents;").unwrap();
    drop(old);
    let reopened = SqliteIndex::open(&path, support::model()).unwrap();
    let mut doc = document("new", 1, at(0), &["walrus pups"], json!({}));
    doc.chunks[0].parent = Some(ParentChunk { chunk_id: "new:1:p0".into(), text: "all about walrus pups".into() });
    reopened.upsert(&doc).await.unwrap();
    let hits = reopened.search(&query("walrus", SearchMode::Keyword, 5, None)).await.unwrap();
    let found: Vec<(&str, Option<&str>)> =
        hits.iter().map(|h| (h.document_id.as_str(), h.chunk.parent.as_ref().map(|p| p.text.as_str()))).collect();
    assert_eq!(found.len(), 2);
    assert!(found.contains(&("old", None)) && found.contains(&("new", Some("all about walrus pups"))), "{found:?}");
}

/// Metadata of every type a filter meets, with the edges where SQL and Rust could part:
/// integer and fractional numbers, large ones, numbers as strings, empty strings and lists,
/// nested lists, nulls, objects, LIKE's wildcard characters, accents. A number is a double,
/// as a caller's attribute is (`AttributeValue::Number`), so 2^53 + 2 but not 2^53 + 1.
fn metadata_edges() -> Vec<serde_json::Value> {
    let values = [
        json!(2),
        json!(2.0),
        json!(2.5),
        json!(-1),
        json!(0),
        json!(9_007_199_254_740_994.0),
        json!(1e300),
        json!("2"),
        json!(""),
        json!("ab"),
        json!("a%b_c"),
        json!("Äb"),
        json!(true),
        json!(false),
        json!(null),
        json!([]),
        json!([2, "ab", true]),
        json!(["ab", "cd"]),
        json!([["ab"], 2.0]),
        json!({"ab": 2}),
    ];
    let mut edges = vec![json!({})];
    for (i, value) in values.iter().enumerate() {
        edges.push(json!({ "k": value }));
        // And beside another attribute, so groups of tests meet two keys.
        edges.push(json!({ "k": value, "j": values[(i * 7 + 3) % values.len()] }));
    }
    edges
}

fn filter_predicate() -> impl proptest::strategy::Strategy<Value = retrieve::Predicate> {
    use proptest::prelude::*;
    use retrieve::filter::{Comparison, Predicate, Scalar, Test};
    let scalar = prop::sample::select(vec![
        Scalar::Number(2.0),
        Scalar::Number(2.5),
        Scalar::Number(-1.0),
        Scalar::Number(0.0),
        Scalar::Number(-0.0),
        Scalar::Number(9_007_199_254_740_992.0),
        Scalar::Number(9_007_199_254_740_994.0),
        Scalar::Number(1e300),
        Scalar::String("2".into()),
        Scalar::String(String::new()),
        Scalar::String("ab".into()),
        Scalar::String("a%b_c".into()),
        Scalar::String("Äb".into()),
        Scalar::Bool(true),
        Scalar::Bool(false),
    ]);
    let text = prop::sample::select(vec!["", "a", "ab", "b", "%", "_", "Ä", "2", "abc"]).prop_map(String::from);
    let comparison = prop::sample::select(vec![
        Comparison::Greater,
        Comparison::GreaterOrEqual,
        Comparison::Less,
        Comparison::LessOrEqual,
    ]);
    let number = prop::sample::select(vec![2.0, 2.5, -1.0, 0.0, 9_007_199_254_740_994.0, 1e300]);
    let test = prop_oneof![
        scalar.clone().prop_map(Test::Equals),
        scalar.clone().prop_map(Test::NotEquals),
        (comparison, number).prop_map(|(c, n)| Test::Compare(c, n)),
        prop::collection::vec(scalar.clone(), 1..4).prop_map(Test::In),
        prop::collection::vec(scalar.clone(), 1..4).prop_map(Test::NotIn),
        text.clone().prop_map(Test::StartsWith),
        scalar.prop_map(Test::ListContains),
        text.prop_map(Test::StringContains),
    ];
    let key = prop::sample::select(vec!["k", "j", "missing"]).prop_map(String::from);
    let leaf = (key, test).prop_map(|(key, test)| Predicate::Attribute { key, test });
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(Predicate::All),
            prop::collection::vec(inner, 1..3).prop_map(Predicate::Any),
        ]
    })
}

/// Any filter selects in PostgreSQL (its SQL condition on `jsonb`) exactly the chunks the
/// embedded index's filter selects, over metadata of every type, in the vector and keyword
/// lists alike.
#[test]
fn postgres_filters_select_what_the_embedded_filter_selects() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let edges = metadata_edges();
    let index = runtime.block_on(async {
        let index = support::postgres_index().await;
        for (i, attributes) in edges.iter().enumerate() {
            let record = document(&format!("m{i}"), 1, at(0), &[&format!("notes about m{i}")], attributes.clone());
            index.upsert(&record).await.unwrap();
        }
        index
    });
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 200,
        ..proptest::test_runner::Config::default()
    });
    let result = runner.run(&filter_predicate(), |predicate| {
        let expected: BTreeSet<String> = edges
            .iter()
            .enumerate()
            .filter(|(_, attributes)| {
                let mut metadata = attributes.as_object().cloned().unwrap_or_default();
                metadata.insert("document_id".into(), json!("m"));
                predicate.matches(&metadata)
            })
            .map(|(i, _)| format!("m{i}"))
            .collect();
        for mode in [SearchMode::Vector, SearchMode::Keyword] {
            let asked = SearchQuery {
                text: "notes".into(),
                vector: (mode == SearchMode::Vector).then(|| retrieve::index::normalised(&support::vector("notes"))),
                mode,
                top_k: 100,
                filter: Some(predicate.clone()),
                fusion: Fusion::default(),
            };
            let found: BTreeSet<String> = runtime.block_on(ids(index.as_ref(), &asked)).into_iter().collect();
            proptest::prop_assert_eq!(&found, &expected, "{:?} in {:?}", predicate, mode);
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// A write for [`postgres_statistics_and_bounds_follow_any_writes`]: document `doc`'s new
/// version (texts of word numbers), or its deletion.
#[derive(Debug, Clone)]
enum PostgresWrite {
    Upsert { doc: usize, texts: Vec<Vec<usize>> },
    Delete { doc: usize },
}

/// Any sequence of writes keeps PostgreSQL's keyword statistics and MaxScore's bounds true:
/// after every write, keyword and hybrid searches with a budget of one posting (so that the
/// bounds decide which chunks are scored) rank as scoring every match, filtered or not; and
/// at the end every mode answers as a fresh schema holding only the live documents, written
/// once each.
#[test]
fn postgres_statistics_and_bounds_follow_any_writes() {
    use proptest::prelude::*;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    use support::word;
    let write = prop_oneof![
        4 => (0..8usize, prop::collection::vec(prop::collection::vec(word(), 1..10), 1..3))
            .prop_map(|(doc, texts)| PostgresWrite::Upsert { doc, texts }),
        1 => (0..8usize).prop_map(|doc| PostgresWrite::Delete { doc }),
    ];
    let cases = (prop::collection::vec(write, 1..16), prop::collection::vec(prop::collection::vec(word(), 1..4), 3));
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 12,
        ..proptest::test_runner::Config::default()
    });
    let result = runner.run(&cases, |(writes, queries)| {
        runtime.block_on(async {
            let (written, with_budget) = texts_in_postgres(&[]).await;
            let (bounded, every_match) = (with_budget(1), with_budget(i64::MAX));
            let queries: Vec<String> = support::texts(&queries);
            let mut live = std::collections::BTreeMap::new();
            for (clock, write) in (1..).zip(&writes) {
                match write {
                    PostgresWrite::Upsert { doc, texts } => {
                        let texts = support::texts(texts);
                        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                        let shelf = json!({ "shelf": (*doc + clock as usize) % 3 });
                        let record = document(&format!("p{doc}"), clock, at(i64::from(clock)), &texts, shelf);
                        written.upsert(&record).await.unwrap();
                        live.insert(*doc, record);
                    }
                    PostgresWrite::Delete { doc } => {
                        written.delete(&format!("p{doc}"), at(i64::from(clock))).await.unwrap();
                        live.remove(doc);
                    }
                }
                for text in &queries {
                    for (mode, filter) in [SearchMode::Keyword, SearchMode::Hybrid]
                        .into_iter()
                        .flat_map(|mode| [(mode, None), (mode, Some(json!({"shelf": 1})))])
                    {
                        assert_ranks_alike(&bounded, &every_match, &query(text, mode, 3, filter)).await;
                    }
                }
            }
            let (fresh, _) = texts_in_postgres(&[]).await;
            for record in live.values() {
                fresh.upsert(record).await.unwrap();
            }
            for text in &queries {
                for mode in [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid] {
                    for filter in [None, Some(json!({"shelf": 1}))] {
                        assert_ranks_alike(written.as_ref(), fresh.as_ref(), &query(text, mode, 20, filter)).await;
                    }
                }
            }
        });
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
