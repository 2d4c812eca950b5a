# default: Debian's configuration with TLS on, as most admins leave it. STARTTLS
# on 25 and 587, implicit TLS on 465, AUTH PLAIN/LOGIN advertised only inside TLS
# (the condition Debian's example authenticators carry). Everything else is
# Exim's and GnuTLS's default: the "NORMAL" priority string (TLS 1.0 and 1.1,
# static RSA key exchange), and no difference between 25 and 587 — mail is
# accepted before STARTTLS on submission too.
echo "# default: Debian's configuration" > /etc/exim4/mailtls-profile.conf
