package campaigns

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/tasks"
)

// badCSV has one of every problem, on known lines. Line 7's quoted field
// spans two lines, so the rows after it are one line further down than
// their position.
const badCSV = "\ufeffEmail,department,ticket\n" + // 1: header, with a byte order mark and a capital
	"alice@example.com,eng,T-1\n" + //           2: ok
	"not-an-email,eng,T-2\n" + //                3: invalid_user
	",eng,T-3\n" + //                            4: no_user
	"ALICE@example.com,sales,T-4\n" + //         5: duplicate of 2
	"bob@example.com,eng\n" + //                 6: malformed (2 fields)
	"carol@example.com,\"multi\nline\",T-7\n" + //7-8: ok, meta spans lines
	"dave@example.com,ops,T-9\n" + //            9: ok
	"bob+tag@example.com,ops,T-10\n" + //        10: ok, + kept
	"alice@example.com,eng,T-11\n" //            11: duplicate of 2

func TestScanReportsEveryBadRowByLine(t *testing.T) {
	s, err := ScanSource(strings.NewReader(badCSV), ReadOptions{Format: CSV})
	require.NoError(t, err)
	require.Equal(t, 9, s.Rows)
	require.Equal(t, 6, s.Valid)
	require.Equal(t, 3, s.Invalid)
	require.Equal(t, 2, s.Duplicates)
	require.Equal(t, 4, s.Users())

	var got []string
	for _, p := range s.Problems {
		got = append(got, fmt.Sprintf("%d %s", p.Line, p.Reason))
	}
	require.Equal(t, []string{"3 invalid_user", "4 no_user", "5 duplicate_row", "6 malformed", "11 duplicate_row"}, got)
	require.Contains(t, s.Problems[2].Detail, "line 2")
	require.Contains(t, s.Problems[3].Detail, "2 fields where the header has 3")
	require.Equal(t, map[string]int{"invalid_user": 1, "no_user": 1, "malformed": 1, "duplicate_row": 2}, s.Reasons)
	require.Equal(t, []int{3, 8}, s.DuplicateRows(), "0-based rows in file order")
	require.True(t, s.Duplicate(3))
	require.False(t, s.Duplicate(0), "the first row of a user is not a duplicate")

	sum := sha256.Sum256([]byte(badCSV))
	require.Equal(t, hex.EncodeToString(sum[:]), s.Digest, "the digest covers the whole file, BOM included")
}

