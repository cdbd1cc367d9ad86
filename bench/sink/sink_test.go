package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	collpb "go.opentelemetry.io/proto/slim/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/slim/otlp/logs/v1"
	"google.golang.org/protobuf/proto"
)

func post(t *testing.T, url, contentType, encoding string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func stats(t *testing.T, base string) Stats {
	t.Helper()
	resp, err := http.Get(base + "/_sink/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSinkCountsEachProtocolAndAnswersLikeTheServer(t *testing.T) {
	srv := httptest.NewServer(NewSink())
	defer srv.Close()

	// OTLP protobuf, gzip: 2 resources, 3 + 2 records.
	req := &collpb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{
		{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: make([]*logspb.LogRecord, 3)}}},
		{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: make([]*logspb.LogRecord, 2)}}},
	}}
	for _, rl := range req.ResourceLogs {
		for i := range rl.ScopeLogs[0].LogRecords {
			rl.ScopeLogs[0].LogRecords[i] = &logspb.LogRecord{SeverityNumber: 9}
		}
	}
	pb, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := post(t, srv.URL+"/v1/logs", "application/x-protobuf", "gzip", gz(t, pb))
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("OTLP: %d %q, want 200 and an empty response", resp.StatusCode, body)
	}
	var ans collpb.ExportLogsServiceResponse
	if err := proto.Unmarshal(body, &ans); err != nil || ans.PartialSuccess != nil {
		t.Fatalf("OTLP answer does not decode as a full success: %v", err)
	}
	if st := stats(t, srv.URL); st.Entries != 5 {
		t.Fatalf("after OTLP: %d entries, want 5", st.Entries)
	}

	// OTLP/JSON: 1 record.
	resp, body = post(t, srv.URL+"/v1/logs", "application/json", "", []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}`))
	if resp.StatusCode != 200 || string(body) != "{}" {
		t.Fatalf("OTLP/JSON: %d %q", resp.StatusCode, body)
	}

	// Elasticsearch _bulk: create and index, one item each in order.
	bulk := "{\"create\":{\"_index\":\"logs\",\"_id\":\"a\"}}\n{\"m\":1}\n{\"index\":{\"_index\":\"logs\"}}\n{\"m\":2}\n"
	resp, body = post(t, srv.URL+"/logs/_bulk", "application/x-ndjson", "gzip", gz(t, []byte(bulk)))
	var ba struct {
		Errors bool                        `json:"errors"`
		Items  []map[string]map[string]any `json:"items"`
	}
	if err := json.Unmarshal(body, &ba); err != nil || resp.StatusCode != 200 {
		t.Fatalf("_bulk: %d %q: %v", resp.StatusCode, body, err)
	}
	if ba.Errors || len(ba.Items) != 2 || ba.Items[0]["create"]["status"] != 201.0 || ba.Items[1]["index"] == nil {
		t.Fatalf("_bulk answer %s, want two successful items: create, index", body)
	}

	// Loki: two streams, 2 + 1 values (one with structured metadata).
	loki := `{"streams":[{"stream":{"a":"1"},"values":[["1","x"],["2","y",{"id":"z"}]]},{"stream":{"a":"2"},"values":[["3","w"]]}]}`
	if resp, _ = post(t, srv.URL+"/loki/api/v1/push", "application/json", "gzip", gz(t, []byte(loki))); resp.StatusCode != 204 {
		t.Fatalf("Loki: %d, want 204", resp.StatusCode)
	}

	// HTTP: NDJSON and a JSON array.
	if resp, _ = post(t, srv.URL+"/anything", "application/x-ndjson", "", []byte("{\"a\":1}\n\n{\"a\":2}\n")); resp.StatusCode != 200 {
		t.Fatalf("NDJSON: %d", resp.StatusCode)
	}
	if resp, _ = post(t, srv.URL+"/anything", "application/json", "", []byte(`[{"a":1},{"a":2},{"a":3}]`)); resp.StatusCode != 200 {
		t.Fatalf("JSON array: %d", resp.StatusCode)
	}

	st := stats(t, srv.URL)
	if want := int64(5 + 1 + 2 + 3 + 2 + 3); st.Entries != want || st.Requests != 6 || st.BadRequests != 0 {
		t.Fatalf("stats %+v, want %d entries in 6 requests", st, want)
	}
	if st.FirstUnixNs == 0 || st.LastUnixNs < st.FirstUnixNs {
		t.Fatalf("stats %+v: first/last request times missing", st)
	}
}

func TestSinkRefusesBadBodiesWithoutCountingThem(t *testing.T) {
	srv := httptest.NewServer(NewSink())
	defer srv.Close()
	for _, c := range []struct{ path, ct, enc, body string }{
		{"/v1/logs", "application/x-protobuf", "", "\x0a\xff\xff"},      // truncated length
		{"/v1/logs", "application/x-protobuf", "gzip", "not gzip"},      // bad compression
		{"/_bulk", "application/x-ndjson", "", "{\"create\":{}}\n"},     // action without document
		{"/_bulk", "application/x-ndjson", "", "{\"upsert\":{}}\n{}\n"}, // unknown action
		{"/loki/api/v1/push", "application/x-protobuf", "snappy", "xx"}, // only JSON, no snappy
		{"/x", "application/x-ndjson", "", "{\"a\":1}\nnot json\n"},
	} {
		resp, body := post(t, srv.URL+c.path, c.ct, c.enc, []byte(c.body))
		if resp.StatusCode != 400 || !strings.HasPrefix(string(body), "sink: ") {
			t.Errorf("%s %q: %d %q, want 400 with the reason", c.path, c.body, resp.StatusCode, body)
		}
	}
	if st := stats(t, srv.URL); st.Entries != 0 || st.BadRequests != 6 {
		t.Fatalf("stats %+v, want 0 entries and 6 bad requests", st)
	}
}

func TestSinkWaitAnswersWhenTheEntriesArrivedAndResetStartsAgain(t *testing.T) {
	srv := httptest.NewServer(NewSink())
	defer srv.Close()
	done := make(chan Stats, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/_sink/wait?entries=3&timeout=20s")
		if err != nil {
			done <- Stats{}
			return
		}
		defer resp.Body.Close()
		var st Stats
		json.NewDecoder(resp.Body).Decode(&st)
		done <- st
	}()
	post(t, srv.URL+"/x", "application/x-ndjson", "", []byte("{}\n{}\n"))
	post(t, srv.URL+"/x", "application/x-ndjson", "", []byte("{}\n"))
	if st := <-done; st.Entries != 3 {
		t.Fatalf("wait answered %+v, want 3 entries", st)
	}

	resp, err := http.Get(srv.URL + "/_sink/wait?entries=4&timeout=50ms")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("wait for entries that never come: %d, want 504", resp.StatusCode)
	}

	if resp, _ := post(t, srv.URL+"/_sink/reset", "", "", nil); resp.StatusCode != 204 {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if st := stats(t, srv.URL); st.Entries != 0 || st.Requests != 0 || st.FirstUnixNs != 0 {
		t.Fatalf("after reset: %+v", st)
	}
}
