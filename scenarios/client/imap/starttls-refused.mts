id: client.imap.starttls-refused
title: The client does not go on in cleartext when STARTTLS is refused
protocol: imap
severity: high
references: RFC 9051 §6.2.1, RFC 2595 §3.1, NO STARTTLS (USENIX Security 2021)
pass: the client sent no credentials or a mailbox command after STARTTLS was refused

S: * OK ${host} IMAP4rev1 ready
C: CAPABILITY              else error "the client did not ask for the capabilities"
S: * CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN
S+ ${tag} OK CAPABILITY completed
# The stock replies answer STARTTLS with NO.
C: never LOGIN|AUTHENTICATE|SELECT|EXAMINE|LIST|LSUB|STATUS|APPEND|FETCH|UID|CREATE|DELETE else fail "the client sent credentials or a mailbox command in cleartext after STARTTLS was refused"
