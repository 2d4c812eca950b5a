# default: Debian's configuration as shipped (allowplaintext: yes, Cyrus's and
# OpenSSL's TLS defaults), with our certificate and imaps/pop3s enabled.
cp /etc/mailtls/imapd.conf.base /etc/imapd.conf
