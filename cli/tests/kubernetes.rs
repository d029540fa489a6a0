//! The Kubernetes manifests (`examples/kubernetes/`), without a cluster: every
//! overlay rendered with `kubectl kustomize`, checked against the Kubernetes API's
//! schemas with `kubernetes-validate` (strict, pinned versions), and read back for
//! what rserve itself relies on: the head found by its Service's DNS name on a UDP
//! port, probes on the endpoints rserve serves, a grace period that covers the
//! drain, GPU counts that match the GPU limits, tokens only as files from a Secret,
//! and application files that rserve accepts and can place.

mod manifests;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use manifests::{EnvValue, NodeProcess, Rendered, node_processes, overlay, rendered, repo};
use serde_json::Value;

/// The `kubernetes-validate` release (PyPI) the schemas come from.
const KUBERNETES_VALIDATE: &str = "1.37.0";
/// The oldest Kubernetes the manifests support (the preStop `sleep` action is on
/// by default from 1.30, `unhealthyPodEvictionPolicy` GA in 1.31), and the newest
/// that release knows.
const KUBERNETES_VERSIONS: &[&str] = &["1.31.0", "1.37.0"];

/// The container port names the manifests give rserve's two listeners.
const HTTP: &str = "http";
const CONTROL: &str = "control";

/// What a join token looks like (`rsj.` one-time, `rsp.` pool), anywhere in a string.
const TOKEN_PATTERN: &str = r"rs[jp]\.[A-Za-z0-9_-]+\.";

#[test]
fn every_overlay_renders_and_passes_kubernetes_validate_in_strict_mode() {
    let Some(all) = rendered() else { return };
    assert!(
        all.iter().any(|r| r.overlay == "cpu") && all.iter().any(|r| r.overlay == "gpu"),
        "the cpu and gpu overlays exist"
    );
    kubernetes_validate_installed();
    let tmp = tempfile::tempdir().unwrap();
    for r in all {
        let file = tmp.path().join(format!("{}.yaml", r.overlay));
        std::fs::write(&file, &r.yaml).unwrap();
        let complaints = kubernetes_validate(&file);
        assert!(
            complaints.is_empty(),
            "overlay {} does not validate:\n{complaints}",
            r.overlay
        );
        // The Secret is the operator's (docs/kubernetes.md): never rendered here.
        assert_eq!(r.of_kind("Secret").count(), 0, "overlay {}", r.overlay);
    }
}

#[test]
fn the_head_service_is_headless_and_its_control_port_is_udp() {
    let Some(all) = rendered() else { return };
    for r in all {
        let head = head(r);
        let service = r.get("Service", manifests::str_at(head, "spec.serviceName"));
        assert_eq!(
            service["spec"]["clusterIP"], "None",
            "{}: headless",
            r.overlay
        );
        assert_eq!(
            service["spec"]["publishNotReadyAddresses"], true,
            "{}: members must resolve the head before it is Ready",
            r.overlay
        );
        assert!(selects(&service["spec"]["selector"], pod_labels(head)));
        for other in r.of_kind("StatefulSet").filter(|s| *s != head) {
            assert!(
                !selects(&service["spec"]["selector"], pod_labels(other)),
                "{}: the head's Service also selects {}",
                r.overlay,
                name(other)
            );
        }
        let port = service_port(service, CONTROL);
        assert_eq!(port["protocol"], "UDP", "{}: QUIC runs over UDP", r.overlay);
        let container = &head["spec"]["template"]["spec"]["containers"][0];
        let (target, protocol) = target_port(container, &port["targetPort"]);
        assert_eq!(protocol, "UDP");
        assert_eq!(
            Some(target),
            container_port(container, CONTROL).map(|(p, _)| p)
        );
        let process = process_of(r, head);
        let control_addr = process
            .literal("RSERVE_CONTROL_ADDR")
            .expect("RSERVE_CONTROL_ADDR");
        assert_eq!(
            addr_port(control_addr),
            target,
            "{}: the head listens there",
            r.overlay
        );
    }
}

