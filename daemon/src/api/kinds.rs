//! The kinds a node serves beyond the built-in ones: user [`Deployment`]s by
//! name, type-erased so a replica can hold any of them, and the deploy-time
//! check that every kind in a file is known and every `user_config` fits its
//! kind's type (with the key path where it does not).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rserve_protocol::config::{AppFile, BUILTIN_KINDS, ConfigError, ConfigIssue, ReplicaKind};
use serde::de::DeserializeOwned;

use super::{Context, Deployment, Error, Request, Response};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A running user deployment, its type erased.
pub(crate) trait Running: Send + Sync {
    fn call(&self, req: Request) -> BoxFuture<'_, Result<Response, Error>>;
    fn reconfigure(&self, config: Option<serde_json::Value>) -> BoxFuture<'_, Result<(), Error>>;
    fn check_health(&self) -> BoxFuture<'_, Result<(), Error>>;
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}

impl<D: Deployment> Running for D {
    fn call(&self, req: Request) -> BoxFuture<'_, Result<Response, Error>> {
        Box::pin(Deployment::call(self, req))
    }

    fn reconfigure(&self, config: Option<serde_json::Value>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            let config = decode::<D::Config>(config.as_ref())?;
            Deployment::reconfigure(self, config).await
        })
    }

    fn check_health(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(Deployment::check_health(self))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(Deployment::shutdown(self))
    }
}

/// Starts a replica of a kind from its `user_config`.
type StartFn =
    fn(Option<serde_json::Value>, Context) -> BoxFuture<'static, Result<Arc<dyn Running>, Error>>;

/// How to check a kind's `user_config` and start a replica of it.
#[derive(Clone, Copy)]
struct Kind {
    check: fn(Option<&serde_json::Value>) -> Result<(), String>,
    start: StartFn,
}

fn check<D: Deployment>(config: Option<&serde_json::Value>) -> Result<(), String> {
    decode::<D::Config>(config).map(drop)
}

fn start<D: Deployment>(
    config: Option<serde_json::Value>,
    cx: Context,
) -> BoxFuture<'static, Result<Arc<dyn Running>, Error>> {
    Box::pin(async move {
        let config = decode::<D::Config>(config.as_ref())?;
        let running: Arc<dyn Running> = Arc::new(D::new(config, cx).await?);
        Ok(running)
    })
}

/// `user_config` as `T`: an absent one is `{}` (or `null`, for a `T` that
/// takes no config). The error names the key path, `user_config.top_k: ...`.
pub(crate) fn decode<T: DeserializeOwned>(config: Option<&serde_json::Value>) -> Result<T, String> {
    let attempt = |value: &serde_json::Value| {
        serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
            let path = e.path().to_string();
            let at = if path == "." {
                "user_config".to_owned()
            } else {
                format!("user_config.{path}")
            };
            format!("{at}: {}", e.inner())
        })
    };
    match config {
        Some(value) => attempt(value),
        None => attempt(&serde_json::json!({}))
            .or_else(|e| attempt(&serde_json::Value::Null).map_err(|_| e)),
    }
}

/// The user kinds a node serves, by name (the built-in kinds are always served).
#[derive(Clone, Default)]
pub struct Kinds {
    by_name: BTreeMap<String, Kind>,
}

impl std::fmt::Debug for Kinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.by_name.keys()).finish()
    }
}

impl Kinds {
    /// Only the built-in kinds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `D` as kind `name` (what `replica = { kind = "..." }` names).
    ///
    /// # Errors
    /// When `name` is a built-in kind's, already registered, or not a plain name.
    pub fn register<D: Deployment>(&mut self, name: &str) -> Result<(), String> {
        if BUILTIN_KINDS.contains(&name) {
            return Err(format!(
                "kind `{name}` is built into rserve; register yours under another name"
            ));
        }
        if self.by_name.contains_key(name) {
            return Err(format!("kind `{name}` is registered twice"));
        }
        rserve_protocol::config::check_plain_name(name).map_err(|e| format!("kind {e}"))?;
        self.by_name.insert(
            name.to_owned(),
            Kind {
                check: check::<D>,
                start: start::<D>,
            },
        );
        Ok(())
    }

    /// Every kind served, built-in first.
    pub fn names(&self) -> Vec<&str> {
        BUILTIN_KINDS
            .iter()
            .copied()
            .chain(self.by_name.keys().map(String::as_str))
            .collect()
    }

