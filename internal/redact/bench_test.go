package redact

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/logflux/agent/internal/protocol"
)

// benchMix is a realistic mix: mostly lines with nothing to redact (as the
// benchmark workload's), some access logs, JSON and a few secrets.
var benchMix = []string{
	"user login 1234 token refreshed 55555 GET /api/v1/items worker started queue depth 12 bytes sent 4096 received 1024 tenant shard 7 session",
	"cache miss for key user:42 took 3ms upstream=10.0.0.7:8080 status=200 retry=0",
	`127.0.0.1 - - [10/Oct/2025:13:55:36 +0000] "GET /api/v1/items?page=2 HTTP/1.1" 200 2326 "-" "curl/8.5"`,
	`{"level":"info","ts":"2025-10-10T13:55:36Z","msg":"request served","path":"/api/v1/orders","status":200,"duration_ms":12,"user_id":"u-8812"}`,
	"order 1182 created for customer 77123, amount 42.50 EUR, payment accepted",
	"db query took 12 ms rows=40 table=orders shard=3",
	"java.lang.NullPointerException: null\n\tat com.acme.Orders.total(Orders.java:88)\n\tat com.acme.Api.handle(Api.java:12)",
	"worker 7 stopped after 120 s; queue depth 0",
	`{"event":"user.updated","user":{"email":"jane.doe@example.org","password":"S3cr3t!"}}`,
	"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.Kx4mS7bQ1d0pZ3vT9wYc2nR8uE6hJ5gA1sD4fG7hK0",
}

// workloadLines are lines like the benchmark workload's (bench/ab.sh,
// internal/bench): 172 bytes of its words and numbers up to 99999.
func workloadLines(n int) []string {
	words := strings.Fields("user login request served cache miss hit db query took ms status ok retry upstream timeout " +
		"session token refreshed order created payment accepted GET POST /api/v1/items worker started stopped queue " +
		"depth bytes sent received tenant shard")
	rnd := rand.New(rand.NewPCG(1, 2))
	lines := make([]string, n)
	for i := range lines {
		var b []byte
		for len(b) < 172 {
			if rnd.IntN(4) == 0 {
				b = strconv.AppendUint(b, rnd.Uint64N(100000), 10)
			} else {
				b = append(b, words[rnd.IntN(len(words))]...)
			}
			b = append(b, ' ')
		}
		lines[i] = string(b[:172])
	}
	return lines
}

func benchEntries(payloads []string) []protocol.Entry {
	es := make([]protocol.Entry, len(payloads))
	for i, p := range payloads {
		es[i] = protocol.Entry{Payload: []byte(p), Source: []byte("api-gateway"), EntryType: 1, LogLevel: 6,
			Metadata: []protocol.KV{{Key: []byte("seq"), Value: []byte(fmt.Sprint(100000 + i*7919))}}}
	}
	return es
}

// BenchmarkRedact: the default rules on the realistic mix (8 of 10 lines
// hold nothing to redact), on one line of the benchmark workload's kind
// alone, on the secrets alone, and on lines like the benchmark workload's;
// ns/op is per entry.
func BenchmarkRedact(b *testing.B) {
	r := mustNew(b, &Config{})
	for _, bc := range []struct {
		name     string
		payloads []string
	}{{"mix", benchMix}, {"clean", benchMix[:1]}, {"secrets", benchMix[8:]}, {"workload", workloadLines(256)}} {
		b.Run(bc.name, func(b *testing.B) {
			src := benchEntries(bc.payloads)
			es := make([]protocol.Entry, len(src))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				j := i % len(es)
				es[j] = src[j] // redaction changes entries in place
				r.Filter(es[j : j+1])
				i++
			}
		})
	}
}
