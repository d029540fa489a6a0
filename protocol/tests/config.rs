//! The application file: defaults, rejections with precise locations, round trips.

use proptest::prelude::*;
use rserve_protocol::config::{
    Aggregation, AppConfig, AppFile, AutoscalingConfig, BUILTIN_KINDS, ConfigError, CustomKind,
    DeploymentConfig, DigitsOptions, EchoOptions, NumReplicas, ReplicaKind, Replicas, Resources,
    SleepOptions,
};

const MINIMAL: &str = r#"
[[applications]]
name = "demo"

[[applications.deployments]]
name = "echo"
replica = { kind = "echo" }
"#;

fn parse(text: &str) -> Result<AppFile, ConfigError> {
    AppFile::parse("app.toml", text)
}

#[test]
fn defaults_are_ray_serves() {
    let file = parse(MINIMAL).unwrap();
    let app = &file.applications[0];
    assert_eq!(app.route_prefix, "/");
    let d = &app.deployments[0];
    assert_eq!(
        d.num_replicas,
        NumReplicas::Count(1),
        "spelled out, as every default"
    );
    assert_eq!(d.replicas(), Replicas::Fixed(1));
    assert_eq!(d.max_ongoing_requests, 5);
    assert_eq!(d.max_queued_requests, -1);
    assert_eq!(d.health_check_period_s, 10.0);
    assert_eq!(d.health_check_timeout_s, 30.0);
    assert_eq!(d.graceful_shutdown_wait_loop_s, 2.0);
    assert_eq!(d.graceful_shutdown_timeout_s, 20.0);
    assert_eq!(
        d.resources,
        Resources {
            num_cpus: 1.0,
            num_gpus: 0.0,
            memory: 0,
            label_selector: Default::default(),
        }
    );
    assert_eq!(d.user_config, None);
    assert_eq!(d.replica, ReplicaKind::Echo(EchoOptions::default()));
    assert_eq!(app.ingress_deployment().name, "echo");
}

#[test]
fn kinds_options_resources_and_user_config_parse() {
    let file = parse(
        r#"
[[applications]]
name = "digits"
route_prefix = "/digits"
ingress = "classifier"

[[applications.deployments]]
name = "classifier"
num_replicas = 2
max_queued_requests = 100
user_config = { threshold = 0.5, labels = ["a", "b"] }
ray_actor_options = { num_cpus = 0.5, num_gpus = 0.25, memory = 1000 }
replica = { kind = "digits", device = "cuda:1" }

[[applications.deployments]]
name = "slow"
[applications.deployments.replica]
kind = "sleep"
duration_ms = 250
"#,
    )
    .unwrap();
    let app = &file.applications[0];
    let d = &app.deployments[0];
    assert_eq!(d.num_replicas, NumReplicas::Count(2));
    assert_eq!(d.max_queued_requests, 100);
    assert_eq!(d.resources.num_gpus, 0.25);
    assert_eq!(d.user_config.as_ref().unwrap()["labels"][1], "b");
    assert_eq!(
        d.replica,
        ReplicaKind::Digits(DigitsOptions {
            device: "cuda:1".into(),
            weights: None
        })
    );
    assert_eq!(
        app.deployments[1].replica,
        ReplicaKind::Sleep(SleepOptions { duration_ms: 250 })
    );
}

#[test]
fn unknown_keys_name_the_path_and_line() {
    let text = MINIMAL.replace("name = \"echo\"", "name = \"echo\"\nnum_replica = 3");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.starts_with("app.toml:"), "{err}");
    assert!(err.contains("applications[0].deployments[0]"), "{err}");
    assert!(err.contains("num_replica"), "{err}");
    let ConfigError::Parse { line, .. } = parse(&text).unwrap_err() else {
        panic!()
    };
    assert!(line.is_some(), "{err}");
}

