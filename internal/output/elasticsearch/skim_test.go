package elasticsearch

import (
	"encoding/json"
	"testing"
)

// skimBulk agrees with encoding/json on the errors flag and the number of
// items, and declines what it cannot read.
func TestSkimBulk(t *testing.T) {
	for _, body := range []string{
		`{"took":3,"errors":false,"items":[{"create":{"_index":"logs","_id":"a","status":201}},{"create":{"_index":"l{o[g\"s","_id":"b}","status":201,"x":[1,{"y":null}]}}]}`,
		`{"errors":true,"took":1,"items":[{"create":{"status":409,"error":{"type":"version_conflict","reason":"[a]: exists"}}},{"create":{"status":201}}]}`,
		`{"took":1,"errors":false,"items":[]}`,
		` { "items" : [ { "index" : { "status" : 200 } } ] , "errors" : false } `,
		`{"errors":false,"nested":{"items":[{"a":1},{"b":2}]},"items":[{"create":{"status":201}}]}`,
	} {
		var ba bulkAnswer
		if err := json.Unmarshal([]byte(body), &ba); err != nil {
			t.Fatal(err)
		}
		errs, n, ok := skimBulk([]byte(body))
		if !ok || errs != ba.Errors || n != len(ba.Items) {
			t.Errorf("skimBulk(%s) = %v, %d, %v; encoding/json: %v, %d", body, errs, n, ok, ba.Errors, len(ba.Items))
		}
	}
	for _, body := range []string{``, `[]`, `{"took":1,"items":[]}`, `{"errors":false,"items":[{"create":{"status":201}}`, `{"errors":false,"items":["unterminated`} {
		if _, _, ok := skimBulk([]byte(body)); ok {
			t.Errorf("skimBulk(%q) took it", body)
		}
	}
}

// FuzzSkimBulk: whatever skimBulk reads, it reads as encoding/json does.
//
//	go test -run '^$' -fuzz FuzzSkimBulk -fuzztime 30s ./internal/output/elasticsearch/
func FuzzSkimBulk(f *testing.F) {
	f.Add([]byte(`{"took":3,"errors":false,"items":[{"create":{"_id":"a}","status":201}}]}`))
	f.Add([]byte(`{"errors":true,"items":[{"create":{"status":400,"error":{"reason":"x"}}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		errs, n, ok := skimBulk(body)
		var ba bulkAnswer
		if !ok || json.Unmarshal(body, &ba) != nil {
			return
		}
		if errs != ba.Errors || n != len(ba.Items) {
			t.Fatalf("skimBulk(%q) = %v, %d; encoding/json: %v, %d", body, errs, n, ba.Errors, len(ba.Items))
		}
	})
}
