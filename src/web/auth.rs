//! Who may see what: the Host and Origin checks (DNS rebinding, cross-site requests), the
//! pairing tokens (random per session, compared in constant time) and the cookie they are
//! exchanged for.
//!
//! - Loopback only (`--web`): whoever opens a page on this computer is the clinician; no
//!   token. Host must be `127.0.0.1:PORT` or `localhost:PORT`.
//! - `--web-lan`: every page and stream needs the cookie of one of two tokens printed on the
//!   terminal: the patient's (URL and QR code) or the clinician's (URL only). Host must be an
//!   IP address (or `localhost`) with the server's port: a DNS name pointing here is refused.
//! - Always: an `Origin`, when the browser sends one, must be this server's own; a request a
//!   browser marks `Sec-Fetch-Site: cross-site` is refused; controls need `Origin`.

use subtle::ConstantTimeEq;

/// Name of the cookie that carries a token.
pub const COOKIE: &str = "knip_token";

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// The patient's pages and stream.
    Patient,
    /// Everything: traces, controls, report files.
    Clinician,
}

/// A fresh random token (128 bits from the OS), as 32 hex digits.
pub fn new_token() -> Result<String, std::io::Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The tokens of a `--web-lan` session.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub patient: String,
    pub clinician: String,
}

impl Tokens {
    pub fn new() -> Result<Self, std::io::Error> {
        Ok(Tokens {
            patient: new_token()?,
            clinician: new_token()?,
        })
    }

    /// The role a presented token gives, compared in constant time (both are compared
    /// whatever the first answer).
    pub fn role_of(&self, presented: &str) -> Option<Role> {
        let p = presented.as_bytes();
        let is_patient = bool::from(p.ct_eq(self.patient.as_bytes()));
        let is_clinician = bool::from(p.ct_eq(self.clinician.as_bytes()));
        match (is_clinician, is_patient) {
            (true, _) => Some(Role::Clinician),
            (_, true) => Some(Role::Patient),
            _ => None,
        }
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Host and port of a `Host` header (`[::1]:8080`, `127.0.0.1:8080`, `localhost:8080`).
fn split_host(host: &str) -> Option<(&str, u16)> {
    let (h, p) = host.rsplit_once(':')?;
    let port = p.parse().ok()?;
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    Some((h, port))
}

/// Is `host` (the `Host` header) this server's? `lan`: any IP address of the machine may be
/// used; otherwise only the loopback names. Never a DNS name other than `localhost`.
pub fn host_ok(host: &str, port: u16, lan: bool) -> bool {
    let Some((h, p)) = split_host(host) else {
        return false;
    };
    if p != port {
        return false;
    }
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match h.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_loopback() => true,
        Ok(ip) => lan && !ip.is_unspecified() && !ip.is_multicast(),
        Err(_) => false,
    }
}

/// Is `origin` (the `Origin` header) this server's own page, reached through `host`?
pub fn origin_ok(origin: &str, host: &str) -> bool {
    origin
        .strip_prefix("http://")
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_checked_against_the_port_and_the_mode() {
        assert!(host_ok("127.0.0.1:8123", 8123, false));
        assert!(host_ok("localhost:8123", 8123, false));
        assert!(host_ok("[::1]:8123", 8123, false));
        assert!(!host_ok("127.0.0.1:8124", 8123, false));
        assert!(!host_ok("evil.example:8123", 8123, false));
        assert!(!host_ok("evil.example:8123", 8123, true));
        assert!(!host_ok("192.168.1.20:8123", 8123, false));
        assert!(host_ok("192.168.1.20:8123", 8123, true));
        assert!(!host_ok("0.0.0.0:8123", 8123, true));
        assert!(!host_ok("127.0.0.1", 8123, false));
    }

    #[test]
    fn origins_must_be_the_page_itself() {
        assert!(origin_ok("http://127.0.0.1:8123", "127.0.0.1:8123"));
        assert!(!origin_ok("http://evil.example", "127.0.0.1:8123"));
        assert!(!origin_ok("https://127.0.0.1:8123", "127.0.0.1:8123"));
        assert!(!origin_ok("null", "127.0.0.1:8123"));
    }

    #[test]
    fn tokens_give_their_role_and_nothing_else() {
        let t = Tokens::new().unwrap();
        assert_ne!(t.patient, t.clinician);
        assert_eq!(t.patient.len(), 32);
        assert_eq!(t.role_of(&t.patient), Some(Role::Patient));
        assert_eq!(t.role_of(&t.clinician), Some(Role::Clinician));
        assert_eq!(t.role_of(""), None);
        assert_eq!(t.role_of(&t.patient[..31]), None);
        assert_eq!(t.role_of(&format!("{}0", t.patient)), None);
        assert_eq!(cookie_value("a=1; knip_token=abc", COOKIE), Some("abc"));
        assert_eq!(cookie_value("a=1", COOKIE), None);
    }
}
