//! The PostgreSQL the test stack starts has pgvector, so retrieve's backend can rely on it.

use seams_tests::stack::database_client;

#[tokio::test]
async fn the_test_database_has_pgvector_with_hnsw() {
    let client = database_client().await;
    let schema = seams_tests::unique("pgvector_check").replace('-', "_");
    client
        .batch_execute(&format!(
            "CREATE EXTENSION IF NOT EXISTS vector;
             CREATE SCHEMA {schema};
             CREATE TABLE {schema}.items (id int PRIMARY KEY, embedding vector(3));
             INSERT INTO {schema}.items VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]');
             CREATE INDEX ON {schema}.items USING hnsw (embedding vector_cosine_ops);"
        ))
        .await
        .unwrap();
    let rows = client
        .query(&format!("SELECT id FROM {schema}.items ORDER BY embedding <=> '[1,0,0]' LIMIT 2"), &[])
        .await
        .unwrap();
    let ids: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(ids, [1, 3]);
    client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
