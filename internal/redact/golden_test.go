package redact

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// The golden corpus: realistic lines (testdata/golden/corpus.ndjson), each
// decoded as the agent decodes it, redacted with testdata/golden/redact.yaml,
// and compared with corpus.golden line by line. Every line is a subtest
// named by its number, so a failure names the line to look at.
func TestGolden(t *testing.T) {
	t.Setenv("REDACT_GOLDEN_KEY", "golden-test-key-0123456789")
	r := mustNew(t, loadConfig(t, filepath.Join("testdata", "golden", "redact.yaml")))
	in, err := os.ReadFile(filepath.Join("testdata", "golden", "corpus.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(in))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		for _, e := range decodeEntries(t, sc.Bytes()) {
			fired, drop := r.Apply(&e)
			if !utf8.Valid(e.Payload) {
				t.Errorf("invalid UTF-8 after redaction: %q", e.Payload)
			}
			got.Write(view(&e, fired, drop))
			got.WriteByte('\n')
		}
	}
	goldenPath := filepath.Join("testdata", "golden", "corpus.golden")
	if *update {
		if err := os.WriteFile(goldenPath, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	gl, wl, il := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want, []byte("\n")), bytes.Split(in, []byte("\n"))
	if len(gl) != len(wl) {
		t.Fatalf("%d results, %d expected", len(gl), len(wl))
	}
	for i := range gl {
		if !bytes.Equal(gl[i], wl[i]) {
			t.Errorf("line %d: %s\n got  %s\n want %s", i+1, il[i], gl[i], wl[i])
		}
	}
}
