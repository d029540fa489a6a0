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

/// NVIDIA GPUs from `/proc/driver/nvidia/gpus` (no driver: none), and the memory
/// of the first from `nvidia-smi` when it is installed (else 0 = unknown).
fn discover_gpus() -> (usize, u64) {
    let count = std::fs::read_dir("/proc/driver/nvidia/gpus").map_or(0, Iterator::count);
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

#[cfg(test)]
mod tests {
    use super::*;

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
