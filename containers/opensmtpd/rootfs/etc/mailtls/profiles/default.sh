# default: Debian's configuration with TLS on, as most admins leave it: STARTTLS
# on 25, tls-require and AUTH on 587, smtps and AUTH on 465; no `protocols` or
# `ciphers`, so OpenSMTPD's defaults apply: its libtls's protocol default (TLS
# 1.2 and 1.3) and its cipher default "HIGH:!aNULL:!MD5" (static RSA key
# exchange kept), smtpd.conf(5).
cat > /etc/mailtls/smtpd-profile.conf <<'CONF'
# default: Debian's configuration
tls_options = ""
CONF
