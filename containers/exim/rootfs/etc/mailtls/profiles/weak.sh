# weak: deliberately old settings the checks must catch. TLS 1.0 and 1.1 on,
# NULL-encryption and anonymous suites allowed (GnuTLS priority string), AUTH
# PLAIN/LOGIN advertised before STARTTLS (Debian's AUTH_SERVER_ALLOW_NOTLS_PASSWORDS),
# no TLS requirement on submission.
cat > /etc/exim4/mailtls-profile.conf <<'CONF'
# weak
AUTH_SERVER_ALLOW_NOTLS_PASSWORDS = yes
tls_require_ciphers = NORMAL:+VERS-TLS1.0:+VERS-TLS1.1:+NULL:+ANON-ECDH:+ANON-DH
CONF
