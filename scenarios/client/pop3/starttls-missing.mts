id: client.pop3.starttls-missing
title: The client does not go on in cleartext when STLS is not offered
protocol: pop3
severity: high
references: RFC 2595 §4, NO STARTTLS (USENIX Security 2021)
pass: the client sent no credentials or a mailbox command without TLS

S: +OK ${host} POP3 ready
# The stock replies answer the capability request without STLS and refuse STLS.
C: never USER|PASS|APOP|AUTH|STAT|LIST|RETR|UIDL|TOP|DELE else fail "the client sent credentials or a mailbox command in cleartext when STLS was stripped"
