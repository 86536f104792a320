package listener

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// maxUIBody bounds a request body to the UI: its batch actions send a
// page of task IDs at most.
const maxUIBody = 1 << 20

// secureHeaders sets, on every answer of every listener, what keeps a
// browser from sniffing a type the answer does not declare and from
// framing it in another page (clickjacking).
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}

// noStore keeps answers that carry users out of browser and proxy
// caches.
func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// refuse answers an error without reading the request's body.
func refuse(w http.ResponseWriter, status int, msg string) {
	CloseWithoutBody(w)
	http.Error(w, msg, status)
}

// CloseWithoutBody makes the answer being written the connection's last,
// sent without reading the request's body: a refused client does not get
// to hold the connection by trickling a body nobody will read. (net/http
// would otherwise read up to 256 KiB of it after the handler returns,
// until the read deadline.)
func CloseWithoutBody(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// guardUI wraps the queue UI in what keeps other sites from using the
// operator's browser against it, in this order: the Host must be this
// listener's (DNS rebinding), a state-changing request must come from the
// UI's own pages (cross-site request forgery), the credentials must be
// right, and the body must be small.
func guardUI(ui http.Handler, auth Auth, hosts []string, maxBody int64) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		refuse(w, http.StatusForbidden, "cross-origin request refused: the queue UI is changed from its own pages only")
	}))
	allowed := hostSetOf(hosts)
	inner := cop.Handler(auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBody {
			refuse(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		ui.ServeHTTP(w, r)
	})))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed.allows(r.Host) {
			refuse(w, http.StatusForbidden, "unknown host: add it to http.allowed_hosts to reach the queue UI by this name")
			return
		}
		inner.ServeHTTP(w, r)
	})
}

// hostSet holds the names, besides IP addresses and localhost, that the
// UI answers to.
type hostSet map[string]bool

func hostSetOf(names []string) hostSet {
	s := hostSet{}
	for _, n := range names {
		s[normalHost(n)] = true
	}
	return s
}

// allows reports whether a request's Host names this listener. An IP
// address or localhost cannot be rebound to it by another site's DNS, so
// they are always allowed; any other name must be listed.
func (s hostSet) allows(host string) bool {
	h := normalHost(host)
	if h == "" {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil || h == "localhost" {
		return true
	}
	return s[h]
}

// normalHost is a Host header's or listen address's host, without port,
// brackets or trailing dot, lower-cased.
func normalHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return strings.ToLower(host)
}

// readOnlyForViewers lets a viewer only read: any other method needs the
// operator's credentials.
func readOnlyForViewers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !Who(r).Operator {
			refuse(w, http.StatusForbidden, "a viewer may look, not change: sign in as the operator (http.auth)")
			return
		}
		h.ServeHTTP(w, r)
	})
}