#[test]
fn unknown_kind_options_are_rejected() {
    let text = MINIMAL.replace("{ kind = \"echo\" }", "{ kind = \"echo\", colour = 1 }");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("colour"), "{err}");
    // Any other kind is a user's (written in Rust): the node that serves
    // the file knows whether it has it; the file alone cannot say.
    let text = MINIMAL.replace("kind = \"echo\"", "kind = \"gpt5\"");
    let file = parse(&text).unwrap();
    assert_eq!(
        file.applications[0].deployments[0].replica,
        ReplicaKind::Custom(CustomKind {
            kind: "gpt5".into()
        })
    );
    // It takes no options: its settings are its user_config.
    let text = MINIMAL.replace("kind = \"echo\"", "kind = \"gpt5\", top_k = 3");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("top_k"), "{err}");
}

#[test]
fn handles_name_deployments_of_the_same_app_without_cycles() {
    let app = |deployments: &str| format!("[[applications]]\nname = \"a\"\n{deployments}");
    let dep = |name: &str, kind: &str, handles: &str| {
        format!(
            "[[applications.deployments]]\nname = \"{name}\"\nreplica = {{ kind = \"{kind}\" }}\nhandles = {{ {handles} }}\n"
        )
    };
    let ok = app(&(dep("front", "rag", "e = \"embed\", c = \"chat\"")
        + &dep("embed", "echo", "")
        + &dep("chat", "echo", "")));
    let file = parse(&ok).unwrap();
    assert_eq!(file.applications[0].deployments[0].handles["e"], "embed");

    let unknown = app(&(dep("front", "rag", "e = \"nope\"") + &dep("embed", "echo", "")));
    let err = parse(&unknown).unwrap_err().to_string();
    assert!(
        err.contains("applications[0].deployments[0].handles.e: no deployment named `nope` in application `a` (it has: front, embed)"),
        "{err}"
    );

    let selfish = app(&dep("front", "rag", "me = \"front\""));
    let err = parse(&selfish).unwrap_err().to_string();
    assert!(
        err.contains("handles.me: `front` is this deployment itself"),
        "{err}"
    );

    let cycle = app(&(dep("a1", "x", "next = \"a2\"")
        + &dep("a2", "x", "next = \"a3\"")
        + &dep("a3", "x", "back = \"a1\"")));
    let err = parse(&cycle).unwrap_err().to_string();
    assert!(
        err.contains("applications[0].deployments: the deployments call each other in a cycle through their handles: a1 → a2 → a3 → a1"),
        "{err}"
    );

    // A long chain is checked without deep recursion.
    let n = 5000;
    let chain: String = (0..n)
        .map(|i| {
            dep(
                &format!("d{i}"),
                "x",
                &format!("next = \"d{}\"", (i + 1) % n),
            )
        })
        .collect();
    let err = parse(&app(&chain)).unwrap_err().to_string();
    assert!(
        err.contains("in a cycle through their handles: d0 → d1 → d2"),
        "{}",
        &err[..200]
    );
    assert!(err.ends_with("d4999 → d0"), "{}", &err[err.len() - 100..]);
    let open_chain = chain.replace("next = \"d0\"", "");
    parse(&app(&open_chain)).unwrap();

    let builtin = app(&(dep("front", "echo", "e = \"embed\"") + &dep("embed", "echo", "")));
    let err = parse(&builtin).unwrap_err().to_string();
    assert!(
        err.contains("handles: the built-in kind `echo` calls no other deployment"),
        "{err}"
    );
}

