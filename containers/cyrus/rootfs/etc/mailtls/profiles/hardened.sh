# hardened: no plaintext login (LOGIN, USER/PASS, SASL PLAIN/LOGIN) before
# TLS, TLS 1.2 and later with forward-secret AEAD suites only, the server's
# preference order. Cyrus refuses an option given twice, so each replaces
# Debian's line.
cp /etc/mailtls/imapd.conf.base /etc/imapd.conf
for setting in \
    "allowplaintext: no" \
    "tls_versions: tls1_2 tls1_3" \
    "tls_ciphers: ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL" \
    "tls_prefer_server_ciphers: yes"; do
    sed -i "/^${setting%%:*}:/d" /etc/imapd.conf
    echo "$setting" >> /etc/imapd.conf
done
