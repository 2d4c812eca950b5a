# hardened: what a careful admin sets. TLS 1.2 and later only, no anonymous,
# weak or non-forward-secret (static RSA key exchange) suites, AUTH only inside TLS, TLS required on submission, bare LF in DATA
# normalized (smuggling protection, CVE-2023-51764), unauthorized pipelining refused.
postconf -e \
    "smtpd_tls_security_level = may" \
    "smtpd_tls_protocols = >=TLSv1.2" \
    "smtpd_tls_mandatory_protocols = >=TLSv1.2" \
    "smtpd_tls_ciphers = high" \
    "smtpd_tls_mandatory_ciphers = high" \
    "smtpd_tls_exclude_ciphers = aNULL, eNULL, MD5, RC4, 3DES, SHA1, kRSA" \
    "tls_preempt_cipherlist = yes" \
    "smtpd_tls_auth_only = yes" \
    "smtpd_forbid_bare_newline = normalize" \
    "smtpd_forbid_bare_newline_exclusions =" \
    "smtpd_forbid_unauth_pipelining = yes" \
    "smtpd_data_restrictions = reject_unauth_pipelining"
postconf -P \
    "submission/inet/smtpd_tls_security_level=encrypt" \
    "submission/inet/smtpd_tls_auth_only=yes"
