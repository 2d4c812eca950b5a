id: client.imap.starttls-response-injection
title: The client does not believe replies injected before the TLS handshake
protocol: imap
severity: high
references: RFC 9051 §6.2.1, RFC 2595 §3.1, CVE-2021-22947, CVE-2021-33515, NO STARTTLS (USENIX Security 2021)
pass: the client waited for the answer inside TLS

S: * OK ${host} IMAP4rev1 ready
C: CAPABILITY              else error "the client did not ask for the capabilities"
S: * CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN
S+ ${tag} OK CAPABILITY completed
C: STARTTLS else fail "the client went on without TLS although STARTTLS was offered"
S: ${tag} OK Begin TLS negotiation now
# Forged in the same segment as the go-ahead: a vulnerable client reads it inside TLS.
S+ * CAPABILITY IMAP4rev1 AUTH=PLAIN
S+ ${nexttag} OK CAPABILITY completed
TLS else pass "the client refused to go on with data pending after the go-ahead"
C: /./                      else error "the client sent nothing inside TLS"
C: silence 300ms else fail "the client sent its next command before the server answered: it believed the reply injected before TLS"