#[test]
fn members_join_the_head_by_its_service_dns_name_and_control_port() {
    let Some(all) = rendered() else { return };
    for r in all {
        let head = head(r);
        let head_name = name(head);
        let service_name = manifests::str_at(head, "spec.serviceName");
        let service = r.get("Service", service_name);
        let port = service_port(service, CONTROL)["port"].as_u64().unwrap();
        // A headless Service's name resolves to the pod's IP: the port a member
        // dials there is the head container's own, so both must be the same.
        let head_container = &head["spec"]["template"]["spec"]["containers"][0];
        let (head_port, _) = container_port(head_container, CONTROL).expect("control port");
        assert_eq!(
            port, head_port,
            "{}: Service port = container port",
            r.overlay
        );
        let members: Vec<NodeProcess> = node_processes(r)
            .into_iter()
            .filter(|p| p.statefulset != head_name)
            .collect();
        assert!(!members.is_empty(), "{}: a pool joins the head", r.overlay);
        for member in &members {
            let join = join_address(member)
                .unwrap_or_else(|| panic!("{}: {} does not join", r.overlay, member.statefulset));
            let (host, join_port) = join.rsplit_once(':').expect("HOST:PORT");
            let pod_dns = format!("{head_name}-0.{service_name}");
            assert!(
                host == pod_dns || host.starts_with(&format!("{pod_dns}.")),
                "{}: {} joins {host}, not the head pod's DNS name {pod_dns}",
                r.overlay,
                member.statefulset
            );
            assert_eq!(
                join_port.parse::<u64>().unwrap(),
                port,
                "{}",
                member.statefulset
            );
            // Its own control endpoint: a UDP container port the others reach.
            let sts = r.get("StatefulSet", &member.statefulset);
            let container = &sts["spec"]["template"]["spec"]["containers"][0];
            let (own, protocol) = container_port(container, CONTROL).expect("control port");
            assert_eq!(protocol, "UDP");
            let control_addr = member
                .literal("RSERVE_CONTROL_ADDR")
                .expect("RSERVE_CONTROL_ADDR");
            assert_eq!(addr_port(control_addr), own);
        }
    }
}

#[test]
fn every_container_probes_ready_and_healthz_on_its_http_port() {
    let Some(all) = rendered() else { return };
    for r in all {
        for (sts, container) in containers(r) {
            let at = format!("{}: {}", r.overlay, name(sts));
            let (http, protocol) = container_port(container, HTTP).expect("an http port");
            assert_eq!(protocol, "TCP", "{at}");
            let process = process_of(r, sts);
            let http_addr = process
                .literal("RSERVE_HTTP_ADDR")
                .expect("RSERVE_HTTP_ADDR");
            assert_eq!(
                addr_port(http_addr),
                http,
                "{at}: rserve listens on the http port"
            );
            for (probe, path) in [
                ("startupProbe", "/-/ready"),
                ("readinessProbe", "/-/ready"),
                ("livenessProbe", "/-/healthz"),
            ] {
                let get = &container[probe]["httpGet"];
                assert_eq!(get["path"], path, "{at}: {probe}");
                let (port, _) = target_port(container, &get["port"]);
                assert_eq!(port, http, "{at}: {probe} on the http port");
            }
            // Model loads take minutes: the startup probe waits for them.
            let startup = &container["startupProbe"];
            let budget = startup["periodSeconds"].as_u64().unwrap_or(10)
                * startup["failureThreshold"].as_u64().unwrap_or(3);
            assert!(
                budget >= 300,
                "{at}: a startup budget of {budget} s is short"
            );
        }
    }
}

#[test]
fn the_grace_period_outlasts_pre_stop_drain_and_replica_shutdown() {
    let Some(all) = rendered() else { return };
    for r in all {
        let replica_shutdown = apps(r)
            .iter()
            .flat_map(|(_, file)| &file.applications)
            .flat_map(|app| &app.deployments)
            .map(|d| d.graceful_shutdown_timeout_s)
            .fold(0.0, f64::max);
        for (sts, container) in containers(r) {
            let at = format!("{}: {}", r.overlay, name(sts));
            let grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
                .as_f64()
                .unwrap_or(30.0);
            // The kubelet's own action: an image without a shell stops the same.
            let pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
                .as_f64()
                .unwrap_or_else(|| panic!("{at}: preStop is a sleep action"));
            let drain: f64 = process_of(r, sts)
                .literal("RSERVE_DRAIN_TIMEOUT_S")
                .unwrap_or_else(|| panic!("{at}: RSERVE_DRAIN_TIMEOUT_S is set"))
                .parse()
                .unwrap();
            assert!(
                grace > pre_stop + drain + replica_shutdown,
                "{at}: terminationGracePeriodSeconds {grace} must exceed preStop {pre_stop} \
                 + drain {drain} + the longest graceful_shutdown_timeout_s {replica_shutdown}"
            );
        }
    }
}

