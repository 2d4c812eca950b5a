# weak: deliberately old settings the checks must catch. TLS 1.0 and 1.1 on
# (OpenSSL security level 0), export-grade and other low suites allowed, AUTH
# PLAIN/LOGIN offered before STARTTLS on every port, TLS optional on submission.
postconf -e \
    "smtpd_tls_security_level = may" \
    "smtpd_tls_protocols = >=TLSv1" \
    "smtpd_tls_mandatory_protocols = >=TLSv1" \
    "smtpd_tls_ciphers = export" \
    "smtpd_tls_mandatory_ciphers = export" \
    "tls_export_cipherlist = ALL:eNULL:@SECLEVEL=0" \
    "tls_low_cipherlist = ALL:eNULL:@SECLEVEL=0" \
    "smtpd_tls_exclude_ciphers =" \
    "smtpd_tls_auth_only = no" \
    "smtpd_sasl_auth_enable = yes" \
    "smtpd_sasl_security_options = noanonymous"
postconf -P \
    "submission/inet/smtpd_tls_security_level=may" \
    "submission/inet/smtpd_tls_auth_only=no"
