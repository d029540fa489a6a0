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

/// Deploys an example with its model path made absolute (the node's cwd differs).
fn deploy_example(node: &TestNode, tmp: &std::path::Path, example: &str) {
    let file = std::fs::read_to_string(repo(&format!("examples/{example}")))
        .unwrap()
        .replace("\"models/", &format!("\"{}/", repo("models").display()));
    let path = tmp.join(example);
    std::fs::write(&path, file).unwrap();
    node.ok(&[
        "deploy",
        path.to_str().unwrap(),
        "--wait",
        "--timeout",
        "180",
    ]);
}

fn embeddings_node(tmp: &std::path::Path) -> TestNode {
    prerequisites();
    let node = TestNode::start(&tmp.join("state"), &[]);
    deploy_example(&node, tmp, "embeddings.toml");
    node
}

#[test]
fn the_openai_python_client_gets_embeddings_and_streamed_chat() {
    let tmp = tempfile::tempdir().unwrap();
    let node = embeddings_node(tmp.path());
    deploy_example(&node, tmp.path(), "chat.toml");
    let out = std::process::Command::new("python3")
        .arg(repo("tests/openai_client.py"))
        .arg(format!("http://{}/v1", node.http))
        .arg("all-MiniLM-L6-v2")
        .arg(repo("tests/fixtures/embeddings_reference.json"))
        .arg("SmolLM2-135M-Instruct")
        .arg(repo("tests/fixtures/chat_reference.json"))
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
    assert_eq!(r.status, 400, "an embeddings model does not chat");
    assert_eq!(r.json()["error"]["param"], "model");
    let r = post("/v1/audio/speech", "{}");
    assert_eq!(r.status, 404);
    assert_eq!(
        node.status()["applications"]["embeddings"]["deployments"]["embedder"]["replica_failures"],
        0
    );
}

