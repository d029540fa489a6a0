//! What a node offers: discovered from the machine, overridable by flags.

use rserve_protocol::wire::NodeResources;

/// Resource overrides from `rserve up` flags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceOverrides {
    /// `--num-cpus`.
    pub num_cpus: Option<f64>,
    /// `--num-gpus`.
    pub num_gpus: Option<f64>,
    /// `--memory` (bytes).
    pub memory: Option<u64>,
}

/// The machine's resources with the overrides applied.
pub fn discover(overrides: &ResourceOverrides) -> NodeResources {
    let (gpus, gpu_memory) = discover_gpus();
    NodeResources {
        num_cpus: overrides.num_cpus.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
        }),
        num_gpus: overrides.num_gpus.unwrap_or(gpus as f64),
        gpu_memory,
        memory: overrides.memory.unwrap_or_else(total_memory),
    }
}

/// `MemTotal` from /proc/meminfo, in bytes (0 if unknown).
fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// NVIDIA GPUs this process can use ([`visible_gpus`]), and the memory of the
/// first from `nvidia-smi` when it is installed (else 0 = unknown).
fn discover_gpus() -> (usize, u64) {
    let host = std::fs::read_dir("/proc/driver/nvidia/gpus").map_or(0, Iterator::count);
    let device_nodes = std::fs::read_dir("/dev").map_or(0, |dir| {
        dir.filter_map(Result::ok)
            .filter(|e| {
                e.file_name().to_str().is_some_and(|name| {
                    name.strip_prefix("nvidia")
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
            })
            .count()
    });
    let count = visible_gpus(
        std::env::var("NVIDIA_VISIBLE_DEVICES").ok().as_deref(),
        host,
        device_nodes,
    );
    if count == 0 {
        return (0, 0);
    }
    let memory = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=memory.total", "--format=csv,noheader,nounits"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next()?.trim().parse::<u64>().ok())
        .map_or(0, |mib| mib * 1024 * 1024);
    (count, memory)
}

/// Of the `host`'s GPUs (the driver's `/proc` lists them all, in a container
/// too), those this process can use. `NVIDIA_VISIBLE_DEVICES`, which the
/// NVIDIA container runtime and Kubernetes' device plugin set per container,
/// names them when it is a list of indexes or UUIDs; `none` means none. When
/// it says nothing countable (`void` or a path, as with CDI or the
/// volume-mounts strategy, which pass the devices themselves, or leave them
/// out), the `/dev/nvidiaN` nodes the process sees count; unset or `all`,
/// those too, or the host's where there are none.
fn visible_gpus(variable: Option<&str>, host: usize, device_nodes: usize) -> usize {
    match variable.map(str::trim) {
        Some("none") => 0,
        // Not in a container, or given every GPU.
        None | Some("all") if device_nodes == 0 => host,
        None | Some("all") => device_nodes.min(host),
        // The devices come some other way (CDI, mounts), or not at all.
        Some("" | "void") => device_nodes.min(host),
        Some(path) if path.starts_with('/') => device_nodes.min(host),
        Some(list) => list
            .split(',')
            .filter(|d| !d.trim().is_empty())
            .count()
            .min(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_counts_only_the_gpus_it_was_given() {
        // A host with 8 GPUs, a container given 2 of them (2 device nodes).
        assert_eq!(visible_gpus(None, 8, 8), 8);
        assert_eq!(visible_gpus(Some("all"), 8, 8), 8);
        assert_eq!(visible_gpus(Some("0,3"), 8, 2), 2);
        assert_eq!(visible_gpus(Some("GPU-1f2e,GPU-77aa,GPU-c0de"), 8, 3), 3);
        assert_eq!(visible_gpus(Some("none"), 8, 0), 0);
        // CDI says `void` and passes the devices themselves; the
        // volume-mounts strategy a path: the device nodes count.
        assert_eq!(visible_gpus(Some("void"), 8, 2), 2);
        assert_eq!(
            visible_gpus(Some("/var/run/nvidia-container-devices"), 8, 1),
            1
        );
        // `void` with no device nodes: the driver's libraries without a GPU.
        assert_eq!(visible_gpus(Some("void"), 8, 0), 0);
        // No device nodes to go by otherwise: the host's.
        assert_eq!(visible_gpus(None, 8, 0), 8);
        // No driver: none, whatever the variable says.
        assert_eq!(visible_gpus(Some("0,1"), 0, 2), 0);
        assert_eq!(visible_gpus(None, 0, 2), 0);
    }

    #[test]
    fn overrides_win_and_discovery_finds_something() {
        let found = discover(&ResourceOverrides::default());
        assert!(found.num_cpus >= 1.0);
        assert!(found.memory > 0, "/proc/meminfo is readable on Linux");
        let set = discover(&ResourceOverrides {
            num_cpus: Some(0.5),
            num_gpus: Some(2.0),
            memory: Some(1024),
        });
        assert_eq!((set.num_cpus, set.num_gpus, set.memory), (0.5, 2.0, 1024));
    }
}
