# default: Debian's configuration with TLS on, as most admins leave it. Port 25
# offers STARTTLS (smtpd_tls_security_level = may, Debian's default), AUTH only on
# submission and smtps; submission requires STARTTLS (the line Debian ships
# commented out in master.cf). Everything else is Postfix's default, including
# smtpd_forbid_bare_newline = no.
postconf -e "smtpd_tls_security_level = may"
postconf -P \
    "submission/inet/smtpd_tls_security_level=encrypt" \
    "submission/inet/smtpd_tls_auth_only=yes"
