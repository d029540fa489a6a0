//! What a head checks of a node's advert before it trusts it.

use super::NodeAdvert;

/// Most CPUs or GPUs a node may offer (a sanity bound, not a limit of rserve).
pub const MAX_NODE_UNITS: f64 = 1_000_000.0;

impl NodeAdvert {
    /// What a head checks of a joining or heartbeating node's advert: a
    /// plain node id, finite non-negative resources, bounded labels.
    ///
    /// # Errors
    /// The first problem, naming the field.
    pub fn check(&self) -> Result<(), String> {
        crate::config::check_plain_name(&self.node_id).map_err(|e| format!("node_id {e}"))?;
        for (name, value) in [
            ("num_cpus", self.resources.num_cpus),
            ("num_gpus", self.resources.num_gpus),
        ] {
            if !(0.0..=MAX_NODE_UNITS).contains(&value) {
                return Err(format!(
                    "resources.{name} is {value}: it must be a number from 0 to {MAX_NODE_UNITS}"
                ));
            }
        }
        if self.labels.len() > 64 {
            return Err(format!("{} labels: at most 64", self.labels.len()));
        }
        if let Some((k, _)) = self
            .labels
            .iter()
            .find(|(k, v)| k.is_empty() || k.len() > 253 || v.len() > 253)
        {
            return Err(format!(
                "label `{k}`: keys of 1 to 253 bytes, values of at most 253"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::NodeResources;

    fn advert() -> NodeAdvert {
        NodeAdvert {
            node_id: "node-1".into(),
            http_address: "127.0.0.1:8000".into(),
            control_address: "127.0.0.1:8265".into(),
            resources: NodeResources {
                num_cpus: 2.0,
                num_gpus: 0.5,
                gpu_memory: 0,
                memory: 1 << 30,
            },
            labels: [("zone".to_owned(), "a".to_owned())].into(),
            software_version: "0.1.0".into(),
        }
    }

    #[test]
    fn adverts_with_impossible_resources_or_names_are_refused() {
        advert().check().unwrap();
        for (cpus, gpus) in [
            (f64::NAN, 0.0),
            (-1.0, 0.0),
            (2.0, f64::INFINITY),
            (2e9, 0.0),
        ] {
            let mut a = advert();
            a.resources.num_cpus = cpus;
            a.resources.num_gpus = gpus;
            let err = a.check().unwrap_err();
            assert!(
                err.contains("must be a number from 0 to"),
                "{cpus} {gpus}: {err}"
            );
        }
        let mut a = advert();
        a.node_id = "../../etc".into();
        assert!(a.check().unwrap_err().starts_with("node_id"));
        let mut a = advert();
        a.labels = (0..65).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(a.check().unwrap_err().contains("at most 64"));
    }
}