#[test]
fn wrong_types_name_the_key_and_position() {
    let text = MINIMAL.replace("name = \"echo\"", "name = \"echo\"\nnum_replicas = \"two\"");
    let err = parse(&text).unwrap_err();
    let ConfigError::Parse {
        path, line, column, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(path, "applications[0].deployments[0].num_replicas");
    assert_eq!(*line, Some(7));
    assert_eq!(*column, Some(16));
}

#[test]
fn malformed_toml_has_a_line() {
    let err = parse("[[applications]\nname = 1").unwrap_err();
    let ConfigError::Parse { line, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*line, Some(1), "{err}");
}

#[test]
fn impossible_values_are_all_reported() {
    let text = r#"
[[applications]]
name = "bad name"
route_prefix = "api/"

[[applications.deployments]]
name = "d"
num_replicas = 0
max_ongoing_requests = 0
max_queued_requests = -5
health_check_period_s = -1.0
replica = { kind = "digits", device = "tpu" }
"#;
    let err = parse(text).unwrap_err();
    let ConfigError::Invalid { issues, .. } = &err else {
        panic!("{err}")
    };
    let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "applications[0].name",
            "applications[0].route_prefix",
            "applications[0].deployments[0].num_replicas",
            "applications[0].deployments[0].max_ongoing_requests",
            "applications[0].deployments[0].max_queued_requests",
            "applications[0].deployments[0].health_check_period_s",
            "applications[0].deployments[0].replica.device",
        ]
    );
    assert!(err.to_string().starts_with("app.toml: "), "{err}");
}

#[test]
fn batching_multiplexing_and_chat_limits_are_checked() {
    let text = r#"
[[applications]]
name = "a"
[[applications.deployments]]
name = "c"
batching = {}
replica = { kind = "chat", max_num_seqs = 32, max_num_batched_tokens = 16, max_kv_cache_tokens = 0 }
[[applications.deployments]]
name = "e"
multiplexing = { models_dir = "m" }
replica = { kind = "echo" }
[[applications.deployments]]
name = "d"
multiplexing = { max_num_models_per_replica = -2, model_replicas = { hot = 0 }, models = { "bad id" = "x" } }
replica = { kind = "digits" }
[[applications.deployments]]
name = "h"
replica = { kind = "embeddings", dtype = "f16" }
[[applications.deployments]]
name = "q"
replica = { kind = "chat", device = "cuda:1", dtype = "f8" }
[[applications.deployments]]
name = "ok"
replica = { kind = "chat", device = "cuda", dtype = "bf16" }
[[applications.deployments]]
name = "huge"
replica = { kind = "chat", max_num_seqs = 4294967295, max_num_batched_tokens = 4294967295 }
[[applications.deployments]]
name = "kv8"
replica = { kind = "chat", kv_cache_dtype = "fp8" }
[[applications.deployments]]
name = "kvbf"
replica = { kind = "chat", kv_cache_dtype = "bf16" }
[[applications.deployments]]
name = "kvgpu"
replica = { kind = "chat", device = "cuda", kv_cache_dtype = "f16" }
[[applications.deployments]]
name = "kvok"
replica = { kind = "chat", device = "cuda", dtype = "f16", kv_cache_dtype = "f16" }
[[applications.deployments]]
name = "kvcpu"
replica = { kind = "chat", kv_cache_dtype = "f32" }
"#;
    let err = parse(text).unwrap_err();
    let ConfigError::Invalid { issues, .. } = &err else {
        panic!("{err}")
    };
    let found: Vec<(&str, &str)> = issues
        .iter()
        .map(|i| (i.path.as_str(), i.reason.as_str()))
        .collect();
    let at = |d: usize, key: &str| format!("applications[0].deployments[{d}].{key}");
    for (path, needle) in [
        (at(0, "batching"), "does not support batching"),
        (
            at(0, "replica.max_num_batched_tokens"),
            "at least max_num_seqs (32)",
        ),
        (at(0, "replica.max_kv_cache_tokens"), "at least 1"),
        (at(1, "multiplexing"), "does not support multiplexing"),
        (at(2, "multiplexing.max_num_models_per_replica"), "is -2"),
        (at(2, "multiplexing.model_replicas"), "`hot` = 0"),
        (at(2, "multiplexing.models"), "model id"),
        (at(3, "replica.dtype"), "`f16` needs a cuda device"),
        (
            at(4, "replica.dtype"),
            "unknown dtype `f8`: expected f32, f16 or bf16",
        ),
        (
            at(6, "replica.max_num_seqs"),
            "is 4294967295; must be at most 1024",
        ),
        (
            at(7, "replica.kv_cache_dtype"),
            "unknown dtype `fp8`: expected auto, f32, f16 or bf16",
        ),
        (
            at(8, "replica.kv_cache_dtype"),
            "`bf16` is not available on the cpu",
        ),
        (
            at(9, "replica.kv_cache_dtype"),
            "`f16` differs from dtype `f32`: a GPU's KV cache holds the model's dtype",
        ),
    ] {
        assert!(
            found.iter().any(|(p, r)| *p == path && r.contains(needle)),
            "{path}: {needle} not in {found:?}"
        );
    }
    for (d, what) in [
        (5, "bf16 on cuda"),
        (10, "an f16 cache for an f16 model on cuda"),
        (11, "an f32 cache on the cpu"),
    ] {
        assert!(
            !found
                .iter()
                .any(|(p, _)| p.contains(&format!("deployments[{d}]"))),
            "{what} is valid: {found:?}"
        );
    }
    // A digits deployment without a repository.
    let err = parse(
        "[[applications]]\nname = \"a\"\n[[applications.deployments]]\nname = \"d\"\n\
         multiplexing = {}\nreplica = { kind = \"digits\" }\n",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("needs a model repository"),
        "{err}"
    );
}

