//! A retrieval test collection in the BEIR layout: `corpus.jsonl` (`_id`, `title`, `text`),
//! `queries.jsonl` (`_id`, `text`) and `qrels/test.tsv` (a header, then `query-id`,
//! `corpus-id`, `score`). Errors name the file and the line.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::metrics::Judgements;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Document {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub title: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Query {
    #[serde(rename = "_id")]
    pub id: String,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub documents: Vec<Document>,
    /// Only the queries that have judgements, in file order.
    pub queries: Vec<Query>,
    pub judgements: HashMap<String, Judgements>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DatasetError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path}:{line}: {reason}")]
    Malformed { path: PathBuf, line: usize, reason: String },
}

fn read(path: &Path) -> Result<String, DatasetError> {
    std::fs::read_to_string(path).map_err(|e| DatasetError::Unreadable { path: path.to_owned(), reason: e.to_string() })
}

/// Every non-empty line of a JSON Lines file as `T`.
fn json_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, DatasetError> {
    read(path)?
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|e| DatasetError::Malformed {
                path: path.to_owned(),
                line: index + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

impl Dataset {
    pub fn load(dir: &Path) -> Result<Dataset, DatasetError> {
        let corpus_path = dir.join("corpus.jsonl");
        let documents: Vec<Document> = json_lines(&corpus_path)?;
        let queries_path = dir.join("queries.jsonl");
        let queries: Vec<Query> = json_lines(&queries_path)?;
        let qrels_path = dir.join("qrels").join("test.tsv");
        let qrels = read(&qrels_path)?;

        let malformed =
            |path: &Path, line: usize, reason: String| DatasetError::Malformed { path: path.to_owned(), line, reason };
        let mut document_ids = HashSet::new();
        for (index, document) in documents.iter().enumerate() {
            if !document_ids.insert(document.id.as_str()) {
                return Err(malformed(&corpus_path, index + 1, format!("document {:?} appears twice", document.id)));
            }
        }
        let query_ids: HashSet<&str> = queries.iter().map(|q| q.id.as_str()).collect();
        let mut judgements: HashMap<String, Judgements> = HashMap::new();
        for (index, line) in qrels.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
            let number = index + 1;
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            let [query, document, score] = fields[..] else {
                return Err(malformed(
                    &qrels_path,
                    number,
                    format!("expected 3 tab-separated fields, got {}", fields.len()),
                ));
            };
            if !query_ids.contains(query) {
                return Err(malformed(&qrels_path, number, format!("query {query:?} is not in queries.jsonl")));
            }
            if !document_ids.contains(document) {
                return Err(malformed(&qrels_path, number, format!("document {document:?} is not in corpus.jsonl")));
            }
            // BEIR's negative grades (not relevant) count as 0.
            let grade: i64 =
                score.parse().map_err(|e| malformed(&qrels_path, number, format!("score {score:?}: {e}")))?;
            judgements.entry(query.to_owned()).or_default().insert(document.to_owned(), grade.max(0) as u32);
        }
        let queries = queries.into_iter().filter(|q| judgements.contains_key(&q.id)).collect();
        let name = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        Ok(Dataset { name, documents, queries, judgements })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, corpus: &str, queries: &str, qrels: &str) {
        std::fs::create_dir_all(dir.join("qrels")).unwrap();
        std::fs::write(dir.join("corpus.jsonl"), corpus).unwrap();
        std::fs::write(dir.join("queries.jsonl"), queries).unwrap();
        std::fs::write(dir.join("qrels/test.tsv"), qrels).unwrap();
    }

    const CORPUS: &str =
        "{\"_id\": \"d1\", \"title\": \"Wings\", \"text\": \"lift\"}\n{\"_id\": \"d2\", \"text\": \"drag\"}\n";
    const QUERIES: &str = "{\"_id\": \"q1\", \"text\": \"lift\"}\n{\"_id\": \"q2\", \"text\": \"unjudged\"}\n";

    #[test]
    fn a_collection_loads_with_its_judged_queries() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), CORPUS, QUERIES, "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t-1\n");
        let dataset = Dataset::load(dir.path()).unwrap();
        assert_eq!(dataset.documents.len(), 2);
        assert_eq!(dataset.documents[1].title, "");
        assert_eq!(dataset.queries.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(), ["q1"]);
        assert_eq!(dataset.judgements["q1"]["d1"], 2);
        assert_eq!(dataset.judgements["q1"]["d2"], 0, "negative grades are not relevant");
    }

    #[test]
    fn bad_input_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Dataset::load(dir.path()), Err(DatasetError::Unreadable { .. })));

        write(dir.path(), "{\"_id\": \"d1\", \"text\": \"a\"}\n{oops\n", QUERIES, "h\n");
        let error = Dataset::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("corpus.jsonl:2:"), "{error}");

        write(dir.path(), CORPUS, QUERIES, "query-id\tcorpus-id\tscore\nq1\td9\t1\n");
        let error = Dataset::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("test.tsv:2: document \"d9\" is not in corpus.jsonl"), "{error}");

        write(dir.path(), CORPUS, QUERIES, "query-id\tcorpus-id\tscore\nq1\td1\n");
        let error = Dataset::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("test.tsv:2: expected 3 tab-separated fields"), "{error}");

        write(dir.path(), CORPUS, QUERIES, "query-id\tcorpus-id\tscore\nq7\td1\t1\n");
        let error = Dataset::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("query \"q7\" is not in queries.jsonl"), "{error}");
    }
}
