id: client.imap.capabilities-hidden
title: The client does not go on in cleartext when the capabilities are hidden
protocol: imap
severity: high
references: RFC 9051 §6.2.1, RFC 2595 §3.1, NO STARTTLS (USENIX Security 2021)
pass: the client sent no credentials or a mailbox command without TLS

S: * OK ${host} IMAP4rev1 ready
C: CAPABILITY              else error "the client did not ask for the capabilities"
S: ${tag} BAD Command not recognized
C: never LOGIN|AUTHENTICATE|SELECT|EXAMINE|LIST|LSUB|STATUS|APPEND|FETCH|UID|CREATE|DELETE else fail "the client sent credentials or a mailbox command in cleartext when the capabilities were hidden"
