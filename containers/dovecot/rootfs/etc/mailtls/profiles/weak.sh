# weak: deliberately old settings the checks must catch. TLS 1.0 and 1.1 on
# (OpenSSL security level 0), every suite OpenSSL knows including NULL ones,
# LOGIN/USER and AUTH PLAIN accepted before STARTTLS.
cat > /etc/dovecot/conf.d/99-mailtls-profile.conf <<'CONF'
ssl = yes
ssl_min_protocol = TLSv1
ssl_cipher_list = ALL:eNULL:@SECLEVEL=0
ssl_prefer_server_ciphers = no
disable_plaintext_auth = no
auth_mechanisms = plain login
CONF
