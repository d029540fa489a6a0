//! Where a member finds its head: an address as the operator wrote it
//! (`10.0.0.5:7000`, or a DNS name such as Kubernetes' stable
//! `rserve-head-0.rserve-head:7000`), and the socket address it last resolved
//! to. A name is looked up again at every reconnection, so a head that comes
//! back with a new IP (a rescheduled pod) is found again.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// `HOST:PORT`, with HOST an IP address or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HeadName {
    host: String,
    port: u16,
}

impl HeadName {
    /// Parses `HOST:PORT` (`[v6]:PORT` for an IPv6 address).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Self::from(addr));
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(format!("`{text}` is not HOST:PORT"));
        };
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("`{port}` in `{text}` is not a port (1-65535)"))?;
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let name = host.strip_suffix('.').unwrap_or(host);
        if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
            return Err(format!(
                "`{host}` in `{text}` is neither an IP address nor a DNS name"
            ));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The address, looked up if it is a name: its first IPv4 answer, else
    /// its first (a dual-stack name such as `localhost` may list `::1`
    /// first while the head listens on IPv4 only).
    pub async fn resolve(&self) -> std::io::Result<SocketAddr> {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let found: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await?
            .collect();
        found
            .iter()
            .find(|a| a.is_ipv4())
            .or(found.first())
            .copied()
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{} has no address", self.host),
                )
            })
    }
}

impl From<SocketAddr> for HeadName {
    fn from(addr: SocketAddr) -> Self {
        Self {
            host: match addr.ip() {
                std::net::IpAddr::V4(ip) => ip.to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            },
            port: addr.port(),
        }
    }
}

impl TryFrom<String> for HeadName {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<HeadName> for String {
    fn from(name: HeadName) -> Self {
        name.to_string()
    }
}

impl fmt::Display for HeadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl std::str::FromStr for HeadName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

/// A member's head: its name and the address it resolved to last.
#[derive(Debug)]
pub struct HeadAddress {
    name: HeadName,
    current: Mutex<SocketAddr>,
}

impl HeadAddress {
    /// The head at `name`, found at `resolved`.
    pub fn new(name: HeadName, resolved: SocketAddr) -> Self {
        Self {
            name,
            current: Mutex::new(resolved),
        }
    }

    /// The address as configured.
    pub fn name(&self) -> &HeadName {
        &self.name
    }

    /// The address it resolved to last.
    pub fn current(&self) -> SocketAddr {
        *self.current.lock().unwrap()
    }

    /// Looks the name up again; on failure the last address stays (and is
    /// returned), so a DNS hiccup does not cut a working link.
    pub async fn refresh(&self) -> SocketAddr {
        match self.name.resolve().await {
            Ok(addr) => {
                let mut current = self.current.lock().unwrap();
                if *current != addr {
                    tracing::info!(head = %self.name, old = %*current, new = %addr, "The cluster head's address changed.");
                    *current = addr;
                }
                addr
            }
            Err(e) => {
                let current = self.current();
                tracing::debug!(head = %self.name, error = %e, "Cannot resolve the cluster head's name; keeping {current}.");
                current
            }
        }
    }
}

impl fmt::Display for HeadAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current();
        if self.name == HeadName::from(current) {
            write!(f, "{current}")
        } else {
            write!(f, "{} ({current})", self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_parse_and_print_back() {
        for text in [
            "10.0.0.5:7000",
            "[::1]:7000",
            "rserve-head-0.rserve-head:7000",
            "rserve-head-0.rserve-head.ns.svc.cluster.local:7000",
            "localhost:1",
        ] {
            assert_eq!(HeadName::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        for (text, says) in [
            ("rserve-head", "not HOST:PORT"),
            ("rserve-head:0", "not a port"),
            ("rserve-head:70000", "not a port"),
            ("rserve head:7000", "neither an IP address nor a DNS name"),
            ("-bad.example:7000", "neither"),
            (":7000", "neither"),
        ] {
            let e = HeadName::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_cluster_file_address_reads_as_before() {
        // cluster.json stored a SocketAddr as a string: the same text parses.
        let name: HeadName = serde_json::from_str("\"127.0.0.1:18301\"").unwrap();
        assert_eq!(
            name,
            HeadName::from("127.0.0.1:18301".parse::<SocketAddr>().unwrap())
        );
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"127.0.0.1:18301\"");
        assert!(serde_json::from_str::<HeadName>("\"nope\"").is_err());
    }

    #[tokio::test]
    async fn a_name_resolves_and_an_ip_needs_no_lookup() {
        let ip = HeadName::parse("127.0.0.2:9").unwrap();
        assert_eq!(ip.resolve().await.unwrap(), "127.0.0.2:9".parse().unwrap());
        let v6 = HeadName::parse("[::1]:9").unwrap();
        assert_eq!(v6.resolve().await.unwrap(), "[::1]:9".parse().unwrap());
        let name = HeadName::parse("localhost:9").unwrap();
        assert_eq!(
            name.resolve().await.unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        let head = HeadAddress::new(name, "10.9.9.9:9".parse().unwrap());
        assert!(head.refresh().await.ip().is_loopback());
        assert!(head.current().ip().is_loopback());
    }
}