func TestReadCarriesExtraColumnsAsMeta(t *testing.T) {
	var rows []Row
	_, err := Read(strings.NewReader(badCSV), ReadOptions{Format: CSV}, func(r Row, p *Problem) error {
		if p == nil {
			rows = append(rows, r)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, Row{Line: 2, User: tasks.User{Email: "alice@example.com"},
		Meta: map[string]string{"department": "eng", "ticket": "T-1"}}, rows[0])
	require.Equal(t, 7, rows[2].Line, "a row is numbered by the line it starts on")
	require.Equal(t, "multi\nline", rows[2].Meta["department"])
	require.Equal(t, 9, rows[3].Line)
	require.Equal(t, "bob+tag@example.com", rows[4].User.Email)
}

func TestUserColumnsArePickedByPrecedence(t *testing.T) {
	src := "id,email,username\n" +
		"4f1c,a@example.com,alice\n" +
		",b@example.com,bob\n" +
		",,carol\n"
	var users []tasks.User
	_, err := Read(strings.NewReader(src), ReadOptions{}, func(r Row, p *Problem) error {
		require.Nil(t, p)
		users = append(users, r.User)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []tasks.User{{ID: "4f1c"}, {Email: "b@example.com"}, {Username: "carol"}}, users)

	// A provider that resets by email only reads the email column alone.
	var problems []Problem
	_, err = Read(strings.NewReader(src), ReadOptions{EmailOnly: true}, func(r Row, p *Problem) error {
		if p != nil {
			problems = append(problems, *p)
		} else {
			require.NotEmpty(t, r.User.Email)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []Problem{{Line: 4, Reason: "no_user", Detail: "no email on this row"}}, problems)
}

func TestHeaderProblemsStopTheRead(t *testing.T) {
	for name, tc := range map[string]struct {
		src, want string
		o         ReadOptions
	}{
		"empty":          {"", "the file is empty", ReadOptions{}},
		"no user column": {"name,dept\nalice,eng\n", `line 1: the header has no id, email, username column (it has: name, dept)`, ReadOptions{}},
		"email only":     {"id\n4f1c\n", "line 1: the header has no email column", ReadOptions{EmailOnly: true}},
		"repeated":       {"email,Email\na@example.com,b@example.com\n", `line 1: column "email" appears twice`, ReadOptions{}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ScanSource(strings.NewReader(tc.src), tc.o)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestJSONLinesAreReadLikeCSV(t *testing.T) {
	src := `{"email":"alice@example.com","ticket":"T-1"}` + "\n" +
		"\n" + // blank lines are skipped but counted
		`{"username":"bob","meta":{"team":"ops"},"n":3}` + "\n" +
		`not json` + "\n" +
		`{"email":"Alice@Example.com"}` + "\n" +
		`{"email":"nope","ticket":"T-6"}` + "\n"
	s, err := ScanSource(strings.NewReader(src), ReadOptions{Format: JSONL})
	require.NoError(t, err)
	var got []string
	for _, p := range s.Problems {
		got = append(got, fmt.Sprintf("%d %s", p.Line, p.Reason))
	}
	require.Equal(t, []string{"4 malformed", "5 duplicate_row", "6 invalid_user"}, got)

	var rows []Row
	_, err = Read(strings.NewReader(src), ReadOptions{Format: JSONL}, func(r Row, p *Problem) error {
		if p == nil {
			rows = append(rows, r)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"team": "ops", "n": "3"}, rows[1].Meta)
	require.Equal(t, 3, rows[1].Line)
}

// TestAnOverLongJSONLineIsOneInvalidRow: a line past the bound, or one
// that is not UTF-8, costs its row, as a bad CSV row does, not the file.
func TestAnOverLongJSONLineIsOneInvalidRow(t *testing.T) {
	long := `{"email":"carol@example.com","note":"` + strings.Repeat("x", 2<<20) + `"}`
	src := `{"email":"alice@example.com"}` + "\n" +
		long + "\n" +
		`{"email":"b` + "\xff" + `b@example.com"}` + "\n" +
		`{"email":"dave@example.com"}` // the last line has no newline
	s, err := ScanSource(strings.NewReader(src), ReadOptions{Format: JSONL})
	require.NoError(t, err)
	require.Equal(t, 4, s.Rows)
	require.Equal(t, 2, s.Valid)
	var got []string
	for _, p := range s.Problems {
		got = append(got, fmt.Sprintf("%d %s: %s", p.Line, p.Reason, p.Detail))
	}
	require.Equal(t, []string{"2 malformed: longer than 1024 KiB", "3 malformed: not valid UTF-8"}, got)

	var users []string
	_, err = Read(strings.NewReader(src), ReadOptions{Format: JSONL}, func(r Row, p *Problem) error {
		if p == nil {
			users = append(users, fmt.Sprintf("%d %s", r.Line, r.User.Email))
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"1 alice@example.com", "4 dave@example.com"}, users)
}

func TestFormatOf(t *testing.T) {
	require.Equal(t, JSONL, FormatOf("users.JSONL"))
	require.Equal(t, JSONL, FormatOf("users.ndjson"))
	require.Equal(t, CSV, FormatOf("users.csv"))
	require.Equal(t, CSV, FormatOf("-"))
}

func TestRowsSurviveTheirEncoding(t *testing.T) {
	rows := []Row{
		{Line: 2, User: tasks.User{Email: "alice@example.com"}, Meta: map[string]string{"t": "a\tb\nc"}},
		{Line: 3, User: tasks.User{Username: "bob"}},
		{Line: 9, User: tasks.User{ID: "4f1c-9"}},
		{Line: 12, Invalid: "not\tan email"},
	}
	b, err := encodeChunk(rows)
	require.NoError(t, err)
	got, err := decodeChunk(b)
	require.NoError(t, err)
	rows[3].Invalid = "not an email"
	require.Equal(t, rows, got)

	_, err = decodeChunk([]byte("not deflate"))
	require.ErrorContains(t, err, "corrupt")
}

func TestRecordsRoundTrip(t *testing.T) {
	created := mustTime(t, "2026-11-22T10:00:00Z")
	r := Record{Outcome: tasks.Skipped, Reason: tasks.ReasonUserNotFound, Attempts: 3, Finished: created.Add(90 * 60e9)}
	require.Equal(t, r, decodeRecord(created, encodeRecord(created, r)))
	require.Equal(t, Record{}, decodeRecord(created, make([]byte, RecordSize)), "zero bytes: no outcome yet")
	require.Equal(t, 255, decodeRecord(created, encodeRecord(created, Record{Outcome: tasks.Failed, Attempts: 999})).Attempts)
}
