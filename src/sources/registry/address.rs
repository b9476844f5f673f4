//! Which registries are spoken to in plain HTTP: loopback ones (as docker allows) and
//! every one with `--insecure-registry`.

use std::net::IpAddr;

/// The host part of `host[:port]`, `[v6]:port` or a bare IPv6 address.
pub fn host_part(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    if authority.matches(':').count() > 1 {
        return authority; // a bare IPv6 address
    }
    authority.split(':').next().unwrap_or(authority)
}

/// `localhost`, 127.0.0.0/8 and ::1, with or without a port.
pub fn is_loopback(authority: &str) -> bool {
    let host = host_part(authority);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub fn scheme_for(authority: &str, insecure: bool) -> &'static str {
    if insecure || is_loopback(authority) {
        "http"
    } else {
        "https"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_speak_http() {
        for a in [
            "127.0.0.1:5000",
            "127.8.9.10",
            "localhost:5000",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(a), "{a}");
            assert_eq!(scheme_for(a, false), "http");
        }
        for a in [
            "registry.example.com",
            "10.0.0.1:5000",
            "ghcr.io",
            "[2001:db8::1]:443",
        ] {
            assert!(!is_loopback(a), "{a}");
            assert_eq!(scheme_for(a, false), "https");
            assert_eq!(scheme_for(a, true), "http");
        }
        assert_eq!(host_part("[::1]:5000"), "::1");
    }
}
