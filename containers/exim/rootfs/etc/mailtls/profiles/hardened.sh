# hardened: what a careful admin sets. TLS 1.2 and later with forward-secret
# AEAD suites only (GnuTLS priority string; no static RSA key exchange), the
# server's order; AUTH only inside TLS (Debian's example authenticators already);
# MAIL refused before STARTTLS on submission (587). Smuggling: Exim 4.96 has no
# switch; Debian's 4.96-15+deb12u4 carries 4.97.1's fix (CVE-2023-51766), always on.
cat > /etc/exim4/mailtls-profile.conf <<'CONF'
# hardened
tls_require_ciphers = NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:%SERVER_PRECEDENCE
MAIN_ACL_CHECK_MAIL = /etc/exim4/mailtls-acl-mail
CONF
# The MAIL ACL (a file, named through Debian's MAIN_ACL_CHECK_MAIL hook): TLS
# first on submission, then what Debian's acl_check_mail does (accept).
cat > /etc/exim4/mailtls-acl-mail <<'CONF'
deny    condition = ${if eq{$received_port}{587}}
        !encrypted = *
        message = STARTTLS is required on submission
accept
CONF
