//! Model multiplexing end to end: real digits variants (scripts/digits_variants.py)
//! served from one pool of replicas, each model id giving its own answer.

mod harness;

use harness::{TestNode, app_file, repo};

/// Writes `n` digits variants (`shift-K` answers (digit + K) mod 10) into `dir`.
fn variants(dir: &std::path::Path, n: usize) {
    let out = std::process::Command::new("python3")
        .arg(repo("scripts/digits_variants.py"))
        .arg(dir)
        .arg(n.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn each_model_id_gets_its_own_model_with_lru_and_affinity() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    variants(&models, 5);
    let node = TestNode::start(&tmp.path().join("state"), &[]);
    let file = app_file(
        tmp.path(),
        "mux.toml",
        &format!(
            "[[applications]]\nname = \"mux\"\nroute_prefix = \"/mux\"\n\
             [[applications.deployments]]\nname = \"digits\"\nnum_replicas = 2\nmax_ongoing_requests = 16\n\
             batching = {{ max_batch_size = 8, batch_wait_timeout_s = 0.02 }}\n\
             multiplexing = {{ max_num_models_per_replica = 2, models_dir = \"{}\" }}\n\
             replica = {{ kind = \"digits\" }}\n",
            models.display()
        ),
    );
    node.ok(&["deploy", file.to_str().unwrap(), "--wait"]);
    let seven = std::fs::read(repo("examples/digit-7.json")).unwrap();
    let ask = |model: &str| {
        let r = node.http(
            "POST",
            "/mux",
            &[
                ("content-type", "application/json"),
                ("serve_multiplexed_model_id", model),
            ],
            &seven,
        );
        assert_eq!(
            r.status,
            200,
            "{model}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()["label"].as_u64().unwrap()
    };
    // Each model answers (7 + K) mod 10.
    for k in 0..3 {
        assert_eq!(ask(&format!("shift-{k}")), (7 + k) % 10, "shift-{k}");
    }
    // Affinity: repeated requests for loaded models load nothing new.
    let loaded = |node: &TestNode| -> Vec<Vec<String>> {
        node.status()["applications"]["mux"]["deployments"]["digits"]["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["multiplexed_models"]
                    .as_array()
                    .map(|a| a.iter().map(|m| m.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default()
            })
            .collect()
    };
    let before = loaded(&node);
    let total: usize = before.iter().map(Vec::len).sum();
    assert_eq!(total, 3, "three models over two replicas: {before:?}");
    for _ in 0..10 {
        for k in 0..3 {
            ask(&format!("shift-{k}"));
        }
    }
    let mut after = loaded(&node);
    for models in &mut after {
        models.sort();
    }
    let mut sorted_before = before.clone();
    for models in &mut sorted_before {
        models.sort();
    }
    assert_eq!(after, sorted_before, "requests followed their models");

    // 60 concurrent requests over five models (two evictions at least, batches
    // of one model each): every request gets its own model's answer.
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..60)
            .map(|i| {
                let ask = &ask;
                s.spawn(move || {
                    let k = [0, 1, 0, 2, 3, 0, 4, 1][i % 8];
                    (k, ask(&format!("shift-{k}")))
                })
            })
            .collect();
        for h in handles {
            let (k, label) = h.join().unwrap();
            assert_eq!(label, (7 + k as u64) % 10, "a shift-{k} request");
        }
    });
    for models in loaded(&node) {
        assert!(models.len() <= 2, "cap of 2 models per replica: {models:?}");
    }
    let figures = node.status()["applications"]["mux"]["deployments"]["digits"]["batching"].clone();
    assert!(figures["inputs"].as_u64().unwrap() >= 60 + 33, "{figures}");

    // No header, unknown model, and a path outside the repository.
    let r = node.http(
        "POST",
        "/mux",
        &[("content-type", "application/json")],
        &seven,
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("serve_multiplexed_model_id")
    );
    for bad in ["shift-9", "../models/shift-1", "nope"] {
        let r = node.http(
            "POST",
            "/mux",
            &[
                ("content-type", "application/json"),
                ("serve_multiplexed_model_id", bad),
            ],
            &seven,
        );
        assert_eq!(r.status, 404, "{bad}");
        assert_eq!(r.json()["error"]["type"], "model_not_found", "{bad}");
    }
    // A model added to the directory later is found on first use.
    variants(&models, 7);
    assert_eq!(ask("shift-6"), 3);

    // Prometheus metrics: loaded models per replica, batch sizes, requests.
    let r = node.http("GET", "/-/metrics", &[], b"");
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let value = |prefix: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    let labels = "application=\"mux\",deployment=\"digits\"";
    let held: usize = loaded(&node).iter().map(Vec::len).sum();
    assert_eq!(
        value(&format!("rserve_multiplexed_model_loaded{{{labels}")) as usize,
        held,
        "{text}"
    );
    assert_eq!(
        value(&format!("rserve_multiplexed_models{{{labels}")) as usize,
        held
    );
    assert!(
        value(&format!(
            "rserve_multiplexed_model_evictions_total{{{labels}"
        )) >= 1.0
    );
    assert!(value(&format!("rserve_multiplexed_model_loads_total{{{labels}")) >= 6.0);
    let batches = value(&format!("rserve_batch_size_count{{{labels}"));
    assert_eq!(
        value(&format!("rserve_batch_size_bucket{{{labels},le=\"+Inf\"")),
        batches
    );
    assert!(batches >= 1.0 && value(&format!("rserve_batch_size_sum{{{labels}")) >= 93.0);
    // max_batch_size 8: no bucket above 8, and the top bucket holds every batch.
    let top = text
        .lines()
        .filter(|l| l.starts_with(&format!("rserve_batch_size_bucket{{{labels},le=\"")))
        .filter_map(|l| {
            l.split("le=\"")
                .nth(1)?
                .split('"')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .max()
        .unwrap();
    assert!(top <= 8, "{text}");
    assert_eq!(
        value(&format!("rserve_batch_size_bucket{{{labels},le=\"{top}\"")),
        batches
    );
    assert!(value(&format!("rserve_requests_total{{{labels},code=\"2xx\"")) >= 94.0);
    assert_eq!(
        value(&format!("rserve_requests_total{{{labels},code=\"4xx\"")),
        4.0
    );
    assert_eq!(
        value(&format!("rserve_request_latency_ms_count{{{labels}")),
        value(&format!("rserve_requests_total{{{labels}"))
    );
}