    /// Checks what only this node can: every user kind in `file` is
    /// registered here and every `user_config` fits its kind's type.
    ///
    /// # Errors
    /// Every problem, each at its key path.
    pub fn check(&self, file_name: &str, file: &AppFile) -> Result<(), ConfigError> {
        let mut issues = Vec::new();
        for (a, app) in file.applications.iter().enumerate() {
            for (d, dep) in app.deployments.iter().enumerate() {
                let ReplicaKind::Custom(custom) = &dep.replica else {
                    continue;
                };
                let at = format!("applications[{a}].deployments[{d}]");
                match self.by_name.get(&custom.kind) {
                    None => issues.push(ConfigIssue {
                        path: format!("{at}.replica.kind"),
                        reason: format!(
                            "unknown kind `{}`; this rserve serves: {} (user kinds are registered in your own build: docs/custom-deployments.md)",
                            custom.kind,
                            self.names().join(", ")
                        ),
                    }),
                    Some(kind) => {
                        if let Err(reason) = (kind.check)(dep.user_config.as_ref()) {
                            issues.push(ConfigIssue {
                                path: at,
                                reason: format!("{reason} (for kind `{}`)", custom.kind),
                            });
                        }
                    }
                }
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                file: file_name.to_owned(),
                issues,
            })
        }
    }

    /// Starts a replica of user kind `name`.
    pub(crate) async fn start(
        &self,
        name: &str,
        config: Option<serde_json::Value>,
        cx: Context,
    ) -> Result<Arc<dyn Running>, Error> {
        let Some(kind) = self.by_name.get(name) else {
            return Err(format!(
                "this node does not serve kind `{name}` (it serves: {}); run the same rserve build on every node",
                self.names().join(", ")
            )
            .into());
        };
        (kind.start)(config, cx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Greeter;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct GreeterConfig {
        #[serde(default)]
        repeat: u32,
    }

    impl Deployment for Greeter {
        type Config = GreeterConfig;
        async fn new(_: GreeterConfig, _: Context) -> Result<Self, Error> {
            Ok(Self)
        }
        async fn call(&self, _: Request) -> Result<Response, Error> {
            Ok(Response::text("hi"))
        }
    }

    struct NoConfig;

    impl Deployment for NoConfig {
        type Config = ();
        async fn new(_: (), _: Context) -> Result<Self, Error> {
            Ok(Self)
        }
        async fn call(&self, _: Request) -> Result<Response, Error> {
            Ok(Response::text("hi"))
        }
    }

    fn file(extra: &str) -> AppFile {
        AppFile::parse(
            "app.toml",
            &format!(
                "[[applications]]\nname = \"a\"\n[[applications.deployments]]\nname = \"d\"\n\
                 replica = {{ kind = \"greeter\" }}\n{extra}\n"
            ),
        )
        .unwrap()
    }

    fn kinds() -> Kinds {
        let mut kinds = Kinds::new();
        kinds.register::<Greeter>("greeter").unwrap();
        kinds.register::<NoConfig>("plain").unwrap();
        kinds
    }

    #[test]
    fn registration_refuses_builtin_duplicate_and_odd_names() {
        let mut kinds = kinds();
        assert!(
            kinds
                .register::<Greeter>("echo")
                .unwrap_err()
                .contains("built into")
        );
        assert!(
            kinds
                .register::<Greeter>("greeter")
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            kinds
                .register::<Greeter>("no spaces")
                .unwrap_err()
                .contains("letters")
        );
        assert_eq!(
            kinds.names(),
            [
                "echo",
                "sleep",
                "digits",
                "embeddings",
                "chat",
                "greeter",
                "plain"
            ]
        );
    }

    #[test]
    fn unknown_kinds_are_refused_with_the_path_and_what_is_served() {
        let err = Kinds::new()
            .check("app.toml", &file(""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("applications[0].deployments[0].replica.kind: unknown kind `greeter`"),
            "{err}"
        );
        assert!(err.contains("this rserve serves: echo, sleep"), "{err}");
        kinds().check("app.toml", &file("")).unwrap();
    }

    #[test]
    fn a_user_config_of_the_wrong_type_names_its_key() {
        let err = kinds()
            .check("app.toml", &file("user_config = { repeat = \"twice\" }"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "applications[0].deployments[0]: user_config.repeat: invalid type: string \"twice\""
            ),
            "{err}"
        );
        let err = kinds()
            .check("app.toml", &file("user_config = { colour = 1 }"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
        kinds()
            .check("app.toml", &file("user_config = { repeat = 2 }"))
            .unwrap();
    }

    #[test]
    fn an_absent_user_config_is_empty_or_null() {
        assert_eq!(decode::<GreeterConfig>(None).unwrap().repeat, 0);
        decode::<()>(None).unwrap();
        assert!(
            decode::<u32>(None)
                .unwrap_err()
                .starts_with("user_config: invalid type")
        );
    }
}
