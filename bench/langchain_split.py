"""LangChain's RecursiveCharacterTextSplitter on the corpus process's throughput example
wrote, sized by the same tokenizer (cl100k) and chunk size: chunking only.

    python bench/langchain_split.py bench/out/corpus.md 300 5   -> one JSON line

tiktoken downloads its vocabulary at run time; offline, the identical file bundled
(gzipped) with bpe-openai is placed in its cache (tiktoken checks the file's SHA-256 either
way).
"""

import glob
import gzip
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def offline_vocabulary():
    cache = Path(os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(Path(__file__).parent / "out" / "tiktoken")))
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / hashlib.sha1(URL.encode()).hexdigest()
    if not target.exists():
        bundled = glob.glob(os.path.expanduser("~/.cargo/registry/src/*/bpe-openai-*/data/cl100k_base.tiktoken.gz"))
        if not bundled:
            sys.exit("cl100k_base.tiktoken.gz not found: build process first (it bundles bpe-openai)")
        target.write_bytes(gzip.decompress(Path(bundled[0]).read_bytes()))


def main():
    path, max_tokens, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    offline_vocabulary()
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    text = Path(path).read_text()
    mib = len(text.encode()) / (1024 * 1024)
    splitter = RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name="cl100k_base", chunk_size=max_tokens, chunk_overlap=max_tokens // 10)
    runs, chunks = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        chunks = len(splitter.split_text(text))
        runs.append(mib / (time.perf_counter() - started))
    print(json.dumps({"mib": round(mib, 2), "chunks": chunks, "chunk_mib_s": statistics.median(runs),
                      "chunk_runs": [round(r, 3) for r in runs]}))


if __name__ == "__main__":
    main()
