"""Cold starts, measured the way Lambda causes them.

Plays the Lambda Runtime API on loopback (GET /2018-06-01/runtime/invocation/next, POST
.../{id}/response and .../{id}/error, POST /runtime/init/error, with Lambda's headers),
starts a function with Lambda's environment, hands it one realistic event, and records:

  init      exec -> the first GET .../next (runtime start, config, SDK clients)
  first     exec -> the first response (init + the first invocation)
  rss       the process's peak resident memory after exec (/proc/<pid>/status VmHWM, read
            before the process is stopped; wait4's maxrss would include the harness's own
            memory, copied at fork)
  init rss  the same peak read when the first GET .../next arrives: what init alone took
  subsegs   X-Ray subsegments the function sent to the daemon address during the run

Tracing is on, as `Tracing: Active` makes it in Lambda: each invocation carries a sampled
trace header with a parent segment, and AWS_XRAY_DAEMON_ADDRESS names a UDP socket the
harness reads in the daemon's place. `--untraced` runs each seams target again without the
daemon address (as with tracing off), named '<name> [untraced]', interleaved.

Targets run round-robin, one cold start each per round, so drift on the machine touches
every target alike. Usage (bench/run.sh does this):

  python bench/coldstart.py --runs 20 --out bench/out/coldstart.json
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
# What Lambda hands a function with active tracing: the segment Lambda opened is the parent.
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


class XrayDaemon:
    """Stands in for the X-Ray daemon: counts the UDP datagrams (one subsegment each)."""

    def __init__(self):
        import socket
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.socket.getsockname()[1]
        self.received = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            datagram = self.socket.recv(65536)
            # The daemon's format: a JSON header line, then the segment document.
            if datagram.startswith(b'{"format"'):
                with self.lock:
                    self.received += 1

    def count(self):
        with self.lock:
            return self.received


class Invocation:
    """One cold start: the event handed out, and when things happened."""

    def __init__(self, event):
        self.event = event
        self.request_id = str(uuid.uuid4())
        self.next_at = None
        self.pid = None
        self.init_peak_kib = 0
        self.responded_at = None
        self.outcome = None
        self.body = b""
        self.done = threading.Event()


class RuntimeApi(BaseHTTPRequestHandler):
    """One server per cold start (its `invocation`): a request still in flight from the
    previous, stopped process can then never take the next process's event."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self):
        invocation = self.server.invocation
        if self.path != "/2018-06-01/runtime/invocation/next" or invocation is None:
            self.send_error(404)
            return
        if invocation.next_at is not None:
            # The function is warm and waits for more: it is stopped instead.
            invocation.done.wait(60)
            time.sleep(5)
            return
        invocation.next_at = time.perf_counter()
        if invocation.pid is not None:
            invocation.init_peak_kib = high_water_mark(invocation.pid)
        body = json.dumps(invocation.event).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Lambda-Runtime-Aws-Request-Id", invocation.request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", TRACE_HEADER)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        invocation = self.server.invocation
        body = self._body()
        if invocation is not None and (self.path.endswith("/response") or self.path.endswith("/error")):
            invocation.responded_at = time.perf_counter()
            invocation.outcome = "response" if self.path.endswith("/response") else "error"
            invocation.body = body
        elif invocation is not None and self.path == "/2018-06-01/runtime/init/error":
            invocation.outcome = "init error"
            invocation.body = body
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if invocation is not None:
            invocation.done.set()


