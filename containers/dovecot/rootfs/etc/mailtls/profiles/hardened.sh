# hardened: TLS required before any login, TLS 1.2 and later with forward-secret
# AEAD suites only, the server's preference order.
cat > /etc/dovecot/conf.d/99-mailtls-profile.conf <<'CONF'
ssl = required
ssl_min_protocol = TLSv1.2
ssl_cipher_list = ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL
ssl_prefer_server_ciphers = yes
disable_plaintext_auth = yes
auth_mechanisms = plain login
CONF
