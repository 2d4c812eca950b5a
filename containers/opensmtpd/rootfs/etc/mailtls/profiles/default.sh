# default: Debian's configuration with TLS on, as most admins leave it: STARTTLS
# on 25, tls-require and AUTH on 587, smtps and AUTH on 465; OpenSMTPD's default
# cipher list ("HIGH:!aNULL:!MD5", which keeps static RSA key exchange) and
# OpenSSL's system-wide defaults for the protocol versions.
echo "# default: Debian's configuration" > /etc/mailtls/smtpd-profile.conf
