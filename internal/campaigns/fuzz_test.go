package campaigns

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzRead reads a source any way it comes and checks what the reader
// promises: no panic, every row numbered by a line in order, valid users
// only where there is no problem, problems that say what and where, and
// rows that survive their storage encoding.
func fuzzRead(t *testing.T, src string, o ReadOptions) {
	lines := strings.Count(src, "\n") + 1
	last := 0
	var rows []Row
	_, err := Read(strings.NewReader(src), o, func(r Row, p *Problem) error {
		if r.Line < last || r.Line < 1 || r.Line > lines {
			t.Fatalf("row on line %d after line %d (the source has %d)", r.Line, last, lines)
		}
		last = r.Line
		if p != nil {
			if p.Line != r.Line || p.Reason == "" || p.Detail == "" {
				t.Fatalf("problem %+v for the row on line %d", *p, r.Line)
			}
			if r.User.Kind() != "" {
				t.Fatalf("an invalid row with a user: %+v", r)
			}
		} else if err := r.User.Validate(); err != nil {
			t.Fatalf("a row without a problem has an invalid user: %v", err)
		}
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		if !strings.Contains(err.Error(), "line") && !strings.Contains(err.Error(), "empty") {
			t.Fatalf("the error does not say where: %v", err)
		}
		return
	}
	if len(rows) == 0 {
		return
	}
	b, err := encodeChunk(rows)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeChunk(b)
	if err != nil {
		t.Fatalf("stored rows do not read back: %v", err)
	}
	if len(back) != len(rows) {
		t.Fatalf("%d rows stored, %d read back", len(rows), len(back))
	}
	for i := range rows {
		if back[i].User != rows[i].User || back[i].Line != rows[i].Line || len(back[i].Meta) != len(rows[i].Meta) {
			t.Fatalf("row %d changed in storage: %+v → %+v", i, rows[i], back[i])
		}
		if !utf8.ValidString(back[i].Invalid) && utf8.ValidString(rows[i].Invalid) {
			t.Fatalf("storage broke the text of row %d", i)
		}
	}
	s, err := ScanSource(strings.NewReader(src), o)
	if err != nil {
		t.Fatal(err)
	}
	if s.Rows != len(rows) || s.Valid+s.Invalid != s.Rows || s.Duplicates > s.Valid || s.Users() < 0 {
		t.Fatalf("inconsistent scan: %+v for %d rows", s, len(rows))
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("email,team\nalice@example.com,eng\n", false)
	f.Add("\ufeffEmail,Dept\nALICE@example.com,\"multi\nline\"\nnot-an-email,x\n,\n", false)
	f.Add("id,email,username\n4f1c,a@example.com,alice\n,,carol\n", true)
	f.Add("email\n\"unterminated\n", false)
	f.Add("email,email\na@example.com,b@example.com\n", false)
	f.Add("name\nalice\n", false)
	f.Fuzz(func(t *testing.T, src string, emailOnly bool) {
		fuzzRead(t, src, ReadOptions{Format: CSV, EmailOnly: emailOnly})
	})
}

func FuzzReadJSONL(f *testing.F) {
	f.Add(`{"email":"alice@example.com","ticket":"T-1"}`+"\n\n"+`{"username":"bob","meta":{"team":"ops"},"n":3}`, false)
	f.Add("not json\n{\"email\":\"nope\"}\n", true)
	f.Add(`{"id":"x","meta":{"k":{"nested":true}}}`, false)
	f.Add(`[1,2,3]`+"\n"+`{"email":"a@b.co"}`, false)
	f.Fuzz(func(t *testing.T, src string, emailOnly bool) {
		fuzzRead(t, src, ReadOptions{Format: JSONL, EmailOnly: emailOnly})
	})
}
