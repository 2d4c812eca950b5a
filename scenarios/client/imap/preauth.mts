id: client.imap.preauth
title: The client does not use a PREAUTH session without TLS
protocol: imap
severity: high
references: CVE-2020-12398, CVE-2020-14954, NO STARTTLS (USENIX Security 2021)
pass: the client sent no mailbox command in the PREAUTH session without TLS

S: * PREAUTH ${host} IMAP4rev1 logged in
# The stock replies refuse STARTTLS: a PREAUTH session cannot be upgraded.
C: never LOGIN|AUTHENTICATE|SELECT|EXAMINE|LIST|LSUB|STATUS|APPEND|FETCH|UID|CREATE|DELETE else fail "the client used a PREAUTH session in cleartext"