#[test]
fn every_node_offers_exactly_its_nvidia_gpu_limit() {
    let Some(all) = rendered() else { return };
    for r in all {
        for (sts, container) in containers(r) {
            let at = format!("{}: {}", r.overlay, name(sts));
            let limit = gpu_limit(container);
            for (resource, request) in container["resources"]["requests"].as_object().unwrap() {
                if resource.starts_with("nvidia.com/") {
                    let limit = &container["resources"]["limits"][resource];
                    assert_eq!(request, limit, "{at}: {resource} requests = limits");
                }
            }
            let offered: f64 = process_of(r, sts)
                .literal("RSERVE_NUM_GPUS")
                .unwrap_or_else(|| panic!("{at}: RSERVE_NUM_GPUS is set (0 without GPUs)"))
                .parse()
                .unwrap();
            assert_eq!(
                offered, limit,
                "{at}: RSERVE_NUM_GPUS repeats nvidia.com/gpu"
            );
            if limit > 0.0 {
                let pod = &sts["spec"]["template"]["spec"];
                assert!(
                    pod["nodeSelector"].is_object(),
                    "{at}: GPU nodes are selected"
                );
                assert!(
                    pod["tolerations"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|t| t["key"] == "nvidia.com/gpu"),
                    "{at}: the GPU taint is tolerated"
                );
            }
        }
    }
    let gpu = overlay("gpu").unwrap();
    assert!(
        containers(gpu).any(|(_, c)| gpu_limit(c) > 0.0),
        "the gpu overlay has a GPU pool"
    );
}