#[test]
fn duplicates_and_dangling_ingress_are_rejected() {
    let text = format!(
        "{MINIMAL}\n[[applications]]\nname = \"demo\"\ningress = \"nope\"\n\
         [[applications.deployments]]\nname = \"e\"\nreplica = {{ kind = \"echo\" }}\n"
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("application `demo` appears twice"), "{err}");
    assert!(
        err.contains("route prefix `/` is used by another application"),
        "{err}"
    );
    assert!(err.contains("no deployment named `nope`"), "{err}");
}

#[test]
fn empty_files_are_rejected() {
    assert!(parse("").unwrap_err().to_string().contains("applications"));
    let err = parse("applications = []").unwrap_err().to_string();
    assert!(err.contains("at least one application"), "{err}");
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,12}"
}

fn json_leaf() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i32>().prop_map(serde_json::Value::from),
        "[ -~]{0,8}".prop_map(serde_json::Value::from),
    ]
}

fn kind() -> impl Strategy<Value = ReplicaKind> {
    prop_oneof![
        any::<bool>()
            .prop_map(|fault_injection| ReplicaKind::Echo(EchoOptions { fault_injection })),
        (0u64..100_000).prop_map(|duration_ms| ReplicaKind::Sleep(SleepOptions { duration_ms })),
        (0u32..8, proptest::option::of("[a-z/]{1,10}")).prop_map(|(n, weights)| {
            ReplicaKind::Digits(DigitsOptions {
                device: format!("cuda:{n}"),
                weights,
            })
        }),
        "[a-z][a-z0-9_-]{0,8}"
            .prop_filter("not a built-in kind", |k| !BUILTIN_KINDS
                .contains(&k.as_str()))
            .prop_map(|kind| ReplicaKind::Custom(CustomKind { kind })),
    ]
}

