package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/producer"
)

// CampaignOptions are the settings of POST /v1/campaigns: form fields of a
// multipart upload, query parameters of a raw CSV or JSON-lines body, or
// the fields of a JSON body beside its users.
type CampaignOptions struct {
	Provider string `json:"provider"`
	Name     string `json:"name,omitempty"`
	// Format of an upload: csv or jsonl (default: from the file's name).
	Format string `json:"format,omitempty"`
	// Rate is "20/s", "600/m" or "5/h"; Spread a duration ("6h").
	Rate        string   `json:"rate,omitempty"`
	Spread      string   `json:"spread,omitempty"`
	StartAt     string   `json:"start_at,omitempty"`
	Window      int      `json:"window,omitempty"`
	Actions     []string `json:"actions,omitempty"`
	SkipInvalid bool     `json:"skip_invalid,omitempty"`
	ForceNew    bool     `json:"force_new,omitempty"`
	DryRun      bool     `json:"dry_run,omitempty"`
}

// CampaignStarted answers POST /v1/campaigns.
type CampaignStarted struct {
	Campaign producer.CampaignView `json:"campaign"`
	// Resumed: a campaign of this name and file existed; nothing new was
	// imported and nobody is reset twice.
	Resumed bool              `json:"resumed"`
	Scan    producer.ScanView `json:"scan"`
}

// CampaignList answers GET /v1/campaigns.
type CampaignList struct {
	Campaigns []producer.CampaignView `json:"campaigns"`
}

func (o *CampaignOptions) fromValues(v url.Values) error {
	for k := range v {
		switch k {
		case "provider", "name", "format", "rate", "spread", "start_at", "window", "action", "skip_invalid", "force_new", "dry_run":
		default:
			return badRequest("unknown field %q", k)
		}
	}
	o.Provider, o.Name, o.Format = v.Get("provider"), v.Get("name"), v.Get("format")
	o.Rate, o.Spread, o.StartAt = v.Get("rate"), v.Get("spread"), v.Get("start_at")
	o.Actions = v["action"]
	var err error
	if s := v.Get("window"); s != "" {
		if o.Window, err = strconv.Atoi(s); err != nil {
			return badRequest("window %q is not a whole number", s)
		}
	}
	for name, dst := range map[string]*bool{"skip_invalid": &o.SkipInvalid, "force_new": &o.ForceNew, "dry_run": &o.DryRun} {
		if s := v.Get(name); s != "" {
			if *dst, err = strconv.ParseBool(s); err != nil {
				return badRequest("%s %q is not true or false", name, s)
			}
		}
	}
	return nil
}

// request turns the options into the producer's request.
func (o *CampaignOptions) request(source string) (producer.CampaignRequest, error) {
	req := producer.CampaignRequest{Name: o.Name, Provider: o.Provider, Source: source, Actions: o.Actions,
		Window: o.Window, SkipInvalid: o.SkipInvalid, ForceNew: o.ForceNew}
	if req.Provider == "" {
		return req, fmt.Errorf("%w: provider is required", producer.ErrInvalidRequest)
	}
	switch o.Format {
	case "":
	case "csv", "jsonl":
		req.Format = producer.CampaignFormat(o.Format)
	default:
		return req, fmt.Errorf("%w: format must be csv or jsonl, not %q", producer.ErrInvalidRequest, o.Format)
	}
	if o.Rate != "" {
		rate, err := config.ParseRate(o.Rate)
		if err != nil {
			return req, fmt.Errorf("%w: %v", producer.ErrInvalidRequest, err)
		}
		req.RateN, req.RatePer = rate.N, rate.Per
	}
	if o.Spread != "" {
		d, err := time.ParseDuration(o.Spread)
		if err != nil || d <= 0 {
			return req, fmt.Errorf("%w: spread %q must be a positive duration like 6h", producer.ErrInvalidRequest, o.Spread)
		}
		req.Spread = d
	}
	start, err := producer.ParseStartAt(o.StartAt, time.Now())
	if err != nil {
		return req, err
	}
	req.StartAt = start
	return req, nil
}

// upload is a campaign's file, spooled to disk: a multipart form's fields
// may follow its file, and a million rows never sit in memory.
type upload struct {
	f      *os.File
	source string
}

func (u *upload) close() {
	if u.f != nil {
		name := u.f.Name()
		_ = u.f.Close()
		_ = os.Remove(name)
	}
}

func (a *API) spool() (*os.File, error) {
	return os.CreateTemp(a.cfg.TempDir, "resetq-upload-*")
}

// readCampaign reads the options and spools the rows of a POST
// /v1/campaigns in any of its three forms.
func (a *API) readCampaign(w http.ResponseWriter, r *http.Request) (*CampaignOptions, *upload, error) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(w, r.Body, a.cfg.MaxUpload)
	o := &CampaignOptions{}
	up := &upload{}
	var err error
	if up.f, err = a.spool(); err != nil {
		return nil, nil, err
	}
	switch mt {
	case "multipart/form-data":
		err = a.readMultipart(body, params["boundary"], o, up)
	case "application/json":
		err = readJSONCampaign(body, o, up)
	case "text/csv", "application/jsonl", "application/x-ndjson":
		if err = o.fromValues(r.URL.Query()); err == nil {
			if mt == "text/csv" {
				up.source = "upload.csv"
			} else {
				up.source = "upload.jsonl"
			}
			_, err = io.Copy(up.f, body)
		}
	default:
		err = &problemError{status: http.StatusUnsupportedMediaType, kind: "unsupported-media-type", title: "Unsupported media type",
			detail: "send multipart/form-data with a file part, application/json with users, or a text/csv or application/jsonl body"}
	}
	if err == nil {
		_, err = up.f.Seek(0, io.SeekStart)
	}
	if err != nil {
		up.close()
		return nil, nil, err
	}
	return o, up, nil
}

