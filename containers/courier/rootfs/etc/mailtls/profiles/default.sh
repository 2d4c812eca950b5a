# default: Debian's configuration as shipped (GnuTLS's NORMAL priority, LOGIN
# and USER/PASS allowed before STARTTLS: IMAP_TLS_REQUIRED=0,
# POP3_TLS_REQUIRED=0), with our certificate.
echo "# default: Debian's configuration" > /etc/courier/mailtls-profile
