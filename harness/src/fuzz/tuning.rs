//! What the fuzzer changes in a container before a campaign, per server, and why.
//! Only policies that slow a single client down are touched, never a parser or a
//! protocol setting: a fuzzer is one very busy client on one address, and a
//! server's brute-force protection would otherwise turn most of its sessions
//! into waits (and its test user's correct logins into 15-second penalties), so
//! the logged-in states would never be reached.
//!
//! The changes are made with `docker exec` in the running container (the image
//! stays as built) and the server is told to reload.

/// The shell script run in a fresh `NAME` container before fuzzing, if any.
pub fn script(name: &str) -> Option<&'static str> {
    match name {
        // Dovecot delays every failed authentication by 2 s, and anvil's penalty
        // doubles that per address up to 15 s (for correct logins too); PAM's
        // pam_unix sleeps about 2 s more on each failure; and Dovecot allows 10
        // logged-in sessions per user and address. Its passdb is PAM, whose
        // yescrypt hashing costs tens of milliseconds of CPU per attempt: the auth
        // cache (positive and negative) answers repeated user/password pairs —
        // the fuzzer's dictionary repeats them — without hashing again.
        "dovecot" => Some(concat!(
            "sed -i 's/pam_unix\\.so\\( nodelay\\)*/pam_unix.so nodelay/' /etc/pam.d/common-auth\n",
            "cat > /etc/dovecot/conf.d/99-mailtls-fuzz.conf <<'CONF'\n",
            "# mailtls fuzz: no auth delays, no per-address session cap\n",
            "auth_failure_delay = 0\n",
            "mail_max_userip_connections = 1000\n",
            "auth_cache_size = 10M\n",
            "auth_cache_ttl = 1 hour\n",
            "auth_cache_negative_ttl = 1 hour\n",
            "service anvil {\n",
            "  unix_listener anvil-auth-penalty {\n",
            "    mode = 0\n",
            "  }\n",
            "}\n",
            "CONF\n",
            "doveadm reload\n",
        )),
        _ => None,
    }
}
