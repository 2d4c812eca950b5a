//! The fuzzer's way out to its target: one [`Governor`] per endpoint, each
//! allowing the campaign's `--jobs`, so that sessions, liveness probes and the
//! restart probes all go through the same connection budget as the checks do.
//!
//! Endpoints are looked up by host and port, not fixed at the start: a container
//! replaced after a crash (or a fresh embedded server) comes back on new ports,
//! and its endpoints get budgets of their own then; the old ones stay, idle, one
//! small entry per endpoint and restart. The fuzzer only observes, so it connects with
//! [`Governor::connect_once`]: the cap holds, but refusals and closes reach the
//! oracles as they are.

use crate::session::Governor;
use crate::target::Endpoint;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The connection budgets of a fuzzing run, by endpoint.
#[derive(Debug)]
pub struct Governors {
    jobs: usize,
    governors: Mutex<HashMap<(String, u16), Arc<Governor>>>,
}

impl Governors {
    /// Governors of at most `jobs` (at least one) connections per endpoint.
    pub fn new(jobs: usize) -> Governors {
        Governors {
            jobs,
            governors: Mutex::new(HashMap::new()),
        }
    }

    /// The governor of `endpoint`, created on first use.
    pub fn governor(&self, endpoint: &Endpoint) -> Arc<Governor> {
        // A plain map of Arcs stays consistent across a panic.
        let mut governors = self.governors.lock().unwrap_or_else(|p| p.into_inner());
        governors
            .entry((endpoint.host.clone(), endpoint.port))
            .or_insert_with(|| Governor::new(self.jobs))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Scheme;

    fn endpoint(port: u16) -> Endpoint {
        Endpoint {
            scheme: Scheme::Smtp,
            host: "127.0.0.1".into(),
            port,
            credentials: None,
        }
    }

    #[test]
    fn one_governor_per_endpoint() {
        let governors = Governors::new(3);
        let a = governors.governor(&endpoint(25));
        assert!(Arc::ptr_eq(&a, &governors.governor(&endpoint(25))));
        assert!(!Arc::ptr_eq(&a, &governors.governor(&endpoint(26))));
        assert_eq!(a.jobs(), 3);
    }
}