#[test]
fn no_token_is_in_args_or_env_only_file_paths_into_the_join_secret() {
    let Some(all) = rendered() else { return };
    let token = regex::Regex::new(TOKEN_PATTERN).unwrap();
    for r in all {
        let mut secrets_used = Vec::new();
        for (sts, container) in containers(r) {
            let at = format!("{}: {}", r.overlay, name(sts));
            let process = process_of(r, sts);
            let mut words = manifests::strings(&container["command"]);
            words.extend(process.args.iter().cloned());
            for word in &words {
                assert!(!token.is_match(word), "{at}: a token on the command line");
                assert!(
                    word != "--token" && !word.starts_with("--token="),
                    "{at}: --token puts the token in argv"
                );
            }
            assert!(container["envFrom"].is_null(), "{at}: no envFrom");
            for (name, value) in &process.env {
                match value {
                    EnvValue::Literal(v) => {
                        assert!(!token.is_match(v), "{at}: {name} holds a token")
                    }
                    EnvValue::Other(from) => {
                        panic!("{at}: {name} comes from {from}; only files may hold secrets")
                    }
                    EnvValue::Field(_) | EnvValue::Resource { .. } => {}
                }
                if !name.contains("TOKEN") {
                    continue;
                }
                assert!(name.ends_with("_FILE"), "{at}: {name} must name a file");
                let path = Path::new(process.literal(name).expect("a literal path"));
                let (dir, secret) = process
                    .secret_dirs
                    .iter()
                    .find(|(dir, _)| path.parent() == Some(dir.as_path()))
                    .unwrap_or_else(|| panic!("{at}: {name} is not a file of a mounted Secret"));
                let mount = container["volumeMounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["mountPath"] == dir.to_str().unwrap())
                    .unwrap();
                assert!(
                    mount["subPath"].is_null(),
                    "{at}: a subPath mount never sees a rotated token"
                );
                secrets_used.push(secret.clone());
            }
        }
        let head = process_of(r, head(r));
        assert!(
            head.literal("RSERVE_POOL_TOKEN_FILE").is_some(),
            "{}",
            r.overlay
        );
        secrets_used.sort();
        secrets_used.dedup();
        assert_eq!(
            secrets_used,
            ["rserve-join"],
            "{}: the head and the members read the one Secret",
            r.overlay
        );
    }
}

#[test]
fn the_downward_api_gives_each_node_its_name_address_and_limits() {
    let Some(all) = rendered() else { return };
    for r in all {
        for (sts, container) in containers(r) {
            let at = format!("{}: {}", r.overlay, name(sts));
            let process = process_of(r, sts);
            let field = |name: &str| process.env(name).cloned();
            assert_eq!(
                field("RSERVE_NODE_NAME"),
                Some(EnvValue::Field("metadata.name".into())),
                "{at}: the pod's stable name is the node id"
            );
            assert_eq!(
                field("RSERVE_ADVERTISE_IP"),
                Some(EnvValue::Field("status.podIP".into())),
                "{at}"
            );
            assert_eq!(
                field("RSERVE_NUM_CPUS"),
                Some(EnvValue::Resource {
                    resource: "limits.cpu".into(),
                    divisor: Some("1".into())
                }),
                "{at}"
            );
            assert!(
                matches!(
                    field("RSERVE_MEMORY"),
                    Some(EnvValue::Resource { resource, divisor })
                        if resource == "limits.memory"
                            && divisor.as_deref().is_none_or(|d| d == "1")
                ),
                "{at}: RSERVE_MEMORY is limits.memory in bytes"
            );
            // Without limits the downward API would report the whole host.
            let limits = &container["resources"]["limits"];
            assert!(
                limits["cpu"].is_string() && limits["memory"].is_string(),
                "{at}"
            );
            assert!(
                !container["resources"]["requests"].is_null(),
                "{at}: requests"
            );
        }
    }
}

#[test]
fn the_apps_files_parse_and_every_replica_fits_some_node() {
    let Some(all) = rendered() else { return };
    for r in all {
        let files = apps(r);
        assert!(
            !files.is_empty(),
            "{}: the head deploys an apps file",
            r.overlay
        );
        let nodes: Vec<(String, f64, f64, BTreeMap<String, String>)> = containers(r)
            .map(|(sts, container)| {
                let process = process_of(r, sts);
                let labels = process
                    .literal("RSERVE_LABELS")
                    .unwrap_or_default()
                    .split(',')
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').expect("RSERVE_LABELS is k=v,k2=v2");
                        (k.to_owned(), v.to_owned())
                    })
                    .collect();
                let memory = quantity(&container["resources"]["limits"]["memory"]);
                (process.statefulset, gpu_limit(container), memory, labels)
            })
            .collect();
        for (path, file) in &files {
            for app in &file.applications {
                for d in &app.deployments {
                    let needs = &d.resources;
                    assert!(
                        nodes.iter().any(|(_, gpus, memory, labels)| {
                            *gpus >= needs.num_gpus
                                && *memory >= needs.memory as f64
                                && needs
                                    .label_selector
                                    .iter()
                                    .all(|(k, v)| labels.get(k) == Some(v))
                        }),
                        "{}: {path}: {}/{} needs {needs:?}, which no node offers: {nodes:?}",
                        r.overlay,
                        app.name,
                        d.name
                    );
                }
            }
        }
        if r.overlay == "gpu" {
            assert!(
                files
                    .iter()
                    .flat_map(|(_, f)| &f.applications)
                    .flat_map(|a| &a.deployments)
                    .any(|d| d.resources.num_gpus > 0.0),
                "the gpu overlay deploys something that asks for a GPU"
            );
        }
    }
}

#[test]
fn pods_run_as_non_root_read_only_without_capabilities() {
    let Some(all) = rendered() else { return };
    for r in all {
        for (sts, container) in containers(r) {
            let at = format!("{}: {}", r.overlay, name(sts));
            let pod = &sts["spec"]["template"]["spec"];
            let security = &container["securityContext"];
            let non_root = security["runAsNonRoot"]
                .as_bool()
                .or(pod["securityContext"]["runAsNonRoot"].as_bool());
            assert_eq!(non_root, Some(true), "{at}: runAsNonRoot");
            assert_eq!(security["readOnlyRootFilesystem"], true, "{at}");
            assert_eq!(security["allowPrivilegeEscalation"], false, "{at}");
            assert_eq!(
                security["capabilities"]["drop"],
                serde_json::json!(["ALL"]),
                "{at}"
            );
            assert!(
                security["capabilities"]["add"].is_null(),
                "{at}: no capabilities"
            );
            assert!(security["privileged"] != true, "{at}");
            assert_eq!(pod["automountServiceAccountToken"], false, "{at}");
            // A Service named `rserve` would inject RSERVE_PORT, RSERVE_SERVICE_HOST, ...
            assert_eq!(pod["enableServiceLinks"], false, "{at}");
        }
    }
}

