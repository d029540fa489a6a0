//! `rserve nodes`: one row per cluster node, or `node/ID` lines.

use rserve_protocol::wire::NodeStatus;

use super::{Table, View, cert_expiry, enum_name, list_or_dash};

/// One row per node, in the order the head lists them (the head first);
/// certificate expiry as seen at `now_s`.
pub fn table(nodes: &[NodeStatus], view: View, now_s: f64) -> String {
    let mut header = vec![
        "NODE",
        "STATE",
        "ROLE",
        "HTTP",
        "CONTROL",
        "CPUS",
        "GPUS",
        "MEMORY",
        "LABELS",
        "REPLICAS",
        "LAST HEARTBEAT",
        "CERT EXPIRES",
    ];
    if view.wide {
        header.extend(["GPU MEMORY", "VERSION", "REPLICA IDS"]);
    }
    let mut table = Table::new(header);
    for n in nodes {
        let r = &n.advert.resources;
        let labels: Vec<String> = n
            .advert
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut row = vec![
            n.advert.node_id.clone(),
            enum_name(&n.state),
            if n.head { "head" } else { "member" }.to_owned(),
            n.advert.http_address.clone(),
            n.advert.control_address.clone(),
            format!("{}", r.num_cpus),
            format!("{}", r.num_gpus),
            gibibytes(r.memory),
            list_or_dash(&labels),
            n.replicas.len().to_string(),
            if n.head {
                "-".to_owned()
            } else {
                format!("{:.1}s ago", n.last_heartbeat_s)
            },
            cert_expiry(n.cert_expires_at_s, now_s),
        ];
        if view.wide {
            row.extend([
                // 0 means the driver did not say.
                if r.gpu_memory == 0 {
                    "-".to_owned()
                } else {
                    gibibytes(r.gpu_memory)
                },
                n.advert.software_version.clone(),
                list_or_dash(&n.replicas),
            ]);
        }
        table.row(row);
    }
    table.render(view.headers)
}

/// `node/ID`, one per line (kubectl's `-o name`).
pub fn names(nodes: &[NodeStatus]) -> String {
    nodes
        .iter()
        .map(|n| format!("node/{}\n", n.advert.node_id))
        .collect()
}

fn gibibytes(bytes: u64) -> String {
    format!("{:.1}Gi", bytes as f64 / (1u64 << 30) as f64)
}
