//! template.yaml against the one route table and the indexer's bus rule
//! (`seams_platform::routes`), which the functions and the local runner read, and against
//! where the local embedder looks for its model.

use std::collections::BTreeMap;
use std::path::Path;

use seams_platform::routes::{indexer_rule, ROUTES};

fn template() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn unquoted(value: &str) -> &str {
    value.trim().trim_matches('"').trim_matches('\'')
}

/// Route key → the integration its `Target` names (`IngestIntegration` → `Ingest`).
fn template_routes(template: &str) -> BTreeMap<String, String> {
    let mut routes = BTreeMap::new();
    let mut lines = template.lines();
    while let Some(line) = lines.next() {
        let Some(key) = line.trim().strip_prefix("RouteKey:") else { continue };
        let target = lines
            .by_ref()
            .take_while(|l| !l.trim().is_empty())
            .find_map(|l| l.trim().strip_prefix("Target:"))
            .unwrap_or_else(|| panic!("route {key} has no Target"));
        let integration = target
            .split("${")
            .nth(1)
            .and_then(|rest| rest.split("Integration}").next())
            .unwrap_or_else(|| panic!("route {key}: Target {target} names no integration"));
        routes.insert(unquoted(key).to_owned(), integration.to_owned());
    }
    routes
}

/// `[a, b]` → `["a", "b"]`.
fn flow_list(value: &str) -> Vec<String> {
    value.trim().trim_start_matches('[').trim_end_matches(']').split(',').map(|v| unquoted(v).to_owned()).collect()
}

#[test]
fn the_http_api_has_exactly_the_routes_of_the_table() {
    let declared = template_routes(&template());
    let table: BTreeMap<String, String> = ROUTES
        .iter()
        .map(|route| {
            let mut function = route.function.to_owned();
            function[..1].make_ascii_uppercase();
            (route.key.to_owned(), function)
        })
        .collect();
    assert_eq!(declared, table, "template.yaml's RouteKeys and targets against seams_platform::routes::ROUTES");
}

#[test]
fn the_indexer_rule_is_the_one_the_local_runner_uses() {
    let template = template();
    let rule: Vec<&str> =
        template.lines().skip_while(|l| l.trim() != "IndexerRule:").take_while(|l| !l.trim().is_empty()).collect();
    assert!(!rule.is_empty(), "template.yaml has no IndexerRule");
    let field = |name: &str| {
        rule.iter()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(flow_list)
            .unwrap_or_else(|| panic!("IndexerRule has no {name}"))
    };
    let expected = indexer_rule();
    assert_eq!(field("source:"), expected.source);
    assert_eq!(field("detail-type:"), expected.detail_type);
    assert!(rule.iter().any(|l| l.contains("!GetAtt IndexerQueue.Arn")), "the rule targets the indexer queue");
}

/// The resource's block: its `  Name:` line and the more-indented lines after it.
fn resource(template: &str, name: &str) -> String {
    let header = format!("  {name}:");
    let mut lines = template.lines().skip_while(|line| *line != header);
    let first = lines.next().unwrap_or_else(|| panic!("no resource {name}"));
    let body = lines.take_while(|line| line.is_empty() || line.starts_with("   "));
    std::iter::once(first).chain(body).collect::<Vec<_>>().join("\n")
}

#[test]
fn with_the_local_embedder_the_model_layer_is_where_the_functions_look() {
    let template = template();
    // Every function that builds the embedder carries the layer when EmbeddingProvider=local.
    for function in ["ProcessFunction", "RetrieveFunction", "RetrieveIndexerFunction"] {
        assert!(
            resource(&template, function)
                .contains("Layers: !If [EmbedsLocally, [!Ref LocalModelLayer], !Ref AWS::NoValue]"),
            "{function} does not carry LocalModelLayer"
        );
    }
    assert!(resource(&template, "LocalModelLayer").contains("ContentUri: layers/local-model"));

    // The layer as sam build makes it, unpacked at a stand-in /opt: the embedder loads it from
    // its default directory.
    let opt = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let make = std::process::Command::new("make")
        .arg("-f")
        .arg(root.join("layers/local-model/Makefile"))
        .arg("build-LocalModelLayer")
        .arg(format!("ARTIFACTS_DIR={}", opt.path().display()))
        .output()
        .expect("make runs");
    assert!(make.status.success(), "{}", String::from_utf8_lossy(&make.stderr));
    let default = seams_embeddings::config::DEFAULT_MODEL_DIR.strip_prefix("/opt/").expect("the default is under /opt");
    seams_embeddings::local_model::LocalEmbedder::load(&opt.path().join(default)).unwrap_or_else(|e| {
        panic!("{e}: the layer's layout and SEAMS_MODEL_DIR's default disagree, or scripts/setup.sh has not run")
    });
}

#[test]
fn with_aurora_both_retrieve_functions_search_the_cluster_from_inside_its_network() {
    let template = template();
    for function in ["RetrieveFunction", "RetrieveIndexerFunction"] {
        let body = resource(&template, function);
        for wiring in [
            "SEAMS_SEARCH_BACKEND: !If [CreatesAurora, postgres, !Ref SearchBackend]",
            "SEAMS_DATABASE_SECRET: !If [CreatesAurora, !Ref DatabaseSecretAttachment, !Ref DatabaseSecretName]",
            "SubnetIds: !Ref VpcSubnetIds",
            "SecurityGroupIds: !If [CreatesAurora, [!GetAtt DatabaseClientSecurityGroup.GroupId], !Ref VpcSecurityGroupIds]",
            "- !Ref DatabaseSecret\n",
        ] {
            assert!(body.contains(wiring), "{function} lacks {wiring}");
        }
    }
    // PostgreSQL reaches the cluster from the functions' group only; the cluster sends nothing.
    let ingress = resource(&template, "DatabaseFromClients");
    assert!(ingress.contains("SourceSecurityGroupId: !GetAtt DatabaseClientSecurityGroup.GroupId"), "{ingress}");
    assert!(resource(&template, "DatabaseSecurityGroup").contains("CidrIp: 127.0.0.1/32"));
    // At 0 ACUs it pauses, and idle sessions are closed so that it can.
    let cluster = resource(&template, "DatabaseCluster");
    for setting in [
        "MinCapacity: !Ref DatabaseMinCapacity",
        "StorageEncrypted: true",
        "DBClusterParameterGroupName: !Ref DatabaseParameters",
    ] {
        assert!(cluster.contains(setting), "DatabaseCluster lacks {setting}");
    }
    assert!(resource(&template, "DatabaseParameters").contains("idle_session_timeout: \"60000\""));
    assert!(template.contains("  DatabaseMinCapacity:\n    Type: Number\n    Default: 0\n"), "idles at $0 by default");
}
