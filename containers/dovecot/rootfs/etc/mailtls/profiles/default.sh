# default: Debian's configuration as shipped (ssl = yes, plaintext
# authentication disabled outside TLS, Dovecot's own TLS defaults), with our
# certificate.
echo "# default: Debian's configuration" > /etc/dovecot/conf.d/99-mailtls-profile.conf
