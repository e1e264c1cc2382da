"""Writes the "Retrieval quality" section of bench/RESULTS.md from bench/out/quality-*.json
(what bench/quality.sh measured in one run), leaving every other section as it is."""

import json
from pathlib import Path

from report import RESULTS, OUT, machine
from datetime import datetime, timezone

BEGIN = "<!-- retrieval quality: written by bench/quality_report.py -->"
END = "<!-- end of retrieval quality -->"


def section():
    bm25s = json.loads((OUT / "quality-bm25s.json").read_text())
    runs = [(backend, json.loads((OUT / f"quality-{backend}-{embedder}.json").read_text()))
            for embedder in ("hashing", "local") for backend in ("sqlite", "postgres")]
    base = bm25s["ndcg_at_10"]
    lines = [
        BEGIN,
        "## Retrieval quality (`seams eval`, `bench/bm25s_eval.py`)",
        "",
        f"Measured by `bench/quality.sh` on {datetime.now(timezone.utc):%Y-%m-%d}: {machine()}.",
        f"{bm25s['dataset']}: {bm25s['documents']} documents, {bm25s['queries']} judged queries, graded gains. "
        "seams ingests every document (title and text) through ingest, process and the indexer on the local "
        "adapters and asks every query through retrieve (top_k 100, chunks to documents at their best rank). "
        f"bm25s {bm25s['bm25s']}: Lucene BM25, k1 1.2, b 0.75, English stop words, Snowball stemmer, title + text.",
        "",
        "| run | embedder | nDCG@10 | × bm25s | recall@10 | recall@100 | MRR@10 | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| bm25s (Python, in memory) | — | {base:.4f} | 1.000× | {bm25s['recall_at_10']:.3f} | "
        f"{bm25s['recall_at_100']:.3f} | {bm25s['mrr_at_10']:.3f} | {bm25s['latency_p50_ms']:.1f} | "
        f"{bm25s['latency_p99_ms']:.1f} |",
    ]
    for backend, report in runs:
        for mode in report["modes"]:
            lines.append(
                f"| seams {mode['mode']}, {backend} | {report['embedding_model']} | {mode['ndcg_at_10']:.4f} | "
                f"{mode['ndcg_at_10'] / base:.3f}× | {mode['recall_at_10']:.3f} | {mode['recall_at_100']:.3f} | "
                f"{mode['mrr_at_10']:.3f} | {mode['latency_p50_ms']:.1f} | {mode['latency_p99_ms']:.1f} |")
    lines += ["", "seams' latencies are the whole `retrieve` handler (embedding the query, searching, reading "
              "the chunks); bm25s's are its in-memory search alone.", END]
    return "\n".join(lines)


def main():
    text = RESULTS.read_text()
    new = section()
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        text = before + new + after
    else:
        # Before the first section after the header.
        head, sep, tail = text.partition("\n## ")
        text = head + "\n" + new + "\n\n## " + tail if sep else text + "\n" + new + "\n"
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
