package campaigns

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/resetq/resetq/tasks"
)

// Row is one user of a campaign.
type Row struct {
	// Line is the row's line in the source file.
	Line int
	User tasks.User
	Meta map[string]string
	// Invalid holds the text of a row that could not be read (kept with
	// --skip-invalid); User is empty then.
	Invalid string
}

// encodeRow writes "line TAB kind+value TAB meta-json": about 40 bytes for
// a row with an email and no meta.
func encodeRow(buf *bytes.Buffer, r Row) {
	buf.WriteString(strconv.Itoa(r.Line))
	buf.WriteByte('\t')
	switch r.User.Kind() {
	case "email":
		buf.WriteByte('e')
	case "username":
		buf.WriteByte('u')
	case "id":
		buf.WriteByte('i')
	default:
		buf.WriteByte('x')
		buf.WriteString(strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(r.Invalid))
	}
	buf.WriteString(r.User.Value())
	buf.WriteByte('\t')
	if len(r.Meta) > 0 {
		b, _ := json.Marshal(r.Meta)
		buf.Write(b)
	}
	buf.WriteByte('\n')
}

func decodeRow(line []byte) (Row, error) {
	parts := bytes.SplitN(line, []byte{'\t'}, 3)
	if len(parts) != 3 || len(parts[1]) == 0 {
		return Row{}, fmt.Errorf("corrupt row %q", line)
	}
	n, err := strconv.Atoi(string(parts[0]))
	if err != nil {
		return Row{}, fmt.Errorf("corrupt row %q", line)
	}
	r := Row{Line: n}
	v := string(parts[1][1:])
	switch parts[1][0] {
	case 'e':
		r.User.Email = v
	case 'u':
		r.User.Username = v
	case 'i':
		r.User.ID = v
	default:
		r.Invalid = v
	}
	if len(parts[2]) > 0 {
		if err := json.Unmarshal(parts[2], &r.Meta); err != nil {
			return Row{}, fmt.Errorf("corrupt row meta %q", parts[2])
		}
	}
	return r, nil
}

// encoders keep what encoding a chunk needs from one chunk to the next:
// a deflate writer holds about a megabyte of tables, and an import of a
// million rows would otherwise make a thousand of them (two fifths of
// what it allocated).
var encoders = sync.Pool{New: func() any {
	zw, _ := flate.NewWriter(nil, flate.DefaultCompression) // fails only for a bad level
	return &encoder{zw: zw}
}}

type encoder struct {
	raw bytes.Buffer
	zw  *flate.Writer
}

// encodeChunk writes rows one per line and deflates them: addresses share
// their domains, so a chunk shrinks to about a third.
func encodeChunk(rows []Row) ([]byte, error) {
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	e.raw.Reset()
	for _, r := range rows {
		encodeRow(&e.raw, r)
	}
	var out bytes.Buffer
	out.Grow(e.raw.Len() / 2)
	e.zw.Reset(&out)
	if _, err := e.zw.Write(e.raw.Bytes()); err != nil {
		return nil, err
	}
	if err := e.zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func decodeChunk(z []byte) ([]Row, error) {
	b, err := io.ReadAll(flate.NewReader(bytes.NewReader(z)))
	if err != nil {
		return nil, fmt.Errorf("corrupt chunk: %w", err)
	}
	rows := make([]Row, 0, ChunkRows)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b)
		}
		r, err := decodeRow(b[:i])
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
		b = b[min(i+1, len(b)):]
	}
	return rows, nil
}
