//! The OpenAI-compatible API with real weights, checked with the official `openai`
//! Python client (installed on demand) and with raw HTTP for the edge cases.

mod harness;

use harness::{TestNode, repo};

/// Fetches the weights (scripts/fetch-models.sh) and the `openai` package if missing.
fn prerequisites() {
    let lock = std::fs::File::create(std::env::temp_dir().join("rserve-test-fetch.lock")).unwrap();
    lock.lock().unwrap();
    let fetched = std::process::Command::new("bash")
        .arg(repo("scripts/fetch-models.sh"))
        .status()
        .unwrap();
    assert!(fetched.success(), "scripts/fetch-models.sh failed");
    let has_openai = std::process::Command::new("python3")
        .args(["-c", "import openai"])
        .status()
        .unwrap();
    if !has_openai.success() {
        let installed = std::process::Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "openai==3.57.0",
            ])
            .status()
            .unwrap();
        assert!(installed.success(), "pip install openai==3.57.0 failed");
    }
}

fn embeddings_node(tmp: &std::path::Path) -> TestNode {
    prerequisites();
    let node = TestNode::start(&tmp.join("state"), &[]);
    let file = std::fs::read_to_string(repo("examples/embeddings.toml"))
        .unwrap()
        .replace(
            "models/all-minilm-l6-v2",
            repo("models/all-minilm-l6-v2").to_str().unwrap(),
        );
    let path = tmp.join("embeddings.toml");
    std::fs::write(&path, file).unwrap();
    node.ok(&[
        "deploy",
        path.to_str().unwrap(),
        "--wait",
        "--timeout",
        "120",
    ]);
    node
}

#[test]
fn the_openai_python_client_gets_correct_embeddings() {
    let tmp = tempfile::tempdir().unwrap();
    let node = embeddings_node(tmp.path());
    let out = std::process::Command::new("python3")
        .arg(repo("tests/openai_client.py"))
        .arg(format!("http://{}/v1", node.http))
        .arg("all-MiniLM-L6-v2")
        .arg(repo("tests/fixtures/embeddings_reference.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openai client checks failed:\n{}\n{}\nnode log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        node.log()
    );
}

#[test]
fn embeddings_edge_cases_over_raw_http() {
    let tmp = tempfile::tempdir().unwrap();
    let node = embeddings_node(tmp.path());
    let post = |path: &str, body: &str| {
        node.http(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    };

    // Over-length input is truncated and reported, not silently cut.
    let long = "word ".repeat(600);
    let r = post(
        "/v1/embeddings",
        &serde_json::json!({"model": "all-MiniLM-L6-v2", "input": [long, "short"]}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["truncated_inputs"]["indices"], serde_json::json!([0]));
    assert_eq!(v["truncated_inputs"]["max_input_tokens"], 256);
    assert_eq!(r.header("x-rserve-truncated-inputs"), Some("1"));
    assert_eq!(v["usage"]["prompt_tokens"], 256 + 3);

    // The deployment's own route takes the same body.
    let r = post("/embeddings", r#"{"input": "hello"}"#);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["data"][0]["embedding"].as_array().unwrap().len(),
        384
    );

    for (body, status, param) in [
        (r#"{"input": "x"}"#, 400, "model"),
        (r#"{"model": "nope", "input": "x"}"#, 404, "model"),
        (
            r#"{"model": "all-MiniLM-L6-v2", "input": []}"#,
            400,
            "input",
        ),
        (r#"{"model": "all-MiniLM-L6-v2", "input": 5}"#, 400, "input"),
        (
            r#"{"model": "all-MiniLM-L6-v2", "input": [1, 2, 3]}"#,
            400,
            "input",
        ),
        (
            r#"{"model": "all-MiniLM-L6-v2", "input": "x", "encoding_format": "hex"}"#,
            400,
            "encoding_format",
        ),
        ("[1, 2", 400, "body"),
    ] {
        let r = post("/v1/embeddings", body);
        assert_eq!(
            r.status,
            status,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["error"]["param"], param, "{body}");
    }
    let r = node.http("GET", "/v1/models", &[], b"");
    assert_eq!(r.json()["data"][0]["id"], "all-MiniLM-L6-v2");
    let r = node.http("GET", "/v1/models/nope", &[], b"");
    assert_eq!(r.status, 404);
    let r = post(
        "/v1/chat/completions",
        r#"{"model": "all-MiniLM-L6-v2", "messages": []}"#,
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        node.status()["applications"]["embeddings"]["deployments"]["embedder"]["replica_failures"],
        0
    );
}
