id: client.pop3.starttls-refused
title: The client does not go on in cleartext when STLS is refused
protocol: pop3
severity: high
references: RFC 2595 §4, NO STARTTLS (USENIX Security 2021)
pass: the client sent no credentials or a mailbox command after STLS was refused

S: +OK ${host} POP3 ready
C: CAPA                    else error "the client did not ask for the capabilities"
S: +OK Capability list follows
S+ STLS
S+ USER
S+ SASL PLAIN
S+ .
# The stock replies answer STLS with -ERR.
C: never USER|PASS|APOP|AUTH|STAT|LIST|RETR|UIDL|TOP|DELE else fail "the client sent credentials or a mailbox command in cleartext after STLS was refused"
