//! `rserve diff` and `deploy --dry-run`: what a deploy would change, per
//! application and deployment, kubectl/terraform style (`+` created, `~` in
//! place, `-/+` replaced, `-` removed, `=` unchanged).

use rserve_protocol::wire::{AppPlan, Change, DeploymentAction};

/// Whether deploying would change anything.
pub fn changes_anything(plan: &[AppPlan]) -> bool {
    plan.iter().any(|a| a.change != Change::Unchanged)
}

/// One line per application, then one per deployment with the keys that
/// changed, then a summary.
pub fn table(plan: &[AppPlan]) -> String {
    let mut out = String::new();
    let (mut create, mut update, mut replace, mut remove, mut same) = (0, 0, 0, 0, 0);
    for app in plan {
        let (mark, verb) = match app.change {
            Change::Created => ("+", "created"),
            Change::Updated => ("~", "updated"),
            Change::Unchanged => ("=", "unchanged"),
        };
        out += &format!("{mark} application/{} {verb}", app.app);
        if !app.keys.is_empty() {
            out += &format!(" (in place: {})", app.keys.join(", "));
        }
        out += "\n";
        for dep in &app.deployments {
            let (mark, what) = match dep.action {
                DeploymentAction::Created => {
                    create += 1;
                    ("+", "created".to_owned())
                }
                DeploymentAction::Updated => {
                    update += 1;
                    (
                        "~",
                        format!("updated in place: {}", dep.in_place.join(", ")),
                    )
                }
                DeploymentAction::Replaced => {
                    replace += 1;
                    let mut what = String::from("replicas replaced");
                    if !dep.replacing.is_empty() {
                        what += &format!(" by: {}", dep.replacing.join(", "));
                    }
                    if !dep.reason.is_empty() {
                        what += &format!(" ({})", dep.reason);
                    }
                    if !dep.in_place.is_empty() {
                        what += &format!("; also: {}", dep.in_place.join(", "));
                    }
                    ("-/+", what)
                }
                DeploymentAction::Removed => {
                    remove += 1;
                    ("-", "removed (its replicas drain)".to_owned())
                }
                DeploymentAction::Unchanged => {
                    same += 1;
                    ("=", "unchanged".to_owned())
                }
            };
            out += &format!(
                "  {mark} deployment/{}/{} {what}\n",
                app.app, dep.deployment
            );
        }
    }
    out += &format!(
        "Deployments: {create} to create, {update} to update in place, {replace} to replace, \
         {remove} to remove, {same} unchanged. Applications not in the file are left alone.\n"
    );
    out
}