#[test]
fn the_state_dir_is_a_directory_inside_a_volume_and_the_heads_persists() {
    let Some(all) = rendered() else { return };
    for r in all {
        let head = head(r);
        for (sts, container) in containers(r) {
            let at = format!("{}: {}", r.overlay, name(sts));
            let process = process_of(r, sts);
            let state = Path::new(
                process
                    .literal("RSERVE_STATE_DIR")
                    .expect("RSERVE_STATE_DIR"),
            );
            // rserve makes its state dir 0700, so it must own it: the volume's root
            // belongs to root, a directory rserve creates in it to rserve.
            let mount = container["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| state.starts_with(manifests::str_at(m, "mountPath")))
                .unwrap_or_else(|| panic!("{at}: {} is on no volume", state.display()));
            assert_ne!(
                state,
                Path::new(manifests::str_at(mount, "mountPath")),
                "{at}"
            );
            assert!(
                mount["readOnly"] != true,
                "{at}: the state volume is writable"
            );
            if sts == head {
                let claims = sts["spec"]["volumeClaimTemplates"]
                    .as_array()
                    .expect("a claim");
                assert!(
                    claims
                        .iter()
                        .any(|c| c["metadata"]["name"] == mount["name"]),
                    "{at}: the head's state (CA, desired state) is on a persistent volume"
                );
            }
        }
    }
}

#[test]
fn every_statefulset_has_a_headless_service_and_a_disruption_budget() {
    let Some(all) = rendered() else { return };
    for r in all {
        for sts in r.of_kind("StatefulSet") {
            let at = format!("{}: {}", r.overlay, name(sts));
            let service = r.get("Service", manifests::str_at(sts, "spec.serviceName"));
            assert_eq!(
                service["spec"]["clusterIP"], "None",
                "{at}: governing Service"
            );
            let budgets: Vec<&Value> = r
                .of_kind("PodDisruptionBudget")
                .filter(|pdb| selects(&pdb["spec"]["selector"]["matchLabels"], pod_labels(sts)))
                .collect();
            assert_eq!(budgets.len(), 1, "{at}: one PodDisruptionBudget");
            assert!(
                budgets[0]["spec"]["maxUnavailable"].as_u64() >= Some(1),
                "{at}"
            );
        }
    }
}

#[test]
fn the_http_service_spreads_over_every_node_and_control_is_open_only_to_rserve() {
    let Some(all) = rendered() else { return };
    for r in all {
        let service = r.get("Service", "rserve");
        let port = service_port(service, HTTP);
        assert_eq!(port["protocol"], "TCP");
        assert!(
            service["spec"]["publishNotReadyAddresses"] != true,
            "only Ready nodes"
        );
        for (sts, container) in containers(r) {
            let at = format!("{}: {}", r.overlay, name(sts));
            assert!(
                selects(&service["spec"]["selector"], pod_labels(sts)),
                "{at}"
            );
            let (target, _) = target_port(container, &port["targetPort"]);
            assert_eq!(
                Some(target),
                container_port(container, HTTP).map(|(p, _)| p),
                "{at}"
            );

            let (control, _) = container_port(container, CONTROL).unwrap();
            let (http, _) = container_port(container, HTTP).unwrap();
            let policies: Vec<&Value> = r
                .of_kind("NetworkPolicy")
                .filter(|p| selects(&p["spec"]["podSelector"]["matchLabels"], pod_labels(sts)))
                .collect();
            assert!(!policies.is_empty(), "{at}: a NetworkPolicy covers the pod");
            for policy in &policies {
                for rule in policy["spec"]["ingress"].as_array().into_iter().flatten() {
                    if !opens(rule, control, "UDP") {
                        continue;
                    }
                    let from = rule["from"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    assert!(!from.is_empty(), "{at}: the control port is open to all");
                    for peer in from {
                        assert!(
                            peer["ipBlock"].is_null() && peer["namespaceSelector"].is_null(),
                            "{at}: the control port is open beyond this namespace: {peer}"
                        );
                        let labels = &peer["podSelector"]["matchLabels"];
                        assert!(
                            labels.as_object().is_some_and(|l| !l.is_empty())
                                && r.of_kind("StatefulSet")
                                    .any(|s| selects(labels, pod_labels(s)))
                                && selects(labels, pod_labels(sts)),
                            "{at}: the control port is open to pods other than rserve's: {peer}"
                        );
                    }
                }
            }
            let http_open = policies.iter().any(|p| {
                p["spec"]["ingress"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|rule| {
                        opens(rule, http, "TCP")
                            && rule["from"].as_array().is_none_or(|from| from.is_empty())
                    })
            });
            assert!(http_open, "{at}: the http port is open to clients");
        }
    }
}

#[test]
fn node_processes_gives_the_args_and_env_the_pods_get() {
    let Some(cpu) = overlay("cpu") else { return };
    let processes = node_processes(cpu);
    let names: Vec<&str> = processes.iter().map(|p| p.statefulset.as_str()).collect();
    assert_eq!(names, ["rserve-head", "rserve-pool-cpu"]);
    let (head, pool) = (&processes[0], &processes[1]);
    assert_eq!(head.args, ["up", "--deploy", "/etc/rserve/apps/apps.toml"]);
    assert!(
        head.config_files[Path::new("/etc/rserve/apps/apps.toml")].contains("kind = \"digits\"")
    );
    assert_eq!(pool.args, ["up"]);
    assert_eq!(pool.replicas, 2);
    assert_eq!(
        pool.literal("RSERVE_JOIN"),
        Some("rserve-head-0.rserve-head:7000")
    );
    assert_eq!(pool.literal("RSERVE_LABELS"), Some("pool=cpu"));
    assert_eq!(
        pool.env("RSERVE_ADVERTISE_IP"),
        Some(&EnvValue::Field("status.podIP".into()))
    );
    assert_eq!(
        pool.secret_dirs[Path::new("/etc/rserve/join")],
        "rserve-join"
    );

    let gpu = node_processes(overlay("gpu").unwrap());
    let head = gpu.iter().find(|p| p.statefulset == "rserve-head").unwrap();
    assert_eq!(
        head.flag_values("--deploy"),
        ["/etc/rserve/apps/apps.toml", "/etc/rserve/apps/gpu.toml"]
    );
    let pool = gpu
        .iter()
        .find(|p| p.statefulset == "rserve-pool-gpu")
        .unwrap();
    assert_eq!(pool.literal("RSERVE_NUM_GPUS"), Some("1"));
    assert!(pool.image.starts_with("rserve-cuda"), "{}", pool.image);
}

#[test]
fn the_autoscaling_yaml_in_the_docs_validates_and_scales_a_pool() {
    let Some(gpu) = overlay("gpu") else { return };
    kubernetes_validate_installed();
    let doc = std::fs::read_to_string(repo("docs/kubernetes.md")).unwrap();
    let blocks = yaml_blocks(&doc);
    let objects: Vec<Value> = blocks
        .iter()
        .flat_map(|block| manifests::parse_yaml_documents(block).unwrap())
        .filter(|o| o.get("kind").is_some() && o.get("apiVersion").is_some())
        .collect();
    let pools: Vec<&str> = gpu.of_kind("StatefulSet").map(name).collect();
    let signal = "rserve_deployment_unschedulable_replicas";
    let mut checked = Vec::new();
    for object in &objects {
        let target = &object["spec"]["scaleTargetRef"];
        if target.is_null() {
            continue;
        }
        let kind = manifests::str_at(object, "kind");
        assert!(
            pools.contains(&target["name"].as_str().unwrap_or_default())
                && target["kind"].as_str().is_none_or(|k| k == "StatefulSet"),
            "docs/kubernetes.md: {kind} scales {target}, not a StatefulSet of the gpu overlay"
        );
        if kind == "HorizontalPodAutoscaler" {
            // An external metric that the adapter's rule (a YAML block of its own)
            // computes from the signal.
            let metric = manifests::str_at(&object["spec"]["metrics"][0], "external.metric.name");
            assert!(
                blocks
                    .iter()
                    .any(|b| b.contains(&format!("as: {metric}")) && b.contains(signal)),
                "docs/kubernetes.md: no prometheus-adapter rule makes {metric} from {signal}"
            );
        } else {
            assert!(
                object.to_string().contains(signal),
                "{kind} scales on {signal}"
            );
        }
        checked.push(kind.to_owned());
    }
    checked.sort();
    assert_eq!(checked, ["HorizontalPodAutoscaler", "ScaledObject"]);
    // Kubernetes' own kinds against its schemas (KEDA's ScaledObject is a CRD).
    let builtin: Vec<String> = objects
        .iter()
        .filter(|o| is_builtin(manifests::str_at(o, "apiVersion")))
        .map(|o| serde_yaml::to_string(o).unwrap())
        .collect();
    assert!(!builtin.is_empty());
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("docs.yaml");
    std::fs::write(&file, builtin.join("---\n")).unwrap();
    let complaints = kubernetes_validate(&file);
    assert!(complaints.is_empty(), "docs/kubernetes.md:\n{complaints}");
}

/// Whether an `apiVersion` is one of Kubernetes' own groups (`v1`, `apps/v1`,
/// `networking.k8s.io/v1`), not a custom resource's.
fn is_builtin(api_version: &str) -> bool {
    match api_version.split_once('/') {
        None => true,
        Some((group, _)) => !group.contains('.') || group.ends_with(".k8s.io"),
    }
}

// ---- reading the rendered objects

/// The head: the one StatefulSet whose pods join nothing.
fn head(r: &Rendered) -> &Value {
    let mut heads: Vec<String> = node_processes(r)
        .into_iter()
        .filter(|p| join_address(p).is_none())
        .map(|p| p.statefulset)
        .collect();
    heads.dedup();
    assert_eq!(heads.len(), 1, "{}: one head, got {heads:?}", r.overlay);
    r.get("StatefulSet", &heads[0])
}

/// Where a member joins: `RSERVE_JOIN` or `--join`, never both.
fn join_address(process: &NodeProcess) -> Option<String> {
    let env = process.literal("RSERVE_JOIN").map(str::to_owned);
    let flags = process.flag_values("--join");
    assert!(
        flags.len() + usize::from(env.is_some()) <= 1,
        "{}: the join address is given once",
        process.statefulset
    );
    env.or_else(|| flags.first().map(|s| (*s).to_owned()))
}

/// Each StatefulSet with each of its containers.
fn containers(r: &Rendered) -> impl Iterator<Item = (&Value, &Value)> {
    r.of_kind("StatefulSet").flat_map(|sts| {
        sts["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(move |c| (sts, c))
    })
}

/// The StatefulSet's (first) container as [`node_processes`] gives it.
fn process_of(r: &Rendered, sts: &Value) -> NodeProcess {
    node_processes(r)
        .into_iter()
        .find(|p| p.statefulset == name(sts))
        .unwrap()
}

/// The applications files the head deploys (`--deploy`), parsed by rserve's own
/// parser, each with its path in the container.
fn apps(r: &Rendered) -> Vec<(String, rserve_protocol::AppFile)> {
    let head = process_of(r, head(r));
    head.flag_values("--deploy")
        .into_iter()
        .map(|path| {
            let text = head
                .config_files
                .get(Path::new(path))
                .unwrap_or_else(|| panic!("{}: --deploy {path} is in no ConfigMap", r.overlay));
            let file = rserve_protocol::AppFile::parse(path, text)
                .unwrap_or_else(|e| panic!("{}: rserve refuses {path}: {e}", r.overlay));
            (path.to_owned(), file)
        })
        .collect()
}

/// An object's `metadata.name`.
fn name(object: &Value) -> &str {
    manifests::str_at(object, "metadata.name")
}

fn pod_labels(sts: &Value) -> &Value {
    &sts["spec"]["template"]["metadata"]["labels"]
}

/// Whether a `matchLabels`-style selector selects these labels.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// The container port of this name: number and protocol.
fn container_port(container: &Value, name: &str) -> Option<(u64, String)> {
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| {
            let protocol = p["protocol"].as_str().unwrap_or("TCP").to_owned();
            (p["containerPort"].as_u64().unwrap(), protocol)
        })
}

/// A Service's or probe's target port (a name or a number) resolved in the container.
fn target_port(container: &Value, port: &Value) -> (u64, String) {
    let found = match port {
        Value::String(name) => container_port(container, name),
        Value::Number(n) => container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["containerPort"].as_u64() == n.as_u64())
            .map(|p| {
                (
                    n.as_u64().unwrap(),
                    p["protocol"].as_str().unwrap_or("TCP").to_owned(),
                )
            }),
        _ => None,
    };
    found.unwrap_or_else(|| {
        panic!(
            "port {port} is not a port of container {}",
            container["name"]
        )
    })
}

fn service_port<'a>(service: &'a Value, port: &str) -> &'a Value {
    service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == port)
        .unwrap_or_else(|| panic!("Service {} has no port {port}", name(service)))
}

