//! The routes the controller publishes: this node's route table (every
//! application's prefix, OpenAI models, and every deployment for handles),
//! and, on the head, the cluster route table members serve.

use rserve_protocol::wire::{AppRoute, DeploymentRoute};

use super::State;
use crate::cluster::fleet::Fleet;
use crate::router::{RouteTable, RouteTableBuilder};

/// This node's route table of the applications not being deleted.
pub(super) fn route_table(state: &State) -> RouteTableBuilder {
    let mut table = RouteTable::builder();
    for app in state.apps.values().filter(|a| !a.deleting) {
        let name = &app.config.name;
        let ingress = &app.deployments[&app.config.ingress_deployment().name];
        table.app(name, &app.config.route_prefix, &ingress.router);
        for dep in &app.config.deployments {
            let router = &app.deployments[&dep.name].router;
            table
                .model(name, dep, router)
                .deployment(name, &dep.name, router);
        }
    }
    table
}

/// The cluster route table's applications: each route with its ingress
/// deployment, the application's other deployments (what handles call), and
/// where each one's running replicas are.
pub(super) fn cluster_routes(state: &State, fleet: &Fleet) -> Vec<AppRoute> {
    state
        .apps
        .values()
        .filter(|a| !a.deleting)
        .map(|a| {
            let ingress = a.config.ingress_deployment();
            AppRoute {
                app: a.config.name.clone(),
                route_prefix: a.config.route_prefix.clone(),
                deployment: Box::new(ingress.clone()),
                replicas: a.deployments[&ingress.name].locations(&fleet.head),
                others: a
                    .config
                    .deployments
                    .iter()
                    .filter(|d| d.name != ingress.name)
                    .map(|d| DeploymentRoute {
                        deployment: Box::new(d.clone()),
                        replicas: a.deployments[&d.name].locations(&fleet.head),
                    })
                    .collect(),
            }
        })
        .collect()
}
