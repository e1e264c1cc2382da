//! `seams copy-index`: the data directory's embedded index into an empty PostgreSQL schema,
//! by one bulk load, for when the corpus outgrows one SQLite file (decision 7); and
//! `seams upgrade-index`, which builds a schema's current vector index (decision 37).

use std::path::Path;

use retrieve::postgres::{Connection, PostgresIndex, PostgresSettings};
use retrieve::sqlite::SqliteIndex;

use crate::sqlite_path;

/// What a copy moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub documents: usize,
    pub chunks: u64,
}

/// Copies every document of the embedded index in `data_dir` into `schema` at `url`, which
/// must hold no chunks yet. Deletions' tombstones are not copied.
pub async fn copy_index(data_dir: &Path, url: &str, schema: &str) -> Result<Copied, String> {
    let path = sqlite_path(data_dir);
    let model = SqliteIndex::stored_model(&path)
        .ok_or_else(|| format!("no embedded index at {}: ingest something first", path.display()))?;
    let source = SqliteIndex::open(&path, model.clone()).map_err(|e| e.to_string())?;
    let documents = source.documents().map_err(|e| e.to_string())?;
    let target = PostgresIndex::new(settings(url, schema)?, model).map_err(|e| e.to_string())?;
    target.migrate().await.map_err(|e| e.to_string())?;
    let chunks = target.bulk_load(&documents).await.map_err(|e| e.to_string())?;
    Ok(Copied { documents: documents.len(), chunks })
}

/// Builds the current vector index of `schema` at `url` where the indexer's migration left the
/// older one. Returns whether it built (false: it is current).
pub async fn upgrade_index(url: &str, schema: &str) -> Result<bool, String> {
    let index = PostgresIndex::open_existing(settings(url, schema)?).await.map_err(|e| e.to_string())?;
    index.upgrade_vector_index().await.map_err(|e| e.to_string())
}

fn settings(url: &str, schema: &str) -> Result<PostgresSettings, String> {
    let connection = Connection::Fixed(url.parse().map_err(|e| format!("not a postgres:// URL: {e}"))?);
    Ok(PostgresSettings { connection, schema: schema.to_owned(), ca_file: None })
}
