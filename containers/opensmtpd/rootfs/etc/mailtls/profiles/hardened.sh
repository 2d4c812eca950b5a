# hardened: what a careful admin sets on every TLS listener (smtpd.conf(5)
# `listen on` options): TLS 1.2 and 1.3 only, forward-secret AEAD suites only.
# AUTH is offered only inside TLS and submission requires TLS in every profile
# (OpenSMTPD's own behaviour and tls-require). OpenSMTPD has no setting for
# smuggling protection.
cat > /etc/mailtls/smtpd-profile.conf <<'CONF'
# hardened
tls_options = "protocols \"tlsv1.2,tlsv1.3\" ciphers \"ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL\""
CONF
