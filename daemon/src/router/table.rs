//! The route table: route prefix → application → its ingress deployment's
//! router, and OpenAI model name → deployment. An immutable snapshot swapped
//! atomically ([`Routes`]) by whoever owns the routes (the controller on the
//! head, the member agent on a member); the ingress reads it without a lock.
//! One builder assembles it for both.

use std::collections::BTreeSet;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rserve_protocol::config::DeploymentConfig;

use super::DeploymentRouter;
use crate::observe::DeploymentSnapshot;

/// One application's entry in the route table.
#[derive(Debug, Clone)]
pub struct Route {
    /// The route prefix.
    pub prefix: String,
    /// The application.
    pub app: String,
    /// The application's ingress deployment.
    pub router: Arc<DeploymentRouter>,
}

/// A deployment that serves the OpenAI API under a model name.
#[derive(Debug, Clone)]
pub struct ModelRoute {
    /// The OpenAI `model` name.
    pub model: String,
    /// The application.
    pub app: String,
    /// The replica kind (`embeddings`, ...), to check the endpoint fits.
    pub kind: String,
    /// The deployment's router.
    pub router: Arc<DeploymentRouter>,
}

/// An immutable snapshot of every route on the node.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// Bumped on every change.
    pub version: u64,
    /// Longest prefix first.
    routes: Vec<Route>,
    /// Sorted by model name.
    models: Vec<ModelRoute>,
    /// Every deployment's router by `(app, deployment)`, sorted: what
    /// deployment handles call through.
    deployments: Vec<((String, String), Arc<DeploymentRouter>)>,
}

impl RouteTable {
    /// A builder of a table.
    pub fn builder() -> RouteTableBuilder {
        RouteTableBuilder::default()
    }

    /// A table of `routes` (any order) and OpenAI `models`.
    pub fn new(version: u64, routes: Vec<Route>, models: Vec<ModelRoute>) -> Self {
        Self::with_deployments(version, routes, models, Vec::new())
    }

    /// [`RouteTable::new`] with every deployment's router, for handles.
    fn with_deployments(
        version: u64,
        mut routes: Vec<Route>,
        mut models: Vec<ModelRoute>,
        mut deployments: Vec<((String, String), Arc<DeploymentRouter>)>,
    ) -> Self {
        deployments.sort_by(|a, b| a.0.cmp(&b.0));
        deployments.dedup_by(|a, b| a.0 == b.0);
        routes.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then(a.prefix.cmp(&b.prefix))
        });
        models.sort_by(|a, b| a.model.cmp(&b.model));
        Self {
            version,
            routes,
            models,
            deployments,
        }
    }

    /// Deployment `deployment` of application `app`, by any route or none
    /// (a deployment only other deployments call).
    pub fn deployment(&self, app: &str, deployment: &str) -> Option<&Arc<DeploymentRouter>> {
        self.deployments
            .binary_search_by(|((a, d), _)| (a.as_str(), d.as_str()).cmp(&(app, deployment)))
            .ok()
            .map(|i| &self.deployments[i].1)
    }

    /// Every served OpenAI model, by name.
    pub fn models(&self) -> &[ModelRoute] {
        &self.models
    }

    /// The deployment serving OpenAI model `id`.
    pub fn model(&self, id: &str) -> Option<&ModelRoute> {
        self.models
            .binary_search_by(|m| m.model.as_str().cmp(id))
            .ok()
            .map(|i| &self.models[i])
    }

    /// The longest prefix that matches `path` on a segment boundary.
    pub fn lookup(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| prefix_matches(&r.prefix, path))
    }

    /// Every route, longest prefix first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The live figures of every deployment in the table (each once, by
    /// name): what metrics render, and what status and streams can show.
    pub fn snapshot(&self) -> Vec<DeploymentSnapshot> {
        let mut seen = BTreeSet::new();
        self.routes
            .iter()
            .map(|r| &r.router)
            .chain(self.models.iter().map(|m| &m.router))
            .chain(self.deployments.iter().map(|(_, router)| router))
            .filter(|router| seen.insert(router.name()))
            .map(|router| router.snapshot())
            .collect()
    }
}

/// Assembles a [`RouteTable`].
#[derive(Debug, Default)]
pub struct RouteTableBuilder {
    routes: Vec<Route>,
    models: Vec<ModelRoute>,
    deployments: Vec<((String, String), Arc<DeploymentRouter>)>,
}

impl RouteTableBuilder {
    /// Serves application `app` at `prefix` through its ingress deployment's
    /// `router`.
    pub fn app(&mut self, app: &str, prefix: &str, router: &Arc<DeploymentRouter>) -> &mut Self {
        self.routes.push(Route {
            prefix: prefix.to_owned(),
            app: app.to_owned(),
            router: router.clone(),
        });
        self
    }

    /// Makes deployment `deployment` of `app` callable through handles.
    pub fn deployment(
        &mut self,
        app: &str,
        deployment: &str,
        router: &Arc<DeploymentRouter>,
    ) -> &mut Self {
        self.deployments
            .push(((app.to_owned(), deployment.to_owned()), router.clone()));
        self
    }

    /// Serves deployment `config`'s OpenAI model (if its kind has one) of
    /// application `app` through `router`.
    pub fn model(
        &mut self,
        app: &str,
        config: &DeploymentConfig,
        router: &Arc<DeploymentRouter>,
    ) -> &mut Self {
        if let Some(model) = config.replica.openai_model(&config.name) {
            self.models.push(ModelRoute {
                model: model.to_owned(),
                app: app.to_owned(),
                kind: config.replica.name().to_owned(),
                router: router.clone(),
            });
        }
        self
    }

    /// The table, at `version`.
    pub fn build(self, version: u64) -> RouteTable {
        RouteTable::with_deployments(version, self.routes, self.models, self.deployments)
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The node's current route table, swapped atomically by the controller.
pub type Routes = ArcSwap<RouteTable>;

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str) -> Route {
        Route {
            prefix: prefix.into(),
            app: prefix.into(),
            router: Arc::new(DeploymentRouter::new(prefix.into(), -1)),
        }
    }

    #[test]
    fn longest_prefix_on_segment_boundaries() {
        let table = RouteTable::new(
            1,
            vec![route("/"), route("/a"), route("/a/b"), route("/ab")],
            vec![],
        );
        let app = |p: &str| table.lookup(p).map(|r| r.app.as_str());
        assert_eq!(app("/a/b/c"), Some("/a/b"));
        assert_eq!(app("/a/bc"), Some("/a"));
        assert_eq!(app("/a"), Some("/a"));
        assert_eq!(app("/abc"), Some("/"));
        assert_eq!(app("/ab/x"), Some("/ab"));
        assert_eq!(app("/zzz"), Some("/"));
        let no_root = RouteTable::new(2, vec![route("/a")], vec![]);
        assert!(no_root.lookup("/b").is_none());
    }
}
