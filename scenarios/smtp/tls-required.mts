# On a submission port (and under the strict policy) no mail may be accepted
# before TLS (RFC 8314 §3); on an MX, RFC 3207 §4 forbids requiring it.
id: smtp.tls.required
title: No mail transaction is accepted before TLS where TLS is required
protocol: smtp
severity: high
references: RFC 8314 §3, RFC 3207 §4
needs: starttls
policies: submission, strict
pass: MAIL FROM is refused before TLS

S: 220                    else error "the server did not greet with 220"
C: EHLO ${client}
S: 250                    else error "EHLO was refused"
C: MAIL FROM:<>
S: 4xx|5xx                else fail if 2xx "the server accepts MAIL FROM before TLS where TLS is required"
C: QUIT