def cold_start(target, daemon):
    invocation = Invocation(target["event"]())
    server = QuietServer(("127.0.0.1", 0), RuntimeApi)
    server.invocation = invocation
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    env = {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": target["name"],
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{target['name']}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "LAMBDA_TASK_ROOT": str(target.get("cwd", ROOT)),
        "_HANDLER": target.get("handler", "bootstrap"),
        "TZ": ":UTC",
        **({} if target.get("variant") == "untraced" else {"AWS_XRAY_DAEMON_ADDRESS": daemon.address}),
        **target["env"],
    }
    received_before = daemon.count()
    started = time.perf_counter()
    process = subprocess.Popen(target["argv"], env=env, cwd=target.get("cwd", ROOT),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    invocation.pid = process.pid
    finished = invocation.done.wait(60)
    peak_kib = high_water_mark(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(0.005)  # a datagram sent just before the response is still in the socket
    subsegments = daemon.count() - received_before
    server.shutdown()
    server.server_close()
    stderr = process.stderr.read().decode(errors="replace")[-2000:]
    if not finished or invocation.outcome != "response":
        raise RuntimeError(f"{target['name']}: {invocation.outcome or 'no answer'}: {invocation.body[:500]!r}\n{stderr}")
    return {
        "init_ms": (invocation.next_at - started) * 1000,
        "first_response_ms": (invocation.responded_at - started) * 1000,
        "rss_mib": peak_kib / 1024,
        "init_rss_mib": invocation.init_peak_kib / 1024,
        "subsegments": subsegments,
        "response": invocation.body.decode(errors="replace")[:300],
    }


def high_water_mark(pid):
    """VmHWM in KiB: the peak resident set since exec."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a stopped function drops its waiting GET /next: expected


def sample(path):
    return json.loads((ROOT / "events" / path).read_text())


def targets(moto):
    """Every function with its real configuration against moto, and its first event."""
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto, region_name="us-east-1")
    events = boto3.client("events", endpoint_url=moto, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    buckets = {name: f"bench-{name}-{suffix}" for name in ["raw", "records", "index", "index-local", "output", "sessions"]}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    process_queue = sqs.create_queue(QueueName=f"bench-process-{suffix}")["QueueUrl"]
    output_dlq = sqs.create_queue(QueueName=f"bench-output-dlq-{suffix}")["QueueUrl"]
    bus = f"bench-{suffix}"
    events.create_event_bus(Name=bus)
    # answer's own cost: a one-state Express machine, so moto's interpreter adds next to nothing.
    sfn = boto3.client("stepfunctions", endpoint_url=moto, region_name="us-east-1")
    one_state = {"StartAt": "Answered", "States": {"Answered": {"Type": "Pass", "End": True}}}
    express = sfn.create_state_machine(name=f"bench-answer-{suffix}", definition=json.dumps(one_state),
                                       roleArn="arn:aws:iam::123456789012:role/bench", type="EXPRESS")

    aws = {"AWS_ENDPOINT_URL": moto, "SEAMS_S3_FORCE_PATH_STYLE": "true", "AWS_LAMBDA_LOG_LEVEL": "warn"}

    def new_document():
        event = sample("ingest/http-post-documents.json")
        body = json.loads(event["body"])
        body["document_id"] = f"bench-{uuid.uuid4().hex[:12]}"
        event["body"] = json.dumps(body)
        return event

    def delivery():
        event = sample("output/invoke-delivery.json")
        event["request_id"] = event["result"]["request_id"] = f"bench-{uuid.uuid4().hex[:12]}"
        event["destination"] = {"type": "http_response"}
        return event

    ingest_env = {**aws, "SEAMS_RAW_BUCKET": buckets["raw"], "SEAMS_PROCESS_QUEUE_URL": process_queue,
                  "SEAMS_EVENT_BUS_NAME": bus}
    def mcp_search():
        # The gateway's first tool call invokes retrieve: moto's Lambda answers it with a
        # queued proxy response, so the cold start includes a real Invoke round trip.
        results = [json.dumps({"statusCode": 200, "headers": {"content-type": "application/json"},
                               "body": json.dumps({"results": [], "search_mode": "hybrid",
                                                   "embedding_model": "hashing"})})]
        request = urllib.request.Request(f"{moto}/moto-api/static/lambda-simple/response", method="POST",
                                         data=json.dumps({"results": results, "region": "us-east-1",
                                                          "replace": True}).encode(),
                                         headers={"content-type": "application/json"})
        urllib.request.urlopen(request).read()
        return sample("gateway/http-mcp-tools-call.json")

    rust = lambda binary: [str(RELEASE / binary)]  # noqa: E731
    python = str(ROOT / ".tools" / "bench-venv" / "bin" / "python")
    return [
        {"name": "hello-world (lambda_runtime)", "argv": rust("hello-lambda"), "env": {},
         "event": lambda: sample("infer/invoke-inference.json")},
        {"name": "ingest", "argv": rust("ingest"), "env": ingest_env, "event": new_document},
        {"name": "process", "argv": rust("process"),
         "env": {**aws, "SEAMS_RAW_BUCKET": buckets["raw"], "SEAMS_RECORDS_BUCKET": buckets["records"],
                 "SEAMS_EVENT_BUS_NAME": bus},
         "event": lambda: sample("process/sqs-process-document.json")},
        {"name": "retrieve", "argv": rust("retrieve"),
         "env": {**aws, "SEAMS_INDEX_BUCKET": buckets["index"], "SEAMS_INDEX_DIR": "/tmp/bench-index"},
         "event": lambda: sample("retrieve/http-retrieve.json")},
        # The local model loaded at init (memory-mapped weights, as the layer ships them); its
        # own bucket, since an index holds one model's vectors.
        {"name": "retrieve (local model)", "argv": rust("retrieve"),
         "env": {**aws, "SEAMS_INDEX_BUCKET": buckets["index-local"], "SEAMS_INDEX_DIR": "/tmp/bench-index-local",
                 "SEAMS_EMBEDDER": "local", "SEAMS_MODEL_DIR": str(ROOT / ".tools" / "models" / "all-MiniLM-L6-v2")},
         "event": lambda: sample("retrieve/http-retrieve.json")},
        {"name": "retrieve-indexer", "argv": rust("retrieve-indexer"),
         "env": {**aws, "SEAMS_INDEX_BUCKET": buckets["index"], "SEAMS_RECORDS_BUCKET": buckets["records"],
                 "SEAMS_INDEX_DIR": "/tmp/bench-indexer"},
         "event": lambda: sample("retrieve-indexer/sqs-document-deleted.json")},
        {"name": "infer", "argv": rust("infer"), "env": {**aws}, "event": lambda: sample("infer/http-inference.json")},
        {"name": "output", "argv": rust("output"),
         "env": {**aws, "SEAMS_OUTPUT_BUCKET": buckets["output"], "SEAMS_OUTPUT_DLQ_URL": output_dlq,
                 "SEAMS_EVENT_BUS_NAME": bus},
         "event": delivery},
        {"name": "answer", "argv": rust("answer"),
         "env": {**aws, "SEAMS_ANSWER_STATE_MACHINE_ARN": express["stateMachineArn"],
                 "SEAMS_SESSIONS_BUCKET": buckets["sessions"]},
         "event": lambda: sample("answer/http-answer.json")},
        {"name": "gateway (MCP search)", "argv": rust("gateway"),
         "env": {**aws, "SEAMS_INGEST_FUNCTION": "bench-ingest", "SEAMS_RETRIEVE_FUNCTION": "bench-retrieve",
                 "SEAMS_ANSWER_FUNCTION": "bench-answer"},
         "event": mcp_search},
        {"name": "Python 3.11 + boto3 (ingest's work)", "argv": [python, "-m", "awslambdaric", "handler.handler"],
         "cwd": ROOT / "bench" / "python", "handler": "handler.handler",
         "env": {**aws, "SEAMS_RAW_BUCKET": buckets["raw"], "SEAMS_PROCESS_QUEUE_URL": process_queue,
                 "SEAMS_EVENT_BUS_NAME": bus},
         "event": new_document},
    ]


def summary(values):
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p90": p90, "min": ordered[0], "max": ordered[-1]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", action="append", help="run only the targets named so (repeatable)")
    parser.add_argument("--baseline", type=Path,
                        help="a directory of release binaries built from another commit: each chosen seams "
                             "target runs again from it, named '<name> [baseline]', interleaved")
    parser.add_argument("--untraced", action="store_true",
                        help="run each chosen seams target again without the X-Ray daemon address, "
                             "named '<name> [untraced]', interleaved")
    arguments = parser.parse_args()
    moto = os.environ["SEAMS_TEST_MOTO_ENDPOINT"]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")  # moto accepts any

    chosen = [t for t in targets(moto) if not arguments.only or t["name"] in arguments.only]
    if arguments.baseline:
        chosen += [{**t, "name": f"{t['name']} [baseline]", "variant": "baseline", "argv": [str(arguments.baseline / Path(t["argv"][0]).name)]}
                   for t in chosen
                   if Path(t["argv"][0]).parent == RELEASE and (arguments.baseline / Path(t["argv"][0]).name).exists()]
    if arguments.untraced:
        chosen += [{**t, "name": f"{t['name']} [untraced]", "variant": "untraced"}
                   for t in chosen if Path(t["argv"][0]).parent == RELEASE and not t.get("variant")]
    # Each variant keeps its own index: the indexer's writes (another format, in a baseline)
    # are what its retrieve then reads.
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    for target in chosen:
        if target.get("variant") and "SEAMS_INDEX_BUCKET" in target["env"]:
            bucket = f"{target['env']['SEAMS_INDEX_BUCKET']}-{target['variant']}"
            s3.create_bucket(Bucket=bucket)  # us-east-1: a bucket already ours is not an error
            target["env"] = {**target["env"], "SEAMS_INDEX_BUCKET": bucket}
    daemon = XrayDaemon()
    for target in chosen:  # one warm-up each: page cache, moto's first-request costs
        cold_start(target, daemon)
    samples = {t["name"]: [] for t in chosen}
    for round_ in range(arguments.runs):
        for target in chosen:
            samples[target["name"]].append(cold_start(target, daemon))
        print(f"round {round_ + 1}/{arguments.runs}", file=sys.stderr)

    results = {}
    for name, runs in samples.items():
        results[name] = {
            "runs": len(runs),
            "init_ms": summary([r["init_ms"] for r in runs]),
            "first_response_ms": summary([r["first_response_ms"] for r in runs]),
            "rss_mib": summary([r["rss_mib"] for r in runs]),
            "init_rss_mib": summary([r["init_rss_mib"] for r in runs]),
            "subsegments": summary([r["subsegments"] for r in runs]),
            "sample_response": runs[-1]["response"],
        }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(results, indent=2))
    for name, result in results.items():
        print(f"{name:40} init {result['init_ms']['median']:7.1f} ms  first response "
              f"{result['first_response_ms']['median']:7.1f} ms  rss {result['rss_mib']['median']:6.1f} MiB  "
              f"(at init {result['init_rss_mib']['median']:5.1f})  subsegments {result['subsegments']['median']:g}")


if __name__ == "__main__":
    main()