/// Whether a NetworkPolicy ingress rule lets traffic reach this port.
fn opens(rule: &Value, port: u64, protocol: &str) -> bool {
    match rule["ports"].as_array() {
        None => true,
        Some(ports) if ports.is_empty() => true,
        Some(ports) => ports.iter().any(|p| {
            p["protocol"].as_str().unwrap_or("TCP") == protocol
                && (p["port"].is_null() || p["port"].as_u64() == Some(port))
        }),
    }
}

/// The port of `HOST:PORT`.
fn addr_port(addr: &str) -> u64 {
    addr.rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("{addr} is not HOST:PORT"))
}

/// The GPUs (or GPU slices) the container's limits give it: `nvidia.com/gpu`,
/// time-sliced `nvidia.com/gpu.shared`, MIG `nvidia.com/mig-<profile>`.
fn gpu_limit(container: &Value) -> f64 {
    container["resources"]["limits"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| {
            name.starts_with("nvidia.com/gpu") || name.starts_with("nvidia.com/mig-")
        })
        .map(|(_, count)| quantity(count))
        .sum()
}

/// A Kubernetes quantity (`2`, `500m`, `2Gi`, `1e3`) as a number.
fn quantity(value: &Value) -> f64 {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("{other} is not a quantity"),
    };
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (suffix, scale) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().unwrap() * scale;
        }
    }
    text.parse()
        .unwrap_or_else(|_| panic!("{text} is not a quantity"))
}

