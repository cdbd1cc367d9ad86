package redact

import "testing"

func TestQuick(t *testing.T) {
	r := mustNew(t, &Config{})
	for _, p := range []string{
		"card 4111 1111 1111 1111 ok",
		"card 4111111111111111 ok",
		"id 4111111111111112 ok",
		"mail john.doe@example.com now",
		"Authorization: Bearer abcdefghijklmnop1234 x",
		"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
		"key AKIAIOSFODNN7EXAMPLE and aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"gh ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 gl glpat-abcdefghij0123456789 sl xoxb-123456789012-abcdefghij",
		`{"user":"bob","password":"hunter2","nested":{"api_key":"k-123"}}`,
		"url https://admin:s3cret@db.example.com/x password=abc&token=xyz",
		"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- after",
		"user login 1234 token refreshed 55555 GET /api/v1/items",
	} {
		t.Log(redactPayload(t, r, p))
	}
}