fn deployment() -> impl Strategy<Value = DeploymentConfig> {
    (
        name(),
        (1u32..64, 1u32..1000, -1i64..10_000),
        (1u32..1000, 1u32..1000, 0u32..1000),
        proptest::option::of(proptest::collection::btree_map(
            "[a-z]{1,6}",
            json_leaf(),
            0..4,
        )),
        (0u32..64, 0u32..8, any::<u32>()),
        kind(),
    )
        .prop_map(
            |(name, (n, ongoing, queued), (hp, ht, gs), user, (cpus, gpus, mem), replica)| {
                DeploymentConfig {
                    name,
                    num_replicas: NumReplicas::Count(n),
                    autoscaling_config: None,
                    max_ongoing_requests: ongoing,
                    max_queued_requests: queued,
                    health_check_period_s: f64::from(hp) / 4.0,
                    health_check_timeout_s: f64::from(ht) / 4.0,
                    graceful_shutdown_wait_loop_s: 2.0,
                    graceful_shutdown_timeout_s: f64::from(gs) / 8.0,
                    user_config: user.map(|m| serde_json::Value::Object(m.into_iter().collect())),
                    resources: Resources {
                        num_cpus: f64::from(cpus) / 2.0,
                        num_gpus: f64::from(gpus) / 4.0,
                        memory: u64::from(mem),
                        label_selector: Default::default(),
                    },
                    handles: Default::default(),
                    batching: None,
                    multiplexing: None,
                    replica,
                }
            },
        )
}

fn app_file() -> impl Strategy<Value = AppFile> {
    proptest::collection::vec(
        (name(), proptest::collection::vec(deployment(), 1..4)),
        1..4,
    )
    .prop_map(|apps| AppFile {
        applications: apps
            .into_iter()
            .enumerate()
            .map(|(i, (name, mut deployments))| {
                for (j, d) in deployments.iter_mut().enumerate() {
                    d.name = format!("{}-{j}", d.name);
                }
                AppConfig {
                    name: format!("{name}-{i}"),
                    route_prefix: if i == 0 {
                        "/".into()
                    } else {
                        format!("/{name}-{i}")
                    },
                    ingress: None,
                    deployments,
                }
            })
            .collect(),
    })
}

proptest! {
    #[test]
    fn valid_files_round_trip_through_toml(file in app_file()) {
        let text = file.to_toml();
        let back = AppFile::parse("gen.toml", &text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, file);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\n]{0,200}") {
        let _ = AppFile::parse("fuzz.toml", &text);
    }
}

