id: client.pop3.capabilities-hidden
title: The client does not go on in cleartext when the capabilities are hidden
protocol: pop3
severity: high
references: RFC 2595 §4, NO STARTTLS (USENIX Security 2021)
pass: the client sent no credentials or a mailbox command without TLS

S: +OK ${host} POP3 ready
C: CAPA                    else error "the client did not ask for the capabilities"
S: -ERR Command not recognized
C: never USER|PASS|APOP|AUTH|STAT|LIST|RETR|UIDL|TOP|DELE else fail "the client sent credentials or a mailbox command in cleartext when the capabilities were hidden"