/// The fenced ```yaml blocks of a Markdown text.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match current.as_mut() {
            None if line.trim_start() == "```yaml" => current = Some(String::new()),
            Some(_) if line.trim_start() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

// ---- kubernetes-validate

/// Installs the pinned `kubernetes-validate` into the user site (or the active
/// virtual environment) when another version, or none, is there.
fn kubernetes_validate_installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let lock =
            std::fs::File::create(std::env::temp_dir().join("rserve-test-pip.lock")).unwrap();
        lock.lock().unwrap();
        let version = Command::new("python3")
            .args(["-m", "kubernetes_validate", "--version"])
            .output()
            .expect("python3 is needed to validate the Kubernetes manifests");
        if String::from_utf8_lossy(&version.stdout).trim() == KUBERNETES_VALIDATE {
            return;
        }
        let in_venv = !Command::new("python3")
            .args(["-c", "import sys; sys.exit(sys.prefix != sys.base_prefix)"])
            .status()
            .unwrap()
            .success();
        let package = format!("kubernetes-validate=={KUBERNETES_VALIDATE}");
        let mut pip = Command::new("python3");
        pip.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]);
        if !in_venv {
            pip.arg("--user");
        }
        let installed = pip.arg(&package).status().unwrap();
        assert!(installed.success(), "pip install {package} failed");
    });
}

/// Runs `kubernetes-validate --strict` on a YAML file against every pinned
/// Kubernetes version; returns what it complained about (nothing when valid, and
/// a kind it has no schema for is a complaint too).
fn kubernetes_validate(file: &Path) -> String {
    let mut validate = Command::new("python3");
    validate.args(["-m", "kubernetes_validate", "--strict", "--quiet"]);
    for version in KUBERNETES_VERSIONS {
        validate.args(["-k", version]);
    }
    let out = validate.arg(file).output().unwrap();
    let mut complaints = String::from_utf8_lossy(&out.stdout).into_owned();
    complaints.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() && complaints.trim().is_empty() {
        complaints = format!("kubernetes-validate exited with {}", out.status);
    }
    complaints.trim().to_owned()
}