func (a *API) readMultipart(body io.Reader, boundary string, o *CampaignOptions, up *upload) error {
	if boundary == "" {
		return badRequest("multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(body, boundary)
	values := url.Values{}
	seenFile := false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return err
			}
			return badRequest("the multipart body cannot be read: %v", err)
		}
		switch {
		case p.FormName() == "file":
			if seenFile {
				return badRequest("one file per campaign")
			}
			seenFile = true
			up.source = p.FileName()
			if up.source == "" {
				up.source = "upload.csv"
			}
			if _, err := io.Copy(up.f, p); err != nil {
				return err
			}
		default:
			v, err := io.ReadAll(io.LimitReader(p, 4096))
			if err != nil {
				return err
			}
			values.Add(p.FormName(), string(v))
		}
	}
	if !seenFile {
		return badRequest(`the upload has no "file" part`)
	}
	return o.fromValues(values)
}

// readJSONCampaign walks the JSON body a token at a time: its users go
// straight to the spool file, one JSON line each.
func readJSONCampaign(body io.Reader, o *CampaignOptions, up *upload) error {
	dec := json.NewDecoder(body)
	bad := func(err error) error {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("the body is not the JSON this endpoint takes: %v", err)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bad(fmt.Errorf("expected an object"))
	}
	fields := map[string]json.RawMessage{}
	bw := bufio.NewWriter(up.f)
	up.source = "upload.jsonl"
	sawUsers := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		key, _ := tok.(string)
		if key != "users" {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return bad(err)
			}
			fields[key] = v
			continue
		}
		sawUsers = true
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return bad(fmt.Errorf("users must be an array"))
		}
		for dec.More() {
			var u json.RawMessage
			if err := dec.Decode(&u); err != nil {
				return bad(err)
			}
			if _, err := bw.Write(append(compact(u), '\n')); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return bad(err)
		}
	}
	if !sawUsers {
		return badRequest("users is required: an array of objects like {\"email\": \"alice@example.com\"}")
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	b, _ := json.Marshal(fields)
	dec2 := json.NewDecoder(strings.NewReader(string(b)))
	dec2.DisallowUnknownFields()
	if err := dec2.Decode(o); err != nil {
		return badRequest("%v", err)
	}
	if o.Format != "" && o.Format != "jsonl" {
		return badRequest("format does not apply to users given in JSON")
	}
	o.Format = "jsonl"
	return nil
}

// compact puts a user object on one line, as a JSON-lines file has it.
func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

func (a *API) postCampaign(w http.ResponseWriter, r *http.Request, t *token) error {
	a.lift(w, true)
	o, up, err := a.readCampaign(w, r)
	if err != nil {
		return err
	}
	defer up.close()
	req, err := o.request(up.source)
	if err != nil {
		return err
	}
	req.Requester = requester(r, t)
	if o.DryRun {
		scan, err := a.cfg.Client.ScanCampaign(up.f, req)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, producer.ScanViewOf(scan))
	}
	res, err := a.cfg.Client.StartCampaign(r.Context(), up.f, req)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res.Resumed {
		status = http.StatusOK
	}
	w.Header().Set("Location", "/v1/campaigns/"+res.Campaign.ID)
	return writeJSON(w, status, CampaignStarted{Campaign: producer.ViewOf(res.Campaign), Resumed: res.Resumed,
		Scan: producer.ScanViewOf(res.Scan)})
}

func (a *API) listCampaigns(w http.ResponseWriter, r *http.Request, _ *token) error {
	list, err := a.cfg.Client.Campaigns(r.Context())
	if err != nil {
		return err
	}
	out := CampaignList{Campaigns: []producer.CampaignView{}}
	for _, c := range list {
		out.Campaigns = append(out.Campaigns, producer.ViewOf(c))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) getCampaign(w http.ResponseWriter, r *http.Request, _ *token) error {
	c, err := a.cfg.Client.GetCampaign(r.Context(), r.PathValue("name"))
	if err != nil {
		return notFoundIfInvalid(err)
	}
	return writeJSON(w, http.StatusOK, producer.ViewOf(c))
}

// notFoundIfInvalid answers a name that cannot be a campaign's as "not
// found", like any other unknown name.
func notFoundIfInvalid(err error) error {
	if errors.Is(err, producer.ErrInvalidRequest) {
		return &problemError{status: http.StatusNotFound, kind: "not-found", title: "Not found", detail: err.Error()}
	}
	return err
}

func (a *API) control(verb string) handler {
	return func(w http.ResponseWriter, r *http.Request, _ *token) error {
		name, cl := r.PathValue("name"), a.cfg.Client
		var c *producer.Campaign
		var err error
		switch verb {
		case "pause":
			c, err = cl.PauseCampaign(r.Context(), name)
		case "resume":
			c, err = cl.ResumeCampaign(r.Context(), name)
		default:
			c, err = cl.CancelCampaign(r.Context(), name)
		}
		if err != nil {
			return notFoundIfInvalid(err)
		}
		return writeJSON(w, http.StatusOK, producer.ViewOf(c))
	}
}

func (a *API) getReport(w http.ResponseWriter, r *http.Request, _ *token) error {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "csv"
	}
	states, err := producer.ParseStates(q.Get("state"))
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if _, err := a.cfg.Client.GetCampaign(r.Context(), name); err != nil {
		return notFoundIfInvalid(err)
	}
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	case "json":
		w.Header().Set("Content-Type", "application/json")
	default:
		return fmt.Errorf("%w: format must be csv or json, not %q", producer.ErrInvalidRequest, format)
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-report.%s"`, name, format))
	a.lift(w, false)
	return a.cfg.Client.WriteReport(r.Context(), name, format, states, w)
}