/// docs/configuration.md documents every key with its default (so it cannot drift).
#[test]
fn the_configuration_reference_lists_every_key_and_default() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/configuration.md"
    ))
    .unwrap();
    let mut file = String::from("[[applications]]\nname = \"a\"\n");
    for (i, kind) in ["echo", "sleep", "digits", "embeddings", "chat"]
        .iter()
        .enumerate()
    {
        let batching = match *kind {
            "embeddings" => "batching = {}\n",
            // `models_dir` has no default: the probe value is exempt below.
            "digits" => "multiplexing = { models_dir = \"probe\" }\n",
            _ => "",
        };
        file.push_str(&format!(
            "[[applications.deployments]]\nname = \"d{i}\"\n{batching}replica = {{ kind = \"{kind}\" }}\n"
        ));
    }
    let parsed = AppFile::parse("doc.toml", &file).unwrap();
    let value: toml::Value = toml::from_str(&parsed.to_toml()).unwrap();
    let mut missing = Vec::new();
    let mut check = |key: &str, default: &toml::Value| {
        let row = doc.lines().find(|l| l.starts_with(&format!("| `{key}`")));
        let shown = match default {
            toml::Value::Table(_) | toml::Value::Array(_) => None,
            v => Some(format!("`{v}`")),
        };
        match (row, shown) {
            (None, _) => missing.push(format!("no row for `{key}`")),
            (Some(row), Some(shown))
                if !["name", "kind", "models_dir"].contains(&key) && !row.contains(&shown) =>
            {
                missing.push(format!("`{key}` row lacks its default {shown}"))
            }
            _ => {}
        }
    };
    fn walk(v: &toml::Value, check: &mut dyn FnMut(&str, &toml::Value)) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    check(k, v);
                    walk(v, check);
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, check)),
            _ => {}
        }
    }
    walk(&value, &mut check);
    // `autoscaling_config`'s keys are all optional (absent from the written
    // file): check them with Ray's defaults filled in.
    let a = AutoscalingConfig::default().resolve(false);
    let filled = AutoscalingConfig {
        min_replicas: Some(a.min_replicas),
        max_replicas: Some(a.max_replicas),
        target_ongoing_requests: Some(a.target_ongoing_requests),
        upscale_delay_s: Some(a.upscale_delay_s),
        downscale_delay_s: Some(a.downscale_delay_s),
        upscaling_factor: Some(a.upscaling_factor),
        downscaling_factor: Some(a.downscaling_factor),
        look_back_period_s: Some(a.look_back_period_s),
        aggregation_function: Some(a.aggregation_function),
        ..AutoscalingConfig::default()
    };
    let filled: toml::Value = toml::Value::try_from(&filled).unwrap();
    walk(&filled, &mut check);
    for key in [
        "autoscaling_config",
        "initial_replicas",
        "downscale_to_zero_delay_s",
        "metrics_interval_s",
    ] {
        if !doc.lines().any(|l| l.starts_with(&format!("| `{key}`"))) {
            missing.push(format!("no row for `{key}`"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md is out of date: {missing:#?}"
    );
}

fn with_deployment_keys(keys: &str) -> String {
    MINIMAL.replace("name = \"echo\"", &format!("name = \"echo\"\n{keys}"))
}

#[test]
fn num_replicas_auto_takes_rays_auto_defaults() {
    let file = parse(&with_deployment_keys("num_replicas = \"auto\"")).unwrap();
    let d = &file.applications[0].deployments[0];
    let Replicas::Auto(a) = d.replicas() else {
        panic!("{:?}", d.replicas())
    };
    assert_eq!(
        (a.min_replicas, a.max_replicas, a.initial_replicas),
        (1, 100, 1)
    );
    assert_eq!(a.target_ongoing_requests, 2.0);
    assert_eq!((a.upscale_delay_s, a.downscale_delay_s), (30.0, 600.0));
    assert_eq!(a.downscale_to_zero_delay_s, 600.0);
    assert_eq!((a.upscaling_factor, a.downscaling_factor), (1.0, 1.0));
    assert_eq!(a.look_back_period_s, 30.0);
    assert_eq!(a.aggregation_function, Aggregation::Mean);
    // Written back as written.
    assert!(
        file.to_toml().contains("num_replicas = \"auto\""),
        "{}",
        file.to_toml()
    );
}

#[test]
fn autoscaling_config_alone_has_rays_plain_defaults_and_its_own_keys() {
    let keys = "autoscaling_config = { min_replicas = 0, initial_replicas = 2, max_replicas = 8, \
                upscale_delay_s = 1, downscale_to_zero_delay_s = 5, aggregation_function = \"max\" }";
    let file = parse(&with_deployment_keys(keys)).unwrap();
    let Replicas::Auto(a) = file.applications[0].deployments[0].replicas() else {
        panic!()
    };
    assert_eq!(
        (a.min_replicas, a.initial_replicas, a.max_replicas),
        (0, 2, 8)
    );
    assert_eq!((a.upscale_delay_s, a.downscale_to_zero_delay_s), (1.0, 5.0));
    assert_eq!(a.aggregation_function, Aggregation::Max);
    let plain = parse(&with_deployment_keys("autoscaling_config = {}")).unwrap();
    let Replicas::Auto(a) = plain.applications[0].deployments[0].replicas() else {
        panic!()
    };
    assert_eq!(
        a.max_replicas, 1,
        "AutoscalingConfig's own default without \"auto\""
    );
    let back = AppFile::parse("again.toml", &file.to_toml()).unwrap();
    assert_eq!(back, file, "round trip");
}

#[test]
fn a_count_with_autoscaling_config_is_refused_as_in_ray() {
    let text = with_deployment_keys("num_replicas = 2\nautoscaling_config = { max_replicas = 4 }");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("applications[0].deployments[0].num_replicas"),
        "{err}"
    );
    assert!(err.contains("autoscaling_config"), "{err}");
    // "auto" with a config is Ray's way to override the auto defaults.
    let text =
        with_deployment_keys("num_replicas = \"auto\"\nautoscaling_config = { max_replicas = 4 }");
    let file = parse(&text).unwrap();
    let Replicas::Auto(a) = file.applications[0].deployments[0].replicas() else {
        panic!()
    };
    assert_eq!((a.min_replicas, a.max_replicas), (1, 4));
}

#[test]
fn autoscaling_keys_are_checked_with_their_paths() {
    for (keys, path) in [
        (
            "autoscaling_config = { min_replicas = 5, max_replicas = 2 }",
            "autoscaling_config.min_replicas",
        ),
        (
            "autoscaling_config = { max_replicas = 0 }",
            "autoscaling_config.max_replicas",
        ),
        (
            "autoscaling_config = { max_replicas = 20000 }",
            "autoscaling_config.max_replicas",
        ),
        (
            "autoscaling_config = { max_replicas = 3, initial_replicas = 9 }",
            "autoscaling_config.initial_replicas",
        ),
        (
            "autoscaling_config = { target_ongoing_requests = 0 }",
            "autoscaling_config.target_ongoing_requests",
        ),
        (
            "autoscaling_config = { upscale_delay_s = -1 }",
            "autoscaling_config.upscale_delay_s",
        ),
        (
            "autoscaling_config = { downscaling_factor = -0.5 }",
            "autoscaling_config.downscaling_factor",
        ),
        (
            "autoscaling_config = { look_back_period_s = 0 }",
            "autoscaling_config.look_back_period_s",
        ),
        (
            "autoscaling_config = { aggregation_function = \"median\" }",
            "autoscaling_config.aggregation_function",
        ),
        ("autoscaling_config = { max_replica = 3 }", "max_replica"),
        ("num_replicas = \"many\"", "num_replicas"),
        ("num_replicas = 0", "num_replicas"),
        (
            "autoscaling_config = { min_replicas = 3 }",
            "max_replicas's default",
        ),
        (
            "autoscaling_config = { min_replicas = 20000 }",
            "autoscaling_config.min_replicas",
        ),
        (
            "autoscaling_config = { look_back_period_s = 7200 }",
            "at most 3600",
        ),
        (
            "max_queued_requests = 0\nautoscaling_config = { min_replicas = 0 }",
            "never wake",
        ),
    ] {
        let err = parse(&with_deployment_keys(keys)).unwrap_err().to_string();
        assert!(err.contains(path), "{keys}: {err}");
    }
}

#[test]
fn configs_from_the_mesh_are_checked_as_a_deploy_checks_them() {
    let file = parse(
        "[[applications]]\nname = \"a\"\n[[applications.deployments]]\nname = \"d\"\n\
         replica = { kind = \"echo\" }\n",
    )
    .unwrap();
    let good = file.applications[0].deployments[0].clone();
    good.check().unwrap();
    let mut bad = good.clone();
    bad.name = "../x".into();
    bad.max_ongoing_requests = 0;
    bad.health_check_period_s = -1.0;
    let err = bad.check().unwrap_err();
    for needle in [
        "name:",
        "max_ongoing_requests: must be at least 1",
        "health_check_period_s",
    ] {
        assert!(err.contains(needle), "{needle} not in {err}");
    }
    let route = |prefix: &str, deployment: DeploymentConfig| rserve_protocol::wire::AppRoute {
        app: "a".into(),
        route_prefix: prefix.into(),
        deployment: Box::new(deployment),
        replicas: Vec::new(),
        others: Vec::new(),
    };
    route("/a", good.clone()).check().unwrap();
    assert!(
        route("no-slash", good)
            .check()
            .unwrap_err()
            .starts_with("route_prefix")
    );
    assert!(
        route("/a", bad)
            .check()
            .unwrap_err()
            .starts_with("deployment ../x:")
    );
}