#[test]
fn a_client_that_leaves_mid_stream_stops_its_generation() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    prerequisites();
    let node = TestNode::start(&tmp.path().join("state"), &[]);
    deploy_example(&node, tmp.path(), "chat.toml");
    let body = r#"{"model": "SmolLM2-135M-Instruct", "stream": true, "max_tokens": 4000, "temperature": 0.7, "seed": 1,
                   "messages": [{"role": "user", "content": "Write a very long essay about the history of Europe."}]}"#;
    {
        let mut stream = std::net::TcpStream::connect(node.http).unwrap();
        write!(stream, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut buf = vec![0u8; 4096];
        let mut seen = String::new();
        while seen.matches("data: ").count() < 4 {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "stream ended early: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(seen.contains("text/event-stream"), "{seen}");
        assert!(seen.contains("chat.completion.chunk"), "{seen}");
    }
    // The replica slot is released soon after the client leaves, long before
    // 4000 tokens could have been generated.
    node.wait_status(20, "the generation to stop", |s| {
        s["applications"]["chat"]["deployments"]["llm"]["replicas"][0]["ongoing_requests"] == 0
    });
    // A prompt over the context is a 400 naming `messages`, streaming or not.
    let long = "word ".repeat(9000);
    for stream in [true, false] {
        let body = serde_json::json!({"model": "SmolLM2-135M-Instruct", "stream": stream,
            "messages": [{"role": "user", "content": long}]});
        let r = node.http(
            "POST",
            "/v1/chat/completions",
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(
            r.status,
            400,
            "stream={stream}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["error"]["param"], "messages");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("context")
        );
    }
    // And the replica serves the next request.
    let r = node.http(
        "POST",
        "/v1/chat/completions",
        &[("content-type", "application/json")],
        br#"{"model": "SmolLM2-135M-Instruct", "max_tokens": 3, "messages": [{"role": "user", "content": "Hi"}]}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["usage"]["completion_tokens"], 3);
    // What the cancelled stream computed stayed in the prefix cache: its prompt
    // sent again is all cached but the last token.
    let again = body.replace(
        r#""stream": true, "max_tokens": 4000"#,
        r#""max_tokens": 1"#,
    );
    assert_ne!(again, body);
    let r = node.http(
        "POST",
        "/v1/chat/completions",
        &[("content-type", "application/json")],
        again.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let usage = &r.json()["usage"];
    assert_eq!(
        usage["prompt_tokens_details"]["cached_tokens"].as_u64(),
        usage["prompt_tokens"].as_u64().map(|n| n - 1),
        "{usage}"
    );
}

#[test]
fn batched_embeddings_give_each_request_its_own_result() {
    let tmp = tempfile::tempdir().unwrap();
    prerequisites();
    let node = TestNode::start(&tmp.path().join("state"), &[]);
    let file = format!(
        "[[applications]]\nname = \"batched\"\nroute_prefix = \"/batched\"\n[[applications.deployments]]\nname = \"e\"\n\
         max_ongoing_requests = 32\nbatching = {{ max_batch_size = 8, batch_wait_timeout_s = 0.05 }}\n\
         replica = {{ kind = \"embeddings\", model_dir = \"{}\", model_id = \"batched\" }}\n",
        repo("models/all-minilm-l6-v2").display()
    );
    let path = tmp.path().join("batched.toml");
    std::fs::write(&path, file).unwrap();
    node.ok(&[
        "deploy",
        path.to_str().unwrap(),
        "--wait",
        "--timeout",
        "120",
    ]);

    let texts: Vec<String> = (0..24)
        .map(|i| {
            format!(
                "Sentence number {i} talks about {} things.",
                ["red", "green", "blue", "many"][i % 4]
            )
        })
        .collect();
    let embed = |input: serde_json::Value| {
        let r = harness::http(
            node.http,
            "POST",
            "/v1/embeddings",
            &[("content-type", "application/json")],
            serde_json::json!({"model": "batched", "input": input})
                .to_string()
                .as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["embedding"].clone())
            .collect::<Vec<_>>()
    };
    // Alone first (batches of one), then all at once from 24 threads, some with two inputs.
    let alone: Vec<serde_json::Value> = texts
        .iter()
        .map(|t| embed(t.as_str().into()).remove(0))
        .collect();
    let together: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let texts = &texts;
                let embed = &embed;
                s.spawn(move || {
                    if i % 3 == 0 {
                        embed(serde_json::json!([texts[i], texts[(i + 1) % 24]]))
                    } else {
                        embed(texts[i].as_str().into())
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let close = |a: &serde_json::Value, b: &serde_json::Value| {
        let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
        a.iter()
            .zip(b)
            .map(|(x, y)| x.as_f64().unwrap() * y.as_f64().unwrap())
            .sum::<f64>()
            > 0.9999
    };
    // Status shows what batching did: 24 single requests plus 8 + 8 inputs.
    let figures = node.status()["applications"]["batched"]["deployments"]["e"]["batching"].clone();
    assert_eq!(figures["inputs"], 24 + 24 + 8, "{figures}");
    assert!(
        figures["batches"].as_u64().unwrap() < 24 + 32,
        "some requests shared a batch: {figures}"
    );
    let histogram = figures["size_histogram"].as_object().unwrap();
    assert!(
        histogram.keys().all(|k| k.parse::<u32>().unwrap() <= 8),
        "{figures}"
    );
    for (i, got) in together.iter().enumerate() {
        assert!(
            close(&got[0], &alone[i]),
            "request {i} got another input's embedding"
        );
        if i % 3 == 0 {
            assert!(
                close(&got[1], &alone[(i + 1) % 24]),
                "request {i}, second input"
            );
        }
    }
}

/// Reads an SSE chat stream to its end and returns the concatenated content.
fn streamed_content(node: &TestNode, body: &serde_json::Value) -> String {
    let r = node.http(
        "POST",
        "/v1/chat/completions",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|l| *l != "[DONE]")
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn concurrent_chat_streams_share_decode_steps_and_keep_their_own_answers() {
    let tmp = tempfile::tempdir().unwrap();
    prerequisites();
    let node = TestNode::start(&tmp.path().join("state"), &[]);
    deploy_example(&node, tmp.path(), "chat.toml");
    let body = |i: usize, stream: bool| {
        serde_json::json!({"model": "SmolLM2-135M-Instruct", "stream": stream, "temperature": 0,
            "max_tokens": 10 + i % 4 * 4,
            "messages": [{"role": "user", "content": format!("Name {} animals that live in {}.",
                i + 2, ["the sea", "the desert", "forests", "the arctic"][i % 4])}]})
    };
    // One at a time (each runs alone), whole responses.
    let alone: Vec<String> = (0..8)
        .map(|i| {
            let r = node.http(
                "POST",
                "/v1/chat/completions",
                &[("content-type", "application/json")],
                body(i, false).to_string().as_bytes(),
            );
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            r.json()["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let before = node.status()["applications"]["chat"]["deployments"]["llm"]["batching"].clone();
    // All at once, streamed: they decode in shared steps.
    let together: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (node, body) = (&node, &body);
                s.spawn(move || streamed_content(node, &body(i, true)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (a, t)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(
            t, a,
            "request {i}: batched stream differs from its lone run"
        );
    }
    let after = node.status()["applications"]["chat"]["deployments"]["llm"]["batching"].clone();
    let shared: u64 = after["size_histogram"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.parse::<u32>().unwrap() >= 4)
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    assert!(
        shared > 0,
        "no step held 4 or more sequences: {before} → {after}"
    );
    // Each prompt was seen alone first: all of it but the last token came from
    // the prefix cache, and the answers above are still the same.
    let delta = |key: &str| after[key].as_u64().unwrap() - before[key].as_u64().unwrap();
    assert_eq!(
        delta("cached_prompt_tokens"),
        delta("prompt_tokens") - 8,
        "{before} → {after}"
    );
    let metrics = String::from_utf8(node.http("GET", "/-/metrics", &[], b"").body).unwrap();
    let hits = format!(
        "rserve_prefix_cache_hits_total{{application=\"chat\",deployment=\"llm\"}} {}",
        after["cached_prompt_tokens"]
    );
    assert!(metrics.lines().any(|l| l == hits), "{hits} in\n{metrics}");
}

#[test]
fn chat_streams_token_by_token_across_a_node_hop() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    prerequisites();
    let head = TestNode::start(&tmp.path().join("head"), &[]);
    let token = head.ok(&["token", "create"]).trim().to_owned();
    let member = TestNode::start_on(
        &tmp.path().join("member"),
        "127.0.0.2",
        "0",
        &["--join", &head.control.to_string(), "--token", &token],
    );
    deploy_example(&head, tmp.path(), "chat.toml");
    // One replica, on the head (placement breaks ties towards the head): the
    // member has none, so its requests cross a hop.
    let replicas = head.status()["applications"]["chat"]["deployments"]["llm"]["replicas"].clone();
    assert_eq!(replicas.as_array().unwrap().len(), 1);
    assert!(replicas[0]["node_id"].is_null(), "{replicas}");
    let body = r#"{"model": "SmolLM2-135M-Instruct", "stream": true, "max_tokens": 24, "temperature": 0,
                   "messages": [{"role": "user", "content": "Count from one to twenty in words."}]}"#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (arrivals, text) = loop {
        let mut stream = std::net::TcpStream::connect(member.http).unwrap();
        write!(stream, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut buf = vec![0u8; 4096];
        let mut text = String::new();
        let mut arrivals = Vec::new();
        loop {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            let chunk = String::from_utf8_lossy(&buf[..n]).into_owned();
            arrivals.push((std::time::Instant::now(), chunk.matches("data: ").count()));
            text.push_str(&chunk);
        }
        // The member gets the route table with its next heartbeat.
        if text.starts_with("HTTP/1.1 200") || std::time::Instant::now() > deadline {
            break (arrivals, text);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("text/event-stream") && text.contains("x-rserve-replica: llm-"),
        "{text}"
    );
    assert!(text.contains("data: [DONE]"), "{text}");
    // Token by token: the events came in many reads spread over the generation,
    // not in one piece at the end.
    let reads_with_events = arrivals.iter().filter(|(_, n)| *n > 0).count();
    assert!(reads_with_events >= 8, "{reads_with_events} reads: {text}");
    let first = arrivals.iter().find(|(_, n)| *n > 0).unwrap().0;
    let last = arrivals.last().unwrap().0;
    assert!(
        last.duration_since(first) > std::time::Duration::from_millis(100),
        "the events arrived together"
    );
}
