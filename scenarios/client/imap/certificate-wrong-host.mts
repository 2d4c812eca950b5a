id: client.imap.certificate-wrong-host
title: The client refuses a certificate for another host name
protocol: imap
severity: high
references: RFC 8314 §4, RFC 6125, NO STARTTLS (USENIX Security 2021)
certificate: wrong-host
pass: the client refused a certificate for another host name

S: * OK ${host} IMAP4rev1 ready
C: CAPABILITY              else error "the client did not ask for the capabilities"
S: * CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN
S+ ${tag} OK CAPABILITY completed
C: STARTTLS else fail "the client went on without TLS although STARTTLS was offered"
S: ${tag} OK Begin TLS negotiation now
TLS else pass "the client refused a certificate for another host name"
C: never LOGIN|AUTHENTICATE|SELECT|EXAMINE|LIST|LSUB|STATUS|APPEND|FETCH|UID|CREATE|DELETE else fail "the client accepted a certificate for another host name and sent credentials or a mailbox command"
