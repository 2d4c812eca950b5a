# hardened: what a careful admin sets. Forward-secret AEAD suites only
# (`smtp ciphers`); AUTH is offered only inside TLS and submission requires TLS
# in every profile (OpenSMTPD's own behaviour and tls-require). OpenSMTPD 6.8
# has no setting for protocol versions or for smuggling protection.
cat > /etc/mailtls/smtpd-profile.conf <<'CONF'
# hardened
smtp ciphers "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"
CONF
