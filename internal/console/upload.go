package console

import (
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/resetq/resetq/internal/listener"
)

// NewCampaign is what the operator asks of a campaign started from an
// upload.
type NewCampaign struct {
	Name, Provider string
	// Source is the uploaded file's name (its extension says the format).
	Source string
	// Rate is its own pace ("10/s"), or "" for its provider's.
	Rate string
	// By is the operator who starts it, and Address where they are:
	// every reset of the campaign is theirs.
	By, Address string
}

// ScanReport is what the dry run found in a file.
type ScanReport struct {
	Rows, Valid, Duplicates, Invalid int
	// Problems are the first rows that cannot be reset as they are.
	Problems []Problem
}

// Problem is one such row.
type Problem struct {
	Line           int
	Reason, Detail string
}

// ErrBadInput is Source's error for a request or a file it refuses; its
// message says what is wrong, for the operator.
var ErrBadInput = errors.New("bad input")

// uploadTTL is how long an uploaded file waits for its Start.
const uploadTTL = 30 * time.Minute

// uploads keeps the files checked and not yet started, by a token the
// Start form carries back. A Start on another worker process (behind a
// load balancer) does not find the file, and asks for it again.
type uploads struct {
	mu    sync.Mutex
	files map[string]upload
}

type upload struct {
	path    string
	req     NewCampaign
	expires time.Time
}

func (u *uploads) put(path string, req NewCampaign) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	for tok, f := range u.files {
		if now.After(f.expires) {
			os.Remove(f.path)
			delete(u.files, tok)
		}
	}
	tok := rand.Text()
	u.files[tok] = upload{path: path, req: req, expires: now.Add(uploadTTL)}
	return tok
}

func (u *uploads) take(tok string) (upload, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	f, ok := u.files[tok]
	delete(u.files, tok)
	if ok && time.Now().After(f.expires) {
		os.Remove(f.path)
		return upload{}, false
	}
	return f, ok
}

type newPage struct {
	Providers []string
	Request   NewCampaign
	Scan      *ScanReport
	Token     string
}

func (c *console) newCampaign(w http.ResponseWriter, r *http.Request, who listener.Identity) {
	names, err := c.providerNames(r)
	p := page{Title: "Start a campaign", Who: who, Data: newPage{Providers: names}}
	if err != nil {
		p.Error = "resetq could not read the providers: " + err.Error()
	}
	c.render(w, http.StatusOK, "new.html", p)
}

func (c *console) providerNames(r *http.Request) ([]string, error) {
	ps, err := c.cfg.Source.Providers(r.Context())
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names, err
}

// checkUpload stores the uploaded file and shows the dry run's report,
// with a form to start the campaign from it.
func (c *console) checkUpload(w http.ResponseWriter, r *http.Request, who listener.Identity) {
	names, _ := c.providerNames(r)
	fail := func(status int, msg string) {
		c.render(w, status, "new.html", page{Title: "Start a campaign", Who: who, Error: msg, Data: newPage{Providers: names}})
	}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		fail(http.StatusBadRequest, "Choose the campaign's file (CSV with an email, username or id column, or JSON lines).")
		return
	}
	defer file.Close()
	req := NewCampaign{Name: r.FormValue("name"), Provider: r.FormValue("provider"), Rate: r.FormValue("rate"), Source: filepath.Base(hdr.Filename)}
	tmp, err := os.CreateTemp("", "resetq-upload-*"+filepath.Ext(req.Source))
	if err != nil {
		fail(http.StatusInternalServerError, "resetq could not keep the file: "+err.Error())
		return
	}
	keep := false
	defer func() {
		if !keep {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, file); err != nil {
		tmp.Close()
		fail(http.StatusBadRequest, "The file did not arrive whole: "+err.Error())
		return
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		tmp.Close()
		fail(http.StatusInternalServerError, err.Error())
		return
	}
	scan, err := c.cfg.Source.Scan(r.Context(), tmp, req)
	tmp.Close()
	switch {
	case errors.Is(err, ErrBadInput):
		fail(http.StatusBadRequest, err.Error())
		return
	case err != nil:
		fail(http.StatusInternalServerError, "resetq could not read the file: "+err.Error())
		return
	}
	keep = true
	tok := c.uploads.put(tmp.Name(), req)
	c.cfg.Logger.Info("console: campaign file checked", "by", who.Name, "source", req.Source, "rows", scan.Rows, "invalid", scan.Invalid)
	c.render(w, http.StatusOK, "new.html", page{Title: "Start a campaign", Who: who,
		Data: newPage{Providers: names, Request: req, Scan: &scan, Token: tok}})
}

// startUpload starts the campaign from the file checked before.
func (c *console) startUpload(w http.ResponseWriter, r *http.Request, who listener.Identity) {
	f, ok := c.uploads.take(r.FormValue("upload"))
	if !ok {
		names, _ := c.providerNames(r)
		c.render(w, http.StatusGone, "new.html", page{Title: "Start a campaign", Who: who, Data: newPage{Providers: names},
			Error: "That file is no longer here (it waits " + uploadTTL.String() + ", on the worker that checked it): upload it again."})
		return
	}
	defer os.Remove(f.path)
	file, err := os.Open(f.path)
	if err != nil {
		c.failed(w, who, "start", f.req.Source, err)
		return
	}
	defer file.Close()
	f.req.By, f.req.Address = who.Name, listener.RemoteHost(r)
	name, err := c.cfg.Source.Start(r.Context(), file, f.req)
	if errors.Is(err, ErrBadInput) {
		names, _ := c.providerNames(r)
		c.render(w, http.StatusBadRequest, "new.html", page{Title: "Start a campaign", Who: who, Error: err.Error(), Data: newPage{Providers: names}})
		return
	}
	if c.failed(w, who, "start", f.req.Source, err) {
		return
	}
	c.cfg.Logger.Info("console: campaign started", "by", who.Name, "campaign", name, "provider", f.req.Provider, "source", f.req.Source)
	http.Redirect(w, r, "/console/campaigns?"+url.Values{"done": {name}, "action": {"start"}}.Encode(), http.StatusSeeOther)
}
