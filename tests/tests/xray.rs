//! The X-Ray subsegments a function's AWS calls send, as Lambda's daemon receives them: the
//! clients seams builds (S3, SQS) call moto inside an invocation, and a UDP socket standing
//! in for the daemon reads what arrives. One test in this file: it sets the process's
//! `AWS_XRAY_DAEMON_ADDRESS`, which the clients read once.

use std::net::UdpSocket;
use std::time::Duration;

use bytes::Bytes;
use seams_platform::logging::{invocation_scope, Invocation};
use seams_platform::object_store::{ObjectStore, PutOptions, S3ObjectStore};
use seams_platform::queue::{OutgoingMessage, Queue, SqsQueue};
use seams_tests::stack::Moto;
use serde_json::Value;

const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

fn invocation(sampled: bool) -> Invocation {
    Invocation {
        request_id: "req-1".into(),
        trace_id: Some(format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled={}", u8::from(sampled))),
        function: "process".into(),
        cold_start: false,
    }
}

/// Every subsegment the daemon received until it went quiet for `quiet`.
fn received(daemon: &UdpSocket, quiet: Duration) -> Vec<Value> {
    daemon.set_read_timeout(Some(quiet)).unwrap();
    let mut buffer = [0_u8; 65_536];
    let mut documents = Vec::new();
    while let Ok(size) = daemon.recv(&mut buffer) {
        let packet = std::str::from_utf8(&buffer[..size]).unwrap();
        let (header, document) = packet.split_once('\n').unwrap_or_else(|| panic!("no header line: {packet}"));
        assert_eq!(header, r#"{"format":"json","version":1}"#);
        documents.push(serde_json::from_str(document).unwrap());
    }
    documents
}

#[tokio::test]
async fn each_aws_call_in_a_sampled_invocation_is_a_subsegment_of_it() {
    let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
    std::env::set_var("AWS_XRAY_DAEMON_ADDRESS", daemon.local_addr().unwrap().to_string());
    let moto = Moto::connect().await;
    let store = S3ObjectStore::new(moto.s3(), moto.create_bucket().await);
    let (queue_url, _) = moto.create_queue(30, None).await;
    let queue = SqsQueue::new(moto.sqs(), queue_url);
    // Setting up made calls outside any invocation: none of them is traced.
    assert_eq!(received(&daemon, Duration::from_millis(300)), Vec::<Value>::new());

    invocation_scope(invocation(true), async {
        store.put("doc.json", Bytes::from_static(b"{}"), PutOptions::default()).await.unwrap();
        queue.send(OutgoingMessage::new("hello")).await.unwrap();
        store.get("missing.json").await.unwrap_err();
        // A call outside the SDK (as a webhook or a model provider is called).
        seams_platform::xray::send(reqwest::Client::new().get(format!("{}/moto-api/", moto.endpoint))).await.unwrap();
    })
    .await;
    let documents = received(&daemon, Duration::from_secs(2));
    let (remote, documents) = documents.split_last().unwrap();
    assert_eq!(
        (remote["namespace"].as_str(), remote["http"]["request"]["method"].as_str()),
        (Some("remote"), Some("GET"))
    );
    assert_eq!((remote["name"].as_str(), remote["parent_id"].as_str()), (Some("127.0.0.1"), Some("53995c3f42cd8ad8")));
    let calls: Vec<(&str, &str, u64)> = documents
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap(),
                d["aws"]["operation"].as_str().unwrap(),
                d["http"]["response"]["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(calls, [("S3", "PutObject", 200), ("SQS", "SendMessage", 200), ("S3", "GetObject", 404)]);
    for document in documents {
        assert_eq!(
            (document["trace_id"].as_str(), document["parent_id"].as_str()),
            (Some(ROOT), Some("53995c3f42cd8ad8"))
        );
        assert_eq!((document["type"].as_str(), document["namespace"].as_str()), (Some("subsegment"), Some("aws")));
        assert!(document["end_time"].as_f64() >= document["start_time"].as_f64(), "{document}");
        assert_eq!(document["id"].as_str().map(str::len), Some(16), "{document}");
    }
    assert_eq!(documents[2]["error"], true, "a 404 is an error in X-Ray's terms");

    // Lambda decided not to sample this invocation: nothing is sent.
    invocation_scope(invocation(false), store.put("doc.json", Bytes::from_static(b"{}"), PutOptions::default()))
        .await
        .unwrap();
    assert_eq!(received(&daemon, Duration::from_millis(300)), Vec::<Value>::new());
}
