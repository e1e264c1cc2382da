"""The common alternative to seams' ingest: Python 3.11, boto3 clients made at init, the
same first request (validate the JSON body, store the document in S3, hand a claim check to
SQS, announce it on EventBridge), run under the AWS Lambda runtime interface client."""

import hashlib
import json
import os
import unicodedata

import boto3

# Init, as a Python function does it: clients built once, outside the handler.
s3 = boto3.client("s3")
sqs = boto3.client("sqs")
events = boto3.client("events")
RAW_BUCKET = os.environ["SEAMS_RAW_BUCKET"]
QUEUE_URL = os.environ["SEAMS_PROCESS_QUEUE_URL"]
BUS = os.environ["SEAMS_EVENT_BUS_NAME"]


def handler(event, context):
    try:
        body = json.loads(event.get("body") or "")
        document_id = body["document_id"]
        content = body["content"]
    except (ValueError, KeyError) as error:
        return {"statusCode": 400, "body": json.dumps({"type": "urn:seams:problem:invalid-input", "detail": str(error)})}
    text = unicodedata.normalize("NFC", content.replace("\r\n", "\n"))
    fingerprint = hashlib.sha256(text.encode()).hexdigest()
    key = f"documents/{document_id}/{fingerprint}"
    s3.put_object(Bucket=RAW_BUCKET, Key=key, Body=text.encode(), ContentType=body.get("content_type", "text/plain"))
    claim = {"document_id": document_id, "version": 1, "raw": {"bucket": RAW_BUCKET, "key": key}}
    sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=json.dumps(claim))
    events.put_events(Entries=[{"EventBusName": BUS, "Source": "seams.ingest", "DetailType": "DocumentIngested",
                                "Detail": json.dumps(claim)}])
    return {"statusCode": 202, "body": json.dumps({"document_id": document_id, "fingerprint": f"sha256:{fingerprint}"})}
