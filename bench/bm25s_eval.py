"""The retrieval baseline for `seams eval`: bm25s (Lucene BM25, k1 1.2, b 0.75, English stop
words, the Snowball stemmer from PyStemmer, title + text) on a BEIR-layout collection, scored
with the same metrics as seams (graded gains, log2 discount, as trec_eval). Prints JSON."""

import json
import math
import statistics
import sys
import time
from pathlib import Path

import bm25s
import Stemmer


def read_jsonl(path):
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def ndcg(ranking, judged, k):
    dcg = lambda grades: sum(g / math.log2(i + 2) for i, g in enumerate(grades[:k]))
    best = dcg(sorted((g for g in judged.values() if g > 0), reverse=True))
    return dcg([judged.get(d, 0) for d in ranking]) / best if best else 0.0


def recall(ranking, judged, k):
    relevant = [d for d, g in judged.items() if g > 0]
    return sum(1 for d in ranking[:k] if judged.get(d, 0) > 0) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranking, judged, k):
    return next((1.0 / (i + 1) for i, d in enumerate(ranking[:k]) if judged.get(d, 0) > 0), 0.0)


def main(directory):
    root = Path(directory)
    corpus = read_jsonl(root / "corpus.jsonl")
    queries = {q["_id"]: q["text"] for q in read_jsonl(root / "queries.jsonl")}
    judgements = {}
    for line in (root / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        if line.strip():
            query, document, score = line.split("\t")
            judgements.setdefault(query, {})[document] = max(int(score), 0)
    stemmer = Stemmer.Stemmer("english")
    ids = [d["_id"] for d in corpus]
    started = time.perf_counter()
    tokens = bm25s.tokenize([f"{d.get('title', '')} {d['text']}" for d in corpus], stopwords="en", stemmer=stemmer,
                            show_progress=False)
    retriever = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    retriever.index(tokens, show_progress=False)
    index_seconds = time.perf_counter() - started
    judged_queries = [q for q in queries if q in judgements]
    totals = {"ndcg_at_10": 0.0, "recall_at_10": 0.0, "recall_at_100": 0.0, "mrr_at_10": 0.0}
    latencies = []
    for query in judged_queries:
        asked = time.perf_counter()
        query_tokens = bm25s.tokenize([queries[query]], stopwords="en", stemmer=stemmer, show_progress=False)
        if query_tokens.vocab:
            results, scores = retriever.retrieve(query_tokens, k=min(100, len(ids)), show_progress=False)
            ranking = [ids[i] for i, s in zip(results[0], scores[0]) if s > 0]
        else:
            ranking = []
        latencies.append((time.perf_counter() - asked) * 1000)
        judged = judgements[query]
        totals["ndcg_at_10"] += ndcg(ranking, judged, 10)
        totals["recall_at_10"] += recall(ranking, judged, 10)
        totals["recall_at_100"] += recall(ranking, judged, 100)
        totals["mrr_at_10"] += reciprocal_rank(ranking, judged, 10)
    count = max(len(judged_queries), 1)
    latencies.sort()
    report = {name: value / count for name, value in totals.items()}
    report.update({
        "dataset": root.name, "documents": len(corpus), "queries": len(judged_queries),
        "index_seconds": index_seconds,
        "latency_p50_ms": statistics.median(latencies) if latencies else 0.0,
        "latency_p99_ms": latencies[max(math.ceil(0.99 * len(latencies)) - 1, 0)] if latencies else 0.0,
        "bm25s": bm25s.__version__,
    })
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
