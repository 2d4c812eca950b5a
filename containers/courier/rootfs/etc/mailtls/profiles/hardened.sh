# hardened: STARTTLS required before any login on 143 and 110, TLS 1.2 and
# later with ECDHE and AEAD suites only, the server's preference order.
# couriertls is built with GnuTLS here, so TLS_PRIORITY is the one knob for
# versions and suites (TLS_PROTOCOL and TLS_CIPHER_LIST are OpenSSL-only).
cat > /etc/courier/mailtls-profile <<'CONF'
# hardened
IMAP_TLS_REQUIRED=1
POP3_TLS_REQUIRED=1
TLS_PRIORITY="NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"
CONF
